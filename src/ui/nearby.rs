//! The free cars on an idle rider's map: pushed over the live socket per map cell (`nearby`,
//! `nearby_gone`), with `/api/nearby`'s answer as the first paint and the stand-in while the
//! socket is down. Pure bookkeeping, so it is tested natively; the rider's screen feeds it.

use std::collections::BTreeMap;

use crate::domain::cells::Cell;
use crate::domain::GeoPoint;

/// A pushed car not heard of for this long has stopped sending (its driver's app died, say):
/// pushes come once a second, so this is several missed in a row.
pub const CAR_SILENT_MS: f64 = 5_000.0;
/// `/api/nearby`'s cars stand in this long: by then every free car has been pushed, or the
/// next read (while the socket is down) replaces them.
pub const READ_SHOWN_MS: f64 = 3_000.0;

#[derive(Debug, Clone, PartialEq)]
struct Car {
    cell: Cell,
    at: GeoPoint,
    heard_ms: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct NearbyCars {
    /// By the car's name for the day: a stable order, so each car keeps its marker.
    pushed: BTreeMap<String, Car>,
    /// The last `/api/nearby` answer (anonymous points) and when it came.
    read: Vec<GeoPoint>,
    read_ms: f64,
}

impl NearbyCars {
    /// A `nearby` push.
    pub fn seen(&mut self, car: String, cell: Cell, at: GeoPoint, now_ms: f64) {
        self.pushed.insert(
            car,
            Car {
                cell,
                at,
                heard_ms: now_ms,
            },
        );
    }

    /// A `nearby_gone` push: the car left `cell`. A car already seen in another cell moved on
    /// (the two pushes come on different channels, in either order) and stays.
    pub fn gone(&mut self, car: &str, cell: Cell) {
        if self.pushed.get(car).is_some_and(|c| c.cell == cell) {
            self.pushed.remove(car);
        }
    }

    /// `/api/nearby`'s answer.
    pub fn read(&mut self, cars: Vec<GeoPoint>, now_ms: f64) {
        self.read = cars;
        self.read_ms = now_ms;
    }

    /// Whether [`NearbyCars::prune`] would change anything.
    pub fn has_stale(&self, now_ms: f64) -> bool {
        (!self.read.is_empty() && now_ms - self.read_ms > READ_SHOWN_MS)
            || self
                .pushed
                .values()
                .any(|c| now_ms - c.heard_ms > CAR_SILENT_MS)
    }

    /// Drops cars gone silent and a read that has stood in long enough.
    pub fn prune(&mut self, now_ms: f64) {
        if now_ms - self.read_ms > READ_SHOWN_MS {
            self.read.clear();
        }
        self.pushed
            .retain(|_, c| now_ms - c.heard_ms <= CAR_SILENT_MS);
    }

    /// Where to draw cars: the pushed ones once there are any, else the last read.
    pub fn points(&self) -> Vec<GeoPoint> {
        if self.pushed.is_empty() {
            self.read.clone()
        } else {
            self.pushed.values().map(|c| c.at).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(lat: f64) -> GeoPoint {
        GeoPoint::new(lat, 13.4).unwrap()
    }

    fn cell(name: &str) -> Cell {
        Cell::parse(name).unwrap()
    }

    #[test]
    fn the_read_stands_in_until_cars_are_pushed_or_it_grows_old() {
        let mut cars = NearbyCars::default();
        cars.read(vec![at(52.51), at(52.52)], 1_000.0);
        assert_eq!(cars.points().len(), 2);
        assert!(!cars.has_stale(3_000.0));
        cars.seen("a".into(), cell("r1c1"), at(52.511), 1_500.0);
        assert_eq!(
            cars.points(),
            vec![at(52.511)],
            "pushed cars replace the read"
        );
        assert!(cars.has_stale(4_500.0));
        cars.prune(4_500.0);
        assert_eq!(cars.points(), vec![at(52.511)]);
    }

    #[test]
    fn cars_move_keep_their_order_and_leave() {
        let mut cars = NearbyCars::default();
        cars.seen("b".into(), cell("r1c1"), at(52.51), 0.0);
        cars.seen("a".into(), cell("r1c1"), at(52.52), 0.0);
        cars.seen("b".into(), cell("r1c1"), at(52.515), 900.0);
        assert_eq!(
            cars.points(),
            vec![at(52.52), at(52.515)],
            "by name, moved in place"
        );
        // On into another cell: the new cell's push may come before the old one's goodbye.
        cars.seen("a".into(), cell("r2c1"), at(52.53), 1_000.0);
        cars.gone("a", cell("r1c1"));
        assert_eq!(cars.points(), vec![at(52.53), at(52.515)]);
        cars.gone("a", cell("r2c1"));
        assert_eq!(cars.points(), vec![at(52.515)]);
        // Silent for too long: gone.
        assert!(!cars.has_stale(900.0 + CAR_SILENT_MS));
        cars.prune(901.0 + CAR_SILENT_MS);
        assert!(cars.points().is_empty());
    }
}
