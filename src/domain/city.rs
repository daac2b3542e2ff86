//! The demo city: an invented town laid over central Berlin, with the named places a rider picks,
//! the streets simulated drivers drive along, and the projection the map draws it with.
//!
//! Everything here is constant data, so it lives in the shared, WASM-safe domain: the server uses
//! it to move drivers and check picks, the browser to draw the map and turn clicks into points.
//! Coordinates are plain `(lat, lng)` pairs because `GeoPoint::new` cannot run in a `const`; the
//! tests below prove every pair is a valid point inside [`BOUNDS`].

use super::GeoPoint;

/// A latitude/longitude rectangle, in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub south: f64,
    pub west: f64,
    pub north: f64,
    pub east: f64,
}

/// The area the demo city covers, and so the area the map shows.
pub const BOUNDS: Bounds = Bounds {
    south: 52.490,
    west: 13.340,
    north: 52.550,
    east: 13.460,
};

/// The map's width in SVG viewBox units; the height follows from the city's true aspect ratio.
pub const VIEW_WIDTH: f64 = 1000.0;

impl Bounds {
    /// Inclusive on every edge, so a point on the border still counts as in the city.
    pub fn contains(&self, p: GeoPoint) -> bool {
        (self.south..=self.north).contains(&p.lat()) && (self.west..=self.east).contains(&p.lng())
    }

    /// # Panics
    /// Only if the bounds themselves are not valid coordinates (NaN or out of range); the tests
    /// check [`BOUNDS`], the one value the app uses.
    pub fn center(&self) -> GeoPoint {
        GeoPoint::new(
            (self.south + self.north) / 2.0,
            (self.west + self.east) / 2.0,
        )
        .expect("the midpoint of valid bounds is a valid point")
    }

    /// Width and height of the SVG viewBox.
    ///
    /// A degree of longitude is shorter than a degree of latitude by cos(latitude); scaling by it
    /// at the middle latitude keeps streets at their true angles (within a city, the error across
    /// the span is far below a pixel).
    pub fn view_size(&self) -> (f64, f64) {
        let mid_lat = ((self.south + self.north) / 2.0).to_radians();
        let ground_width = (self.east - self.west) * mid_lat.cos();
        let ground_height = self.north - self.south;
        (VIEW_WIDTH, VIEW_WIDTH * ground_height / ground_width)
    }

    /// Equirectangular projection into viewBox units: (0, 0) is the north-west corner and y grows
    /// southwards, as in SVG. Points outside the bounds project outside the view; nothing clamps.
    pub fn project(&self, p: GeoPoint) -> (f64, f64) {
        let (width, height) = self.view_size();
        let x = (p.lng() - self.west) / (self.east - self.west) * width;
        let y = (self.north - p.lat()) / (self.north - self.south) * height;
        (x, y)
    }

    /// The inverse of [`Bounds::project`]; `None` for a position outside the bounds (or not a
    /// number), so a click in the letterbox around the map picks nothing.
    pub fn unproject(&self, x: f64, y: f64) -> Option<GeoPoint> {
        let (width, height) = self.view_size();
        let lng = self.west + x / width * (self.east - self.west);
        let lat = self.north - y / height * (self.north - self.south);
        let p = GeoPoint::new(lat, lng).ok()?;
        self.contains(p).then_some(p)
    }
}

/// A named place a rider can choose as pickup or drop-off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Place {
    /// Stable, kebab-case: what forms post and URLs carry.
    pub id: &'static str,
    pub name: &'static str,
    pub lat: f64,
    pub lng: f64,
}

impl Place {
    pub fn at(&self) -> GeoPoint {
        // The only places are the constants below, and `every_place_is_a_valid_point_in_the_city`
        // checks each one, so this cannot fail at run time.
        GeoPoint::new(self.lat, self.lng).expect("PLACES holds only valid points")
    }
}

