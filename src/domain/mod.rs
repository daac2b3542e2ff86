//! Types both sides share: parsed once at the edge, WASM-safe (serde and thiserror only).

pub mod account;
pub mod cells;
pub mod city;
pub mod error;
pub mod eta;
pub mod fare;
pub mod form;
pub mod geo;
pub mod live;
pub mod ride;
pub mod streets;
pub mod tiles;
pub mod time;

pub use account::{Email, Identity, Name, Password, Role, UserId};
pub use error::AppError;
pub use form::Flash;
pub use geo::GeoPoint;
