//! The rider's screen: choose pickup and drop-off (map or list), see the fare and the nearest
//! driver's ETA, request, follow the ride, cancel, re-confirm, rate; and past rides.
//!
//! The screen loads once on the server, then follows the ride live: status changes and the
//! driver's position arrive over the WebSocket (`ui::live`); each (re)connect reloads the state
//! at once. Only while the connection is down does it poll (`ui::screen`, the rule both screens
//! share). `request` chooses and asks for a ride; `ride` follows it and keeps the past ones. The state lives in one signal read
//! through memos, so an update that changes nothing re-renders nothing, and what the rider is
//! choosing survives every refresh.

mod request;
mod ride;

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::{Deserialize, Serialize};

use request::RequestPanel;
use ride::{ActiveRide, LastRide, PastRides};

use super::announce::{announce_changes, Announcements, Announcer};
use super::layout::RoleGate;
use super::live::{use_live, LiveIndicator, LiveLink};
use super::location::{LocationPanel, SavedLocation};
use super::nearby::NearbyCars;
use super::poll::use_poll;
use super::screen::{use_refresh_key, Pushes};
use super::sheet::Sheet;
use crate::api::get_location;
use crate::api::rides::{
    current_ride, ride_history, CancelRide, RateRide, ReconfirmRide, RequestRide,
};
use crate::domain::live::{ClientMessage, RideSeq, SeqCheck, ServerMessage};
use crate::domain::ride::{RideId, RideView};
use crate::domain::{AppError, GeoPoint, Role};

#[component]
pub fn RiderPage() -> impl IntoView {
    Announcer::provide();
    // The page's resources are made here, outside the gate's `Transition` (see `SavedLocation`).
    let first = Resource::new(|| (), |_| load());
    let location = SavedLocation::load();
    view! {
        <RoleGate role=Role::Rider>
            <div class="screen">
                <Announcements/>
                <Sheet label="Your ride">
                    <section class="card intro" aria-labelledby="rider-title">
                        <h1 id="rider-title">"Rider"</h1>
                        <p>"Choose where you are and where you are going, see the fare, and ride."</p>
                    </section>
                    <RiderScreen first/>
                    <LocationPanel location/>
                </Sheet>
            </div>
        </RoleGate>
    }
}

/// What the screen shows, as loaded: the ride under way, past rides, the saved location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RiderModel {
    current: Option<RideView>,
    history: Vec<RideView>,
    saved: Option<GeoPoint>,
}

impl RiderModel {
    /// A reload, unless what the screen holds of the same ride is newer: a reload's answer may
    /// have been read before a change that the live connection has shown already (a snapshot
    /// after a reconnect races the reload that the reconnect starts), and must not take it back.
    fn unless_older_than(mut self, shown: Option<&RiderModel>) -> Self {
        if let (Some(new), Some(old)) = (
            self.current.as_ref(),
            shown.and_then(|m| m.current.as_ref()),
        ) {
            if new.id == old.id && new.seq < old.seq {
                self.current = Some(old.clone());
            }
        }
        self
    }
}

/// The first load: rides and the saved location (the default pickup).
async fn load() -> Result<RiderModel, AppError> {
    let saved = match get_location().await {
        Ok(at) => Some(at),
        Err(AppError::NotFound { .. }) => None,
        Err(err) => return Err(err),
    };
    load_rides(saved).await
}

/// A poll: only the rides change; the saved location is read once, for the default pickup.
async fn load_rides(saved: Option<GeoPoint>) -> Result<RiderModel, AppError> {
    let current = current_ride().await?;
    let history = ride_history().await?;
    // The server's clock changes on every read; leaving it out lets unchanged polls compare
    // equal and re-render nothing.
    let strip = |mut r: RideView| {
        r.server_now_ms = 0;
        r
    };
    Ok(RiderModel {
        current: current.map(strip),
        history: history.into_iter().map(strip).collect(),
        saved,
    })
}

