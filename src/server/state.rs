//! The one `Clone` state of an instance, handed to handlers by axum and to server functions
//! through the context that `leptos_routes_with_context` provides.

use std::sync::Arc;

use super::redis_errors::Redis;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use super::accounts::AccountStore;
use super::bus::Bus;
use super::dispatch::Dispatch;
use super::keys::Keys;
use super::metrics::Metrics;
use super::password::Passwords;
use super::publisher::Publisher;
use super::ratelimit::{LoginLimiter, SignupLimiter};
use super::sockets::SocketCounts;
use super::ws::Live;
use super::Config;
use crate::domain::AppError;

/// Cloned for every request and held by every live socket, so it is one pointer: the parts
/// live once per instance behind it.
#[derive(Clone)]
pub struct AppState(Arc<Parts>);

impl std::ops::Deref for AppState {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

impl AppState {
    pub fn new(parts: Parts) -> Self {
        Self(Arc::new(parts))
    }
}

/// What an instance's handlers share.
pub struct Parts {
    pub config: Arc<Config>,
    pub leptos_options: LeptosOptions,
    /// One multiplexed connection for every command of this instance; it reconnects by itself.
    pub redis: Redis,
    pub keys: Keys,
    /// What this instance is doing, for `GET /metrics`.
    pub metrics: Arc<Metrics>,
    pub accounts: AccountStore,
    pub login_limiter: LoginLimiter,
    pub signup_limiter: SignupLimiter,
    /// This instance's count of its users' live sockets, in Redis.
    pub sockets: Arc<SocketCounts>,
    /// Argon2 on a few low-priority threads of its own, so logins queue instead of piling up.
    pub passwords: Passwords,
    pub dispatch: Dispatch,
    /// Drivers' positions on their way to Redis, in batches.
    pub publisher: Publisher,
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