pub const PLACES: &[Place] = &[
    Place {
        id: "central-station",
        name: "Central Station",
        lat: 52.5250,
        lng: 13.3725,
    },
    Place {
        id: "city-hospital",
        name: "City Hospital",
        lat: 52.5372,
        lng: 13.3752,
    },
    Place {
        id: "riverside-park",
        name: "Riverside Park",
        lat: 52.5158,
        lng: 13.3580,
    },
    Place {
        id: "university",
        name: "University",
        lat: 52.5183,
        lng: 13.3935,
    },
    Place {
        id: "museum-island",
        name: "Museum Island",
        lat: 52.5200,
        lng: 13.4000,
    },
    Place {
        id: "old-town-square",
        name: "Old Town Square",
        lat: 52.5222,
        lng: 13.4108,
    },
    Place {
        id: "stadium",
        name: "Stadium",
        lat: 52.5412,
        lng: 13.4082,
    },
    Place {
        id: "market-hall",
        name: "Market Hall",
        lat: 52.5035,
        lng: 13.4290,
    },
    Place {
        id: "harbour",
        name: "Harbour",
        lat: 52.4993,
        lng: 13.4455,
    },
    Place {
        id: "tech-campus",
        name: "Tech Campus",
        lat: 52.4998,
        lng: 13.3702,
    },
];

/// The place with this id; `None` for anything else, so a posted id is checked here.
pub fn place(id: &str) -> Option<&'static Place> {
    PLACES.iter().find(|p| p.id == id)
}

/// A street as a polyline of `(lat, lng)` points.
///
/// Where two streets meet they share the exact same point (the junction constants below), so a
/// route planner can build the network by matching points; a test keeps the network connected.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Street {
    pub name: &'static str,
    pub points: &'static [(f64, f64)],
}

type Junction = (f64, f64);

// The ring road's corners, clockwise from the north-west.
const RING_NW: Junction = (52.5420, 13.3560);
const RING_N1: Junction = (52.5455, 13.3800);
const RING_N2: Junction = (52.5450, 13.4060);
const RING_NE: Junction = (52.5390, 13.4330);
const RING_E: Junction = (52.5250, 13.4500);
const RING_SE: Junction = (52.5060, 13.4520);
const RING_S1: Junction = (52.4960, 13.4300);
const RING_S2: Junction = (52.4945, 13.4000);
const RING_SW1: Junction = (52.4960, 13.3700);
const RING_SW2: Junction = (52.5050, 13.3470);
const RING_W1: Junction = (52.5150, 13.3450);
const RING_W2: Junction = (52.5260, 13.3440);

// Junctions inside the ring.
const PARK_GATE: Junction = (52.5150, 13.3560);
const OLD_GATE: Junction = (52.5163, 13.3777);
const UNIVERSITY_CORNER: Junction = (52.5175, 13.3930);
const ISLAND_BRIDGE: Junction = (52.5190, 13.4010);
const OLD_TOWN: Junction = (52.5215, 13.4125);
const EAST_CROSS: Junction = (52.5235, 13.4320);
const MOABIT: Junction = (52.5258, 13.3565);
const STATION: Junction = (52.5255, 13.3745);
const NORTH_CROSS: Junction = (52.5290, 13.3930);
const ROSE_CORNER: Junction = (52.5300, 13.4060);
const NORTH_EAST_CROSS: Junction = (52.5320, 13.4250);
const HOSPITAL_CORNER: Junction = (52.5360, 13.3770);
const GARDEN_CORNER: Junction = (52.5365, 13.3930);
const STADIUM_GATE: Junction = (52.5400, 13.4070);
const HILL_CORNER: Junction = (52.5385, 13.4200);
const CANAL_WEST: Junction = (52.5060, 13.3760);
const CAMPUS_CORNER: Junction = (52.5005, 13.3720);
const CANAL_MIDDLE: Junction = (52.5080, 13.3920);
const SOUTH_CROSS: Junction = (52.5000, 13.3950);
const CANAL_BRIDGE: Junction = (52.5070, 13.4080);
const CANAL_EAST: Junction = (52.5040, 13.4190);
const MARKET_CORNER: Junction = (52.5025, 13.4310);
const RIVER_EAST: Junction = (52.5130, 13.4360);
const HARBOUR_GATE: Junction = (52.5005, 13.4445);

