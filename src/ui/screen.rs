//! When a screen reads its state from the server again, for the rider's and the driver's screens
//! alike: a push on the live connection that asks for it, each (re)connect, and a poll tick, but
//! only while the connection is down. The screens key their reads by it (the driver's resources,
//! the rider's reload), so both follow the same rules and neither polls while live.

use leptos::prelude::*;

use super::live::LiveLink;

/// Bumped by a screen's live-message handler for every push that changes what the screen shows
/// beyond what the message itself carries. Made before the live link, which calls it.
#[derive(Clone, Copy)]
pub struct Pushes(RwSignal<u64>);

impl Pushes {
    pub fn new() -> Self {
        Self(RwSignal::new(0))
    }

    /// Asks for a read of the state.
    pub fn bump(&self) {
        self.0.update(|n| *n += 1);
    }
}

impl Default for Pushes {
    fn default() -> Self {
        Self::new()
    }
}

/// What keys a screen's read of its state: a change of any field means "read again".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RefreshKey {
    /// The poll tick while the live connection is down; `None` while it is up (a live screen
    /// never polls) and while the screen is not in use.
    pub polled: Option<u64>,
    /// Pushes that asked for a read.
    pub pushes: u64,
    /// Connections made: each (re)connect reads everything again, since messages may have been
    /// missed while it was down.
    pub connection: u64,
}

/// The refresh key of a screen whose live connection is `live`, whose clock is `tick` and which
/// is `enabled` (signed in with the screen's role). A derived signal, not a memo: whoever reads
/// it (a resource's source, an effect) tracks the poll, the pushes and the connections
/// directly.
pub fn use_refresh_key(
    enabled: Signal<bool>,
    live: LiveLink,
    pushes: Pushes,
    tick: ReadSignal<u64>,
) -> Signal<RefreshKey> {
    let polled = Memo::new(move |_| (enabled.get() && !live.is_live()).then(|| tick.get()));
    Signal::derive(move || RefreshKey {
        polled: polled.get(),
        pushes: pushes.0.get(),
        connection: live.generation.get(),
    })
}
