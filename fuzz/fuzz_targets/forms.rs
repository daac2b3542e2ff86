//! Every server function's form, decoded as server_fn decodes it (serde_qs, for the URL-encoded
//! bodies that are all Hail accepts), then checked by the domain's parsers as the function
//! checks it. Neither step may panic, whatever the form.
#![no_main]

use hail::api::auth::{Login, Signup};
use hail::api::drivers::{
    AcceptRide, Arrive, Complete, DeclineRide, GoOnline, SaveCar, SendPosition, StartTrip,
};
use hail::api::location::SaveLocation;
use hail::api::rides::{
    CancelRide, GetQuote, GetRide, NearbyDrivers, RateRide, ReconfirmRide, RequestRide,
};
use hail::domain::ride::{parse_client_key, parse_place_name, Car, Pin, RideId, Stars};
use hail::domain::{Email, GeoPoint, Name, Password, Role};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;

/// The form decoded into the arguments of one function, as server_fn does it.
fn decode<T: DeserializeOwned>(form: &str) -> Option<T> {
    serde_qs::Config::new(5, false).deserialize_str(form).ok()
}

fuzz_target!(|data: &[u8]| {
    let Ok(form) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(a) = decode::<Signup>(form) {
        let _ = (Name::parse(&a.name), Email::parse(&a.email));
        let _ = (Password::parse_new(&a.password), a.role.parse::<Role>());
    }
    if let Some(a) = decode::<Login>(form) {
        let _ = (Email::parse(&a.email), Password::parse_existing(&a.password));
    }
    if let Some(a) = decode::<SaveCar>(form) {
        let _ = Car::parse(&a.make, &a.model, &a.plate);
    }
    if let Some(a) = decode::<GoOnline>(form) {
        let _ = GeoPoint::parse(&a.lat, &a.lng);
    }
    if let Some(a) = decode::<SendPosition>(form) {
        let _ = GeoPoint::parse(&a.lat, &a.lng);
    }
    if let Some(a) = decode::<SaveLocation>(form) {
        let _ = GeoPoint::parse(&a.lat, &a.lng);
    }
    if let Some(a) = decode::<NearbyDrivers>(form) {
        let _ = GeoPoint::parse(&a.lat, &a.lng);
    }
    if let Some(a) = decode::<GetQuote>(form) {
        let _ = GeoPoint::parse(&a.pickup_lat, &a.pickup_lng);
        let _ = GeoPoint::parse(&a.dropoff_lat, &a.dropoff_lng);
    }
    if let Some(a) = decode::<RequestRide>(form) {
        let pickup = GeoPoint::parse(&a.pickup_lat, &a.pickup_lng);
        let dropoff = GeoPoint::parse(&a.dropoff_lat, &a.dropoff_lng);
        if let (Ok(pickup), Ok(dropoff)) = (pickup, dropoff) {
            let _ = pickup.distance_m(&dropoff);
        }
        let _ = parse_place_name(&a.pickup_name, "pickup");
        let _ = parse_place_name(&a.dropoff_name, "dropoff");
        let _ = parse_client_key(&a.client_key);
    }
    for id in [
        decode::<AcceptRide>(form).map(|a| a.id),
        decode::<DeclineRide>(form).map(|a| a.id),
        decode::<Arrive>(form).map(|a| a.id),
        decode::<Complete>(form).map(|a| a.id),
        decode::<GetRide>(form).map(|a| a.id),
        decode::<CancelRide>(form).map(|a| a.id),
        decode::<ReconfirmRide>(form).map(|a| a.id),
    ]
    .into_iter()
    .flatten()
    {
        let _ = RideId::parse(&id);
    }
    if let Some(a) = decode::<StartTrip>(form) {
        let _ = (RideId::parse(&a.id), Pin::parse(&a.pin));
    }
    if let Some(a) = decode::<RateRide>(form) {
        let _ = (RideId::parse(&a.id), Stars::parse(&a.stars));
    }
});
