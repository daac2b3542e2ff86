//! The driver's screen.

use leptos::prelude::*;

use super::layout::RoleGate;
use super::location::LocationPanel;
use crate::domain::Role;

#[component]
pub fn DriverPage() -> impl IntoView {
    view! {
        <RoleGate role=Role::Driver>
            {move || view! {
                <section class="card" aria-labelledby="driver-title">
                    <h1 id="driver-title">"Driver"</h1>
                    <p>"Save where you are: offers come to the drivers nearest the rider."</p>
                </section>
                <LocationPanel/>
            }}
        </RoleGate>
    }
}
