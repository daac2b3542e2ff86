//! The driver's screen: the car riders look for, going online from a point on the map, offers
//! with a countdown, the steps of a ride, and the day's takings.
//!
//! It reads `GET /api/driver` again whenever the live connection (`ui::live`) says something
//! happened (an offer, its withdrawal, a ride's status), after each action, and after every
//! (re)connect; only while the connection is down does it poll every second (`ui::screen`, the
//! rule both screens share). Positions go over
//! the socket while it is up. Everything is drawn from memos of that state, so a refresh
//! that changes nothing re-renders nothing: a half-typed PIN, the focus and the gliding car
//! survive it. Every control is a form, so the steps also work before (or without) hydration.
//!
//! This file holds the screen's state and map; `presence`, `work` (the offer and the ride),
//! `car` and `today` are its panels.

mod car;
mod presence;
mod today;
mod work;

use std::time::Duration;

use car::CarPanel;
use presence::PresencePanel;
use today::TodayPanel;
use work::{driver_status, WorkPanel};

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_use::{use_geolocation_with_options, UseGeolocationOptions};

use super::announce::{announce_changes, take_lost_focus, Announcements, Announcer};
use super::forms::{form_error, invalid, kept_value, FieldError, FormError};
use super::layout::RoleGate;
use super::live::{use_live_while, LiveIndicator, LiveLink};
use super::map::{CityMap, Marker, MarkerKind, PlacePicker, RouteLine};
use super::poll::use_poll;
use super::screen::{use_refresh_key, Pushes};
use super::session::Auth;
use super::sheet::Sheet;
use super::sound::chime;
use crate::api::drivers::{
    get_driver_state, AcceptRide, Arrive, Complete, DeclineRide, GoOffline, GoOnline, SaveCar,
    SendPosition, StartTrip,
};
use crate::api::rides::{get_ride, ride_history};
use crate::domain::city::{place, BOUNDS, PLACES};
use crate::domain::fare::{describe_distance, describe_duration, Cents};
use crate::domain::live::{ClientMessage, LiveError, LiveErrorCode, ServerMessage};
use crate::domain::ride::{Car, DriverState, RideId, RideStatus, RideView};
use crate::domain::streets::StreetGraph;
use crate::domain::{AppError, GeoPoint, Role};

/// The state is read this often while nothing pushes it.
const POLL: Duration = Duration::from_millis(1000);
/// Positions are sent every this many polls; the server forgets a driver after 30 s of silence.
const POSITION_EVERY_TICKS: u64 = 5;
/// The day's rides change rarely: read them every this many polls, and after each ride step.
const HISTORY_EVERY_TICKS: u64 = 5;
/// `GeolocationPositionError.PERMISSION_DENIED`.
const PERMISSION_DENIED: u16 = 1;
/// How many past rides the day's list shows.
const HISTORY_SHOWN: usize = 5;

#[component]
pub fn DriverPage() -> impl IntoView {
    Announcer::provide();
    // The screen's state, its resources among them, is made here, outside the gate's
    // `Transition` (see `ui::location::SavedLocation`); the live connection opens, and the state
    // is polled, only once the visitor is known to be a driver.
    let auth = Auth::expect();
    let is_driver = Signal::derive(
        move || matches!(auth.me.get(), Some(Ok(Some(me))) if me.role == Role::Driver),
    );
    let screen = Screen::new(is_driver);
    view! {
        <RoleGate role=Role::Driver>
            <div class="screen">
                <Announcements/>
                <Sheet label="Your work">
                    <DriverScreen screen/>
                </Sheet>
            </div>
        </RoleGate>
    }
}

/// Every server action of the screen; each one's version keys the state, so finishing any of
/// them reads the state again at once.
#[derive(Clone, Copy)]
struct Actions {
    save_car: ServerAction<SaveCar>,
    go_online: ServerAction<GoOnline>,
    go_offline: ServerAction<GoOffline>,
    position: ServerAction<SendPosition>,
    accept: ServerAction<AcceptRide>,
    decline: ServerAction<DeclineRide>,
    arrive: ServerAction<Arrive>,
    start: ServerAction<StartTrip>,
    complete: ServerAction<Complete>,
    /// A position refused over the live connection (too fast, too often, offline).
    position_refused: RwSignal<Option<AppError>>,
}

impl Actions {
    fn new() -> Self {
        Self {
            save_car: ServerAction::new(),
            go_online: ServerAction::new(),
            go_offline: ServerAction::new(),
            position: ServerAction::new(),
            accept: ServerAction::new(),
            decline: ServerAction::new(),
            arrive: ServerAction::new(),
            start: ServerAction::new(),
            complete: ServerAction::new(),
            position_refused: RwSignal::new(None),
        }
    }

