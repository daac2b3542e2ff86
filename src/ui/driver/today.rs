//! The day's takings and rides, counted in the driver's own time zone.

use super::*;

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
pub(super) fn TodayPanel(
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

fn past_status(status: RideStatus, rating: Option<u8>) -> String {
    match (status, rating) {
        (RideStatus::Completed, Some(stars)) => format!("Completed · rated {stars}★"),
        _ => driver_status(status).to_owned(),
    }
}
