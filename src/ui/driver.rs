//! The driver's screen: the car riders look for, going online from a point on the map, offers
//! with a countdown, the steps of a ride, and the day's takings.
//!
//! It reads `GET /api/driver` again whenever the live connection (`ui::live`) says something
//! happened (an offer, its withdrawal, a ride's status), after each action, and after every
//! (re)connect; only while the connection is down does it poll every second. Positions go over
//! the socket while it is up. Everything is drawn from memos of that state, so a refresh
//! that changes nothing re-renders nothing: a half-typed PIN, the focus and the gliding car
//! survive it. Every control is a form, so the steps also work before (or without) hydration.

use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_use::{use_geolocation_with_options, UseGeolocationOptions};

use super::forms::{form_error, invalid, kept_value, FieldError, FormError};
use super::layout::RoleGate;
use super::live::{use_live_while, LiveIndicator, LiveLink};
use super::map::{CityMap, Marker, MarkerKind, PlacePicker};
use super::poll::use_poll;
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
        let pushes = RwSignal::new(0u64);
        let live = use_live_while(is_driver, move |_, message| match message {
            ServerMessage::Offer { .. }
            | ServerMessage::OfferWithdrawn { .. }
            | ServerMessage::Status { .. } => pushes.update(|n| *n += 1),
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
        let polled = Memo::new(move |_| (is_driver.get() && !live.is_live()).then(|| tick.get()));
        let state = Resource::new(
            move || {
                (
                    polled.get(),
                    pushes.get(),
                    live.generation.get(),
                    actions.versions(),
                )
            },
            |_| get_driver_state(browser_utc_offset()),
        );
        let history = Resource::new(
            move || {
                (
                    polled.get().map(|t| t / HISTORY_EVERY_TICKS),
                    pushes.get(),
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
                        on_pick=Callback::new(move |at: GeoPoint| move_to(at))
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

/// Online or offline, from where, and the switch between them.
#[component]
fn PresencePanel(
    actions: Actions,
    online: Memo<bool>,
    car: Memo<Option<Car>>,
    work: Memo<Work>,
    position: Memo<Option<GeoPoint>>,
    picked: RwSignal<Option<GeoPoint>>,
    notice: RwSignal<Option<String>>,
    refresh_error: Memo<Option<AppError>>,
    move_to: impl Fn(GeoPoint) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let auth = Auth::expect();
    let go_online = actions.go_online;
    let go_offline = actions.go_offline;
    let online_error = form_error(go_online, auth.flash);
    let offline_error = form_error(go_offline, auth.flash);
    let position_error = Signal::derive(move || {
        actions
            .position_refused
            .get()
            .or_else(|| actions.position.value().get().and_then(Result::err))
    });
    let has_car = move || car.with(Option::is_some);
    let busy = move || matches!(work.get(), Work::Ride(..));
    // The point going online starts from: the chosen one, else the city centre.
    let start_at = move || position.get().unwrap_or_else(|| BOUNDS.center());

    // The device's position is asked for only when the driver presses the button, and then
    // followed until they stop it or choose a point themselves.
    let geo = use_geolocation_with_options(UseGeolocationOptions::default().immediate(false));
    let following = RwSignal::new(false);
    let geo_problem = RwSignal::new(None::<&'static str>);
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    // When following began: a fix from before then (kept from an earlier follow) is stale.
    let asked_after = StoredValue::new(None::<f64>);
    // Fixes taken since following began.
    let fixes = StoredValue::new(0u32);
    let pause = geo.pause.clone();
    Effect::new(move |_| {
        if !following.get() {
            return;
        }
        let fresh = geo.located_at.get() != asked_after.get_value();
        let Some(coords) = geo.coords.get().filter(|_| fresh) else {
            return;
        };
        match GeoPoint::new(coords.latitude(), coords.longitude()) {
            Ok(at) if BOUNDS.contains(at) => {
                geo_problem.set(None);
                // The first fix goes out at once; later ones with the regular beat.
                if fixes.get_value() == 0 {
                    move_to(at);
                } else {
                    picked.set(Some(at));
                }
                fixes.update_value(|n| *n += 1);
            }
            _ => {
                following.set(false);
                pause();
                geo_problem.set(Some(
                    "Your device is outside the demo city: click the map to choose a point in \
                     it instead.",
                ));
            }
        }
    });
    // Runs again only when the browser reports (an error is kept after it happened, so a new
    // attempt must not trip over the last one's). While following, a passing error (a timeout,
    // no signal) is ignored; a refusal, or an error before any fix, ends it.
    let pause = geo.pause.clone();
    Effect::new(move |first: Option<()>| {
        let refused = geo.error.with(|e| match e {
            Some(e) => fixes.get_value() == 0 || e.code() == PERMISSION_DENIED,
            None => false,
        });
        if first.is_some() && refused && following.get_untracked() {
            following.set(false);
            pause();
            geo_problem.set(Some(
                "Your browser did not share a position (it needs permission, and HTTPS outside \
                 localhost): click the map to choose one instead.",
            ));
        }
    });
    // Choosing a point by hand stops following the device.
    let pause = geo.pause.clone();
    Effect::new(move |before: Option<Option<GeoPoint>>| {
        let now = picked.get();
        if let Some(before) = before {
            let from_device = geo
                .coords
                .get_untracked()
                .and_then(|c| GeoPoint::new(c.latitude(), c.longitude()).ok());
            if before != now && now != from_device && following.get_untracked() {
                following.set(false);
                pause();
            }
        }
        now
    });
    let resume = geo.resume.clone();
    let pause = geo.pause.clone();
    let toggle_follow = move |_| {
        if following.get_untracked() {
            following.set(false);
            pause();
        } else {
            geo_problem.set(None);
            asked_after.set_value(geo.located_at.get_untracked());
            fixes.set_value(0);
            following.set(true);
            resume();
        }
    };

    let presence = move || {
        if online.get() {
            "You are online"
        } else {
            "You are offline"
        }
    };
    let waiting = move || {
        (online.get() && work.get() == Work::Idle).then_some("Waiting for ride offers nearby…")
    };
    let where_text = move || match position.get() {
        Some(at) => format!("Your position: {}", describe_point(at)),
        None => "No position chosen yet: you will go online from the city centre. Click the map \
                 or choose a place to set where you are."
            .to_owned(),
    };

    view! {
        <section class="card driver__presence" aria-labelledby="driver-title">
            <div class="presence">
                <h1 id="driver-title">"Driver"</h1>
                <p
                    class="presence__state"
                    class:presence__state--online=move || online.get()
                    data-testid="driver-presence"
                    role="status"
                >
                    {presence}
                </p>
            </div>
            <p class="muted" aria-live="polite">{waiting}</p>
            <p data-testid="driver-position">{where_text}</p>
            <div class="actions">
                <Show
                    when=move || online.get()
                    fallback=move || {
                        view! {
                            <ActionForm action=go_online attr:class="inline">
                                <input type="hidden" name="lat" value=move || coordinate(start_at().lat())/>
                                <input type="hidden" name="lng" value=move || coordinate(start_at().lng())/>
                                <button
                                    type="submit"
                                    class="primary"
                                    disabled=move || go_online.pending().get() || !has_car()
                                    aria-describedby="go-online-hint"
                                >
                                    {move || if go_online.pending().get() { "Going online…" } else { "Go online" }}
                                </button>
                            </ActionForm>
                        }
                    }
                >
                    <ActionForm action=go_offline attr:class="inline">
                        <button
                            type="submit"
                            disabled=move || go_offline.pending().get() || busy()
                            aria-describedby="go-online-hint"
                        >
                            {move || if go_offline.pending().get() { "Going offline…" } else { "Go offline" }}
                        </button>
                    </ActionForm>
                </Show>
                <Show when=move || hydrated.get()>
                    <button type="button" on:click=toggle_follow.clone() aria-pressed=move || following.get().to_string()>
                        {move || {
                            if following.get() {
                                "Stop using my device's location"
                            } else {
                                "Use my device's location"
                            }
                        }}
                    </button>
                </Show>
            </div>
            <p class="hint" id="go-online-hint">
                {move || {
                    if !has_car() {
                        Some(view! { "Add your car " <a href="#car-title">"below"</a> " before going online." }.into_any())
                    } else if busy() {
                        Some("Finish your ride before going offline.".into_any())
                    } else {
                        None
                    }
                }}
            </p>
            <ErrorText error=online_error/>
            <ErrorText error=offline_error/>
            <ErrorText error=position_error/>
            <p class="form-error" role="alert">{move || geo_problem.get()}</p>
            <ErrorText
                error=Signal::derive(move || refresh_error.get())
                prefix="Could not refresh your screen: "
            />
            <p class="ride-notice" data-testid="ride-notice" role="status">
                {move || notice.get()}
            </p>
        </section>
    }
}

/// The offer to answer or the ride under way.
#[component]
fn WorkPanel(
    actions: Actions,
    tick: ReadSignal<u64>,
    offer: Memo<Option<RideView>>,
    ride: Memo<Option<RideView>>,
    work: Memo<Work>,
    declined: StoredValue<Option<RideId>>,
) -> impl IntoView {
    // Seconds left on the offer: from the server's two clocks at the time it was read, then
    // counted down locally between reads.
    let offer_clock = Memo::new(move |_| {
        offer.with(|o| {
            o.as_ref().and_then(|o| {
                o.offer_expires_at_ms.map(|ends| {
                    (
                        ends.saturating_sub(o.server_now_ms) / 1000,
                        tick.get_untracked(),
                    )
                })
            })
        })
    });
    let seconds_left = Signal::derive(move || {
        offer_clock
            .get()
            .map(|(left, read_at)| left.saturating_sub(tick.get().saturating_sub(read_at)))
    });
    let offer_id = Memo::new(move |_| match work.get() {
        Work::Offer(id) => Some(id),
        _ => None,
    });
    let ride_key = Memo::new(move |_| match work.get() {
        Work::Ride(id, status) => Some((id, status)),
        _ => None,
    });
    let answer_error = Signal::derive(move || {
        let accept = actions.accept.value().get().and_then(Result::err);
        accept.or_else(|| actions.decline.value().get().and_then(Result::err))
    });

    view! {
        {move || {
            offer_id
                .get()
                .map(|id| {
                    view! {
                        <OfferCard
                            id
                            offer
                            seconds_left
                            accept=actions.accept
                            decline=actions.decline
                            declined
                        />
                    }
                })
        }}
        <ErrorText error=answer_error/>
        {move || {
            ride_key
                .get()
                .map(|(id, status)| view! { <RideCard id status ride actions/> })
        }}
    }
}

#[component]
fn OfferCard(
    id: RideId,
    offer: Memo<Option<RideView>>,
    seconds_left: Signal<Option<u64>>,
    accept: ServerAction<AcceptRide>,
    decline: ServerAction<DeclineRide>,
    declined: StoredValue<Option<RideId>>,
) -> impl IntoView {
    let read = move |f: fn(&RideView) -> String| {
        move || offer.with(|o| o.as_ref().map(f).unwrap_or_default())
    };
    let answering = move || accept.pending().get() || decline.pending().get();
    let countdown = move || {
        seconds_left.get().map(|s| {
            if s == 0 {
                "Time is up…".to_owned()
            } else {
                format!("{s} s left")
            }
        })
    };
    let (accept_id, decline_id) = (id.to_string(), id.to_string());
    // A background tab tells the news in its title; a page the driver has used also chimes.
    let title = move || match seconds_left.get() {
        Some(s) if s > 0 => format!("New offer · {s} s · Hail"),
        _ => "New offer · Hail".to_owned(),
    };
    Effect::new(move |_| chime());

    view! {
        <Title text=title/>
        <section class="card offer" role="alert" data-testid="offer" aria-labelledby="offer-title">
            <div class="offer__head">
                <h2 id="offer-title">"New ride offer"</h2>
                // Not announced every second: the alert itself says an offer came.
                <p class="offer__countdown" data-testid="offer-countdown" aria-live="off">
                    {countdown}
                </p>
            </div>
            <p class="route">
                <span data-testid="offer-pickup">{read(|o| o.pickup_name.clone())}</span>
                " → "
                <span data-testid="offer-dropoff">{read(|o| o.dropoff_name.clone())}</span>
            </p>
            <dl class="facts">
                <div>
                    <dt>"Fare"</dt>
                    <dd data-testid="offer-fare">{read(|o| o.fare.to_string())}</dd>
                </div>
                <div>
                    <dt>"Trip"</dt>
                    <dd data-testid="offer-distance">
                        {read(|o| format!("{} · {}", describe_distance(o.distance_m), describe_duration(o.duration_s)))}
                    </dd>
                </div>
                <div>
                    <dt>"Rider"</dt>
                    <dd>{read(|o| o.rider_name.clone())}</dd>
                </div>
            </dl>
            <div class="actions">
                <ActionForm action=accept attr:class="inline">
                    <input type="hidden" name="id" value=accept_id/>
                    <button type="submit" class="primary" disabled=answering>
                        {move || if accept.pending().get() { "Accepting…" } else { "Accept" }}
                    </button>
                </ActionForm>
                <ActionForm action=decline attr:class="inline">
                    <input type="hidden" name="id" value=decline_id/>
                    <button
                        type="submit"
                        disabled=answering
                        on:click=move |_| declined.set_value(Some(id.clone()))
                    >
                        {move || if decline.pending().get() { "Declining…" } else { "Decline" }}
                    </button>
                </ActionForm>
            </div>
        </section>
    }
}

/// The ride under way; rebuilt when its status changes, so each step starts with a clean form.
#[component]
fn RideCard(
    id: RideId,
    status: RideStatus,
    ride: Memo<Option<RideView>>,
    actions: Actions,
) -> impl IntoView {
    let read = move |f: fn(&RideView) -> String| {
        move || ride.with(|r| r.as_ref().map(f).unwrap_or_default())
    };
    let id_text = id.to_string();
    // The status's head ("At the pickup") names a background tab.
    let title = format!(
        "{} · Hail",
        driver_status(status).split(':').next().unwrap_or_default()
    );
    let step = match status {
        RideStatus::DriverAssigned => {
            let arrive = actions.arrive;
            view! {
                <ActionForm action=arrive attr:class="inline">
                    <input type="hidden" name="id" value=id_text/>
                    <button type="submit" class="primary" disabled=move || arrive.pending().get()>
                        {move || if arrive.pending().get() { "Saving…" } else { "Arrived at pickup" }}
                    </button>
                </ActionForm>
                <ErrorText error=Signal::derive(move || arrive.value().get().and_then(Result::err))/>
            }
            .into_any()
        }
        RideStatus::DriverArrived => {
            view! { <PinForm id=id_text ride start=actions.start/> }.into_any()
        }
        RideStatus::InProgress => {
            let complete = actions.complete;
            view! {
                <ActionForm action=complete attr:class="inline">
                    <input type="hidden" name="id" value=id_text/>
                    <button type="submit" class="primary" disabled=move || complete.pending().get()>
                        {move || if complete.pending().get() { "Completing…" } else { "Complete trip" }}
                    </button>
                </ActionForm>
                <ErrorText error=Signal::derive(move || complete.value().get().and_then(Result::err))/>
            }
            .into_any()
        }
        _ => ().into_any(),
    };

    view! {
        <Title text=title/>
        <section class="card ride" data-testid="active-ride" aria-labelledby="ride-title">
            <h2 id="ride-title">{read(|r| format!("Ride for {}", r.rider_name))}</h2>
            <p class="ride__status" data-testid="ride-status" role="status">
                {driver_status(status)}
            </p>
            <p class="route">
                <span data-testid="ride-pickup">{read(|r| r.pickup_name.clone())}</span>
                " → "
                <span data-testid="ride-dropoff">{read(|r| r.dropoff_name.clone())}</span>
            </p>
            <dl class="facts">
                <div>
                    <dt>"Rider"</dt>
                    <dd data-testid="ride-rider">{read(|r| r.rider_name.clone())}</dd>
                </div>
                <div>
                    <dt>"Fare"</dt>
                    <dd data-testid="ride-fare">{read(|r| r.fare.to_string())}</dd>
                </div>
                <div>
                    <dt>"Trip"</dt>
                    <dd>
                        {read(|r| format!("{} · {}", describe_distance(r.distance_m), describe_duration(r.duration_s)))}
                    </dd>
                </div>
            </dl>
            <div class="ride__step">{step}</div>
        </section>
    }
}

/// The rider's PIN, which starts the trip.
#[component]
fn PinForm(
    id: String,
    ride: Memo<Option<RideView>>,
    start: ServerAction<StartTrip>,
) -> impl IntoView {
    let auth = Auth::expect();
    let error = form_error(start, auth.flash);
    let locked = move || ride.with(|r| r.as_ref().is_some_and(|r| r.pin_locked));
    // After a re-confirmation the old "locked" error no longer holds.
    Effect::new(move |was_locked: Option<bool>| {
        let now = locked();
        if was_locked == Some(true) && !now {
            start.clear();
        }
        now
    });
    // Said only while the server's own message is not already showing.
    let locked_note = move || {
        (locked() && error.get().is_none()).then_some(
            "Too many wrong PINs: the rider must re-confirm the ride in their app before you can \
             try again.",
        )
    };
    const FIELDS: &[&str] = &["pin"];

    view! {
        <ActionForm action=start attr:class="form pin-form" attr:aria-describedby="pin-form-error">
            <input type="hidden" name="id" value=id/>
            <div class="field">
                <label for="rider-pin">"Rider's PIN"</label>
                <input
                    id="rider-pin"
                    name="pin"
                    type="text"
                    inputmode="numeric"
                    maxlength="4"
                    autocomplete="off"
                    required
                    class="pin-input"
                    aria-invalid=invalid(error, "pin")
                    aria-describedby="rider-pin-hint rider-pin-error"
                />
                <p class="hint" id="rider-pin-hint">"Ask the rider for the 4 digits in their app."</p>
                <FieldError error field="pin" id="rider-pin-error".to_owned()/>
            </div>
            <div id="pin-form-error" class="pin-form__errors">
                <FormError error fields=FIELDS/>
                {move || locked_note().map(|note| view! { <p class="form-error" role="alert">{note}</p> })}
            </div>
            <button
                type="submit"
                class="primary"
                disabled=move || start.pending().get() || locked()
            >
                {move || if start.pending().get() { "Starting…" } else { "Start trip" }}
            </button>
        </ActionForm>
    }
}

/// The car riders look for: shown, or a form to add or change it.
#[component]
fn CarPanel(save: ServerAction<SaveCar>, car: Memo<Option<Car>>) -> impl IntoView {
    let editing = RwSignal::new(false);
    // Closes the form once the state shows the car just saved.
    Effect::new(move |_| {
        if let Some(Ok(saved)) = save.value().get() {
            if car.get().as_ref() == Some(&saved) {
                editing.set(false);
            }
        }
    });
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));

    view! {
        <section class="card driver__car" aria-labelledby="car-title">
            <h2 id="car-title">"Your car"</h2>
            {move || match car.get() {
                Some(current) if !editing.get() => {
                    view! {
                        <div class="car">
                            <p class="car__name" data-testid="car">{current.to_string()}</p>
                            <Show when=move || hydrated.get()>
                                <button
                                    type="button"
                                    on:click=move |_| {
                                        save.clear();
                                        editing.set(true);
                                    }
                                >
                                    "Edit car"
                                </button>
                            </Show>
                        </div>
                    }
                        .into_any()
                }
                current => {
                    let editing_now = current.is_some();
                    view! {
                        <p class="hint">
                            {if editing_now {
                                "Change what riders look for."
                            } else {
                                "Riders look for your car at the pickup: add it before going online."
                            }}
                        </p>
                        <CarForm save current/>
                        {editing_now
                            .then(|| {
                                view! {
                                    <button type="button" class="link" on:click=move |_| editing.set(false)>
                                        "Cancel"
                                    </button>
                                }
                            })}
                    }
                        .into_any()
                }
            }}
        </section>
    }
}

#[component]
fn CarForm(save: ServerAction<SaveCar>, current: Option<Car>) -> impl IntoView {
    let auth = Auth::expect();
    let error = form_error(save, auth.flash);
    // The car being changed, else what was typed before a refused post without JavaScript.
    let start = move |field: &'static str, of: fn(&Car) -> String| {
        current
            .as_ref()
            .map(of)
            .unwrap_or_else(|| kept_value::<SaveCar>(auth.flash, field))
    };
    const FIELDS: &[&str] = &["make", "model", "plate"];

    view! {
        <ActionForm action=save attr:class="form car-form" attr:aria-describedby="car-form-error">
            <div id="car-form-error">
                <FormError error fields=FIELDS/>
            </div>
            <div class="row row--3">
                <div class="field">
                    <label for="car-make">"Make"</label>
                    <input id="car-make" name="make" type="text" required maxlength="40"
                        autocomplete="off" placeholder="Toyota" value=start("make", |c| c.make.clone())
                        aria-invalid=invalid(error, "make") aria-describedby="car-make-error"/>
                    <FieldError error field="make" id="car-make-error".to_owned()/>
                </div>
                <div class="field">
                    <label for="car-model">"Model"</label>
                    <input id="car-model" name="model" type="text" required maxlength="40"
                        autocomplete="off" placeholder="Prius" value=start("model", |c| c.model.clone())
                        aria-invalid=invalid(error, "model") aria-describedby="car-model-error"/>
                    <FieldError error field="model" id="car-model-error".to_owned()/>
                </div>
                <div class="field">
                    <label for="car-plate">"Plate"</label>
                    <input id="car-plate" name="plate" type="text" required maxlength="12"
                        autocomplete="off" autocapitalize="characters" placeholder="B-HX 123"
                        value=start("plate", |c| c.plate.clone())
                        aria-invalid=invalid(error, "plate") aria-describedby="car-plate-error"/>
                    <FieldError error field="plate" id="car-plate-error".to_owned()/>
                </div>
            </div>
            <div class="actions">
                <button type="submit" class="primary" disabled=move || save.pending().get()>
                    {move || if save.pending().get() { "Saving…" } else { "Save car" }}
                </button>
            </div>
        </ActionForm>
    }
}

/// One past ride as the day's list shows it (without the clock fields that change every read,
/// so the list is redrawn only when a ride changes).
#[derive(Debug, Clone, PartialEq)]
struct PastRide {
    id: RideId,
    pickup: String,
    dropoff: String,
    fare: Cents,
    status: RideStatus,
    rating: Option<u8>,
}

#[component]
fn TodayPanel(
    state: Memo<Option<DriverState>>,
    history: Resource<Result<Vec<RideView>, AppError>>,
) -> impl IntoView {
    let earnings = Memo::new(move |_| {
        state.with(|s| {
            s.as_ref()
                .map(|s| (s.earnings_today, s.rides_today))
                .unwrap_or((Cents(0), 0))
        })
    });
    let past = Memo::new(move |before: Option<&Result<Vec<PastRide>, AppError>>| {
        match history.get() {
            Some(Ok(rides)) => Ok(rides
                .iter()
                // The ride under way is shown above.
                .filter(|r| r.status.is_final())
                .take(HISTORY_SHOWN)
                .map(|r| PastRide {
                    id: r.id.clone(),
                    pickup: r.pickup_name.clone(),
                    dropoff: r.dropoff_name.clone(),
                    fare: r.fare,
                    status: r.status,
                    rating: r.rating,
                })
                .collect()),
            // A failed refresh keeps the list it had.
            Some(Err(err)) => match before {
                Some(Ok(list)) => Ok(list.clone()),
                _ => Err(err),
            },
            None => Ok(Vec::new()),
        }
    });

    view! {
        <section class="card driver__today" aria-labelledby="today-title">
            <h2 id="today-title">"Today"</h2>
            <p class="earnings" data-testid="earnings">
                {move || {
                    let (cents, rides) = earnings.get();
                    let noun = if rides == 1 { "ride" } else { "rides" };
                    format!("Earnings today: {cents} · {rides} {noun}")
                }}
            </p>
            <h3 class="history-title">"Recent rides"</h3>
            {move || match past.get() {
                Err(err) => view! { <p class="form-error" role="alert">{err.message().to_owned()}</p> }.into_any(),
                Ok(list) if list.is_empty() => {
                    view! { <p class="muted" data-testid="ride-history">"No rides yet."</p> }.into_any()
                }
                Ok(list) => {
                    view! {
                        <ul class="history" data-testid="ride-history">
                            {list
                                .into_iter()
                                .map(|r| {
                                    view! {
                                        <li class="history__item" data-testid="past-ride" data-ride=r.id.to_string()>
                                            <span class="history__route">
                                                {format!("{} → {}", r.pickup, r.dropoff)}
                                            </span>
                                            <span class="history__fare">{r.fare.to_string()}</span>
                                            <span class=format!("history__status history__status--{}", r.status.as_str())>
                                                {past_status(r.status, r.rating)}
                                            </span>
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ul>
                    }
                        .into_any()
                }
            }}
        </section>
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

/// What the driver reads about their ride.
fn driver_status(status: RideStatus) -> &'static str {
    match status {
        RideStatus::Searching => "Offered to you",
        RideStatus::DriverAssigned => "Drive to the pickup",
        RideStatus::DriverArrived => "At the pickup: ask the rider for their PIN",
        RideStatus::InProgress => "Trip in progress: drive to the drop-off",
        RideStatus::Completed => "Completed",
        RideStatus::Cancelled => "Cancelled by the rider",
        RideStatus::NoDriverFound => "Not taken",
    }
}

fn past_status(status: RideStatus, rating: Option<u8>) -> String {
    match (status, rating) {
        (RideStatus::Completed, Some(stars)) => format!("Completed · rated {stars}★"),
        _ => driver_status(status).to_owned(),
    }
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