    /// Tracks every action's version.
    fn versions(&self) -> [usize; 9] {
        [
            self.save_car.version().get(),
            self.go_online.version().get(),
            self.go_offline.version().get(),
            self.position.version().get(),
            self.accept.version().get(),
            self.decline.version().get(),
            self.arrive.version().get(),
            self.start.version().get(),
            self.complete.version().get(),
        ]
    }

    /// Tracks the versions of the steps that can add a ride to the day's list.
    fn ride_versions(&self) -> [usize; 3] {
        [
            self.accept.version().get(),
            self.decline.version().get(),
            self.complete.version().get(),
        ]
    }

    /// Forgets the errors of the ride steps: they belonged to an offer or ride that is gone.
    fn clear_ride_errors(&self) {
        self.accept.clear();
        self.decline.clear();
        self.arrive.clear();
        self.start.clear();
        self.complete.clear();
    }
}

/// What the driver is busy with: the part of the state that decides which cards are shown.
#[derive(Debug, Clone, PartialEq)]
enum Work {
    Idle,
    Offer(RideId),
    Ride(RideId, RideStatus),
}

/// What the driver's screen is made of: its actions, its clock, its live connection and what
/// it reads from the server.
#[derive(Clone, Copy)]
struct Screen {
    actions: Actions,
    tick: ReadSignal<u64>,
    live: LiveLink,
    state: Resource<Result<DriverState, AppError>>,
    history: Resource<Result<Vec<RideView>, AppError>>,
}

impl Screen {
    fn new(is_driver: Signal<bool>) -> Self {
        let actions = Actions::new();
        let tick = use_poll(POLL);
        // Bumped by every push that changes what this screen shows.
        let pushes = Pushes::new();
        let live = use_live_while(is_driver, move |_, message| match message {
            ServerMessage::Offer { .. }
            | ServerMessage::OfferWithdrawn { .. }
            | ServerMessage::Status { .. } => pushes.bump(),
            // A refused position is the driver's to see; a refused subscription only means the
            // offer went away between two reads, which the next state read shows.
            ServerMessage::Error { code, message } => match code {
                LiveErrorCode::Implausible
                | LiveErrorCode::RateLimited
                | LiveErrorCode::Conflict => actions
                    .position_refused
                    .set(Some(LiveError { code, message }.into())),
                _ => leptos::logging::warn!("live: {message}"),
            },
            _ => {}
        });
        // While live, the state is read when something happens; while not, every second.
        let refresh = use_refresh_key(is_driver, live, pushes, tick);
        let state = Resource::new(
            move || (refresh.get(), actions.versions()),
            |_| get_driver_state(browser_utc_offset()),
        );
        let history = Resource::new(
            move || {
                let key = refresh.get();
                (
                    key.polled.map(|t| t / HISTORY_EVERY_TICKS),
                    key.pushes,
                    actions.ride_versions(),
                )
            },
            |_| ride_history(),
        );
        Self {
            actions,
            tick,
            live,
            state,
            history,
        }
    }
}

#[component]
fn DriverScreen(screen: Screen) -> impl IntoView {
    let Screen {
        actions,
        tick,
        live,
        state,
        history,
    } = screen;
    view! {
        <LiveIndicator link=live/>
        <Transition fallback=|| {
            view! { <p class="loading card" role="status">"Loading your screen…"</p> }
        }>
            // Created inside the Transition so that the resource reads in its memos are awaited
            // by it (on the server, before the page is sent).
            <DriverBody actions tick live state history/>
        </Transition>
    }
}

