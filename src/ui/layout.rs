//! The frame of every page: the header with who is logged in, and the not-found page.

use leptos::prelude::*;
use leptos_router::components::A;

use super::session::Auth;
use crate::domain::Role;

#[component]
pub fn Header() -> impl IntoView {
    let auth = Auth::expect();
    view! {
        <header class="site-header">
            <A href="/" attr:class="brand">"Hail"</A>
            <nav aria-label="Account">
                <Transition fallback=|| view! { <span class="muted">"…"</span> }>
                    {move || {
                        auth.me
                            .get()
                            .map(|me| match me {
                                Ok(Some(me)) => {
                                    view! {
                                        <span class="who" data-testid="who">
                                            "Logged in as " <strong>{me.name.clone()}</strong>
                                            " (" {me.role.as_str()} ")"
                                        </span>
                                        <A href=me.role.home_path()>"My screen"</A>
                                        <ActionForm action=auth.logout attr:class="inline">
                                            <button type="submit" class="link">"Log out"</button>
                                        </ActionForm>
                                    }
                                        .into_any()
                                }
                                Ok(None) => {
                                    view! {
                                        <A href="/login">"Log in"</A>
                                        <A href="/signup" attr:class="button">"Sign up"</A>
                                    }
                                        .into_any()
                                }
                                Err(err) => {
                                    view! {
                                        <span class="form-error" role="alert">{err.message().to_owned()}</span>
                                    }
                                        .into_any()
                                }
                            })
                    }}
                </Transition>
            </nav>
        </header>
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <section class="card">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address. " <A href="/">"Back to Hail"</A></p>
        </section>
    }
}

/// Shows `children` only to a logged-in user of `role`; anyone else is told why and where to go.
#[component]
pub fn RoleGate(role: Role, children: ChildrenFn) -> impl IntoView {
    let auth = Auth::expect();
    view! {
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading…"</p> }>
            {move || {
                auth.me
                    .get()
                    .map(|me| match me {
                        Ok(Some(me)) if me.role == role => children().into_any(),
                        Ok(Some(me)) => {
                            view! {
                                <section class="card notice" role="alert">
                                    <h1>{format!("This screen is for {role}s")}</h1>
                                    <p>
                                        {format!("You are logged in as a {}. ", me.role)}
                                        <A href=me.role.home_path()>
                                            {format!("Go to the {} screen", me.role)}
                                        </A>
                                    </p>
                                </section>
                            }
                                .into_any()
                        }
                        Ok(None) => {
                            view! {
                                <section class="card notice">
                                    <h1>{format!("The {role} screen")}</h1>
                                    <p>
                                        "Please " <A href="/login">"log in"</A> " or "
                                        <A href="/signup">"sign up"</A> " first."
                                    </p>
                                </section>
                            }
                                .into_any()
                        }
                        Err(err) => {
                            view! {
                                <section class="card notice" role="alert">
                                    <p>{err.message().to_owned()}</p>
                                </section>
                            }
                                .into_any()
                        }
                    })
            }}
        </Transition>
    }
}
