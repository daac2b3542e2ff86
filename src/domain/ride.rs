//! Rides: their states, the one table of allowed transitions, and what each party sees.
//!
//! The Redis scripts that change a ride take their allowed "from" states from `TRANSITIONS`,
//! so this table is the single source of truth for the lifecycle.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use super::fare::Cents;
use super::streets::{Route, StreetGraph};
use super::{AppError, GeoPoint};

/// A ride's id: random, lowercase hex, fixed length.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RideId(String);

impl RideId {
    pub const LEN: usize = 32;

    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let raw = raw.trim();
        let ok =
            raw.len() == Self::LEN && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(AppError::invalid("ride", "that is not a ride id"))
        }
    }

    /// Wraps an id Hail made or stored itself.
    pub fn from_trusted(id: String) -> Self {
        Self(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RideId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RideStatus {
    /// Looking for a driver; offered to one at a time.
    Searching,
    /// A driver accepted and is on the way to the pickup.
    DriverAssigned,
    /// The driver waits at the pickup.
    DriverArrived,
    InProgress,
    Completed,
    Cancelled,
    NoDriverFound,
}

impl RideStatus {
    pub const ALL: [RideStatus; 7] = [
        RideStatus::Searching,
        RideStatus::DriverAssigned,
        RideStatus::DriverArrived,
        RideStatus::InProgress,
        RideStatus::Completed,
        RideStatus::Cancelled,
        RideStatus::NoDriverFound,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RideStatus::Searching => "searching",
            RideStatus::DriverAssigned => "driver_assigned",
            RideStatus::DriverArrived => "driver_arrived",
            RideStatus::InProgress => "in_progress",
            RideStatus::Completed => "completed",
            RideStatus::Cancelled => "cancelled",
            RideStatus::NoDriverFound => "no_driver_found",
        }
    }

    /// What a rider reads.
    pub fn describe(self) -> &'static str {
        match self {
            RideStatus::Searching => "Looking for a driver…",
            RideStatus::DriverAssigned => "Your driver is on the way",
            RideStatus::DriverArrived => "Your driver has arrived",
            RideStatus::InProgress => "On the way to your destination",
            RideStatus::Completed => "Arrived. Thanks for riding with Hail",
            RideStatus::Cancelled => "Cancelled",
            RideStatus::NoDriverFound => "No driver found",
        }
    }

    /// The status as anyone involved reads it, after "the ride is".
    pub fn label(self) -> &'static str {
        match self {
            RideStatus::Searching => "searching for a driver",
            RideStatus::DriverAssigned => "assigned to its driver",
            RideStatus::DriverArrived => "waiting at the pickup",
            RideStatus::InProgress => "in progress",
            RideStatus::Completed => "completed",
            RideStatus::Cancelled => "cancelled",
            RideStatus::NoDriverFound => "ended without a driver",
        }
    }

    /// While the rider may see where their driver is: from assignment to the end of the trip.
    pub fn shares_driver_position(self) -> bool {
        matches!(
            self,
            RideStatus::DriverAssigned | RideStatus::DriverArrived | RideStatus::InProgress
        )
    }

    /// A finished ride frees its rider and driver for the next.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RideStatus::Completed | RideStatus::Cancelled | RideStatus::NoDriverFound
        )
    }
}

impl fmt::Display for RideStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RideStatus {
    type Err = AppError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        RideStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| AppError::invalid("status", format!("unknown ride status {raw:?}")))
    }
}

/// Everything that can happen to a ride, and who may make it happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RideAction {
    /// The offered driver takes the ride.
    Accept,
    /// The offered driver passes, or the offer times out: the next driver is asked.
    Decline,
    /// The search time ran out.
    GiveUp,
    /// The driver is at the pickup.
    Arrive,
    /// The driver starts the trip with the rider's PIN.
    Start,
    /// The rider asks for a new PIN after too many wrong ones.
    Reconfirm,
    Complete,
    /// The rider cancels, any time before the trip starts.
    Cancel,
    /// The rider rates the driver after the trip.
    Rate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Rider,
    Driver,
    /// The dispatcher: deadlines measured by Redis's clock, run by whichever instance.
    System,
}

