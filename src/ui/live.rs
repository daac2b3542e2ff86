//! The browser's end of the live connection: one WebSocket to `/ws` (through leptos-use) for the
//! life of a screen, reopened by us after every drop with jittered exponential backoff
//! (leptos-use's own reconnect waits a fixed interval), and an indicator of how it stands.
//!
//! A screen passes a handler for the messages; it is told through [`LiveLink::generation`]
//! whenever it must read its state again: the socket (re)opened, or the server asked for a
//! resync. On the server nothing opens; the indicator renders as "connecting".

use std::sync::Arc;
use std::time::Duration;

use codee::string::FromToStringCodec;
use leptos::prelude::*;
use leptos_use::{
    use_websocket_with_options, ReconnectLimit, UseWebSocketOptions, UseWebSocketReturn,
};

use crate::domain::live::{close, Backoff, ClientMessage, ServerMessage};
use crate::domain::ride::RideId;

/// The first retry comes after 0.5-1 s, doubling up to 15-30 s.
const BACKOFF_BASE_MS: u64 = 1_000;
const BACKOFF_MAX_MS: u64 = 30_000;
/// After this many failed attempts in a row the indicator says "offline" (it keeps trying).
const OFFLINE_AFTER: u32 = 4;

/// How the connection stands.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkState {
    Connecting,
    Live,
    /// Dropped; the next attempt is due in `in_ms`.
    Reconnecting {
        attempt: u32,
        in_ms: u64,
    },
    /// Given up for good: the session ended.
    Ended(String),
}

impl LinkState {
    /// The indicator's kind: live, reconnecting or offline.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Connecting => "reconnecting",
            Self::Reconnecting { attempt, .. } if *attempt < OFFLINE_AFTER => "reconnecting",
            Self::Reconnecting { .. } | Self::Ended(_) => "offline",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Live => "Live".to_owned(),
            Self::Connecting => "Connecting…".to_owned(),
            Self::Reconnecting { attempt, in_ms } => {
                let secs = in_ms.div_ceil(1000);
                let lead = if *attempt < OFFLINE_AFTER {
                    "Reconnecting"
                } else {
                    "Offline"
                };
                format!("{lead}: trying again in {secs} s")
            }
            Self::Ended(reason) => reason.clone(),
        }
    }
}

type SendFn = Arc<dyn Fn(&String) + Send + Sync>;
type OpenFn = Arc<dyn Fn() + Send + Sync>;

/// A handle on the screen's connection; `Copy`, so handlers and views can hold it.
#[derive(Clone, Copy)]
pub struct LiveLink {
    pub state: RwSignal<LinkState>,
    /// Bumped when what the screen shows must be read again (opened, reopened, resync).
    pub generation: RwSignal<u64>,
    sender: StoredValue<Option<SendFn>>,
    opener: StoredValue<Option<OpenFn>>,
    timer: StoredValue<Option<TimeoutHandle>>,
}

impl LiveLink {
    /// Sends a message if the socket is open; a closed socket drops it (what it asked for is
    /// asked again after the reconnect), and so does a screen that is going away (a component's
    /// cleanup may run after the link's own values are gone).
    pub fn send(&self, message: &ClientMessage) {
        if self.state.try_get_untracked() == Some(LinkState::Live) {
            if let Some(send) = self.sender.try_get_value().flatten() {
                send(&message.to_json());
            }
        }
    }

    pub fn is_live(&self) -> bool {
        self.state.get() == LinkState::Live
    }

    pub fn is_live_untracked(&self) -> bool {
        self.state.get_untracked() == LinkState::Live
    }

    /// Follows the ride `ride` names on this connection, again after every (re)connect, and lets
    /// go of the one it named before.
    pub fn follow(self, ride: Memo<Option<RideId>>) {
        Effect::new(move |before: Option<Option<RideId>>| {
            self.generation.track();
            let now = ride.get();
            if let Some(Some(old)) = before.filter(|b| *b != now) {
                self.send(&ClientMessage::Unsubscribe { ride_id: old });
            }
            if let Some(id) = &now {
                self.send(&ClientMessage::Subscribe {
                    ride_id: id.clone(),
                });
            }
            now
        });
    }

    /// Tries again now instead of waiting for the backoff.
    pub fn reconnect_now(&self) {
        if let Some(timer) = self.timer.get_value() {
            timer.clear();
        }
        self.timer.set_value(None);
        self.state.set(LinkState::Connecting);
        if let Some(open) = self.opener.get_value() {
            open();
        }
    }
}

