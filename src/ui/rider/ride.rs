//! The rider's ride: the one under way (status, driver, PIN, the map with its routes, the ETA
//! that counts down), the one that just ended and its rating, and the past ones.

use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;

use super::now_ms;
use crate::api::rides::{CancelRide, RateRide, ReconfirmRide};
use crate::domain::eta::Countdown;
use crate::domain::fare::{describe_distance, describe_duration};
use crate::domain::ride::{RideId, RideStatus, RideView};
use crate::ui::announce::take_lost_focus;
use crate::ui::forms::form_error;
use crate::ui::map::{CityMap, Marker, MarkerKind, RouteLine};
use crate::ui::poll::use_poll;
use crate::ui::session::Auth;
use crate::ui::sheet::SheetState;
use crate::ui::use_hydrated;

/// The ride's ETA as shown: the estimate from the last position (see `RideView::eta_s`) until
/// the page is live, then a countdown with the clock that each new position bends rather than
/// resets (see `domain::eta`); started afresh for each leg (to the pickup, to the drop-off).
fn use_eta_countdown(current: Memo<Option<RideView>>) -> Signal<Option<(RideStatus, u64)>> {
    type Leg = (RideId, RideStatus);
    let estimate = Memo::new(move |_| {
        current.with(|r| {
            let r = r.as_ref()?;
            Some(((r.id.clone(), r.status), r.eta_s()?))
        })
    });
    let countdown = StoredValue::new(None::<(Leg, Countdown)>);
    let counted = RwSignal::new(None::<(RideStatus, u64)>);
    let show = move |now: f64| {
        let left = countdown.with_value(|c| {
            c.as_ref()
                .map(|((_, status), c)| (*status, c.left_s(now).round() as u64))
        });
        counted.set(left);
    };
    Effect::new(move |_| {
        let now = now_ms();
        match estimate.get() {
            Some((leg, seconds)) => countdown.update_value(|c| match c {
                Some((counting, c)) if *counting == leg => c.observe(seconds, now),
                _ => *c = Some((leg, Countdown::new(seconds, now))),
            }),
            None => countdown.set_value(None),
        }
        show(now);
    });
    let tick = use_poll(Duration::from_millis(500));
    Effect::new(move |_| {
        tick.track();
        show(now_ms());
    });
    // Before the effects run (the server's render and hydration) the plain estimate.
    let hydrated = use_hydrated();
    Signal::derive(move || {
        if hydrated.get() {
            counted.get()
        } else {
            estimate.get().map(|((_, status), s)| (status, s))
        }
    })
}

#[component]
pub(super) fn ActiveRide(
    current: Memo<Option<RideView>>,
    cancel: ServerAction<CancelRide>,
    reconfirm: ServerAction<ReconfirmRide>,
) -> impl IntoView {
    let field = move |f: fn(&RideView) -> String| {
        move || current.with(|r| r.as_ref().map(f).unwrap_or_default())
    };
    let status = Memo::new(move |_| current.with(|r| r.as_ref().map(|r| r.status)));
    // A request just made this panel: the Request button went with the form.
    let heading = NodeRef::new();
    take_lost_focus(heading);
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
    let routes = Signal::derive(move || {
        current.with(|r| {
            r.as_ref()
                .map(|r| RouteLine::of_ride(r.routes()))
                .unwrap_or_default()
        })
    });
    let eta = use_eta_countdown(current);
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
            <h2 id="ride-title" tabindex="-1" node_ref=heading>"Your ride"</h2>
            <p class="ride-status" id="ride-status" role="status" data-testid="ride-status">
                {move || status.get().map(RideStatus::describe)}
            </p>
            <p class="eta" id="ride-eta" data-testid="eta" data-eta-s=move || eta.get().map(|(_, s)| s)>
                {move || eta.get().map(|(status, eta)| match status {
                    RideStatus::InProgress => format!("About {} to the drop-off", describe_duration(eta.max(60))),
                    _ => format!("Your driver is about {} away", describe_duration(eta.max(60))),
                })}
            </p>
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
            <CityMap label="Your ride on the map" markers routes described_by="ride-status ride-eta"/>
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
pub(super) fn LastRide(
    history: Memo<Vec<RideView>>,
    rate: ServerAction<RateRide>,
) -> impl IntoView {
    let last =
        Memo::new(move |_| history.with(|h| h.first().filter(|r| r.status.is_final()).cloned()));
    let rate_error = form_error(rate, Auth::expect().flash);
    move || {
        last.get().map(|ride| {
            let id = ride.id.to_string();
            let needs_rating = ride.status == RideStatus::Completed && ride.rating.is_none();
            let last_heading = NodeRef::new();
            take_lost_focus(last_heading);
            view! {
                <section class="card notice" aria-labelledby="last-title" data-testid="last-ride">
                    <h2 id="last-title" tabindex="-1" node_ref=last_heading>"Your last ride"</h2>
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
pub(super) fn PastRides(
    history: Memo<Vec<RideView>>,
    current: Memo<Option<RideView>>,
) -> impl IntoView {
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
