//! The offer to answer, with its countdown and chime, and the ride under way, step by step:
//! arrived, the rider's PIN, the trip, its end.

use super::*;

/// The offer to answer or the ride under way.
#[component]
pub(super) fn WorkPanel(
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
    let heading = NodeRef::new();
    take_lost_focus(heading);

    view! {
        <Title text=title/>
        <section class="card offer" role="alert" data-testid="offer" aria-labelledby="offer-title">
            <div class="offer__head">
                <h2 id="offer-title" tabindex="-1" node_ref=heading>"New ride offer"</h2>
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
    // Each step rebuilds the card: the button just pressed went with the old one.
    let heading = NodeRef::new();
    take_lost_focus(heading);

    view! {
        <Title text=title/>
        <section class="card ride" data-testid="active-ride" aria-labelledby="ride-title">
            <h2 id="ride-title" tabindex="-1" node_ref=heading>{read(|r| format!("Ride for {}", r.rider_name))}</h2>
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

/// What the driver reads about their ride.
pub(super) fn driver_status(status: RideStatus) -> &'static str {
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
