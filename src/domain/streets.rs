//! The demo city's streets as a network, and routes along it: what the demo drivers drive, what
//! the map draws from a car to where it is heading, and what fares and ETAs are measured along.
//! Pure and deterministic, so the server and the browser plan the very same route.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::LazyLock;

use super::city::{self, Street};
use super::GeoPoint;

/// How far from a street a point may be and still be reached along the streets (a place set
/// back from the road, a car in a courtyard). Farther out, the map has no streets to measure.
pub const OFF_STREET_M: f64 = 300.0;

/// The street network as a graph: the streets' points are the nodes, a street's consecutive
/// points are joined both ways, and streets that share a point (a junction) share its node.
#[derive(Debug, Clone)]
pub struct StreetGraph {
    nodes: Vec<GeoPoint>,
    /// For each node, its neighbours and the distance to each in metres.
    edges: Vec<Vec<(usize, f64)>>,
}

impl StreetGraph {
    pub fn new(streets: &[Street]) -> Self {
        let mut graph = Self {
            nodes: Vec::new(),
            edges: Vec::new(),
        };
        // Junctions are the exact same constants in every street that meets there, so the bit
        // patterns of the coordinates identify them.
        let mut index: HashMap<(u64, u64), usize> = HashMap::new();
        for street in streets {
            let mut previous: Option<usize> = None;
            for &(lat, lng) in street.points {
                let Ok(point) = GeoPoint::new(lat, lng) else {
                    continue;
                };
                let node = *index
                    .entry((lat.to_bits(), lng.to_bits()))
                    .or_insert_with(|| {
                        graph.nodes.push(point);
                        graph.edges.push(Vec::new());
                        graph.nodes.len() - 1
                    });
                if let Some(prev) = previous.filter(|&p| p != node) {
                    let metres = graph.nodes[prev].distance_m(&point);
                    graph.edges[prev].push((node, metres));
                    graph.edges[node].push((prev, metres));
                }
                previous = Some(node);
            }
        }
        graph
    }

    /// The demo city's streets.
    pub fn city() -> Self {
        Self::new(city::STREETS)
    }

    /// The demo city's streets, built once per process (or page) and shared.
    pub fn of_the_city() -> &'static Self {
        static CITY: LazyLock<StreetGraph> = LazyLock::new(StreetGraph::city);
        &CITY
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn node(&self, node: usize) -> Option<GeoPoint> {
        self.nodes.get(node).copied()
    }

    /// How far `p` is from the nearest street, in metres (to the nearest point of any
    /// stretch, not just of a junction); infinite for a graph with no streets.
    pub fn off_street_m(&self, p: GeoPoint) -> f64 {
        self.edges
            .iter()
            .enumerate()
            .flat_map(|(a, next)| next.iter().map(move |&(b, _)| (a, b)))
            .filter(|&(a, b)| a < b)
            .map(|(a, b)| distance_to_stretch_m(p, self.nodes[a], self.nodes[b]))
            .fold(f64::INFINITY, f64::min)
    }

    /// The way a car drives from `from` to `to` along the streets, or `None` when either end
    /// is more than `OFF_STREET_M` from a street or no street leads there: then only a
    /// straight line and a detour factor can say how far it is.
    pub fn along(&self, from: GeoPoint, to: GeoPoint) -> Option<Route> {
        if self.off_street_m(from) > OFF_STREET_M || self.off_street_m(to) > OFF_STREET_M {
            return None;
        }
        let nodes = self.route(self.nearest(from)?, self.nearest(to)?)?;
        Some(self.route_through(from, nodes, to))
    }

    /// The node nearest to `p` (`None` only for an empty graph).
    pub fn nearest(&self, p: GeoPoint) -> Option<usize> {
        self.nodes
            .iter()
            .enumerate()
            .min_by(|(_, a), (_, b)| a.distance_m(&p).total_cmp(&b.distance_m(&p)))
            .map(|(i, _)| i)
    }