#[component]
fn RiderScreen(first: Resource<Result<RiderModel, AppError>>) -> impl IntoView {
    let request = ServerAction::<RequestRide>::new();
    let cancel = ServerAction::<CancelRide>::new();
    let reconfirm = ServerAction::<ReconfirmRide>::new();
    let rate = ServerAction::<RateRide>::new();

    let state = RwSignal::new(None::<Result<RiderModel, AppError>>);
    let poll_error = RwSignal::new(None::<AppError>);
    let refresh = move || {
        spawn_local(async move {
            let saved = state.with_untracked(|s| {
                s.as_ref()
                    .and_then(|r| r.as_ref().ok())
                    .and_then(|m| m.saved)
            });
            // The screen may be gone by the time the answer comes (the rider left the page):
            // then the answer is dropped, hence the `try_` writes.
            match load_rides(saved).await {
                Ok(model) => {
                    let _ = state.try_update(|s| {
                        let shown = s.as_ref().and_then(|r| r.as_ref().ok());
                        *s = Some(Ok(model.unless_older_than(shown)));
                    });
                    let _ = poll_error.try_set(None);
                }
                // A failed poll keeps showing the last good state, with the error beside it.
                Err(err)
                    if state.try_with_untracked(|s| matches!(s, Some(Ok(_)))) == Some(true) =>
                {
                    let _ = poll_error.try_set(Some(err));
                }
                Err(err) => {
                    let _ = state.try_set(Some(Err(err)));
                }
            }
        })
    };
    let seq = StoredValue::new(RideSeq::default());
    // Free cars on the map while no ride is under way: pushed per map cell (ui::nearby).
    let cars = RwSignal::new(NearbyCars::default());
    let pushes = Pushes::new();
    let live = use_live(move |link, message| on_live(link, message, state, seq, cars, pushes));
    // Follow the ride under way (again after every reconnect), and let go of the last one.
    let following = Memo::new(move |_| {
        state.with(|s| {
            s.as_ref()
                .and_then(|r| r.as_ref().ok())
                .and_then(|m| m.current.as_ref())
                .filter(|r| !r.status.is_final())
                .map(|r| r.id.clone())
        })
    });
    live.follow(following);
    // Read everything again on each push that asks, each (re)connect, each finished action, and
    // every 1.5 s while the connection is down (never while it is up).
    let tick = use_poll(Duration::from_millis(1500));
    let refresh_key = use_refresh_key(Signal::derive(|| true), live, pushes, tick);
    Effect::new(move |before: Option<()>| {
        // Read, not only tracked: a memo is lazy, and one never read never computes, so never
        // hears of its sources changing (the poll inside the key is a memo).
        let _ = refresh_key.get();
        request.version().track();
        cancel.version().track();
        reconfirm.version().track();
        rate.version().track();
        if before.is_some() {
            refresh();
        }
    });

    view! {
        <LiveIndicator link=live/>
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading your rides…"</p> }>
            {move || Suspend::new(async move {
                let loaded = first.await;
                if state.with_untracked(|s| s.is_none()) {
                    state.set(Some(loaded));
                }
                view! { <RiderBody state poll_error request cancel reconfirm rate live cars/> }
            })}
        </Transition>
    }
}

/// One message from the live connection.
fn on_live(
    link: LiveLink,
    message: ServerMessage,
    state: RwSignal<Option<Result<RiderModel, AppError>>>,
    seq: StoredValue<RideSeq>,
    cars: RwSignal<NearbyCars>,
    pushes: Pushes,
) {
    let on_current = |id: &RideId, change: &dyn Fn(&mut RideView)| {
        state.update(|s| {
            if let Some(ride) = s
                .as_mut()
                .and_then(|r| r.as_mut().ok())
                .and_then(|m| m.current.as_mut())
                .filter(|r| r.id == *id)
            {
                change(ride);
            }
        })
    };
    match message {
        ServerMessage::Snapshot { ride } => {
            let mut ride = *ride;
            ride.server_now_ms = 0;
            seq.set_value(RideSeq::from_snapshot(ride.seq));
            let ended = ride.status.is_final();
            on_current(&ride.id.clone(), &|current| *current = ride.clone());
            // The ride ended: it moves to the history, which only a reload brings.
            if ended {
                pushes.bump();
            }
        }
        ServerMessage::Status {
            ride_id,
            seq: n,
            status,
        } => {
            let check = seq
                .try_update_value(|s| s.observe(n))
                .unwrap_or(SeqCheck::Gap);
            if check == SeqCheck::Stale {
                return;
            }
            if check == SeqCheck::Next {
                on_current(&ride_id, &|ride| ride.status = status);
            }
            // The status alone does not say who the driver is or what the PIN is: the
            // snapshot does, and after a gap it is the only way to catch up.
            link.send(&ClientMessage::Subscribe { ride_id });
        }
        ServerMessage::Position {
            ride_id, lat, lng, ..
        } => {
            if let Ok(at) = GeoPoint::new(lat, lng) {
                on_current(&ride_id, &|ride| ride.driver_position = Some(at));
            }
        }
        ServerMessage::Nearby {
            cell,
            car,
            lat,
            lng,
        } => {
            if let Ok(at) = GeoPoint::new(lat, lng) {
                cars.update(|c| c.seen(car, cell, at, now_ms()));
            }
        }
        ServerMessage::NearbyGone { cell, car } => cars.update(|c| c.gone(&car, cell)),
        ServerMessage::Error { message, .. } => leptos::logging::warn!("live: {message}"),
        _ => {}
    }
}

