//! What the session holds (identity and the saved location, nothing else) and how it changes.
//! The session itself is tower-sessions' with the Redis store, shared by every instance.

use time::OffsetDateTime;
use tower_sessions::{Expiry, Session};

use crate::domain::{AppError, Flash, GeoPoint, Identity};

const IDENTITY: &str = "identity";
const LOCATION: &str = "location";
const FLASH: &str = "flash";

fn store_error(err: tower_sessions::session::Error) -> AppError {
    tracing::warn!(error = %err, "the session store failed");
    AppError::unavailable()
}

/// The session of the request being served.
pub async fn current() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>().await.map_err(|err| {
        tracing::error!(error = %err, "no session layer in front of a server function");
        AppError::internal()
    })
}

/// Who is logged in, if anyone. Also rolls the inactivity expiry forward once half of it is
/// used, so an active user stays logged in without a session write on every request.
pub async fn identity(session: &Session) -> Result<Option<Identity>, AppError> {
    let identity = session
        .get::<Identity>(IDENTITY)
        .await
        .map_err(store_error)?;
    if identity.is_some() {
        refresh_expiry(session);
    }
    Ok(identity)
}

pub async fn require_identity(session: &Session) -> Result<Identity, AppError> {
    identity(session).await?.ok_or_else(AppError::not_logged_in)
}

fn refresh_expiry(session: &Session) {
    let Some(Expiry::OnInactivity(idle)) = session.expiry() else {
        return;
    };
    let left = session.expiry_date() - OffsetDateTime::now_utc();
    if left < idle / 2 {
        // Setting the expiry marks the session modified; the layer saves it and its cookie.
        session.set_expiry(Some(Expiry::OnInactivity(idle)));
    }
}

/// Logs `identity` in: a new session id (the old one dies, so a planted id is worthless), then
/// the identity. The location saved before logging in is kept.
pub async fn log_in(session: &Session, identity: &Identity) -> Result<(), AppError> {
    session.cycle_id().await.map_err(store_error)?;
    session
        .insert(IDENTITY, identity)
        .await
        .map_err(store_error)?;
    Ok(())
}

/// Deletes the session from the store; its cookie is removed on the way out.
pub async fn log_out(session: &Session) -> Result<(), AppError> {
    session.flush().await.map_err(store_error)
}

pub async fn save_location(session: &Session, at: GeoPoint) -> Result<(), AppError> {
    session.insert(LOCATION, at).await.map_err(store_error)
}

pub async fn location(session: &Session) -> Result<Option<GeoPoint>, AppError> {
    session.get(LOCATION).await.map_err(store_error)
}

/// Keeps a refused form's error and typed values for the page it redirects back to.
pub async fn set_flash(session: &Session, flash: &Flash) -> Result<(), AppError> {
    session.insert(FLASH, flash).await.map_err(store_error)
}

/// Takes the flash once, saving at once: the page may stream on after the layer has saved.
pub async fn take_flash(session: &Session) -> Result<Option<Flash>, AppError> {
    let flash = session.remove::<Flash>(FLASH).await.map_err(store_error)?;
    if flash.is_some() {
        session.save().await.map_err(store_error)?;
    }
    Ok(flash)
}
