//! The `#[server]` functions, by area. Each has a stable endpoint under /api/ (listed in the
//! README); arguments arrive as strings and are parsed here, at the edge, into domain types;
//! the bodies call into `crate::server`.

pub mod auth;
pub mod drivers;
pub mod location;
pub mod map;
pub mod rides;

pub use auth::{
    get_me, login, logout, signup, take_flash, GetMe, Login, Logout, Signup, TakeFlash,
};
pub use location::{get_location, save_location, GetLocation, SaveLocation};