pub const STREETS: &[Street] = &[
    Street {
        name: "Ring Road",
        // Closed: it ends where it starts.
        points: &[
            RING_NW, RING_N1, RING_N2, RING_NE, RING_E, RING_SE, RING_S1, RING_S2, RING_SW1,
            RING_SW2, RING_W1, RING_W2, RING_NW,
        ],
    },
    Street {
        name: "Linden Avenue",
        points: &[
            RING_W1,
            PARK_GATE,
            OLD_GATE,
            UNIVERSITY_CORNER,
            ISLAND_BRIDGE,
            OLD_TOWN,
            EAST_CROSS,
            RING_E,
        ],
    },
    Street {
        name: "North Avenue",
        points: &[
            RING_W2,
            MOABIT,
            STATION,
            NORTH_CROSS,
            ROSE_CORNER,
            NORTH_EAST_CROSS,
            RING_NE,
        ],
    },
    Street {
        name: "Canal Street",
        points: &[
            RING_SW2,
            (52.5058, 13.3620),
            CANAL_WEST,
            CANAL_MIDDLE,
            CANAL_BRIDGE,
            CANAL_EAST,
            MARKET_CORNER,
        ],
    },
    Street {
        name: "Station Street",
        points: &[
            RING_N1,
            HOSPITAL_CORNER,
            STATION,
            OLD_GATE,
            CANAL_WEST,
            CAMPUS_CORNER,
            RING_SW1,
        ],
    },
    Street {
        name: "University Street",
        points: &[
            GARDEN_CORNER,
            NORTH_CROSS,
            UNIVERSITY_CORNER,
            CANAL_MIDDLE,
            SOUTH_CROSS,
            RING_S2,
        ],
    },
    Street {
        name: "Stadium Way",
        points: &[RING_N2, STADIUM_GATE, ROSE_CORNER, OLD_TOWN],
    },
    Street {
        name: "Garden Street",
        points: &[
            HOSPITAL_CORNER,
            GARDEN_CORNER,
            STADIUM_GATE,
            HILL_CORNER,
            RING_NE,
        ],
    },
    Street {
        name: "Hospital Road",
        points: &[RING_NW, (52.5395, 13.3660), HOSPITAL_CORNER],
    },
    Street {
        name: "Park Lane",
        points: &[RING_NW, (52.5340, 13.3570), MOABIT, PARK_GATE, RING_SW2],
    },
    Street {
        name: "Bridge Street",
        points: &[ISLAND_BRIDGE, (52.5120, 13.4040), CANAL_BRIDGE],
    },
    Street {
        name: "Market Street",
        points: &[
            OLD_TOWN,
            (52.5150, 13.4200),
            (52.5080, 13.4260),
            MARKET_CORNER,
        ],
    },
    Street {
        name: "East Avenue",
        points: &[NORTH_EAST_CROSS, EAST_CROSS, RIVER_EAST, HARBOUR_GATE],
    },
    Street {
        name: "Harbour Road",
        points: &[MARKET_CORNER, HARBOUR_GATE, RING_SE],
    },
    Street {
        name: "Campus Drive",
        points: &[CAMPUS_CORNER, (52.4985, 13.3850), SOUTH_CROSS],
    },
    Street {
        name: "Dock Lane",
        points: &[CANAL_EAST, (52.4985, 13.4200), RING_S1],
    },
];