#[component]
fn RiderBody(
    state: RwSignal<Option<Result<RiderModel, AppError>>>,
    poll_error: RwSignal<Option<AppError>>,
    request: ServerAction<RequestRide>,
    cancel: ServerAction<CancelRide>,
    reconfirm: ServerAction<ReconfirmRide>,
    rate: ServerAction<RateRide>,
    live: LiveLink,
    cars: RwSignal<NearbyCars>,
) -> impl IntoView {
    let model =
        Memo::new(move |_| state.with(|s| s.as_ref().and_then(|r| r.as_ref().ok()).cloned()));
    let load_error = Memo::new(move |_| {
        state
            .with(|s| s.as_ref().and_then(|r| r.as_ref().err()).cloned())
            .or_else(|| poll_error.get())
    });
    let current = Memo::new(move |_| model.with(|m| m.as_ref().and_then(|m| m.current.clone())));
    let history = Memo::new(move |_| {
        model.with(|m| m.as_ref().map(|m| m.history.clone()).unwrap_or_default())
    });
    let saved = model.with_untracked(|m| m.as_ref().and_then(|m| m.saved));
    // Each change of the ride's status is said, the end of the ride included.
    announce_changes(move || current.with(|r| r.as_ref().map(|r| r.status.describe().to_owned())));

    view! {
        {move || load_error.get().map(|err| view! { <p class="form-error" role="alert">{err.message().to_owned()}</p> })}
        <Show
            when=move || current.with(Option::is_some)
            fallback=move || view! {
                <LastRide history rate/>
                <RequestPanel request saved live cars/>
            }
        >
            <ActiveRide current cancel reconfirm/>
        </Show>
        <PastRides history current/>
    }
}

/// The browser's clock (ms since the epoch).
fn now_ms() -> f64 {
    leptos::web_sys::js_sys::Date::now()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ride::RideStatus;

    fn model(id: &str, seq: u64, status: RideStatus) -> RiderModel {
        let at = GeoPoint::new(52.52, 13.4).unwrap();
        RiderModel {
            current: Some(RideView {
                id: RideId::parse(id).unwrap(),
                status,
                seq,
                rider_name: "Rita".into(),
                pickup: at,
                pickup_name: "here".into(),
                dropoff: at,
                dropoff_name: "there".into(),
                distance_m: 1200,
                duration_s: 240,
                fare: crate::domain::fare::Cents(600),
                driver: None,
                pin: None,
                pin_locked: false,
                rating: None,
                created_at_ms: 1,
                offer_expires_at_ms: None,
                driver_position: None,
                server_now_ms: 0,
            }),
            history: Vec::new(),
            saved: None,
        }
    }

    const RIDE: &str = "0123456789abcdef0123456789abcdef";
    const OTHER: &str = "fedcba9876543210fedcba9876543210";

    #[test]
    fn a_reload_read_before_a_change_the_socket_showed_does_not_take_it_back() {
        let shown = model(RIDE, 3, RideStatus::DriverArrived);
        let late = model(RIDE, 2, RideStatus::DriverAssigned);
        let kept = late.unless_older_than(Some(&shown));
        assert_eq!(kept.current, shown.current);
    }

    #[test]
    fn a_newer_reload_or_another_ride_or_none_replaces_what_is_shown() {
        let shown = model(RIDE, 3, RideStatus::DriverArrived);
        let newer = model(RIDE, 4, RideStatus::InProgress);
        assert_eq!(newer.clone().unless_older_than(Some(&shown)), newer);
        let other = model(OTHER, 0, RideStatus::Searching);
        assert_eq!(other.clone().unless_older_than(Some(&shown)), other);
        let ended = RiderModel {
            current: None,
            ..model(RIDE, 0, RideStatus::Completed)
        };
        assert_eq!(ended.clone().unless_older_than(Some(&shown)), ended);
        assert_eq!(newer.clone().unless_older_than(None), newer);
    }
}