    /// The shortest way from one node to another along the streets (Dijkstra), both ends
    /// included; `None` when no street leads there.
    pub fn route(&self, from: usize, to: usize) -> Option<Vec<usize>> {
        if from >= self.nodes.len() || to >= self.nodes.len() {
            return None;
        }
        let mut best = vec![f64::INFINITY; self.nodes.len()];
        let mut came_from = vec![usize::MAX; self.nodes.len()];
        let mut queue = BinaryHeap::new();
        best[from] = 0.0;
        queue.push(Candidate {
            metres: 0.0,
            node: from,
        });
        while let Some(Candidate { metres, node }) = queue.pop() {
            if node == to {
                break;
            }
            if metres > best[node] {
                continue;
            }
            for &(next, length) in &self.edges[node] {
                let through = metres + length;
                if through < best[next] {
                    best[next] = through;
                    came_from[next] = node;
                    queue.push(Candidate {
                        metres: through,
                        node: next,
                    });
                }
            }
        }
        if !best[to].is_finite() {
            return None;
        }
        let mut path = vec![to];
        while let Some(&last) = path.last() {
            if last == from {
                break;
            }
            path.push(came_from[last]);
        }
        path.reverse();
        Some(path)
    }

    /// The way from anywhere to anywhere: to the nearest street point, along the streets, and
    /// a last leg from the street point nearest the destination to the destination itself (a
    /// place may lie a little off the street), so the route ends exactly there.
    pub fn plan(&self, from: GeoPoint, to: GeoPoint) -> Route {
        let nodes = match (self.nearest(from), self.nearest(to)) {
            (Some(a), Some(b)) => self.route(a, b).unwrap_or_default(),
            _ => Vec::new(),
        };
        self.route_through(from, nodes, to)
    }

    /// The route from `from` through the street nodes `nodes` (a planned way) to `to`.
    fn route_through(&self, from: GeoPoint, nodes: Vec<usize>, to: GeoPoint) -> Route {
        let mut points: Vec<GeoPoint> = nodes.iter().filter_map(|&n| self.node(n)).collect();
        // Already on the first stretch of street (a car re-routed between two junctions):
        // drive on along it rather than back to its start.
        if points.len() >= 2 && lies_between(from, points[0], points[1]) {
            points.remove(0);
        }
        // Likewise the destination may lie on the last stretch: stop there, not beyond.
        let n = points.len();
        if n >= 2 && lies_between(to, points[n - 2], points[n - 1]) {
            points.pop();
        }
        let mut all = Vec::with_capacity(points.len() + 2);
        all.push(from);
        all.extend(points);
        all.push(to);
        Route::new(all)
    }
}

/// Whether `p` lies on the straight stretch from `a` to `b` (within a metre).
fn lies_between(p: GeoPoint, a: GeoPoint, b: GeoPoint) -> bool {
    a.distance_m(&p) + p.distance_m(&b) - a.distance_m(&b) < 1.0
}

