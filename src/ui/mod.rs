//! Components, in a tree that mirrors the screens.

pub mod auth;
pub mod driver;
pub mod forms;
pub mod home;
pub mod layout;
pub mod live;
pub mod location;
pub mod map;
pub mod nearby;
pub mod poll;
pub mod rider;
pub mod session;
pub mod sheet;
pub mod sound;
