//! The one `Clone` state of an instance, handed to handlers by axum and to server functions
//! through the context that `leptos_routes_with_context` provides.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use redis::aio::ConnectionManager;

use super::accounts::AccountStore;
use super::bus::Bus;
use super::dispatch::Dispatch;
use super::keys::Keys;
use super::ratelimit::LoginLimiter;
use super::ws::Live;
use super::Config;
use crate::domain::AppError;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub leptos_options: LeptosOptions,
    /// One multiplexed connection for every command of this instance; it reconnects by itself.
    pub redis: ConnectionManager,
    pub keys: Keys,
    pub accounts: AccountStore,
    pub login_limiter: LoginLimiter,
    pub dispatch: Dispatch,
    /// The instance's one pub/sub connection, shared by its live sockets.
    pub bus: Bus,
    pub live: Live,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl AppState {
    /// The state inside a server function.
    pub fn current() -> Result<Self, AppError> {
        leptos::prelude::use_context::<Self>().ok_or_else(|| {
            tracing::error!("AppState is missing from the server function context");
            AppError::internal()
        })
    }
}