/// (from, action, to, who). An action not listed from a state is a 409.
pub const TRANSITIONS: &[(RideStatus, RideAction, RideStatus, Actor)] = {
    use Actor::*;
    use RideAction::*;
    use RideStatus::*;
    &[
        (Searching, Accept, DriverAssigned, Driver),
        (Searching, Decline, Searching, Driver),
        (Searching, Decline, Searching, System),
        (Searching, GiveUp, NoDriverFound, System),
        (Searching, Cancel, Cancelled, Rider),
        (DriverAssigned, Arrive, DriverArrived, Driver),
        (DriverAssigned, Cancel, Cancelled, Rider),
        (DriverArrived, Start, InProgress, Driver),
        (DriverArrived, Reconfirm, DriverArrived, Rider),
        (DriverArrived, Cancel, Cancelled, Rider),
        (InProgress, Complete, Completed, Driver),
        (Completed, Rate, Completed, Rider),
    ]
};

/// The state `action` leads to from `from`, or why it cannot happen now.
pub fn transition(from: RideStatus, action: RideAction) -> Result<RideStatus, AppError> {
    TRANSITIONS
        .iter()
        .find(|(f, a, _, _)| *f == from && *a == action)
        .map(|(_, _, to, _)| *to)
        .ok_or_else(|| refused(from, action))
}

/// The states from which `action` is allowed: what the Redis scripts check against.
pub fn allowed_from(action: RideAction) -> Vec<RideStatus> {
    let mut states: Vec<RideStatus> = TRANSITIONS
        .iter()
        .filter(|(_, a, _, _)| *a == action)
        .map(|(f, _, _, _)| *f)
        .collect();
    states.dedup();
    states
}

/// Where `action` leads (each action has one destination, whatever its origin).
pub fn target_of(action: RideAction) -> Option<RideStatus> {
    TRANSITIONS
        .iter()
        .find(|(_, a, _, _)| *a == action)
        .map(|(_, _, to, _)| *to)
}

/// Who may take `action`.
pub fn actors(action: RideAction) -> Vec<Actor> {
    TRANSITIONS
        .iter()
        .filter(|(_, a, _, _)| *a == action)
        .map(|(_, _, _, who)| *who)
        .collect()
}

/// The 409 a person reads when an action comes too late or too early. A driver whose offer is
/// gone learns only that: what became of the ride is no longer theirs to know.
pub fn refused(from: RideStatus, action: RideAction) -> AppError {
    let why = match (action, from) {
        (RideAction::Accept, _) => {
            return AppError::conflict(None, "this offer is no longer available")
        }
        (RideAction::Cancel, RideStatus::InProgress) => {
            "the trip has started; it can no longer be cancelled"
        }
        (RideAction::Cancel, _) => "this ride is already over",
        (RideAction::Start, RideStatus::Cancelled) => "this ride was cancelled",
        (RideAction::Start, _) => "the trip can start only once you are at the pickup",
        (RideAction::Arrive, _) => "you can arrive only on the way to a pickup",
        (RideAction::Complete, _) => "only a trip in progress can be completed",
        (RideAction::Rate, _) => "only a completed ride can be rated",
        (RideAction::Reconfirm, _) => "only a ride waiting at the pickup can be re-confirmed",
        (RideAction::Decline | RideAction::GiveUp, _) => {
            "this ride is no longer looking for a driver"
        }
    };
    AppError::conflict(None, format!("{why} (the ride is {})", from.label()))
}

/// A place's name as the rider gave it (`field` names it in a refusal): at most 80 plain
/// characters, trimmed; none is "Pin on the map".
pub fn parse_place_name(raw: &str, field: &str) -> Result<String, AppError> {
    let name = raw.trim();
    if name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err(AppError::invalid(
            field,
            "a place name is at most 80 plain characters",
        ));
    }
    Ok(if name.is_empty() {
        "Pin on the map".to_owned()
    } else {
        name.to_owned()
    })
}

