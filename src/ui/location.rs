//! The saved location: typed, or taken from the browser's geolocation (leptos-use), kept in the
//! session on whichever instance answers and read back on any other.

use leptos::prelude::*;
use leptos_use::{use_geolocation_with_options, UseGeolocationOptions};

use super::forms::{form_error, invalid, kept_value, FieldError, FormError};
use super::session::Auth;
use crate::api::{get_location, SaveLocation};
use crate::domain::{AppError, GeoPoint};

/// The saved location and the action that changes it. Made by the page, outside any
/// `Suspense`: on the server a `Suspense` walks its children again until no read is pending, and
/// a resource made in there would be made again on every walk, each time with a new id that the
/// browser's hydration could not match.
#[derive(Clone, Copy)]
pub struct SavedLocation {
    save: ServerAction<SaveLocation>,
    saved: Resource<Result<Option<GeoPoint>, AppError>>,
}

impl SavedLocation {
    /// Starts reading the saved location (again after every save).
    pub fn load() -> Self {
        let save = ServerAction::<SaveLocation>::new();
        let saved = Resource::new(
            move || save.version().get(),
            |_| async {
                match get_location().await {
                    Ok(at) => Ok(Some(at)),
                    Err(AppError::NotFound { .. }) => Ok(None),
                    Err(err) => Err(err),
                }
            },
        );
        Self { save, saved }
    }
}

#[component]
pub fn LocationPanel(location: SavedLocation) -> impl IntoView {
    let auth = Auth::expect();
    let SavedLocation { save, saved } = location;
    let error = form_error(save, auth.flash);
    let (lat, set_lat) = signal(kept_value::<SaveLocation>(auth.flash, "lat"));
    let (lng, set_lng) = signal(kept_value::<SaveLocation>(auth.flash, "lng"));
    const FIELDS: &[&str] = &["lat", "lng"];

    // Geolocation is asked for only when the user presses the button.
    let geo = use_geolocation_with_options(UseGeolocationOptions::default().immediate(false));
    let (locating, set_locating) = signal(false);
    let hydrated = crate::ui::use_hydrated();
    let pause = geo.pause.clone();
    Effect::new(move |_| {
        if !locating.get() {
            return;
        }
        if let Some(coords) = geo.coords.get() {
            set_locating.set(false);
            pause();
            let (la, ln) = (
                format!("{:.6}", coords.latitude()),
                format!("{:.6}", coords.longitude()),
            );
            set_lat.set(la.clone());
            set_lng.set(ln.clone());
            save.dispatch(SaveLocation { lat: la, lng: ln });
        } else if geo.error.get().is_some() {
            set_locating.set(false);
        }
    });
    let geo_error = move || {
        geo.error.get().map(|_| {
            "Your browser did not share a position (it needs permission, and HTTPS outside \
             localhost). Type it in instead."
        })
    };
    let resume = geo.resume.clone();

    view! {
        <section class="card" aria-labelledby="location-title">
            <h2 id="location-title">"Your location"</h2>
            <Transition fallback=|| view! { <p class="loading" role="status">"Loading…"</p> }>
                <p data-testid="saved-location" aria-live="polite">
                    {move || saved.get().map(|at| match at {
                        Ok(Some(at)) => describe(at),
                        Ok(None) => "No location saved yet.".to_owned(),
                        Err(err) => err.message().to_owned(),
                    })}
                </p>
            </Transition>
            <ActionForm action=save attr:class="form location-form">
                <FormError error fields=FIELDS/>
                <div class="row">
                    <div class="field">
                        <label for="lat">"Latitude"</label>
                        <input id="lat" name="lat" type="text" inputmode="decimal" required
                            placeholder="52.5200" value=lat.get_untracked() prop:value=lat
                            on:input:target=move |ev| set_lat.set(ev.target().value())
                            aria-invalid=invalid(error, "lat") aria-describedby="lat-error"/>
                        <FieldError error field="lat" id="lat-error".to_owned()/>
                    </div>
                    <div class="field">
                        <label for="lng">"Longitude"</label>
                        <input id="lng" name="lng" type="text" inputmode="decimal" required
                            placeholder="13.4050" value=lng.get_untracked() prop:value=lng
                            on:input:target=move |ev| set_lng.set(ev.target().value())
                            aria-invalid=invalid(error, "lng") aria-describedby="lng-error"/>
                        <FieldError error field="lng" id="lng-error".to_owned()/>
                    </div>
                </div>
                <div class="actions">
                    <button type="submit" class="primary" disabled=move || save.pending().get()>
                        {move || if save.pending().get() { "Saving…" } else { "Save location" }}
                    </button>
                    <Show when=move || hydrated.get()>
                        <button type="button" disabled=move || locating.get()
                            on:click={
                                let resume = resume.clone();
                                move |_| {
                                    set_locating.set(true);
                                    resume();
                                }
                            }>
                            {move || if locating.get() { "Locating…" } else { "Use my current location" }}
                        </button>
                    </Show>
                </div>
                <p class="form-error" role="alert">{geo_error}</p>
            </ActionForm>
        </section>
    }
}

fn describe(at: GeoPoint) -> String {
    format!("Saved: {:.5}, {:.5}", at.lat(), at.lng())
}
