//! Components, in a tree that mirrors the screens.

pub mod announce;
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
pub mod screen;
pub mod session;
pub mod sheet;
pub mod sound;

use leptos::prelude::*;

/// False in the server's render and in the browser's first (hydrating) render, true once the page
/// is live: effects run only in the browser, after hydration. What depends on browser-only state
/// (a clock, a chosen spot, the pointer) reads it, so both renders agree.
pub fn use_hydrated() -> ReadSignal<bool> {
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    hydrated
}