/// One end of a requested ride as a form gives it (`field` is "pickup" or "dropoff"): a place
/// of the city by its id (what the list posts, with or without JavaScript), else coordinates
/// and a name (a point clicked on the map). An empty `place` means "not from the list".
pub fn parse_spot(
    place: &str,
    lat: &str,
    lng: &str,
    name: &str,
    field: &str,
) -> Result<(GeoPoint, String), AppError> {
    let place = place.trim();
    if !place.is_empty() {
        return match crate::domain::city::place(place) {
            Some(p) => Ok((p.at(), p.name.to_owned())),
            None => Err(AppError::invalid(
                field,
                format!("choose the {} from the list of places", spot_word(field)),
            )),
        };
    }
    if lat.trim().is_empty() && lng.trim().is_empty() {
        return Err(AppError::invalid(
            field,
            format!("choose a {} from the list or on the map", spot_word(field)),
        ));
    }
    let at = GeoPoint::parse(lat, lng).map_err(|err| err.for_field(field))?;
    Ok((at, parse_place_name(name, field)?))
}

fn spot_word(field: &str) -> &'static str {
    if field == "dropoff" {
        "drop-off"
    } else {
        "pickup"
    }
}

/// The key a client sends with a ride request, so that a retried request makes one ride: 8 to
/// 64 letters, digits, - or _.
pub fn parse_client_key(raw: &str) -> Result<String, AppError> {
    let key = raw.trim();
    let ok = (8..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(key.to_owned())
    } else {
        Err(AppError::invalid(
            "client_key",
            "client_key must be 8 to 64 letters, digits, - or _",
        ))
    }
}

/// A pickup PIN: four digits, which the rider tells the driver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pin(String);

impl Pin {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let raw = raw.trim();
        if raw.len() == 4 && raw.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(AppError::invalid(
                "pin",
                "the PIN is the rider's four digits",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A rating of the driver: one to five stars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Stars(u8);

impl Stars {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        match raw.trim().parse::<u8>() {
            Ok(n @ 1..=5) => Ok(Self(n)),
            _ => Err(AppError::invalid("stars", "a rating is 1 to 5 stars")),
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// A driver's car, as the rider needs it to find the right one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Car {
    pub make: String,
    pub model: String,
    pub plate: String,
}

impl Car {
    pub fn parse(make: &str, model: &str, plate: &str) -> Result<Self, AppError> {
        let field = |raw: &str, name: &str, what: &str, max: usize| {
            let value = raw.trim();
            if value.is_empty() {
                return Err(AppError::invalid(name, format!("enter the car's {what}")));
            }
            if value.chars().count() > max || value.chars().any(char::is_control) {
                return Err(AppError::invalid(
                    name,
                    format!("the {what} can be at most {max} plain characters"),
                ));
            }
            Ok(value.to_owned())
        };
        Ok(Self {
            make: field(make, "make", "make", 40)?,
            model: field(model, "model", "model", 40)?,
            plate: field(plate, "plate", "plate", 12)?.to_uppercase(),
        })
    }
}

impl fmt::Display for Car {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.make, self.model, self.plate)
    }
}

/// The driver of a ride, as the rider sees them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssignedDriver {
    pub name: String,
    pub car: Car,
}

/// A ride as one of its two parties sees it. The PIN is filled only for the rider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RideView {
    pub id: RideId,
    pub status: RideStatus,
    /// Bumped by every change; a client that sees a gap reloads.
    pub seq: u64,
    pub rider_name: String,
    pub pickup: GeoPoint,
    pub pickup_name: String,
    pub dropoff: GeoPoint,
    pub dropoff_name: String,
    pub distance_m: u64,
    pub duration_s: u64,
    pub fare: Cents,
    pub driver: Option<AssignedDriver>,
    pub pin: Option<String>,
    /// The rider must re-confirm before the trip can start (too many wrong PINs).
    pub pin_locked: bool,
    pub rating: Option<u8>,
    pub created_at_ms: u64,
    /// For the driver who holds the offer: when it lapses, on the server's clock.
    pub offer_expires_at_ms: Option<u64>,
    /// For the rider, from assignment to the end of the trip: where the driver last was.
    pub driver_position: Option<GeoPoint>,
    /// The server's clock when this view was read, so a client can correct its own.
    pub server_now_ms: u64,
}