/// The distance from `p` to the nearest point of the straight stretch from `a` to `b`, in
/// metres. Within a city the stretch is flat enough to measure on a local plane.
fn distance_to_stretch_m(p: GeoPoint, a: GeoPoint, b: GeoPoint) -> f64 {
    let east = |q: GeoPoint| (q.lng() - p.lng()) * p.lat().to_radians().cos();
    let north = |q: GeoPoint| q.lat() - p.lat();
    let (ax, ay, bx, by) = (east(a), north(a), east(b), north(b));
    let (dx, dy) = (bx - ax, by - ay);
    let length2 = dx * dx + dy * dy;
    let t = if length2 > 0.0 {
        (-(ax * dx + ay * dy) / length2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    // `p` is the origin: the nearest point's distance from it, degrees to metres.
    const METRES_PER_DEGREE: f64 = 111_195.0;
    (ax + dx * t).hypot(ay + dy * t) * METRES_PER_DEGREE
}

/// A node on Dijkstra's queue, nearest first.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Candidate {
    metres: f64,
    node: usize,
}

impl Eq for Candidate {}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap pops the greatest: the reversed distance makes it the nearest.
        other
            .metres
            .total_cmp(&self.metres)
            .then(self.node.cmp(&other.node))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A route being driven: the points still ahead, the first being where the car is now.
#[derive(Debug, Clone)]
pub struct Route {
    ahead: VecDeque<GeoPoint>,
}

impl Route {
    /// A car standing at `at`.
    pub fn stay(at: GeoPoint) -> Self {
        Self {
            ahead: VecDeque::from([at]),
        }
    }

    /// A route through `points`, starting at the first; a car standing still for none.
    pub fn new(points: Vec<GeoPoint>) -> Self {
        if points.is_empty() {
            return Self::stay(city::BOUNDS.center());
        }
        Self {
            ahead: points.into(),
        }
    }

    pub fn position(&self) -> GeoPoint {
        self.ahead[0]
    }

    /// The car is at the end.
    pub fn is_done(&self) -> bool {
        self.ahead.len() <= 1
    }

    /// The points still ahead, the car's own first: the line a map draws.
    pub fn points(&self) -> impl Iterator<Item = GeoPoint> + '_ {
        self.ahead.iter().copied()
    }

    /// What is left to drive, in metres.
    pub fn remaining_m(&self) -> f64 {
        self.ahead
            .iter()
            .zip(self.ahead.iter().skip(1))
            .map(|(a, b)| a.distance_m(b))
            .sum()
    }

    /// Drives `metres` on along the route, stopping at its end; returns where the car is.
    pub fn advance(&mut self, metres: f64) -> GeoPoint {
        let mut left = metres.max(0.0);
        while self.ahead.len() >= 2 {
            let (here, next) = (self.ahead[0], self.ahead[1]);
            let stretch = here.distance_m(&next);
            if stretch <= left {
                left -= stretch;
                self.ahead.pop_front();
            } else {
                // Within a city a straight line in degrees is a straight line on the ground.
                let t = left / stretch;
                let lat = here.lat() + (next.lat() - here.lat()) * t;
                let lng = here.lng() + (next.lng() - here.lng()) * t;
                self.ahead[0] = GeoPoint::new(lat, lng).unwrap_or(next);
                break;
            }
        }
        self.position()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(lat: f64, lng: f64) -> GeoPoint {
        GeoPoint::new(lat, lng).unwrap()
    }

    fn junction(&(lat, lng): &(f64, f64)) -> GeoPoint {
        point(lat, lng)
    }

    fn street(name: &str) -> &'static Street {
        city::STREETS.iter().find(|s| s.name == name).unwrap()
    }

    /// Whether a and b are consecutive points of some street.
    fn one_street_apart(a: GeoPoint, b: GeoPoint) -> bool {
        city::STREETS.iter().any(|s| {
            s.points.windows(2).any(|w| {
                let (p, q) = (junction(&w[0]), junction(&w[1]));
                (p == a && q == b) || (p == b && q == a)
            })
        })
    }

    #[test]
    fn streets_that_share_a_point_share_a_node() {
        let graph = StreetGraph::city();
        let distinct: std::collections::HashSet<_> = city::STREETS
            .iter()
            .flat_map(|s| s.points.iter())
            .map(|p| (p.0.to_bits(), p.1.to_bits()))
            .collect();
        assert_eq!(graph.node_count(), distinct.len());
    }

    #[test]
    fn a_route_along_one_street_follows_its_points() {
        let graph = StreetGraph::city();
        let linden = street("Linden Avenue");
        let from = graph.nearest(junction(&linden.points[0])).unwrap();
        let to = graph
            .nearest(junction(linden.points.last().unwrap()))
            .unwrap();
        let route: Vec<GeoPoint> = graph
            .route(from, to)
            .unwrap()
            .into_iter()
            .map(|n| graph.node(n).unwrap())
            .collect();
        let expected: Vec<GeoPoint> = linden.points.iter().map(junction).collect();
        assert_eq!(route, expected);
    }

    #[test]
    fn a_route_between_two_junctions_follows_shared_points() {
        let graph = StreetGraph::city();
        for from in 0..graph.node_count() {
            for to in 0..graph.node_count() {
                let route = graph.route(from, to).expect("the network is connected");
                assert_eq!(route.first(), Some(&from));
                assert_eq!(route.last(), Some(&to));
                for hop in route.windows(2) {
                    let (a, b) = (graph.node(hop[0]).unwrap(), graph.node(hop[1]).unwrap());
                    assert!(one_street_apart(a, b), "{a:?} -> {b:?} is no street");
                }
            }
        }
    }

    #[test]
    fn every_route_is_the_shortest_way_along_the_streets() {
        // Against every pair's shortest distance by Floyd-Warshall, a different algorithm.
        let graph = StreetGraph::city();
        let n = graph.node_count();
        let mut shortest = vec![vec![f64::INFINITY; n]; n];
        for (a, edges) in graph.edges.iter().enumerate() {
            shortest[a][a] = 0.0;
            for &(b, metres) in edges {
                shortest[a][b] = shortest[a][b].min(metres);
            }
        }
        for k in 0..n {
            for a in 0..n {
                for b in 0..n {
                    let through = shortest[a][k] + shortest[k][b];
                    if through < shortest[a][b] {
                        shortest[a][b] = through;
                    }
                }
            }
        }
        for (from, shortest_from) in shortest.iter().enumerate() {
            for (to, &expected) in shortest_from.iter().enumerate() {
                let route = graph.route(from, to).unwrap();
                let metres: f64 = route
                    .windows(2)
                    .map(|w| {
                        graph
                            .node(w[0])
                            .unwrap()
                            .distance_m(&graph.node(w[1]).unwrap())
                    })
                    .sum();
                assert!((metres - expected).abs() < 0.01, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn no_route_leads_to_a_street_that_touches_no_other() {
        let island = Street {
            name: "Island Lane",
            points: &[(52.50, 13.35), (52.501, 13.351)],
        };
        let mainland = Street {
            name: "Mainland Lane",
            points: &[(52.52, 13.40), (52.521, 13.401)],
        };
        let graph = StreetGraph::new(&[island, mainland]);
        assert_eq!(graph.route(0, 3), None);
        assert_eq!(graph.route(0, 1), Some(vec![0, 1]));
        assert_eq!(graph.route(0, 99), None);
    }

    #[test]
    fn moving_100_m_along_a_polyline_lands_100_m_along_it() {
        // Two stretches of about 80 m each, the second turning east.
        let a = point(52.5200, 13.4000);
        let b = point(52.5200 + 80.0 / 111_195.0, 13.4000);
        let c = point(b.lat(), 13.4000 + 80.0 / 67_700.0);
        let mut route = Route::new(vec![a, b, c]);
        let total = route.remaining_m();
        let at = route.advance(100.0);
        assert!((b.distance_m(&at) - (100.0 - a.distance_m(&b))).abs() < 0.01);
        assert!((route.remaining_m() - (total - 100.0)).abs() < 0.01);
        assert!(!route.is_done());
    }

    #[test]
    fn moving_never_overshoots_the_end() {
        let a = point(52.52, 13.40);
        let b = point(52.521, 13.40);
        let mut route = Route::new(vec![a, b]);
        assert_eq!(route.advance(5_000.0), b);
        assert!(route.is_done());
        assert_eq!(route.advance(5_000.0), b);
        let mut still = Route::stay(a);
        assert_eq!(still.advance(10.0), a);
        assert_eq!(still.advance(-10.0), a);
    }

    #[test]
    fn a_car_drives_from_place_to_place_at_its_speed_and_stops_exactly_there() {
        let graph = StreetGraph::city();
        for from in city::PLACES {
            for to in city::PLACES {
                let mut route = graph.plan(from.at(), to.at());
                assert_eq!(route.position(), from.at());
                let step_m = 150.0;
                let mut here = route.position();
                for _ in 0..1_000 {
                    if route.is_done() {
                        break;
                    }
                    let next = route.advance(step_m);
                    assert!(here.distance_m(&next) <= step_m + 0.01);
                    assert!(city::BOUNDS.contains(next));
                    here = next;
                }
                assert!(route.is_done(), "{} -> {} never ends", from.id, to.id);
                assert_eq!(here, to.at(), "{} -> {}", from.id, to.id);
            }
        }
    }

    #[test]
    fn a_car_between_two_junctions_drives_on_rather_than_back() {
        let graph = StreetGraph::city();
        let linden = street("Linden Avenue");
        let (a, b) = (junction(&linden.points[1]), junction(&linden.points[2]));
        // Short of the middle of the stretch, so the nearest node is the one behind the car;
        // headed further along the avenue.
        let mid = point(
            a.lat() + (b.lat() - a.lat()) * 0.4,
            a.lng() + (b.lng() - a.lng()) * 0.4,
        );
        let ahead = junction(&linden.points[4]);
        let route = graph.plan(mid, ahead);
        let direct = mid.distance_m(&b) + b.distance_m(&junction(&linden.points[3]));
        let direct = direct + junction(&linden.points[3]).distance_m(&ahead);
        assert!((route.remaining_m() - direct).abs() < 1.0);
    }

    #[test]
    fn a_route_ends_on_the_place_not_the_nearest_street_point() {
        let graph = StreetGraph::city();
        let place = city::place("harbour").unwrap().at();
        let nearest = graph.node(graph.nearest(place).unwrap()).unwrap();
        assert_ne!(nearest, place);
        let mut route = graph.plan(graph.node(0).unwrap(), place);
        route.advance(f64::MAX);
        assert_eq!(route.position(), place);
    }

    #[test]
    fn a_point_on_a_long_stretch_is_on_the_street_far_from_any_junction() {
        let graph = StreetGraph::city();
        let ring = street("Ring Road");
        let (a, b) = (junction(&ring.points[0]), junction(&ring.points[1]));
        let mid = point((a.lat() + b.lat()) / 2.0, (a.lng() + b.lng()) / 2.0);
        assert!(mid.distance_m(&a) > 500.0);
        assert!(graph.off_street_m(mid) < 1.0);
        // 500 m north of the stretch: the ring is the city's edge, nothing is nearer.
        let outside = point(mid.lat() + 500.0 / 111_195.0, mid.lng());
        let off = graph.off_street_m(outside);
        assert!((400.0..=500.5).contains(&off), "{off}");
    }

    #[test]
    fn every_place_is_reached_along_the_streets() {
        let graph = StreetGraph::of_the_city();
        for p in city::PLACES {
            assert!(graph.off_street_m(p.at()) <= OFF_STREET_M, "{}", p.id);
        }
        for from in city::PLACES {
            for to in city::PLACES {
                let route = graph.along(from.at(), to.at()).expect("a street route");
                let points: Vec<GeoPoint> = route.points().collect();
                assert_eq!(points.first(), Some(&from.at()));
                assert_eq!(points.last(), Some(&to.at()));
                // Between the two ends every vertex is a street point.
                for inner in &points[1..points.len() - 1] {
                    assert!(graph.nearest(*inner).and_then(|n| graph.node(n)) == Some(*inner));
                }
                let straight = from.at().distance_m(&to.at());
                assert!(route.remaining_m() >= straight - 0.01);
            }
        }
    }

    #[test]
    fn nothing_is_routed_to_or_from_far_off_the_streets() {
        let graph = StreetGraph::of_the_city();
        let station = city::place("central-station").unwrap().at();
        let far = point(52.60, 13.20);
        assert!(graph.along(station, far).is_none());
        assert!(graph.along(far, station).is_none());
        assert!(StreetGraph::new(&[]).along(station, station).is_none());
    }
}
