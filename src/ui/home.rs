//! The home page: what Hail is, and the way in.

use leptos::prelude::*;
use leptos_router::components::A;

use super::session::Auth;

#[component]
pub fn HomePage() -> impl IntoView {
    let auth = Auth::expect();
    view! {
        <section class="hero" aria-labelledby="hero-title">
            <h1 id="hero-title">"Hail"</h1>
            <p class="lead">
                "Request a ride and watch your driver come to you, live on the map. "
                "Drivers go online, take offers and carry riders across the city."
            </p>
            <Transition fallback=|| ()>
                {move || match auth.me.get() {
                    Some(Ok(Some(me))) => {
                        view! {
                            <p class="cta">
                                <A href=me.role.home_path() attr:class="button primary">
                                    {format!("Go to your {} screen", me.role)}
                                </A>
                            </p>
                        }
                            .into_any()
                    }
                    _ => {
                        view! {
                            <p class="cta">
                                <A href="/signup" attr:class="button primary">"Sign up"</A>
                                <A href="/login" attr:class="button">"Log in"</A>
                            </p>
                        }
                            .into_any()
                    }
                }}
            </Transition>
        </section>
        <section class="features" aria-label="How Hail works">
            <div class="card">
                <h2>"For riders"</h2>
                <p>"Pick where you are and where you are going; see the fare before you ask."</p>
            </div>
            <div class="card">
                <h2>"For drivers"</h2>
                <p>"Go online, get offers near you, and drive with your position shared only with your rider."</p>
            </div>
            <div class="card">
                <h2>"Always on"</h2>
                <p>"Log in once: whichever of Hail's servers answers next, you stay logged in."</p>
            </div>
        </section>
    }
}
