//! The HTML shell, the root component and the router.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};

use crate::ui::auth::{LoginPage, SignupPage};
use crate::ui::driver::DriverPage;
use crate::ui::home::HomePage;
use crate::ui::layout::{Header, NotFound};
use crate::ui::rider::RiderPage;
use crate::ui::session::Auth;

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="description" content="Hail: request a ride and watch your driver come to you live."/>
                // Installable: the manifest (public/manifest.webmanifest), its icons, the bar colour.
                <meta name="theme-color" content="#0a7d4f"/>
                <link rel="manifest" href="/manifest.webmanifest"/>
                <link rel="icon" href="/icon.svg" type="image/svg+xml"/>
                <link rel="apple-touch-icon" href="/icon-192.png"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    Auth::provide();
    crate::ui::map::provide_map_settings();

    // Effects run only in the browser: this marks the page as interactive, for people's
    // stylesheets and for the end-to-end tests.
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    // Every page waits for its data before the first byte (SsrMode::Async): the forms must work
    // without JavaScript, and out-of-order streaming needs JavaScript to show its parts.
    view! {
        <Stylesheet id="leptos" href="/pkg/hail.css"/>
        <Title text="Hail"/>
        <Router>
            <a class="skip-link" href="#main">"Skip to content"</a>
            <Header/>
            <main id="main">
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=HomePage ssr=SsrMode::Async/>
                    <Route path=path!("/signup") view=SignupPage ssr=SsrMode::Async/>
                    <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async/>
                    <Route path=path!("/rider") view=RiderPage ssr=SsrMode::Async/>
                    <Route path=path!("/driver") view=DriverPage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}