impl RideView {
    /// Seconds until the driver reaches where they are heading (the pickup, then the drop-off),
    /// from their last position, along the streets where the map has them. The ride's own
    /// quote sets the pace (`duration_s` over `distance_m`), so the estimate follows the
    /// server's driving model without knowing it; off the street map the quote's own ratio of
    /// road to straight line stands in for the streets.
    pub fn eta_s(&self) -> Option<u64> {
        let at = self.driver_position?;
        let target = match self.status {
            RideStatus::DriverAssigned => self.pickup,
            RideStatus::InProgress => self.dropoff,
            _ => return None,
        };
        if self.distance_m == 0 {
            return None;
        }
        let left_m = match self.route_ahead() {
            Some(route) => route.remaining_m(),
            None => {
                let straight = self.pickup.distance_m(&self.dropoff);
                let detour = if straight >= 1.0 {
                    self.distance_m as f64 / straight
                } else {
                    1.0
                };
                at.distance_m(&target) * detour
            }
        };
        Some((self.duration_s as f64 * left_m / self.distance_m as f64).round() as u64)
    }

    /// The way the driver still has to go along the streets: from their last position to the
    /// pickup while they come, to the drop-off during the trip; `None` before a driver, after
    /// the trip, or off the street map.
    pub fn route_ahead(&self) -> Option<Route> {
        let at = self.driver_position?;
        let target = match self.status {
            RideStatus::DriverAssigned => self.pickup,
            RideStatus::InProgress => self.dropoff,
            _ => return None,
        };
        StreetGraph::of_the_city().along(at, target)
    }

    /// The trip's own way from the pickup to the drop-off along the streets, for the map before
    /// the trip starts; `None` off the street map.
    pub fn trip_route(&self) -> Option<Route> {
        StreetGraph::of_the_city().along(self.pickup, self.dropoff)
    }

    /// What a map of this ride draws: the trip from the pickup to the drop-off until it starts,
    /// then from the car on to the drop-off; while the driver comes, also their way to the
    /// pickup. Nothing once the ride is over. Both follow the car as its position moves.
    pub fn routes(&self) -> RideRoutes {
        match self.status {
            RideStatus::Searching | RideStatus::DriverArrived => RideRoutes {
                approach: None,
                trip: self.trip_route(),
            },
            RideStatus::DriverAssigned => RideRoutes {
                approach: self.route_ahead(),
                trip: self.trip_route(),
            },
            RideStatus::InProgress => RideRoutes {
                approach: None,
                trip: self.route_ahead().or_else(|| self.trip_route()),
            },
            _ => RideRoutes::default(),
        }
    }
}

/// The lines a map of a ride draws (see [`RideView::routes`]).
#[derive(Debug, Clone, Default)]
pub struct RideRoutes {
    /// The driver's way to the pickup.
    pub approach: Option<Route>,
    /// The rider's way to the drop-off.
    pub trip: Option<Route>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn place_names_are_short_plain_text_and_default_to_the_pin() {
        assert_eq!(
            parse_place_name("  Market Hall ", "pickup").unwrap(),
            "Market Hall"
        );
        assert_eq!(parse_place_name("", "pickup").unwrap(), "Pin on the map");
        assert_eq!(
            parse_place_name(&"é".repeat(80), "pickup")
                .unwrap()
                .chars()
                .count(),
            80
        );
        let long = parse_place_name(&"a".repeat(81), "dropoff").unwrap_err();
        assert_eq!(long.field(), Some("dropoff"));
        assert!(parse_place_name("Market\u{0}Hall", "pickup").is_err());
    }

