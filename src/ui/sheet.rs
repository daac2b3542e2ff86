//! The map-first screen: the city map fills the screen and the controls sit over it, in a
//! bottom sheet on a phone and a side panel on a wide screen (style/main.css, `.screen`).
//!
//! The sheet is plain content as the server renders it, and so without JavaScript: expanded,
//! scrolling with the page. In the browser a handle collapses it to its first part (the status
//! and the main action) and expands it again, by touch, click or keyboard; a phone starts
//! collapsed once the page is live, so the map shows.

use leptos::prelude::*;

/// Below this width the panel is a bottom sheet (the stylesheet's breakpoint too).
const PHONE_MAX_PX: f64 = 699.0;

/// The sheet of the screen, for its parts to move: a ride that starts collapses it on a phone,
/// so the map (the car coming) shows.
#[derive(Clone, Copy)]
pub struct SheetState(RwSignal<bool>);

impl SheetState {
    /// Lowers the sheet on a phone (a side panel has nothing to lower); does nothing outside a
    /// sheet or on the server.
    pub fn collapse_on_phone() {
        if let Some(SheetState(expanded)) = use_context::<SheetState>() {
            if is_phone() {
                expanded.set(false);
                scroll_to_top();
            }
        }
    }
}

#[component]
pub fn Sheet(
    /// The sheet's accessible name, e.g. "Your ride".
    label: &'static str,
    children: Children,
) -> impl IntoView {
    // Expanded on both sides at first, so hydration agrees; effects run only in the browser.
    let expanded = RwSignal::new(true);
    let hydrated = crate::ui::use_hydrated();
    Effect::new(move |_| {
        if is_phone() {
            expanded.set(false);
        }
    });
    provide_context(SheetState(expanded));
    // The sheet moves by its margin; the page goes back to the top so the move shows.
    let toggle = move |_| {
        expanded.update(|e| *e = !*e);
        scroll_to_top();
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        // An Escape typed into a field (a PIN, a coordinate, a list) is the field's own.
        let in_field = ev
            .target()
            .and_then(|t| wasm_bindgen::JsCast::dyn_into::<leptos::web_sys::Element>(t).ok())
            .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "SELECT" | "TEXTAREA"));
        if ev.key() == "Escape" && !in_field && expanded.get_untracked() && is_phone() {
            expanded.set(false);
            scroll_to_top();
        }
    };
    view! {
        <section
            class="sheet"
            class:sheet--collapsed=move || !expanded.get()
            data-testid="sheet"
            data-expanded=move || expanded.get().to_string()
            aria-label=label
            on:keydown=on_key
        >
            <Show when=move || hydrated.get()>
                <button
                    type="button"
                    class="sheet__handle"
                    aria-controls="sheet-body"
                    aria-expanded=move || expanded.get().to_string()
                    on:click=toggle
                >
                    <span class="sheet__grip" aria-hidden="true"></span>
                    {move || if expanded.get() { "Show the map" } else { "Show details" }}
                </button>
            </Show>
            <div class="sheet__body" id="sheet-body">
                {children()}
            </div>
        </section>
    }
}

/// Whether the screen is a phone's (narrower than the side panel's breakpoint).
fn is_phone() -> bool {
    window()
        .inner_width()
        .ok()
        .and_then(|w| w.as_f64())
        .is_some_and(|w| w <= PHONE_MAX_PX)
}

fn scroll_to_top() {
    window().scroll_to_with_x_and_y(0.0, 0.0);
}
