//! Sign-up and login: forms that work with JavaScript (ActionForm) and without it (the server
//! redirects back with the error and the typed values, never the password).

use leptos::prelude::*;
use leptos_router::components::A;

use super::forms::{form_error, invalid, kept_value, FieldError, FormError};
use super::session::Auth;
use crate::api::{Login, Signup};

#[component]
pub fn SignupPage() -> impl IntoView {
    view! {
        <section class="card auth" aria-labelledby="signup-title">
            <h1 id="signup-title">"Create your Hail account"</h1>
            <Transition fallback=|| view! { <p class="loading" role="status">"Loading…"</p> }>
                <SignupForm/>
            </Transition>
            <p class="switch">"Already have an account? " <A href="/login">"Log in"</A></p>
        </section>
    }
}

#[component]
fn SignupForm() -> impl IntoView {
    let auth = Auth::expect();
    let action = auth.signup;
    let error = form_error(action, auth.flash);
    // Reading the flash inside the Transition makes the server wait for it.
    let kept = move |field| {
        auth.flash.track();
        kept_value::<Signup>(auth.flash, field)
    };
    let driver_chosen = move || kept("role") == "driver";
    const FIELDS: &[&str] = &["name", "email", "password", "role"];

    view! {
        <ActionForm action=action attr:class="form" attr:aria-describedby="signup-form-error">
            <div id="signup-form-error">
                <FormError error fields=FIELDS/>
            </div>
            <div class="field">
                <label for="signup-name">"Name"</label>
                <input id="signup-name" name="name" type="text" autocomplete="name" required
                    maxlength="80" value=move || kept("name")
                    aria-invalid=invalid(error, "name") aria-describedby="signup-name-error"/>
                <FieldError error field="name" id="signup-name-error".to_owned()/>
            </div>
            <div class="field">
                <label for="signup-email">"Email"</label>
                <input id="signup-email" name="email" type="email" autocomplete="email" required
                    value=move || kept("email")
                    aria-invalid=invalid(error, "email") aria-describedby="signup-email-error"/>
                <FieldError error field="email" id="signup-email-error".to_owned()/>
            </div>
            <div class="field">
                <label for="signup-password">"Password"</label>
                <input id="signup-password" name="password" type="password"
                    autocomplete="new-password" required
                    aria-invalid=invalid(error, "password")
                    aria-describedby="signup-password-hint signup-password-error"/>
                <p class="hint" id="signup-password-hint">"At least 8 characters."</p>
                <FieldError error field="password" id="signup-password-error".to_owned()/>
            </div>
            <fieldset class="field roles" aria-describedby="signup-role-error">
                <legend>"I want to"</legend>
                <label class="choice">
                    <input type="radio" name="role" value="rider" checked=move || !driver_chosen()/>
                    " ride (rider)"
                </label>
                <label class="choice">
                    <input type="radio" name="role" value="driver" checked=driver_chosen/>
                    " drive (driver)"
                </label>
                <FieldError error field="role" id="signup-role-error".to_owned()/>
            </fieldset>
            <button type="submit" class="primary" disabled=move || action.pending().get()>
                {move || if action.pending().get() { "Signing up…" } else { "Sign up" }}
            </button>
        </ActionForm>
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    view! {
        <section class="card auth" aria-labelledby="login-title">
            <h1 id="login-title">"Log in to Hail"</h1>
            <Transition fallback=|| view! { <p class="loading" role="status">"Loading…"</p> }>
                <LoginForm/>
            </Transition>
            <p class="switch">"New here? " <A href="/signup">"Create an account"</A></p>
        </section>
    }
}

#[component]
fn LoginForm() -> impl IntoView {
    let auth = Auth::expect();
    let action = auth.login;
    let error = form_error(action, auth.flash);
    let kept = move |field| {
        auth.flash.track();
        kept_value::<Login>(auth.flash, field)
    };
    const FIELDS: &[&str] = &["email", "password"];

    view! {
        <ActionForm action=action attr:class="form" attr:aria-describedby="login-form-error">
            <div id="login-form-error">
                <FormError error fields=FIELDS/>
            </div>
            <div class="field">
                <label for="login-email">"Email"</label>
                <input id="login-email" name="email" type="email" autocomplete="username" required
                    value=move || kept("email")
                    aria-invalid=invalid(error, "email") aria-describedby="login-email-error"/>
                <FieldError error field="email" id="login-email-error".to_owned()/>
            </div>
            <div class="field">
                <label for="login-password">"Password"</label>
                <input id="login-password" name="password" type="password"
                    autocomplete="current-password" required
                    aria-invalid=invalid(error, "password") aria-describedby="login-password-error"/>
                <FieldError error field="password" id="login-password-error".to_owned()/>
            </div>
            <button type="submit" class="primary" disabled=move || action.pending().get()>
                {move || if action.pending().get() { "Logging in…" } else { "Log in" }}
            </button>
        </ActionForm>
    }
}
