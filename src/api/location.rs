//! The session-stored location of the seed article: saved on one instance, read on any.

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;

use crate::domain::{AppError, GeoPoint};

/// POST /api/save_location: keeps `lat`, `lng` in the session of whoever is logged in.
#[server(prefix = "/api", endpoint = "save_location")]
#[cfg_attr(feature = "ssr", tracing::instrument(skip_all))]
pub async fn save_location(lat: String, lng: String) -> Result<GeoPoint, AppError> {
    use crate::server::session;

    let at = GeoPoint::parse(&lat, &lng)?;
    let session = session::current().await?;
    session::require_identity(&session).await?;
    session::save_location(&session, at).await?;
    Ok(at)
}

/// GET /api/location: the saved location; 404 when none is saved.
#[server(prefix = "/api", endpoint = "location", input = GetUrl)]
pub async fn get_location() -> Result<GeoPoint, AppError> {
    use crate::server::session;

    let session = session::current().await?;
    session::require_identity(&session).await?;
    session::location(&session)
        .await?
        .ok_or_else(|| AppError::not_found("no location saved yet"))
}