#[component]
fn DriverBody(
    actions: Actions,
    tick: ReadSignal<u64>,
    live: LiveLink,
    state: Resource<Result<DriverState, AppError>>,
    history: Resource<Result<Vec<RideView>, AppError>>,
) -> impl IntoView {
    // The last state read; a failed refresh keeps it on screen and says so.
    let latest = Memo::new(
        move |before: Option<&Option<DriverState>>| match state.get() {
            Some(Ok(now)) => Some(now),
            _ => before.cloned().flatten(),
        },
    );
    let refresh_error = Memo::new(move |_| state.get().and_then(Result::err));
    let loaded = Memo::new(move |_| latest.with(Option::is_some));

    let online = Memo::new(move |_| latest.with(|s| s.as_ref().is_some_and(|s| s.online)));
    let car = Memo::new(move |_| latest.with(|s| s.as_ref().and_then(|s| s.car.clone())));
    let offer = Memo::new(move |_| latest.with(|s| s.as_ref().and_then(|s| s.offer.clone())));
    let ride = Memo::new(move |_| latest.with(|s| s.as_ref().and_then(|s| s.ride.clone())));
    let work = Memo::new(move |_| {
        latest.with(|s| match s {
            Some(DriverState {
                ride: Some(ride), ..
            }) => Work::Ride(ride.id.clone(), ride.status),
            Some(DriverState {
                offer: Some(offer), ..
            }) => Work::Offer(offer.id.clone()),
            _ => Work::Idle,
        })
    });

    // Where the driver is: the point they chose on this page, else the one the server holds.
    let picked = RwSignal::new(None::<GeoPoint>);
    let server_position = Memo::new(move |_| latest.with(|s| s.as_ref().and_then(|s| s.position)));
    let position = Memo::new(move |_| picked.get().or_else(|| server_position.get()));

    let send_position = move |at: GeoPoint| {
        if live.is_live_untracked() {
            actions.position_refused.set(None);
            live.send(&ClientMessage::Position { at });
        } else {
            actions.position.dispatch(SendPosition {
                lat: coordinate(at.lat()),
                lng: coordinate(at.lng()),
            });
        }
    };
    // Follow the offer or ride on the live connection (again after every reconnect).
    let followed = Memo::new(move |_| match work.get() {
        Work::Offer(id) | Work::Ride(id, _) => Some(id),
        Work::Idle => None,
    });
    live.follow(followed);
    // Keeps the driver fresh for offers (and their rider informed) while online. Effects run
    // only in the browser.
    Effect::new(move |_| {
        if !tick.get().is_multiple_of(POSITION_EVERY_TICKS) || !online.get_untracked() {
            return;
        }
        if let Some(at) = position.get_untracked() {
            send_position(at);
        }
    });
    let move_to = move |at: GeoPoint| {
        picked.set(Some(at));
        if online.get_untracked() {
            send_position(at);
        }
    };

    // Tells the driver what happened to an offer or ride that left the screen.
    let notice = RwSignal::new(None::<String>);
    // Said as it happens: each step of the ride, and what became of one that left the screen
    // (the offer itself is an alert).
    announce_changes(move || match work.get() {
        Work::Ride(_, status) => Some(driver_status(status).to_owned()),
        _ => None,
    });
    announce_changes(move || notice.get());
    let declined = StoredValue::new(None::<RideId>);
    Effect::new(move |before: Option<Work>| {
        let now = work.get();
        let Some(before) = before else {
            return now;
        };
        match (&before, &now) {
            (Work::Offer(a), Work::Offer(b)) | (Work::Ride(a, _), Work::Ride(b, _)) if a == b => {
                if before != now {
                    // A step of the same ride: the last step's error is out of date.
                    actions.arrive.clear();
                    actions.start.clear();
                    actions.complete.clear();
                }
            }
            (Work::Offer(a), Work::Ride(b, _)) if a == b => notice.set(None),
            (_, Work::Offer(_) | Work::Ride(..)) => {
                notice.set(None);
                actions.clear_ride_errors();
            }
            (Work::Offer(id), Work::Idle) => {
                let text = if declined.get_value().as_ref() == Some(id) {
                    "You declined the offer."
                } else {
                    "The offer ran out or was withdrawn."
                };
                notice.set(Some(text.to_owned()));
            }
            (Work::Ride(id, _), Work::Idle) => {
                let id = id.to_string();
                leptos::task::spawn_local(async move {
                    let text = match get_ride(id).await {
                        Ok(ride) => ride_ended(&ride),
                        Err(_) => "Your ride has ended.".to_owned(),
                    };
                    // The screen may be gone by now (the driver left the page).
                    let _ = notice.try_set(Some(text));
                });
            }
            (Work::Idle, Work::Idle) => {}
        }
        now
    });

    view! {
        <Show
            when=move || loaded.get()
            fallback=move || match refresh_error.get() {
                Some(err) => {
                    view! {
                        <section class="card notice" role="alert">
                            <p>{format!("Your screen could not be loaded: {}", err.message())}</p>
                            <p class="hint">"It will try again in a moment."</p>
                        </section>
                    }
                        .into_any()
                }
                None => view! { <p class="loading card" role="status">"Loading your screen…"</p> }.into_any(),
            }
        >
            <div class="driver">
                <PresencePanel
                    actions
                    online
                    car
                    work
                    position
                    picked
                    notice
                    refresh_error
                    move_to
                />
                <div class="driver__work">
                    <WorkPanel actions tick offer ride work declined/>
                </div>
                <section class="card driver__map" aria-labelledby="driver-map-title">
                    <h2 id="driver-map-title">"Where you are"</h2>
                    <CityMap
                        label="Your position"
                        markers=Signal::derive(move || markers(position.get(), online.get(), ride.get().or_else(|| offer.get())))
                        routes=Signal::derive(move || routes(position.get(), ride.get().or_else(|| offer.get())))
                        on_pick=Callback::new(move |at: GeoPoint| move_to(at))
                        described_by="driver-presence"
                    />
                    <PlacePicker
                        label="Or choose a place"
                        id="driver-place"
                        name="place"
                        selected=Signal::derive(move || position.get().and_then(place_at))
                        on_change=Callback::new(move |id: Option<String>| {
                            if let Some(p) = id.as_deref().and_then(place) {
                                move_to(p.at());
                            }
                        })
                    />
                </section>
                <CarPanel save=actions.save_car car/>
                <TodayPanel state=latest history/>
            </div>
        </Show>
    }
}

