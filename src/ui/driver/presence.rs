//! Online or offline, from where (the device's location, a point on the map, a place), and
//! the switch between them.

use super::*;

/// Online or offline, from where, and the switch between them.
#[component]
pub(super) fn PresencePanel(
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
    let hydrated = crate::ui::use_hydrated();
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
                    id="driver-presence"
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