    #[test]
    fn a_spot_is_a_listed_place_by_id_or_else_coordinates_and_a_name() {
        let station = crate::domain::city::place("central-station").unwrap();
        // The list wins over coordinates (both come with JavaScript; only the list without).
        let (at, name) = parse_spot("central-station", "1", "2", "ignored", "pickup").unwrap();
        assert_eq!((at, name.as_str()), (station.at(), station.name));
        let (at, name) = parse_spot("", "52.52", "13.40", "", "dropoff").unwrap();
        assert_eq!(at, GeoPoint::new(52.52, 13.40).unwrap());
        assert_eq!(name, "Pin on the map");

        let unknown = parse_spot("atlantis", "", "", "", "dropoff").unwrap_err();
        assert_eq!(unknown.field(), Some("dropoff"));
        assert_eq!(
            unknown.message(),
            "choose the drop-off from the list of places"
        );
        let none = parse_spot(" ", "", "", "", "pickup").unwrap_err();
        assert_eq!(none.field(), Some("pickup"));
        assert_eq!(
            none.message(),
            "choose a pickup from the list or on the map"
        );
        let bad = parse_spot("", "north", "13.4", "", "pickup").unwrap_err();
        assert_eq!(bad.field(), Some("pickup"));
        assert!(bad.message().starts_with("pickup: "), "{}", bad.message());
    }

    #[test]
    fn client_keys_are_8_to_64_letters_digits_dashes_or_underscores() {
        assert_eq!(parse_client_key(" key-1234_ab ").unwrap(), "key-1234_ab");
        for bad in [
            "short",
            &"k".repeat(65),
            "key with space",
            "ключ-12345678",
            "key/../..1",
        ] {
            let err = parse_client_key(bad).unwrap_err();
            assert_eq!(err.field(), Some("client_key"), "{bad}");
        }
    }

    fn ride_at(status: RideStatus, driver_position: Option<GeoPoint>) -> RideView {
        RideView {
            id: RideId::from_trusted("0".repeat(32)),
            status,
            seq: 1,
            rider_name: "Rita".into(),
            pickup: GeoPoint::new(52.52, 13.40).unwrap(),
            pickup_name: "North".into(),
            dropoff: GeoPoint::new(52.50, 13.40).unwrap(),
            dropoff_name: "South".into(),
            distance_m: 2_900,
            duration_s: 600,
            fare: Cents(1_000),
            driver: None,
            pin: None,
            pin_locked: false,
            rating: None,
            created_at_ms: 0,
            offer_expires_at_ms: None,
            driver_position,
            server_now_ms: 0,
        }
    }

    #[test]
    fn off_the_street_map_the_eta_scales_the_rides_own_pace_to_the_straight_distance_left() {
        // Far south of the demo city, where no street is drawn.
        let off_map = |mut ride: RideView| {
            ride.pickup = GeoPoint::new(52.02, 13.0).unwrap();
            ride.dropoff = GeoPoint::new(52.0, 13.0).unwrap();
            ride.driver_position = ride.driver_position.map(|p| {
                GeoPoint::new(p.lat() - 0.5, 13.0).unwrap() // 52.52 -> 52.02, 52.51 -> 52.01
            });
            ride
        };
        let halfway = GeoPoint::new(52.51, 13.40).ok();
        let ride = off_map(ride_at(RideStatus::DriverAssigned, halfway));
        assert!(ride.route_ahead().is_none());
        assert_eq!(ride.eta_s(), Some(300));
        let at_pickup = GeoPoint::new(52.52, 13.40).ok();
        assert_eq!(
            off_map(ride_at(RideStatus::InProgress, at_pickup)).eta_s(),
            Some(600)
        );
        assert_eq!(ride_at(RideStatus::DriverArrived, at_pickup).eta_s(), None);
        assert_eq!(ride_at(RideStatus::DriverAssigned, None).eta_s(), None);
    }

