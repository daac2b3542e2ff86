//! Upfront fares and times: money in integer cents, distances in metres, times in seconds.
//! Both sides compute the same numbers; the server's quote is the one that is charged.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::streets::StreetGraph;
use super::GeoPoint;

/// An amount of money in cents. Never a float: fares are added and compared exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cents(pub u64);

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "€{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// How a trip is priced. Every field is a HAIL_* setting on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FareSchedule {
    pub base: Cents,
    pub per_km: Cents,
    pub per_minute: Cents,
    pub minimum: Cents,
}

impl Default for FareSchedule {
    fn default() -> Self {
        Self {
            base: Cents(250),
            per_km: Cents(120),
            per_minute: Cents(30),
            minimum: Cents(600),
        }
    }
}

/// The city's driving: streets are not straight lines, and traffic has a pace.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Driving {
    /// Road distance over straight-line distance, for what the street map does not cover;
    /// about 1.3 in a gridded city.
    pub detour_factor: f64,
    /// Average speed, km/h, stops included.
    pub speed_kmh: f64,
}

impl Default for Driving {
    fn default() -> Self {
        Self {
            detour_factor: 1.3,
            speed_kmh: 25.0,
        }
    }
}

/// A trip's expected length and duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trip {
    pub distance_m: u64,
    pub duration_s: u64,
}

impl Driving {
    /// The trip from one point to another: along the city's streets where both ends are on
    /// them, over the straight line and the detour factor where either is off the map.
    pub fn trip(&self, from: &GeoPoint, to: &GeoPoint) -> Trip {
        match StreetGraph::of_the_city().along(*from, *to) {
            Some(route) => self.trip_along(route.remaining_m()),
            None => self.trip_over(from.distance_m(to)),
        }
    }

    /// The trip over a straight-line distance, the detour factor making it a road distance.
    pub fn trip_over(&self, straight_m: f64) -> Trip {
        self.trip_along(straight_m * self.detour_factor)
    }

    /// The trip over a distance driven on the streets.
    pub fn trip_along(&self, road_m: f64) -> Trip {
        let distance_m = road_m.round().max(0.0);
        let metres_per_second = (self.speed_kmh.max(1.0) * 1000.0) / 3600.0;
        Trip {
            distance_m: distance_m as u64,
            duration_s: (distance_m / metres_per_second).round() as u64,
        }
    }
}

impl FareSchedule {
    /// Base + per km + per minute, rounded to the nearest cent once, never below the minimum.
    pub fn quote(&self, trip: Trip) -> Cents {
        // Work in milli-cents so the distance and time parts round once, together.
        let distance = u128::from(self.per_km.0) * u128::from(trip.distance_m); // cents * m = milli-cents * km
        let time = u128::from(self.per_minute.0) * u128::from(trip.duration_s) * 1000 / 60;
        let variable = (distance + time + 500) / 1000;
        let total = u128::from(self.base.0) + variable;
        Cents(u64::try_from(total).unwrap_or(u64::MAX).max(self.minimum.0))
    }
}

/// "4 min", "1 h 05 min": how long a person waits or rides.
pub fn describe_duration(seconds: u64) -> String {
    let minutes = seconds.div_ceil(60).max(1);
    if minutes < 60 {
        format!("{minutes} min")
    } else {
        format!("{} h {:02} min", minutes / 60, minutes % 60)
    }
}

/// "850 m", "3.4 km".
pub fn describe_distance(metres: u64) -> String {
    if metres < 1000 {
        format!("{metres} m")
    } else {
        format!("{:.1} km", metres as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(lat: f64, lng: f64) -> GeoPoint {
        GeoPoint::new(lat, lng).unwrap()
    }

    #[test]
    fn cents_display_as_euros() {
        assert_eq!(Cents(0).to_string(), "€0.00");
        assert_eq!(Cents(1234).to_string(), "€12.34");
        assert_eq!(Cents(5).to_string(), "€0.05");
    }

    #[test]
    fn a_fare_is_base_plus_distance_plus_time() {
        let schedule = FareSchedule {
            base: Cents(200),
            per_km: Cents(100),
            per_minute: Cents(50),
            minimum: Cents(0),
        };
        let trip = Trip {
            distance_m: 5_000,
            duration_s: 600,
        };
        // 200 + 5 km * 100 + 10 min * 50
        assert_eq!(schedule.quote(trip), Cents(1_200));
    }

    #[test]
    fn a_fare_rounds_to_the_nearest_cent_once() {
        let schedule = FareSchedule {
            base: Cents(0),
            per_km: Cents(1),
            per_minute: Cents(0),
            minimum: Cents(0),
        };
        assert_eq!(
            schedule.quote(Trip {
                distance_m: 1_499,
                duration_s: 0
            }),
            Cents(1)
        );
        assert_eq!(
            schedule.quote(Trip {
                distance_m: 1_500,
                duration_s: 0
            }),
            Cents(2)
        );
    }

    #[test]
    fn a_short_trip_costs_the_minimum() {
        let schedule = FareSchedule::default();
        let trip = Trip {
            distance_m: 100,
            duration_s: 30,
        };
        assert_eq!(schedule.quote(trip), schedule.minimum);
    }

    #[test]
    fn off_the_street_map_the_trip_is_the_straight_line_and_the_detour() {
        let driving = Driving {
            detour_factor: 1.5,
            speed_kmh: 36.0, // 10 m/s
        };
        // Far south of the demo city.
        let a = p(52.0, 13.0);
        let b = p(52.01, 13.0);
        let straight = a.distance_m(&b);
        let trip = driving.trip(&a, &b);
        assert_eq!(trip.distance_m, (straight * 1.5).round() as u64);
        assert_eq!(trip.duration_s, (straight * 1.5 / 10.0).round() as u64);
    }

    #[test]
    fn in_the_city_the_trip_is_the_street_route_at_the_citys_pace() {
        let driving = Driving {
            detour_factor: 9.0, // unused on the streets
            speed_kmh: 36.0,
        };
        let from = crate::domain::city::place("central-station").unwrap().at();
        let to = crate::domain::city::place("harbour").unwrap().at();
        let route = StreetGraph::of_the_city().along(from, to).unwrap();
        let trip = driving.trip(&from, &to);
        assert_eq!(trip.distance_m, route.remaining_m().round() as u64);
        assert_eq!(trip.duration_s, (route.remaining_m() / 10.0).round() as u64);
        assert!(trip.distance_m as f64 > from.distance_m(&to));
        assert!((trip.distance_m as f64) < from.distance_m(&to) * 9.0);
    }

    #[test]
    fn a_pickup_eta_is_the_drive_over_the_straight_distance() {
        let driving = Driving {
            detour_factor: 1.3,
            speed_kmh: 36.0,
        };
        // 1 km straight is 1.3 km of streets at 10 m/s.
        assert_eq!(driving.trip_over(1_000.0).duration_s, 130);
        assert_eq!(driving.trip_over(0.0).duration_s, 0);
        // A standstill city still moves at 1 km/h rather than dividing by zero.
        let stuck = Driving {
            detour_factor: 1.0,
            speed_kmh: 0.0,
        };
        assert_eq!(stuck.trip_over(1_000.0).duration_s, 3_600);
    }

    #[test]
    fn durations_and_distances_read_as_people_say_them() {
        assert_eq!(describe_duration(0), "1 min");
        assert_eq!(describe_duration(61), "2 min");
        assert_eq!(describe_duration(3_900), "1 h 05 min");
        assert_eq!(describe_distance(850), "850 m");
        assert_eq!(describe_distance(3_449), "3.4 km");
    }
}
