//! Signing up and logging in: the steps behind the server functions, in one place.

use std::net::IpAddr;

use tower_sessions::Session;

use super::{session, AppState};
use crate::domain::{AppError, Email, Identity, Name, Password, Role};

/// A sign-up's fields, each parsed at the edge.
pub struct SignUp {
    pub name: Name,
    pub email: Email,
    pub password: Password,
    pub role: Role,
}

/// Creates the account and logs it in; at most `HAIL_SIGNUPS_PER_IP` per address and window,
/// counted before the password is hashed.
pub async fn sign_up(
    state: &AppState,
    session: &Session,
    ip: IpAddr,
    sign_up: SignUp,
) -> Result<Identity, AppError> {
    let SignUp {
        name,
        email,
        password,
        role,
    } = sign_up;
    state.signup_limiter.take(ip).await?;
    let hash = state.passwords.hash(password).await?;
    let identity = state.accounts.create(&name, &email, role, &hash).await?;
    session::log_in(session, &identity).await?;
    tracing::info!(user = %identity.id, role = %identity.role, "signed up");
    Ok(identity)
}

pub async fn log_in(
    state: &AppState,
    session: &Session,
    ip: IpAddr,
    email: Email,
    password: Password,
) -> Result<Identity, AppError> {
    state.login_limiter.check(&email, ip).await?;
    let account = state.accounts.find_by_email(&email).await?;
    let (stored_hash, identity) = match account {
        Some(account) => (Some(account.password_hash), Some(account.identity)),
        None => (None, None),
    };
    let verified = state.passwords.verify(password, stored_hash).await?;
    let Some(identity) = identity.filter(|_| verified) else {
        state.login_limiter.record_failure(&email, ip).await?;
        tracing::info!(%ip, "login refused");
        return Err(AppError::unauthorized("email or password is wrong"));
    };
    state.login_limiter.clear_email(&email).await?;
    session::log_in(session, &identity).await?;
    tracing::info!(user = %identity.id, "logged in");
    Ok(identity)
}

/// Ends the session everywhere: deleted from Redis, and its open sockets on every instance
/// closed through the user's channel.
pub async fn log_out(state: &AppState, session: &Session) -> Result<(), AppError> {
    let identity = session::identity(session).await?;
    let login = session::login_id(session).await?;
    session::log_out(session).await?;
    if let (Some(identity), Some(login)) = (identity, login) {
        let channel = state.keys.user_channel(&identity.id);
        let published: Result<u64, _> = redis::cmd(state.redis.publish_command())
            .arg(&channel)
            .arg(super::bus::logged_out_payload(&login))
            .query_async(&mut state.redis.clone())
            .await;
        // The logout itself succeeded; sockets left open notice within one ping interval.
        if let Err(err) = published {
            tracing::warn!(error = %err, "could not announce a logout to the live sockets");
        }
        tracing::info!(user = %identity.id, "logged out");
    }
    Ok(())
}
