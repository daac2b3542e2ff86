//! A driver's work: their car, going online and offline, positions, and the ride steps.

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;

use crate::domain::ride::{Car, DriverState, RideView};
use crate::domain::AppError;

/// GET /api/driver: the driver's own screen state. `utc_offset_min` (minutes east of UTC, sent
/// by the browser) says where "today" starts for the day's earnings; it is kept in the session,
/// so pages rendered on the server count the same day. Without one ever sent: UTC.
#[server(prefix = "/api", endpoint = "driver", input = GetUrl)]
pub async fn get_driver_state(utc_offset_min: Option<String>) -> Result<DriverState, AppError> {
    use crate::domain::time::UtcOffset;
    use crate::domain::Role;
    use crate::server::{session, AppState};

    let offset = utc_offset_min
        .as_deref()
        .map(UtcOffset::parse)
        .transpose()?;
    let session = session::current().await?;
    let driver = session::require_identity(&session).await?;
    driver.require_role(Role::Driver)?;
    let offset = match offset {
        Some(offset) => {
            session::remember_utc_offset(&session, offset).await?;
            offset
        }
        None => session::utc_offset(&session).await?.unwrap_or_default(),
    };
    let state = AppState::current()?;
    let car = state.accounts.car(&driver.id).await?;
    state.dispatch.driver_state(&driver, car, offset).await
}

/// POST /api/car: the car riders will look for.
#[server(prefix = "/api", endpoint = "car")]
pub async fn save_car(make: String, model: String, plate: String) -> Result<Car, AppError> {
    use crate::domain::Role;
    use crate::server::{session, AppState};

    let car = Car::parse(&make, &model, &plate)?;
    let driver = session::require_role(Role::Driver).await?;
    AppState::current()?
        .accounts
        .set_car(&driver.id, &car)
        .await?;
    Ok(car)
}

/// POST /api/go_online: available for offers, from the given position.
#[server(prefix = "/api", endpoint = "go_online")]
pub async fn go_online(lat: String, lng: String) -> Result<(), AppError> {
    use crate::domain::{GeoPoint, Role};
    use crate::server::{session, AppState};

    let at = GeoPoint::parse(&lat, &lng)?;
    let driver = session::require_role(Role::Driver).await?;
    let state = AppState::current()?;
    let car = state
        .accounts
        .car(&driver.id)
        .await?
        .ok_or_else(|| AppError::conflict(Some("make"), "add your car before going online"))?;
    state.dispatch.go_online(&driver, &car, at).await
}

/// POST /api/go_offline: no more offers (refused while a ride is under way).
#[server(prefix = "/api", endpoint = "go_offline")]
pub async fn go_offline() -> Result<(), AppError> {
    use crate::domain::Role;
    use crate::server::{session, AppState};

    let driver = session::require_role(Role::Driver).await?;
    AppState::current()?.dispatch.go_offline(&driver).await
}

/// POST /api/position: the driver's current position (keeps them fresh for offers).
#[server(prefix = "/api", endpoint = "position")]
pub async fn send_position(lat: String, lng: String) -> Result<(), AppError> {
    use crate::domain::{GeoPoint, Role};
    use crate::server::{session, AppState};

    let at = GeoPoint::parse(&lat, &lng)?;
    let driver = session::require_role(Role::Driver).await?;
    AppState::current()?.dispatch.position(&driver, at).await?;
    Ok(())
}

/// POST /api/accept: takes the offered ride. Retrying an accepted ride answers the same.
#[server(prefix = "/api", endpoint = "accept")]
pub async fn accept_ride(id: String) -> Result<RideView, AppError> {
    use crate::domain::ride::RideId;
    use crate::domain::Role;
    use crate::server::{session, AppState};

    let id = RideId::parse(&id)?;
    let driver = session::require_role(Role::Driver).await?;
    AppState::current()?.dispatch.accept(&driver, &id).await
}

/// POST /api/decline: passes the offer to the next driver.
#[server(prefix = "/api", endpoint = "decline")]
pub async fn decline_ride(id: String) -> Result<(), AppError> {
    use crate::domain::ride::RideId;
    use crate::domain::Role;
    use crate::server::{session, AppState};

    let id = RideId::parse(&id)?;
    let driver = session::require_role(Role::Driver).await?;
    AppState::current()?.dispatch.decline(&driver, &id).await
}

/// POST /api/arrive: at the pickup.
#[server(prefix = "/api", endpoint = "arrive")]
pub async fn arrive(id: String) -> Result<RideView, AppError> {
    driver_step(id, None).await
}

/// POST /api/start_trip: starts the trip with the rider's PIN.
#[server(prefix = "/api", endpoint = "start_trip")]
pub async fn start_trip(id: String, pin: String) -> Result<RideView, AppError> {
    use crate::domain::ride::Pin;

    let pin = Pin::parse(&pin)?;
    driver_step(id, Some(DriverStep::Start(pin))).await
}

/// POST /api/complete: at the drop-off.
#[server(prefix = "/api", endpoint = "complete")]
pub async fn complete(id: String) -> Result<RideView, AppError> {
    driver_step(id, Some(DriverStep::Complete)).await
}

#[cfg(feature = "ssr")]
enum DriverStep {
    Start(crate::domain::ride::Pin),
    Complete,
}

/// `None` is arriving.
#[cfg(feature = "ssr")]
async fn driver_step(id: String, step: Option<DriverStep>) -> Result<RideView, AppError> {
    use crate::domain::ride::RideId;
    use crate::domain::Role;
    use crate::server::dispatch::Step;
    use crate::server::{session, AppState};

    let id = RideId::parse(&id)?;
    let driver = session::require_role(Role::Driver).await?;
    let step = match step {
        None => Step::Arrive,
        Some(DriverStep::Start(pin)) => Step::Start(pin),
        Some(DriverStep::Complete) => Step::Complete,
    };
    AppState::current()?.dispatch.step(&driver, &id, step).await
}
