//! A rider's rides: quote, request, follow, cancel, re-confirm, rate, history. The ride's
//! driver and the driver it is offered to may read it too; nobody else learns it exists.

// A ride request is a flat form of nine fields (the wire format the README gives), and the
// server macro makes one function argument of each, on both sides.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;

use crate::domain::ride::{Quote, RideView};
use crate::domain::{AppError, GeoPoint};

/// POST /api/quote: distance, upfront fare and the nearest driver's pickup ETA.
#[server(prefix = "/api", endpoint = "quote")]
pub async fn get_quote(
    pickup_lat: String,
    pickup_lng: String,
    dropoff_lat: String,
    dropoff_lng: String,
) -> Result<Quote, AppError> {
    use crate::domain::Role;
    use crate::server::{session, AppState};

    let pickup = GeoPoint::parse(&pickup_lat, &pickup_lng).map_err(|e| e.for_field("pickup"))?;
    let dropoff =
        GeoPoint::parse(&dropoff_lat, &dropoff_lng).map_err(|e| e.for_field("dropoff"))?;
    session::require_role(Role::Rider).await?;
    AppState::current()?.dispatch.quote(pickup, dropoff).await
}

/// How many free drivers the rider's map shows at most.
pub const NEARBY_SHOWN: usize = 12;

/// GET /api/nearby?lat=&lng=: where free drivers near a point are (positions only), so the
/// rider's map shows the city moving before they ask for a ride.
#[server(prefix = "/api", endpoint = "nearby", input = GetUrl)]
pub async fn nearby_drivers(lat: String, lng: String) -> Result<Vec<GeoPoint>, AppError> {
    use crate::domain::Role;
    use crate::server::{session, AppState};

    let at = GeoPoint::parse(&lat, &lng)?;
    session::require_role(Role::Rider).await?;
    AppState::current()?.dispatch.nearby(at, NEARBY_SHOWN).await
}

/// POST /api/request_ride: asks for a ride. Each end is a place of the city by its id
/// (`pickup_place`, `dropoff_place`: what the form's lists post, with or without JavaScript) or,
/// when that is empty or absent, coordinates and a name (a point clicked on the map).
/// `client_key` is chosen once per request by the client; a retry with the same key answers
/// with the same ride.
#[server(prefix = "/api", endpoint = "request_ride")]
#[cfg_attr(feature = "ssr", tracing::instrument(skip_all))]
pub async fn request_ride(
    #[server(default)] pickup_place: String,
    #[server(default)] pickup_lat: String,
    #[server(default)] pickup_lng: String,
    #[server(default)] pickup_name: String,
    #[server(default)] dropoff_place: String,
    #[server(default)] dropoff_lat: String,
    #[server(default)] dropoff_lng: String,
    #[server(default)] dropoff_name: String,
    client_key: String,
) -> Result<RideView, AppError> {
    use crate::domain::ride::{parse_client_key, parse_spot};
    use crate::domain::Role;
    use crate::server::dispatch::RideRequest;
    use crate::server::{session, AppState};

    let (pickup, pickup_name) = parse_spot(
        &pickup_place,
        &pickup_lat,
        &pickup_lng,
        &pickup_name,
        "pickup",
    )?;
    let (dropoff, dropoff_name) = parse_spot(
        &dropoff_place,
        &dropoff_lat,
        &dropoff_lng,
        &dropoff_name,
        "dropoff",
    )?;
    if pickup.distance_m(&dropoff) < 50.0 {
        return Err(AppError::invalid(
            "dropoff",
            "the drop-off must be somewhere other than the pickup",
        ));
    }
    let request = RideRequest {
        pickup,
        pickup_name,
        dropoff,
        dropoff_name,
        client_key: parse_client_key(&client_key)?,
    };
    let rider = session::require_role(Role::Rider).await?;
    AppState::current()?.dispatch.request(&rider, request).await
}

/// GET /api/ride?id=: one ride, for its rider, its driver or the driver it is offered to.
#[server(prefix = "/api", endpoint = "ride", input = GetUrl)]
pub async fn get_ride(id: String) -> Result<RideView, AppError> {
    use crate::domain::ride::RideId;
    use crate::server::{session, AppState};

    let id = RideId::parse(&id)?;
    let user = session::require_user().await?;
    AppState::current()?.dispatch.view(&id, &user).await
}

/// GET /api/current_ride: the ride the user is busy with (for a driver: their ride, else the
/// offer they hold), or null.
#[server(prefix = "/api", endpoint = "current_ride", input = GetUrl)]
pub async fn current_ride() -> Result<Option<RideView>, AppError> {
    use crate::server::{session, AppState};

    let user = session::require_user().await?;
    AppState::current()?.dispatch.current(&user).await
}

/// GET /api/rides: the user's rides, newest first (the last 20).
#[server(prefix = "/api", endpoint = "rides", input = GetUrl)]
pub async fn ride_history() -> Result<Vec<RideView>, AppError> {
    use crate::server::{session, AppState};

    let user = session::require_user().await?;
    AppState::current()?.dispatch.history(&user, 20).await
}

/// POST /api/cancel_ride: the rider cancels, any time before the trip starts.
#[server(prefix = "/api", endpoint = "cancel_ride")]
pub async fn cancel_ride(id: String) -> Result<RideView, AppError> {
    rider_step(id, RiderStep::Cancel).await
}

/// POST /api/reconfirm_ride: after too many wrong PINs, the rider issues a new PIN.
#[server(prefix = "/api", endpoint = "reconfirm_ride")]
pub async fn reconfirm_ride(id: String) -> Result<RideView, AppError> {
    rider_step(id, RiderStep::Reconfirm).await
}

/// POST /api/rate_ride: 1 to 5 stars for the driver, once, after the trip.
#[server(prefix = "/api", endpoint = "rate_ride")]
pub async fn rate_ride(id: String, stars: String) -> Result<RideView, AppError> {
    use crate::domain::ride::Stars;

    let stars = Stars::parse(&stars)?;
    rider_step(id, RiderStep::Rate(stars)).await
}

#[cfg(feature = "ssr")]
enum RiderStep {
    Cancel,
    Reconfirm,
    Rate(crate::domain::ride::Stars),
}

#[cfg(feature = "ssr")]
async fn rider_step(id: String, step: RiderStep) -> Result<RideView, AppError> {
    use crate::domain::ride::RideId;
    use crate::domain::Role;
    use crate::server::dispatch::Step;
    use crate::server::{session, AppState};

    let id = RideId::parse(&id)?;
    let rider = session::require_role(Role::Rider).await?;
    let step = match step {
        RiderStep::Cancel => Step::Cancel,
        RiderStep::Reconfirm => Step::Reconfirm,
        RiderStep::Rate(stars) => Step::Rate(stars),
    };
    AppState::current()?.dispatch.step(&rider, &id, step).await
}
