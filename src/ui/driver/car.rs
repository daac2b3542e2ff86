//! The car riders look for: shown, or a form to add or change it.

use super::*;

/// The car riders look for: shown, or a form to add or change it.
#[component]
pub(super) fn CarPanel(save: ServerAction<SaveCar>, car: Memo<Option<Car>>) -> impl IntoView {
    let editing = RwSignal::new(false);
    // Closes the form once the state shows the car just saved.
    Effect::new(move |_| {
        if let Some(Ok(saved)) = save.value().get() {
            if car.get().as_ref() == Some(&saved) {
                editing.set(false);
            }
        }
    });
    let hydrated = crate::ui::use_hydrated();

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
