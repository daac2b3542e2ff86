//! Hail: ride hailing on Leptos. The library holds both sides of the app; cargo-leptos builds it
//! for the browser with `hydrate`, and the `hail` binary serves it with `ssr`.
//!
//! The folders say the side: `domain` is shared and WASM-safe, `ui` is components, `api` is the
//! `#[server]` functions, and `server` is server-only code, compiled only with `ssr`.

// Leptos views are deeply nested types; the driver screen outgrows the default limit of 128.
#![recursion_limit = "256"]

pub mod api;
pub mod app;
pub mod domain;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod server;

/// The browser's entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
