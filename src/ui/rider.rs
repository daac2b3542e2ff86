//! The rider's screen: choose pickup and drop-off (map or list), see the fare and the nearest
//! driver's ETA, request, follow the ride, cancel, re-confirm, rate; and past rides.
//!
//! The screen loads once on the server, then follows the ride live: status changes and the
//! driver's position arrive over the WebSocket (`ui::live`); each (re)connect reloads the state
//! at once. Only while the connection is down does it poll. The state lives in one signal read
//! through memos, so an update that changes nothing re-renders nothing, and what the rider is
//! choosing survives every refresh.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

use super::forms::form_error;
use super::layout::RoleGate;
use super::live::{use_live, LiveIndicator, LiveLink};
use super::location::{LocationPanel, SavedLocation};
use super::map::{CityMap, Marker, MarkerKind, PlacePicker};
use super::nearby::NearbyCars;
use super::poll::use_poll;
use super::session::Auth;
use super::sheet::{Sheet, SheetState};
use crate::api::get_location;
use crate::api::rides::{
    current_ride, get_quote, nearby_drivers, ride_history, CancelRide, RateRide, ReconfirmRide,
    RequestRide,
};
use crate::domain::cells::Cell;
use crate::domain::city::{place, BOUNDS, PLACES};
use crate::domain::fare::{describe_distance, describe_duration};
use crate::domain::live::{ClientMessage, RideSeq, SeqCheck, ServerMessage};
use crate::domain::ride::{Quote, RideId, RideStatus, RideView};
use crate::domain::{AppError, GeoPoint, Role};