    #[test]
    fn in_the_city_the_eta_is_the_street_route_left_at_the_rides_pace() {
        let place = |id| super::super::city::place(id).unwrap().at();
        let mut ride = ride_at(RideStatus::DriverAssigned, Some(place("harbour")));
        ride.pickup = place("central-station");
        ride.dropoff = place("university");
        let ahead = ride.route_ahead().expect("a street route to the pickup");
        let pace = ride.duration_s as f64 / ride.distance_m as f64;
        assert_eq!(
            ride.eta_s(),
            Some((ahead.remaining_m() * pace).round() as u64)
        );
        assert!(ahead.remaining_m() > place("harbour").distance_m(&ride.pickup));
        // During the trip the route leads to the drop-off.
        ride.status = RideStatus::InProgress;
        ride.driver_position = Some(ride.pickup);
        let trip = ride.route_ahead().unwrap();
        assert_eq!(trip.points().last(), Some(ride.dropoff));
        assert_eq!(ride.trip_route().unwrap().remaining_m(), trip.remaining_m());
        ride.status = RideStatus::Completed;
        assert!(ride.route_ahead().is_none());
    }

    #[test]
    fn the_map_draws_the_approach_while_the_driver_comes_and_the_trip_from_the_car_after() {
        let place = |id| super::super::city::place(id).unwrap().at();
        let (car, pickup, dropoff) = (place("harbour"), place("central-station"), place("stadium"));
        let mut ride = ride_at(RideStatus::Searching, None);
        (ride.pickup, ride.dropoff) = (pickup, dropoff);
        let ends = |r: &Option<Route>| {
            r.as_ref()
                .map(|r| (r.position(), r.points().last().unwrap()))
        };

        let searching = ride.routes();
        assert!(searching.approach.is_none());
        assert_eq!(ends(&searching.trip), Some((pickup, dropoff)));

        ride.status = RideStatus::DriverAssigned;
        ride.driver_position = Some(car);
        let coming = ride.routes();
        assert_eq!(ends(&coming.approach), Some((car, pickup)));
        assert_eq!(ends(&coming.trip), Some((pickup, dropoff)));

        // Half a kilometre on, the approach starts where the car is now.
        let mut ahead = coming.approach.unwrap();
        let moved = ahead.advance(500.0);
        ride.driver_position = Some(moved);
        assert_eq!(ends(&ride.routes().approach), Some((moved, pickup)));

        ride.status = RideStatus::InProgress;
        let riding = ride.routes();
        assert!(riding.approach.is_none());
        assert_eq!(ends(&riding.trip), Some((moved, dropoff)));

        ride.status = RideStatus::Completed;
        assert!(ride.routes().trip.is_none());
    }

    #[test]
    fn a_ride_runs_from_search_to_rating() {
        let mut status = RideStatus::Searching;
        for action in [
            RideAction::Decline,
            RideAction::Accept,
            RideAction::Arrive,
            RideAction::Start,
            RideAction::Complete,
            RideAction::Rate,
        ] {
            status = transition(status, action).unwrap();
        }
        assert_eq!(status, RideStatus::Completed);
    }

    #[test]
    fn a_ride_can_be_cancelled_only_before_the_trip_starts() {
        for from in [
            RideStatus::Searching,
            RideStatus::DriverAssigned,
            RideStatus::DriverArrived,
        ] {
            assert_eq!(
                transition(from, RideAction::Cancel).unwrap(),
                RideStatus::Cancelled
            );
        }
        for from in [
            RideStatus::InProgress,
            RideStatus::Completed,
            RideStatus::Cancelled,
        ] {
            assert_eq!(
                transition(from, RideAction::Cancel).unwrap_err().status(),
                409
            );
        }
    }

