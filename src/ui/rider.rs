//! The rider's screen.

use leptos::prelude::*;

use super::layout::RoleGate;
use super::location::LocationPanel;
use crate::domain::Role;

#[component]
pub fn RiderPage() -> impl IntoView {
    view! {
        <RoleGate role=Role::Rider>
            {move || view! {
                <section class="card" aria-labelledby="rider-title">
                    <h1 id="rider-title">"Rider"</h1>
                    <p>"Save where you are: it becomes your pickup point when you request a ride."</p>
                </section>
                <LocationPanel/>
            }}
        </RoleGate>
    }
}
