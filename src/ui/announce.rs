//! What a screen reader should hear without looking: the ride's status as it changes, a new
//! offer, the end of a ride. One polite live region per screen, in the page from the first
//! render (a region that appears together with its text is often not read out), and the focus
//! kept on the screen when the control that had it goes away with its panel.

use leptos::html::H2;
use leptos::prelude::*;

/// The screen's live region; `provide` once, `announce` from anywhere below.
#[derive(Clone, Copy)]
pub struct Announcer(RwSignal<String>);

impl Announcer {
    pub fn provide() -> Self {
        let announcer = Self(RwSignal::new(String::new()));
        provide_context(announcer);
        announcer
    }

    pub fn expect() -> Self {
        expect_context()
    }

    /// Says `text` once. The same text twice in a row is still said twice: the region is
    /// cleared first, and the text set on the next frame.
    pub fn announce(&self, text: impl Into<String>) {
        let text = text.into();
        let region = self.0;
        region.set(String::new());
        request_animation_frame(move || {
            let _ = region.try_set(text);
        });
    }
}

/// The visually hidden live region itself.
#[component]
pub fn Announcements() -> impl IntoView {
    let Announcer(text) = Announcer::expect();
    view! {
        <div class="visually-hidden" role="status" aria-live="polite" aria-atomic="true" data-testid="announcer">
            {move || text.get()}
        </div>
    }
}

/// Announces `text()` each time it changes to something, but not the value the screen loads
/// with (that is on the screen already, read in order).
pub fn announce_changes(text: impl Fn() -> Option<String> + Send + Sync + 'static) {
    let announcer = Announcer::expect();
    Effect::new(move |before: Option<Option<String>>| {
        let now = text();
        if let (Some(before), Some(said)) = (before, &now) {
            if before.as_ref() != Some(said) {
                announcer.announce(said.clone());
            }
        }
        now
    });
}

/// Gives `heading` the focus when it mounts while the focus is lost: the button the user
/// pressed went away with its panel (a request that became a ride, an offer that was accepted,
/// a ride that ended), and the browser put the focus back on the page's body. Never at the
/// first load, nor before the user has touched the page: then nothing was lost.
pub fn take_lost_focus(heading: NodeRef<H2>) {
    // Effects run in the browser alone; the user-activation API is bound for the browser build.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        let Some(heading) = heading.get() else {
            return;
        };
        let document = document();
        let lost = match (document.active_element(), document.body()) {
            (None, _) => true,
            (Some(active), Some(body)) => active == *body.as_ref(),
            (Some(_), None) => false,
        };
        if lost && window().navigator().user_activation().has_been_active() {
            let _ = heading.focus();
        }
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = heading;
}