    #[test]
    fn the_driver_is_shown_only_from_assignment_to_the_end_of_the_trip() {
        let shown: Vec<_> = RideStatus::ALL
            .into_iter()
            .filter(|s| s.shares_driver_position())
            .collect();
        assert_eq!(
            shown,
            vec![
                RideStatus::DriverAssigned,
                RideStatus::DriverArrived,
                RideStatus::InProgress
            ]
        );
    }

    #[test]
    fn a_cancelled_ride_cannot_be_started_or_accepted() {
        let err = transition(RideStatus::Cancelled, RideAction::Start).unwrap_err();
        assert_eq!(err.status(), 409);
        assert!(err.message().starts_with("this ride was cancelled"));
        assert!(transition(RideStatus::Cancelled, RideAction::Accept).is_err());
    }

    #[test]
    fn only_a_searching_ride_can_be_accepted() {
        assert_eq!(
            allowed_from(RideAction::Accept),
            vec![RideStatus::Searching]
        );
        for from in RideStatus::ALL {
            let ok = transition(from, RideAction::Accept).is_ok();
            assert_eq!(ok, from == RideStatus::Searching, "{from}");
        }
    }

    #[test]
    fn final_states_lead_nowhere_but_a_rating() {
        for (from, action, _, _) in TRANSITIONS {
            if from.is_final() {
                assert_eq!(*action, RideAction::Rate, "{from} --{action:?}-->");
            }
        }
    }

    #[test]
    fn each_action_has_one_destination() {
        for (_, action, to, _) in TRANSITIONS {
            assert_eq!(target_of(*action), Some(*to), "{action:?}");
        }
    }

    #[test]
    fn each_action_belongs_to_the_party_that_takes_it() {
        assert_eq!(actors(RideAction::Accept), vec![Actor::Driver]);
        assert_eq!(actors(RideAction::Cancel), vec![Actor::Rider; 3]);
        assert_eq!(actors(RideAction::GiveUp), vec![Actor::System]);
        assert!(actors(RideAction::Decline).contains(&Actor::System));
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in RideStatus::ALL {
            assert_eq!(status.as_str().parse::<RideStatus>().unwrap(), status);
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        assert!("flying".parse::<RideStatus>().is_err());
    }

    #[test]
    fn ride_ids_pins_and_stars_are_parsed_at_the_edge() {
        assert!(RideId::parse(&"ab".repeat(16)).is_ok());
        assert!(RideId::parse("1234").is_err());
        assert!(RideId::parse(&"zz".repeat(16)).is_err());
        assert_eq!(Pin::parse(" 0427 ").unwrap().as_str(), "0427");
        for bad in ["", "123", "12345", "12a4", "١٢٣٤"] {
            assert_eq!(Pin::parse(bad).unwrap_err().field(), Some("pin"), "{bad:?}");
        }
        assert_eq!(Stars::parse("5").unwrap().get(), 5);
        for bad in ["0", "6", "-1", "three", ""] {
            assert!(Stars::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_car_needs_make_model_and_a_short_plate() {
        let car = Car::parse(" Toyota ", "Prius", "b-hx 123").unwrap();
        assert_eq!(car.to_string(), "Toyota Prius (B-HX 123)");
        assert_eq!(
            Car::parse("", "Prius", "B 1").unwrap_err().field(),
            Some("make")
        );
        assert_eq!(
            Car::parse("Toyota", "Prius", "B-HX 123456789")
                .unwrap_err()
                .field(),
            Some("plate")
        );
    }
}

/// What a rider sees before requesting: the trip, its price, and how soon a driver could come.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    pub distance_m: u64,
    pub duration_s: u64,
    pub fare: Cents,
    /// Seconds until the nearest available driver could reach the pickup; None when no driver
    /// is within the search radius.
    pub pickup_eta_s: Option<u64>,
}

/// A driver's own screen: presence, car, the offer or ride at hand, and the day's takings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriverState {
    pub online: bool,
    pub car: Option<Car>,
    pub position: Option<GeoPoint>,
    pub offer: Option<RideView>,
    pub ride: Option<RideView>,
    pub earnings_today: Cents,
    pub rides_today: u32,
}