/// The river, drawn as scenery only: drivers never follow it, and it may touch the map's edges.
pub const RIVER: &[(f64, f64)] = &[
    (52.4985, 13.4600),
    (52.5020, 13.4480),
    (52.5080, 13.4380),
    (52.5120, 13.4260),
    (52.5155, 13.4150),
    (52.5170, 13.4060),
    (52.5205, 13.3990),
    (52.5215, 13.3900),
    (52.5205, 13.3820),
    (52.5215, 13.3750),
    (52.5235, 13.3700),
    (52.5220, 13.3600),
    (52.5200, 13.3520),
    (52.5230, 13.3460),
    (52.5280, 13.3400),
];

/// Parks, drawn as scenery only: each is a closed outline of `(lat, lng)` points.
pub const PARKS: &[&[(f64, f64)]] = &[
    // The big park west of the old gate, with Riverside Park at its northern edge.
    &[
        (52.5195, 13.3480),
        (52.5190, 13.3760),
        (52.5095, 13.3760),
        (52.5085, 13.3480),
    ],
    // The green around the stadium.
    &[
        (52.5440, 13.4000),
        (52.5435, 13.4140),
        (52.5405, 13.4150),
        (52.5410, 13.4010),
    ],
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    const EARTH_RADIUS_M: f64 = 6_371_000.0;

    fn point(&(lat, lng): &(f64, f64)) -> GeoPoint {
        GeoPoint::new(lat, lng).unwrap()
    }

    fn metres_between(a: (f64, f64), b: (f64, f64)) -> f64 {
        let (lat1, lat2) = (a.0.to_radians(), b.0.to_radians());
        let (dlat, dlng) = ((b.0 - a.0).to_radians(), (b.1 - a.1).to_radians());
        let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlng / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * h.sqrt().asin()
    }

    fn all_street_points() -> impl Iterator<Item = &'static (f64, f64)> {
        STREETS.iter().flat_map(|s| s.points.iter())
    }

    #[test]
    fn every_place_is_a_valid_point_in_the_city() {
        for place in PLACES {
            let at = GeoPoint::new(place.lat, place.lng);
            assert!(at.is_ok(), "{} is not a valid point", place.id);
            assert!(BOUNDS.contains(place.at()), "{} lies outside", place.id);
        }
    }

    #[test]
    fn every_street_and_scenery_point_is_a_valid_point_in_the_city() {
        let scenery = RIVER.iter().chain(PARKS.iter().flat_map(|p| p.iter()));
        for p in all_street_points().chain(scenery) {
            let at = GeoPoint::new(p.0, p.1);
            assert!(at.is_ok(), "{p:?} is not a valid point");
            assert!(BOUNDS.contains(point(p)), "{p:?} lies outside");
        }
    }

    #[test]
    fn place_ids_are_unique_kebab_case_and_found_by_id() {
        let ids: HashSet<_> = PLACES.iter().map(|p| p.id).collect();
        assert_eq!(ids.len(), PLACES.len());
        for p in PLACES {
            assert!(
                p.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{} is not kebab-case",
                p.id
            );
            assert_eq!(place(p.id), Some(p));
        }
        assert_eq!(place("nowhere"), None);
        assert_eq!(place(""), None);
    }

    #[test]
    fn every_street_has_a_name_and_at_least_two_points() {
        for street in STREETS {
            assert!(!street.name.is_empty());
            assert!(street.points.len() >= 2, "{}", street.name);
        }
    }

    #[test]
    fn the_street_network_is_connected_through_shared_junctions() {
        // Streets that share a point are neighbours; walk from the first street.
        let mut streets_at: HashMap<(u64, u64), Vec<usize>> = HashMap::new();
        for (i, street) in STREETS.iter().enumerate() {
            for p in street.points {
                streets_at
                    .entry((p.0.to_bits(), p.1.to_bits()))
                    .or_default()
                    .push(i);
            }
        }
        let mut reached = HashSet::from([0]);
        let mut queue = vec![0];
        while let Some(i) = queue.pop() {
            for p in STREETS[i].points {
                for &j in &streets_at[&(p.0.to_bits(), p.1.to_bits())] {
                    if reached.insert(j) {
                        queue.push(j);
                    }
                }
            }
        }
        let cut_off: Vec<_> = STREETS
            .iter()
            .enumerate()
            .filter(|(i, _)| !reached.contains(i))
            .map(|(_, s)| s.name)
            .collect();
        assert!(cut_off.is_empty(), "not connected: {cut_off:?}");
    }

    #[test]
    fn every_place_is_a_short_walk_from_a_street_point() {
        for place in PLACES {
            let nearest = all_street_points()
                .map(|&p| metres_between((place.lat, place.lng), p))
                .fold(f64::INFINITY, f64::min);
            assert!(nearest < 250.0, "{} is {nearest:.0} m away", place.id);
        }
    }

    #[test]
    fn projecting_and_unprojecting_round_trips() {
        let points = PLACES
            .iter()
            .map(|p| (p.lat, p.lng))
            .chain(all_street_points().copied());
        for p in points {
            let (x, y) = BOUNDS.project(point(&p));
            let back = BOUNDS.unproject(x, y).unwrap();
            assert!((back.lat() - p.0).abs() < 1e-9, "{p:?}");
            assert!((back.lng() - p.1).abs() < 1e-9, "{p:?}");
        }
    }

    #[test]
    fn the_corners_project_to_the_corners_of_the_view() {
        let (width, height) = BOUNDS.view_size();
        let nw = BOUNDS.project(point(&(BOUNDS.north, BOUNDS.west)));
        let se = BOUNDS.project(point(&(BOUNDS.south, BOUNDS.east)));
        assert!(nw.0.abs() < 1e-9 && nw.1.abs() < 1e-9, "{nw:?}");
        assert!((se.0 - width).abs() < 1e-9 && (se.1 - height).abs() < 1e-9);
        assert_eq!(width, 1000.0);
    }

    #[test]
    fn north_is_up_and_east_is_right() {
        let (x1, y1) = BOUNDS.project(point(&(52.50, 13.35)));
        let (x2, y2) = BOUNDS.project(point(&(52.54, 13.45)));
        assert!(x2 > x1);
        assert!(y2 < y1);
    }

    #[test]
    fn unprojecting_outside_the_view_gives_nothing() {
        let (width, height) = BOUNDS.view_size();
        for (x, y) in [
            (-0.5, 10.0),
            (10.0, -0.5),
            (width + 0.5, 10.0),
            (10.0, height + 0.5),
            (f64::NAN, 10.0),
            (10.0, f64::INFINITY),
        ] {
            assert_eq!(BOUNDS.unproject(x, y), None, "({x}, {y})");
        }
        assert!(BOUNDS.unproject(width / 2.0, height / 2.0).is_some());
    }

    #[test]
    fn the_centre_is_inside_and_projects_to_the_middle_of_the_view() {
        let (width, height) = BOUNDS.view_size();
        let (x, y) = BOUNDS.project(BOUNDS.center());
        assert!(BOUNDS.contains(BOUNDS.center()));
        assert!((x - width / 2.0).abs() < 1e-9 && (y - height / 2.0).abs() < 1e-9);
    }

    #[test]
    fn the_view_has_the_aspect_ratio_of_the_ground() {
        let mid = (BOUNDS.south + BOUNDS.north) / 2.0;
        let ground_width = metres_between((mid, BOUNDS.west), (mid, BOUNDS.east));
        let ground_height = metres_between((BOUNDS.south, 13.4), (BOUNDS.north, 13.4));
        let (width, height) = BOUNDS.view_size();
        let ratio = (width / height) / (ground_width / ground_height);
        assert!((ratio - 1.0).abs() < 0.005, "off by {ratio}");
    }

    #[test]
    fn the_bounds_contain_their_edges_but_not_beyond() {
        assert!(BOUNDS.contains(point(&(BOUNDS.south, BOUNDS.east))));
        assert!(!BOUNDS.contains(point(&(BOUNDS.south - 1e-6, 13.4))));
        assert!(!BOUNDS.contains(point(&(52.52, BOUNDS.east + 1e-6))));
    }
}
