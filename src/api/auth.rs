//! Sign-up, login, logout, who is logged in, and the flash of a refused no-JS form.

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;

use crate::domain::{AppError, Flash, Identity};

/// POST /api/signup: creates the account and logs it in (then redirects to its screen).
#[server(prefix = "/api", endpoint = "signup")]
#[cfg_attr(feature = "ssr", tracing::instrument(skip_all))]
pub async fn signup(
    name: String,
    email: String,
    password: String,
    role: String,
) -> Result<Identity, AppError> {
    use crate::domain::{Email, Name, Password, Role};
    use crate::server::auth::{self, SignUp};
    use crate::server::{client_ip::ClientIp, session, AppState};

    let sign_up = SignUp {
        name: Name::parse(&name)?,
        email: Email::parse(&email)?,
        password: Password::parse_new(&password)?,
        role: role.parse::<Role>()?,
    };
    let state = AppState::current()?;
    let session = session::current().await?;
    let ip = ClientIp::of_request().await?;
    let identity = auth::sign_up(&state, &session, ip, sign_up).await?;
    leptos_axum::redirect(identity.role.home_path());
    Ok(identity)
}

/// POST /api/login: logs in with email and password (then redirects to the user's screen).
#[server(prefix = "/api", endpoint = "login")]
#[cfg_attr(feature = "ssr", tracing::instrument(skip_all))]
pub async fn login(email: String, password: String) -> Result<Identity, AppError> {
    use crate::domain::{Email, Password};
    use crate::server::{auth, client_ip::ClientIp, session, AppState};

    let email = Email::parse(&email)?;
    let password = Password::parse_existing(&password)?;
    let state = AppState::current()?;
    let session = session::current().await?;
    let ip = ClientIp::of_request().await?;
    let identity = auth::log_in(&state, &session, ip, email, password).await?;
    leptos_axum::redirect(identity.role.home_path());
    Ok(identity)
}

/// POST /api/logout: ends the session everywhere (it is deleted from Redis).
#[server(prefix = "/api", endpoint = "logout")]
#[cfg_attr(feature = "ssr", tracing::instrument(skip_all))]
pub async fn logout() -> Result<(), AppError> {
    use crate::server::{auth, session, AppState};

    auth::log_out(&AppState::current()?, &session::current().await?).await?;
    leptos_axum::redirect("/");
    Ok(())
}

/// GET /api/me: who is logged in; 401 when nobody is.
#[server(prefix = "/api", endpoint = "me", input = GetUrl)]
pub async fn get_me() -> Result<Identity, AppError> {
    use crate::server::session;

    session::require_identity(&session::current().await?).await
}

/// POST /api/flash: the error and typed values of the last form this browser posted without
/// JavaScript, once. Pages call it while rendering; see `server::api_errors`.
#[server(prefix = "/api", endpoint = "flash")]
pub async fn take_flash() -> Result<Option<Flash>, AppError> {
    use crate::server::session;

    session::take_flash(&session::current().await?).await
}
