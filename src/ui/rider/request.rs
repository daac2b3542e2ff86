//! The rider's request: pickup and drop-off chosen on the map or from the lists (or the saved
//! location), the trip's route and its quote, and the request itself, a form that works with
//! and without JavaScript.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::now_ms;
use crate::api::rides::{get_quote, nearby_drivers, RequestRide};
use crate::domain::cells::Cell;
use crate::domain::city::{place, BOUNDS, PLACES};
use crate::domain::fare::{describe_distance, describe_duration};
use crate::domain::live::ClientMessage;
use crate::domain::ride::{Quote, RideRoutes};
use crate::domain::streets::StreetGraph;
use crate::domain::{AppError, GeoPoint};
use crate::ui::forms::form_error;
use crate::ui::live::LiveLink;
use crate::ui::map::{CityMap, Marker, MarkerKind, PlacePicker, RouteLine};
use crate::ui::nearby::NearbyCars;
use crate::ui::poll::use_poll;
use crate::ui::session::Auth;
use crate::ui::use_hydrated;

/// Which point a click on the map sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Picking {
    Pickup,
    Dropoff,
}

/// A chosen point and what to call it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Spot {
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
pub(super) fn RequestPanel(
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
    // The way the trip would go, as soon as both ends are chosen.
    let routes = Signal::derive(move || {
        let ends = pickup
            .with(|p| p.as_ref().map(|p| p.at))
            .zip(dropoff.with(|d| d.as_ref().map(|d| d.at)));
        RouteLine::of_ride(RideRoutes {
            approach: None,
            trip: ends.and_then(|(from, to)| StreetGraph::of_the_city().along(from, to)),
        })
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
    let hydrated = use_hydrated();
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
            <CityMap label="Choose your pickup and drop-off" markers routes on_pick/>
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
