//! A tick that counts up every `every` in the browser (never on the server): the stand-in while
//! the live connection is down, the offer countdown, and the rider's view of free drivers nearby.

use std::time::Duration;

use leptos::prelude::*;

/// Increments every `every` while the calling component lives.
pub fn use_poll(every: Duration) -> ReadSignal<u64> {
    let (tick, set_tick) = signal(0u64);
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(move || set_tick.update(|t| *t += 1), every) {
            on_cleanup(move || handle.clear());
        }
    });
    tick
}