#[component]
pub fn RiderPage() -> impl IntoView {
    // The page's resources are made here, outside the gate's `Transition` (see `SavedLocation`).
    let first = Resource::new(|| (), |_| load());
    let location = SavedLocation::load();
    view! {
        <RoleGate role=Role::Rider>
            <div class="screen">
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
    let live = use_live(move |link, message| on_live(link, message, state, seq, cars, refresh));

    // Each (re)connect and each resync: read everything again, at once.
    Effect::new(move |before: Option<()>| {
        live.generation.track();
        if before.is_some() {
            refresh();
        }
    });
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
    // Polling only stands in while the connection is down.
    let tick = use_poll(Duration::from_millis(1500));
    Effect::new(move |before: Option<()>| {
        tick.track();
        if before.is_some() && !live.is_live_untracked() {
            refresh();
        }
    });
    Effect::new(move |before: Option<()>| {
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
    refresh: impl Fn(),
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
                refresh();
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

/// Which point a click on the map sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Picking {
    Pickup,
    Dropoff,
}

/// A chosen point and what to call it.
#[derive(Debug, Clone, PartialEq)]
struct Spot {
    at: GeoPoint,
    name: String,
    place_id: Option<&'static str>,
}

impl Spot {
    fn of_place(id: &str) -> Option<Self> {
        place(id).map(|p| Spot {
            at: p.at(),
            name: p.name.to_owned(),
            place_id: Some(p.id),
        })
    }

    /// A clicked point takes the name of a place it is next to.
    fn of_point(at: GeoPoint) -> Self {
        match PLACES.iter().find(|p| p.at().distance_m(&at) < 120.0) {
            Some(p) => Spot {
                at: p.at(),
                name: p.name.to_owned(),
                place_id: Some(p.id),
            },
            None => Spot {
                at,
                name: format!("Pin at {:.4}, {:.4}", at.lat(), at.lng()),
                place_id: None,
            },
        }
    }
}

#[component]
fn RequestPanel(
    request: ServerAction<RequestRide>,
    saved: Option<GeoPoint>,
    live: LiveLink,
    cars: RwSignal<NearbyCars>,
) -> impl IntoView {
    // The saved location of the session is the default pickup, when it is in the city.
    let initial_pickup = saved
        .filter(|at| crate::domain::city::BOUNDS.contains(*at))
        .map(|at| {
            let mut spot = Spot::of_point(at);
            if spot.place_id.is_none() {
                spot.name = "Your saved location".to_owned();
            }
            spot
        });
    let picking_start = if initial_pickup.is_some() {
        Picking::Dropoff
    } else {
        Picking::Pickup
    };
    let pickup = RwSignal::new(initial_pickup);
    let dropoff = RwSignal::new(None::<Spot>);
    let picking = RwSignal::new(picking_start);

    let on_pick = Callback::new(move |at: GeoPoint| {
        let spot = Some(Spot::of_point(at));
        match picking.get_untracked() {
            Picking::Pickup => {
                pickup.set(spot);
                picking.set(Picking::Dropoff);
            }
            Picking::Dropoff => dropoff.set(spot),
        }
    });
    // Free drivers on the map while the rider chooses: `/api/nearby` once for the first paint
    // (around the pickup, or the city centre), then pushed over the live socket for every cell
    // of the city; read again every 2 s only while the socket is down. Read by effects, so only
    // in the browser (the server's render and the first client render both show no cars), and
    // an answer that comes after the panel is gone (a ride was requested) is dropped.
    Effect::new(move |_| {
        live.generation.track();
        live.send(&ClientMessage::Watch {
            cells: Cell::all().collect(),
        });
    });
    on_cleanup(move || live.send(&ClientMessage::Watch { cells: Vec::new() }));
    let nearby_tick = use_poll(Duration::from_secs(2));
    let reads = StoredValue::new(0u64);
    Effect::new(move |_| {
        let tick = nearby_tick.get();
        let now = now_ms();
        if cars.with_untracked(|c| c.has_stale(now)) {
            cars.update(|c| c.prune(now));
        }
        if tick > 0 && live.is_live_untracked() {
            return;
        }
        let at = pickup
            .with_untracked(|p| p.as_ref().map(|p| p.at))
            .unwrap_or_else(|| BOUNDS.center());
        reads.update_value(|n| *n += 1);
        let this_read = reads.get_value();
        spawn_local(async move {
            let answer = nearby_drivers(at.lat().to_string(), at.lng().to_string()).await;
            if let Ok(found) = answer {
                if reads.try_get_value() == Some(this_read) {
                    let _ = cars.try_update(|c| c.read(found, now_ms()));
                }
            }
        });
    });
    let markers = Signal::derive(move || {
        // Cars first and in a stable order (by their names for the day), so each keeps its
        // element and glides.
        let mut markers: Vec<Marker> = cars
            .with(NearbyCars::points)
            .into_iter()
            .map(|at| Marker {
                kind: MarkerKind::Nearby,
                at,
                label: "A free driver".to_owned(),
            })
            .collect();
        if let Some(p) = pickup.get() {
            markers.push(Marker {
                kind: MarkerKind::Pickup,
                at: p.at,
                label: format!("Pickup: {}", p.name),
            });
        }
        if let Some(d) = dropoff.get() {
            markers.push(Marker {
                kind: MarkerKind::Dropoff,
                at: d.at,
                label: format!("Drop-off: {}", d.name),
            });
        }
        markers
    });

    // Priced in the browser only, as places are chosen: an effect (effects never run on the
    // server) asks for the quote and keeps the answer for the spots it was asked for, so the
    // server's render and the browser's first render both show none, and a late answer for
    // spots since changed, or for a panel since gone, is dropped. No resource: a resource read
    // under the screen's suspense would make the server render it differently.
    let quote = RwSignal::new(None::<((GeoPoint, GeoPoint), Result<Quote, AppError>)>);
    Effect::new(move |_| {
        let Some(spots) = pickup
            .with(|p| p.as_ref().map(|p| p.at))
            .zip(dropoff.with(|d| d.as_ref().map(|d| d.at)))
        else {
            return;
        };
        let (p, d) = spots;
        spawn_local(async move {
            let answer = get_quote(
                p.lat().to_string(),
                p.lng().to_string(),
                d.lat().to_string(),
                d.lng().to_string(),
            )
            .await;
            let still_wanted = pickup
                .try_with_untracked(|p| p.as_ref().map(|p| p.at))
                .flatten()
                .zip(
                    dropoff
                        .try_with_untracked(|d| d.as_ref().map(|d| d.at))
                        .flatten(),
                )
                == Some(spots);
            if still_wanted {
                let _ = quote.try_set(Some((spots, answer)));
            }
        });
    });
    // The quote for the spots chosen now; `None` while it is asked for.
    let shown_quote = move || {
        let spots = pickup
            .with(|p| p.as_ref().map(|p| p.at))
            .zip(dropoff.with(|d| d.as_ref().map(|d| d.at)))?;
        quote.with(|q| {
            q.as_ref()
                .filter(|(asked, _)| *asked == spots)
                .map(|(_, answer)| answer.clone())
        })
    };

    // The request is a form: with JavaScript the action posts it, without it the browser does
    // and the server redirects back here. The lists post the place ids; a point clicked on the
    // map goes as coordinates and a name (hidden fields the map fills).
    let error = form_error(request, Auth::expect().flash);
    // One key per panel: a retry of the same request makes no second ride, and the panel is
    // made anew for the next ride.
    let client_key = new_client_key();
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    let coordinate = move |spot: RwSignal<Option<Spot>>, f: fn(&GeoPoint) -> f64| {
        move || spot.with(|s| s.as_ref().map(|s| f(&s.at).to_string()).unwrap_or_default())
    };
    let pin_name = move |spot: RwSignal<Option<Spot>>| {
        move || {
            spot.with(|s| {
                s.as_ref()
                    .filter(|s| s.place_id.is_none())
                    .map(|s| s.name.clone())
                    .unwrap_or_default()
            })
        }
    };

    view! {
        <section class="card" aria-labelledby="request-title">
            <h2 id="request-title">"Where to?"</h2>
            <CityMap label="Choose your pickup and drop-off" markers on_pick/>
            <ActionForm action=request attr:class="request-form" attr:aria-labelledby="request-title">
                <div class="row">
                    <PlacePicker
                        label="Pickup"
                        id="pickup-place"
                        name="pickup_place"
                        selected=Signal::derive(move || pickup.with(|s| s.as_ref().and_then(|s| s.place_id).map(str::to_owned)))
                        on_change=Callback::new(move |id: Option<String>| pickup.set(id.as_deref().and_then(Spot::of_place)))
                    />
                    <PlacePicker
                        label="Drop-off"
                        id="dropoff-place"
                        name="dropoff_place"
                        selected=Signal::derive(move || dropoff.with(|s| s.as_ref().and_then(|s| s.place_id).map(str::to_owned)))
                        on_change=Callback::new(move |id: Option<String>| dropoff.set(id.as_deref().and_then(Spot::of_place)))
                    />
                </div>
                <input type="hidden" name="pickup_lat" value=coordinate(pickup, GeoPoint::lat)/>
                <input type="hidden" name="pickup_lng" value=coordinate(pickup, GeoPoint::lng)/>
                <input type="hidden" name="pickup_name" value=pin_name(pickup)/>
                <input type="hidden" name="dropoff_lat" value=coordinate(dropoff, GeoPoint::lat)/>
                <input type="hidden" name="dropoff_lng" value=coordinate(dropoff, GeoPoint::lng)/>
                <input type="hidden" name="dropoff_name" value=pin_name(dropoff)/>
                <input type="hidden" name="client_key" value=client_key/>
                <p class="trip-summary" data-testid="trip-summary" aria-live="polite">
                    {move || match (pickup.get(), dropoff.get()) {
                        (None, _) => "Choose a pickup.".to_owned(),
                        (Some(_), None) => "Choose a drop-off.".to_owned(),
                        (Some(p), Some(d)) => format!("{} → {}", p.name, d.name),
                    }}
                </p>
                {move || {
                    let chosen = pickup.with(Option::is_some) && dropoff.with(Option::is_some);
                    (chosen && shown_quote().is_none())
                        .then(|| view! { <p class="loading" role="status">"Pricing…"</p> })
                }}
                {move || shown_quote().map(|q| match q {
                    Ok(q) => view! {
                        <dl class="quote" data-testid="quote">
                            <div><dt>"Fare"</dt><dd data-testid="quote-fare">{q.fare.to_string()}</dd></div>
                            <div><dt>"Trip"</dt><dd>{format!("{} · {}", describe_distance(q.distance_m), describe_duration(q.duration_s))}</dd></div>
                            <div><dt>"Pickup"</dt><dd data-testid="quote-eta">{match q.pickup_eta_s {
                                Some(eta) => format!("a driver in about {}", describe_duration(eta)),
                                None => "no drivers nearby".to_owned(),
                            }}</dd></div>
                        </dl>
                    }.into_any(),
                    Err(err) => view! { <p class="form-error" role="alert">{err.message().to_owned()}</p> }.into_any(),
                })}
                <p class="form-error" role="alert">{move || error.get().map(|e| e.message().to_owned())}</p>
                // Without JavaScript the button is always on and the server says what is missing.
                <button type="submit" class="primary"
                    disabled=move || hydrated.get() && (request.pending().get() || pickup.with(Option::is_none) || dropoff.with(Option::is_none))>
                    {move || if request.pending().get() { "Requesting…" } else { "Request ride" }}
                </button>
            </ActionForm>
            <fieldset class="field picking">
                <legend>"A click on the map sets"</legend>
                <label class="choice">
                    <input type="radio" name="picking" checked=move || picking.get() == Picking::Pickup
                        on:change=move |_| picking.set(Picking::Pickup)/>
                    " the pickup"
                </label>
                <label class="choice">
                    <input type="radio" name="picking" checked=move || picking.get() == Picking::Dropoff
                        on:change=move |_| picking.set(Picking::Dropoff)/>
                    " the drop-off"
                </label>
            </fieldset>
        </section>
    }
}

/// The browser's clock (ms since the epoch).
fn now_ms() -> f64 {
    leptos::web_sys::js_sys::Date::now()
}

/// Chosen once per request panel: a retry of the same request makes no second ride. Made on
/// either side (the server renders the panel's first key; a panel made later in the browser
/// makes its own).
fn new_client_key() -> String {
    #[cfg(feature = "hydrate")]
    let (time, random) = {
        use leptos::web_sys::js_sys::{Date, Math};
        (Date::now() as u64, (Math::random() * 1e15) as u64)
    };
    #[cfg(not(feature = "hydrate"))]
    let (time, random) = {
        use std::hash::{BuildHasher, Hasher};
        // A hasher's random keys: fresh for every call, and no dependency for the browser.
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        (time, random >> 14)
    };
    format!("req-{time:x}-{random:x}")
}

#[component]
fn ActiveRide(
    current: Memo<Option<RideView>>,
    cancel: ServerAction<CancelRide>,
    reconfirm: ServerAction<ReconfirmRide>,
) -> impl IntoView {
    let field = move |f: fn(&RideView) -> String| {
        move || current.with(|r| r.as_ref().map(f).unwrap_or_default())
    };
    let status = Memo::new(move |_| current.with(|r| r.as_ref().map(|r| r.status)));
    let id = move || current.with(|r| r.as_ref().map(|r| r.id.to_string()).unwrap_or_default());
    let markers = Signal::derive(move || {
        current.with(|r| {
            r.as_ref()
                .map(|r| {
                    let mut markers = vec![
                        Marker {
                            kind: MarkerKind::Pickup,
                            at: r.pickup,
                            label: format!("Pickup: {}", r.pickup_name),
                        },
                        Marker {
                            kind: MarkerKind::Dropoff,
                            at: r.dropoff,
                            label: format!("Drop-off: {}", r.dropoff_name),
                        },
                    ];
                    // Last, so the car keeps its element (and glides) as it moves.
                    if let (Some(at), Some(driver)) = (r.driver_position, r.driver.as_ref()) {
                        markers.push(Marker {
                            kind: MarkerKind::Car,
                            at,
                            label: format!("{}: {}", driver.name, driver.car),
                        });
                    }
                    markers
                })
                .unwrap_or_default()
        })
    });
    let cancellable = move || {
        matches!(
            status.get(),
            Some(RideStatus::Searching | RideStatus::DriverAssigned | RideStatus::DriverArrived)
        )
    };
    let shows_pin = move || {
        matches!(
            status.get(),
            Some(RideStatus::DriverAssigned | RideStatus::DriverArrived)
        )
    };
    let locked = move || current.with(|r| r.as_ref().is_some_and(|r| r.pin_locked));
    // From the action with JavaScript, from the flash after a refused post without it.
    let flash = Auth::expect().flash;
    let (cancel_error, reconfirm_error) = (form_error(cancel, flash), form_error(reconfirm, flash));
    let action_error = move || cancel_error.get().or_else(|| reconfirm_error.get());

    // The ride starts: on a phone the sheet goes down so the map shows the ride.
    Effect::new(move |_| SheetState::collapse_on_phone());
    // A background tab tells how the ride stands.
    let title = move || {
        status
            .get()
            .map(|s| format!("{} · Hail", s.describe().trim_end_matches('…')))
            .unwrap_or_else(|| "Hail".to_owned())
    };

    view! {
        <Title text=title/>
        <section class="card ride" aria-labelledby="ride-title" data-testid="active-ride">
            <h2 id="ride-title">"Your ride"</h2>
            <p class="ride-status" role="status" data-testid="ride-status">
                {move || status.get().map(RideStatus::describe)}
            </p>
            <p class="eta" data-testid="eta">{move || current.with(|r| r.as_ref().and_then(|r| Some((r.status, r.eta_s()?)))).map(|(status, eta)| match status {
                RideStatus::InProgress => format!("About {} to the drop-off", describe_duration(eta.max(60))),
                _ => format!("Your driver is about {} away", describe_duration(eta.max(60))),
            })}</p>
            <p>{field(|r| format!("{} → {}", r.pickup_name, r.dropoff_name))}</p>
            <p>{field(|r| format!("{} · {} · {}", r.fare, describe_distance(r.distance_m), describe_duration(r.duration_s)))}</p>
            {move || current.with(|r| r.as_ref().and_then(|r| r.driver.clone())).map(|d| view! {
                <p class="driver-info" data-testid="driver-info">
                    <strong>{d.name}</strong> " in a " {format!("{} {}", d.car.make, d.car.model)}
                    ", plate " <strong class="plate">{d.car.plate}</strong>
                </p>
            })}
            <Show when=shows_pin>
                <p class="pin">
                    "Your pickup PIN: "
                    <strong data-testid="pickup-pin">{field(|r| r.pin.clone().unwrap_or_default())}</strong>
                    <span class="hint">" Tell it to your driver when you get in."</span>
                </p>
            </Show>
            <Show when=locked>
                <div class="notice" role="alert">
                    <p>"Your driver entered a wrong PIN too many times. Re-confirm to get a new PIN."</p>
                    <ActionForm action=reconfirm attr:class="inline">
                        <input type="hidden" name="id" value=id/>
                        <button type="submit" class="primary" disabled=move || reconfirm.pending().get()>
                            "Re-confirm ride"
                        </button>
                    </ActionForm>
                </div>
            </Show>
            <CityMap label="Your ride on the map" markers/>
            <p class="form-error" role="alert">{move || action_error().map(|e| e.message().to_owned())}</p>
            <Show when=cancellable>
                <ActionForm action=cancel attr:class="inline">
                    <input type="hidden" name="id" value=id/>
                    <button type="submit" class="danger" disabled=move || cancel.pending().get()>
                        {move || if cancel.pending().get() { "Cancelling…" } else { "Cancel ride" }}
                    </button>
                </ActionForm>
            </Show>
        </section>
    }
}

/// The ride that just ended: how it ended, and the rating it still needs.
#[component]
fn LastRide(history: Memo<Vec<RideView>>, rate: ServerAction<RateRide>) -> impl IntoView {
    let last =
        Memo::new(move |_| history.with(|h| h.first().filter(|r| r.status.is_final()).cloned()));
    let rate_error = form_error(rate, Auth::expect().flash);
    move || {
        last.get().map(|ride| {
            let id = ride.id.to_string();
            let needs_rating = ride.status == RideStatus::Completed && ride.rating.is_none();
            view! {
                <section class="card notice" aria-labelledby="last-title" data-testid="last-ride">
                    <h2 id="last-title">"Your last ride"</h2>
                    <p role="status" data-testid="last-ride-status">{ride.status.describe()}</p>
                    <p>{format!("{} → {} · {}", ride.pickup_name, ride.dropoff_name, ride.fare)}</p>
                    {needs_rating.then(|| view! {
                        // One form, a submit button per star: the pressed one posts its `stars`.
                        <ActionForm action=rate attr:class="stars" attr:role="group" attr:aria-labelledby="rate-label">
                            <p id="rate-label">"Rate your driver"</p>
                            <input type="hidden" name="id" value=id.clone()/>
                            {(1..=5u8).map(|n| view! {
                                <button type="submit" name="stars" value=n.to_string()
                                    aria-label=format!("{n} star{}", if n == 1 { "" } else { "s" })
                                    disabled=move || rate.pending().get()>
                                    {"★".repeat(n as usize)}
                                </button>
                            }).collect_view()}
                        </ActionForm>
                    })}
                    {ride.rating.map(|n| view! { <p>{format!("You rated this ride {n} of 5.")}</p> })}
                    <p class="form-error" role="alert">
                        {move || rate_error.get().map(|e| e.message().to_owned())}
                    </p>
                </section>
            }
        })
    }
}

#[component]
fn PastRides(history: Memo<Vec<RideView>>, current: Memo<Option<RideView>>) -> impl IntoView {
    let past = Memo::new(move |_| {
        let current_id = current.with(|c| c.as_ref().map(|c| c.id.clone()));
        history.with(|h| {
            h.iter()
                .filter(|r| Some(&r.id) != current_id.as_ref())
                .cloned()
                .collect::<Vec<_>>()
        })
    });
    view! {
        <section class="card" aria-labelledby="past-title">
            <h2 id="past-title">"Past rides"</h2>
            <Show when=move || past.with(|p| !p.is_empty()) fallback=|| view! { <p class="muted">"No rides yet."</p> }>
                <ul class="ride-list" data-testid="past-rides">
                    {move || past.get().into_iter().map(|r| view! {
                        <li>
                            <span>{format!("{} → {}", r.pickup_name, r.dropoff_name)}</span>
                            <span>{r.fare.to_string()}</span>
                            <span class="muted">{r.status.describe()}</span>
                            {r.rating.map(|n| view! { <span aria-label=format!("rated {n} of 5")>{"★".repeat(n as usize)}</span> })}
                        </li>
                    }).collect_view()}
                </ul>
            </Show>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
