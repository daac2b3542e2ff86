//! What every form shares: its error (from the action with JavaScript, from the flash without)
//! shown beside the field it belongs to, and the values kept from a refused post.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use crate::domain::{AppError, Flash};

/// The error to show for a form: the action's last answer once it has one, else the flash
/// left by the same form posted without JavaScript.
pub fn form_error<A>(
    action: ServerAction<A>,
    flash: Resource<Option<Flash>>,
) -> Signal<Option<AppError>>
where
    A: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    A::Output: Clone + Send + Sync + 'static,
{
    Signal::derive(move || match action.value().get() {
        Some(result) => result.err(),
        None => flash
            .get()
            .flatten()
            .filter(|f| f.action == A::PATH)
            .map(|f| f.error),
    })
}

/// What was typed into `field` before a refused post without JavaScript ("" otherwise).
pub fn kept_value<A: ServerFn>(flash: Resource<Option<Flash>>, field: &'static str) -> String {
    flash
        .get_untracked()
        .flatten()
        .filter(|f| f.action == A::PATH)
        .and_then(|f| f.value(field).map(str::to_owned))
        .unwrap_or_default()
}

/// The error of one field, announced to screen readers; the input points here with
/// `aria-describedby`.
#[component]
pub fn FieldError(
    error: Signal<Option<AppError>>,
    field: &'static str,
    id: String,
) -> impl IntoView {
    move || {
        error.get().filter(|e| e.field() == Some(field)).map(|e| {
            view! {
                <p class="field-error" id=id.clone() role="alert">
                    {e.message().to_owned()}
                </p>
            }
        })
    }
}

/// The form's error when it belongs to none of `fields`: wrong credentials, rate limits, outages.
#[component]
pub fn FormError(
    error: Signal<Option<AppError>>,
    fields: &'static [&'static str],
) -> impl IntoView {
    move || {
        error
            .get()
            .filter(|e| !e.field().is_some_and(|f| fields.contains(&f)))
            .map(|e| {
                view! {
                    <p class="form-error" role="alert">
                        {e.message().to_owned()}
                    </p>
                }
            })
    }
}

/// `aria-invalid` for an input: "true" while its field has an error.
pub fn invalid(
    error: Signal<Option<AppError>>,
    field: &'static str,
) -> impl Fn() -> Option<&'static str> {
    move || {
        error
            .get()
            .is_some_and(|e| e.field() == Some(field))
            .then_some("true")
    }
}
