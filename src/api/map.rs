//! What the map needs from the server's configuration.

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;

use crate::domain::tiles::MapSettings;
use crate::domain::AppError;

/// GET /api/map: the optional raster tile URL and its attribution.
#[server(prefix = "/api", endpoint = "map", input = GetUrl)]
pub async fn get_map_settings() -> Result<MapSettings, AppError> {
    use crate::server::AppState;

    let state = AppState::current()?;
    Ok(MapSettings {
        tile_url: state.config.map_tile_url.clone(),
        attribution: state.config.map_attribution.clone(),
    })
}
