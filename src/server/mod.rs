//! Server-only code, compiled with `ssr` alone: configuration, startup, Redis stores, sessions,
//! the mapping of errors to statuses, health checks, the live updates (bus and sockets), demo
//! mode.

pub mod accounts;
pub mod api_errors;
pub mod auth;
pub mod bus;
pub mod client_ip;
pub mod config;
pub mod csp;
pub mod csrf;
pub mod demo;
pub mod dispatch;
pub mod health;
pub mod keys;
#[cfg(test)]
mod lua_lint;
pub mod metrics;
pub mod password;
pub mod publisher;
pub mod ratelimit;
pub mod redis_errors;
pub mod session;
pub mod sockets;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tracker;
pub mod ws;

pub use config::Config;
pub use startup::Application;
pub use state::AppState;