/// Opens the live connection for the calling component's lifetime. `on_message` gets every
/// message but `welcome` and `resync`, which bump the generation instead.
pub fn use_live(on_message: impl Fn(LiveLink, ServerMessage) + Send + Sync + 'static) -> LiveLink {
    use_live_while(Signal::stored(true), on_message)
}

/// [`use_live`] for a page that sets it up before it knows who is logged in: the connection
/// is opened once `wanted` turns true, and never for a visitor it would be refused to.
pub fn use_live_while(
    wanted: Signal<bool>,
    on_message: impl Fn(LiveLink, ServerMessage) + Send + Sync + 'static,
) -> LiveLink {
    let link = LiveLink {
        state: RwSignal::new(LinkState::Connecting),
        generation: RwSignal::new(0),
        sender: StoredValue::new(None),
        opener: StoredValue::new(None),
        timer: StoredValue::new(None),
    };
    let backoff = StoredValue::new(Backoff::new(BACKOFF_BASE_MS, BACKOFF_MAX_MS));

    let options = UseWebSocketOptions::default()
        .immediate(false)
        // Reconnecting is ours: leptos-use's waits a fixed interval, without jitter.
        .reconnect_limit(ReconnectLimit::Limited(0))
        .on_open(move |_| {
            backoff.update_value(Backoff::reset);
            link.state.set(LinkState::Live);
        })
        .on_message(move |text: &String| match ServerMessage::parse(text) {
            Ok(ServerMessage::Welcome { .. } | ServerMessage::Resync { .. }) => {
                link.generation.update(|g| *g += 1);
            }
            Ok(message) => on_message(link, message),
            Err(err) => leptos::logging::warn!("{err}"),
        })
        .on_close(move |event| {
            if event.code() == close::SESSION_ENDED {
                link.state.set(LinkState::Ended(
                    "Offline: your session ended. Log in again.".into(),
                ));
                return;
            }
            let mut next = backoff.get_value();
            let in_ms = next.after_close_ms(event.code(), jitter());
            let attempt = next.attempt();
            backoff.set_value(next);
            link.state.set(LinkState::Reconnecting { attempt, in_ms });
            let retry = set_timeout_with_handle(
                move || {
                    link.timer.set_value(None);
                    link.state.set(LinkState::Connecting);
                    if let Some(open) = link.opener.get_value() {
                        open();
                    }
                },
                Duration::from_millis(in_ms),
            );
            link.timer.set_value(retry.ok());
        });
    let UseWebSocketReturn { open, send, .. } =
        use_websocket_with_options::<String, String, FromToStringCodec, _, _>("/ws", options);
    link.sender.set_value(Some(Arc::new(send)));
    link.opener.set_value(Some(Arc::new(open)));
    // Effects run only in the browser: the server never opens a socket.
    Effect::new(move |_| {
        if wanted.get() {
            if let Some(open) = link.opener.get_value() {
                open();
            }
        }
    });
    on_cleanup(move || {
        if let Some(timer) = link.timer.get_value() {
            timer.clear();
        }
    });
    link
}

/// A uniform random number in [0, 1) for the backoff's jitter (only needed in the browser).
fn jitter() -> f64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Math::random()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0.5
    }
}

/// "Live", "Reconnecting: trying again in 4 s" or "Offline: …", with a button to retry now.
#[component]
pub fn LiveIndicator(link: LiveLink) -> impl IntoView {
    let kind = move || link.state.with(LinkState::kind);
    let can_retry = move || matches!(link.state.get(), LinkState::Reconnecting { .. });
    view! {
        <div class=move || format!("live live--{}", kind()) data-testid="connection" data-state=kind>
            <span class="live__dot" aria-hidden="true"></span>
            <span role="status" aria-live="polite">{move || link.state.with(LinkState::describe)}</span>
            <Show when=can_retry>
                <button type="button" class="live__retry" on:click=move |_| link.reconnect_now()>
                    "Reconnect now"
                </button>
            </Show>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_indicator_turns_from_reconnecting_to_offline_after_a_few_attempts() {
        let early = LinkState::Reconnecting {
            attempt: 1,
            in_ms: 800,
        };
        assert_eq!(early.kind(), "reconnecting");
        assert_eq!(early.describe(), "Reconnecting: trying again in 1 s");
        let late = LinkState::Reconnecting {
            attempt: OFFLINE_AFTER,
            in_ms: 20_000,
        };
        assert_eq!(late.kind(), "offline");
        assert_eq!(late.describe(), "Offline: trying again in 20 s");
        assert_eq!(LinkState::Live.kind(), "live");
        assert_eq!(LinkState::Ended("x".into()).kind(), "offline");
    }
}