/// An action's error as an alert; nothing while there is none.
#[component]
fn ErrorText(
    #[prop(into)] error: Signal<Option<AppError>>,
    #[prop(optional)] prefix: &'static str,
) -> impl IntoView {
    move || {
        error.get().map(|e| {
            view! { <p class="form-error" role="alert">{prefix}{e.message().to_owned()}</p> }
        })
    }
}

/// The map's markers, always in the same order (the driver, then the ride's two ends) so that a
/// marker that moves keeps its element and glides.
fn markers(me: Option<GeoPoint>, online: bool, trip: Option<RideView>) -> Vec<Marker> {
    let mut all = Vec::with_capacity(3);
    if let Some(at) = me {
        // A car on the road while online, a plain dot while not.
        let kind = if online {
            MarkerKind::Car
        } else {
            MarkerKind::You
        };
        all.push(Marker {
            kind,
            at,
            label: "You".to_owned(),
        });
    }
    if let Some(trip) = trip {
        all.push(Marker {
            kind: MarkerKind::Pickup,
            at: trip.pickup,
            label: format!("Pickup: {}", trip.pickup_name),
        });
        all.push(Marker {
            kind: MarkerKind::Dropoff,
            at: trip.dropoff,
            label: format!("Drop-off: {}", trip.dropoff_name),
        });
    }
    all
}

/// The lines on the driver's map: for an offer, the way to its pickup and the trip; then the
/// ride's own routes from where the driver is (see `RideView::routes`).
fn routes(me: Option<GeoPoint>, trip: Option<RideView>) -> Vec<RouteLine> {
    let Some(mut trip) = trip else {
        return Vec::new();
    };
    trip.driver_position = me;
    let mut routes = trip.routes();
    if trip.status == RideStatus::Searching {
        routes.approach = me.and_then(|at| StreetGraph::of_the_city().along(at, trip.pickup));
    }
    RouteLine::of_ride(routes)
}

/// The notice for a ride that has just left the screen.
fn ride_ended(ride: &RideView) -> String {
    match ride.status {
        RideStatus::Completed => format!("Trip complete: you earned {}.", ride.fare),
        RideStatus::Cancelled => "The rider cancelled the ride.".to_owned(),
        _ => "Your ride has ended.".to_owned(),
    }
}

/// The named place at exactly this point, if any (what the place picker shows as chosen).
fn place_at(at: GeoPoint) -> Option<String> {
    PLACES
        .iter()
        .find(|p| (p.lat - at.lat()).abs() < 1e-9 && (p.lng - at.lng()).abs() < 1e-9)
        .map(|p| p.id.to_owned())
}

/// A place's name when the point is one, else its coordinates.
fn describe_point(at: GeoPoint) -> String {
    match place_at(at).as_deref().and_then(place) {
        Some(p) => p.name.to_owned(),
        None => format!("{:.5}, {:.5}", at.lat(), at.lng()),
    }
}

/// Six decimals is about 10 cm: more than enough, and what the server parses.
fn coordinate(degrees: f64) -> String {
    format!("{degrees:.6}")
}

/// The browser's offset from UTC (minutes east), sent with each read of the driver's state so
/// that "today" is the driver's own day. Rendering on the server there is no browser: the
/// session remembers the offset it last sent.
fn browser_utc_offset() -> Option<String> {
    #[cfg(feature = "hydrate")]
    {
        let west = js_sys::Date::new_0().get_timezone_offset();
        Some(
            crate::domain::time::UtcOffset::from_js_timezone_offset(west)
                .minutes()
                .to_string(),
        )
    }
    #[cfg(not(feature = "hydrate"))]
    {
        None
    }
}
