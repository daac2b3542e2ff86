//! What the session holds (identity and the saved location, nothing else) and how it changes.
//! The session itself is tower-sessions' with the Redis store, shared by every instance.

use std::cell::Cell;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions::{Expiry, Session};
use tower_sessions_redis_store::{fred::prelude::Pool, RedisStore};

use crate::domain::time::UtcOffset;
use crate::domain::{AppError, Flash, GeoPoint, Identity};

const IDENTITY: &str = "identity";
const LOCATION: &str = "location";
const FLASH: &str = "flash";
const UTC_OFFSET: &str = "utc_offset_min";
/// When the expiry was last rolled forward (unix seconds).
const RENEWED_AT: &str = "renewed_at";
/// A random name for this login, not the session id: a logout publishes it so that every
/// instance closes the sockets opened with it, without the session id leaving the store.
const LOGIN: &str = "login";

/// The session store every instance shares: tower-sessions' Redis store, noting each write
/// that fails for [`answer_failed_writes`].
#[derive(Debug, Clone)]
pub struct Store(RedisStore<Pool>);

impl Store {
    pub fn new(pool: Pool) -> Self {
        Self(RedisStore::new(pool))
    }
}

/// Why a session write failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteFailed {
    /// Redis is at `maxmemory` and evicts nothing: it takes no more writes.
    Full,
    /// Redis did not answer, or refused for another reason.
    Unavailable,
}

tokio::task_local! {
    /// Within one request (see [`answer_failed_writes`]): whether a session write failed.
    static WRITE_FAILED: Cell<Option<WriteFailed>>;
}

fn noted<T>(result: session_store::Result<T>) -> session_store::Result<T> {
    if let Err(err) = &result {
        let why = if err.to_string().contains("OOM") {
            WriteFailed::Full
        } else {
            WriteFailed::Unavailable
        };
        tracing::warn!(error = %err, "a session write failed");
        let _ = WRITE_FAILED.try_with(|failed| failed.set(Some(why)));
    }
    result
}

#[async_trait::async_trait]
impl SessionStore for Store {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        noted(self.0.create(record).await)
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        noted(self.0.save(record).await)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.0.load(id).await
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        noted(self.0.delete(id).await)
    }
}

/// Outside the session layer: tower-sessions answers a failed write of the session (at the
/// end of a login, a logout, a saved location) with a bare 500 over the handler's own answer.
/// That is Redis refusing, not a bug: 503, with the reason, as JSON under `/api/` and as a
/// short page elsewhere.
pub async fn answer_failed_writes(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let (failed, res) = WRITE_FAILED
        .scope(Cell::new(None), async {
            let res = next.run(req).await;
            (WRITE_FAILED.with(Cell::get), res)
        })
        .await;
    let Some(why) = failed.filter(|_| res.status() == StatusCode::INTERNAL_SERVER_ERROR) else {
        return res;
    };
    let error = match why {
        WriteFailed::Full => full(),
        WriteFailed::Unavailable => AppError::unavailable(),
    };
    if api {
        let body = serde_json::to_string(&error).unwrap_or_default();
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    } else {
        let body = format!(
            "<!doctype html><meta charset=utf-8><title>Hail: try again soon</title><p>{error}</p><p><a href=\"/\">Back to Hail</a></p>"
        );
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response()
    }
}

/// Redis is full: what a refused write tells the person who made it.
pub fn full() -> AppError {
    AppError::Unavailable {
        message:
            "Hail cannot save anything right now (its data store is full); please try again later"
                .into(),
    }
}

fn store_error(err: tower_sessions::session::Error) -> AppError {
    tracing::warn!(error = %err, "the session store failed");
    if err.to_string().contains("OOM") {
        full()
    } else {
        AppError::unavailable()
    }
}

/// The session of the request being served.
pub async fn current() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>().await.map_err(|err| {
        tracing::error!(error = %err, "no session layer in front of a server function");
        AppError::internal()
    })
}

/// Who is logged in, if anyone. Also rolls the inactivity expiry forward once half of it is
/// used, so an active user stays logged in without a session write on every request.
pub async fn identity(session: &Session) -> Result<Option<Identity>, AppError> {
    let identity = session
        .get::<Identity>(IDENTITY)
        .await
        .map_err(store_error)?;
    if identity.is_some() {
        renew_if_half_used(session).await?;
    }
    Ok(identity)
}

pub async fn require_identity(session: &Session) -> Result<Identity, AppError> {
    identity(session).await?.ok_or_else(AppError::not_logged_in)
}

/// tower-sessions extends an inactivity expiry only when it saves; saving on every request would
/// write to Redis on every request. So a session is saved (and its expiry and cookie renewed)
/// once half of its idle window has passed since the last renewal.
async fn renew_if_half_used(session: &Session) -> Result<(), AppError> {
    if renewal_due(session).await? {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        session.insert(RENEWED_AT, now).await.map_err(store_error)?;
    }
    Ok(())
}

/// Whether half of the session's idle window has passed since it was last renewed (by any
/// instance): only then is a renewal worth a write.
pub async fn renewal_due(session: &Session) -> Result<bool, AppError> {
    let Some(Expiry::OnInactivity(idle)) = session.expiry() else {
        return Ok(false);
    };
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let renewed_at = session
        .get::<i64>(RENEWED_AT)
        .await
        .map_err(store_error)?
        .unwrap_or(0);
    Ok(now - renewed_at >= idle.whole_seconds() / 2)
}

/// Logs `identity` in: a new session id (the old one dies, so a planted id is worthless), then
/// the identity. The location saved before logging in is kept.
pub async fn log_in(session: &Session, identity: &Identity) -> Result<(), AppError> {
    session.cycle_id().await.map_err(store_error)?;
    session
        .insert(IDENTITY, identity)
        .await
        .map_err(store_error)?;
    let login: [u8; 16] = rand::random();
    session
        .insert(LOGIN, hex::encode(login))
        .await
        .map_err(store_error)?;
    session
        .insert(RENEWED_AT, OffsetDateTime::now_utc().unix_timestamp())
        .await
        .map_err(store_error)?;
    Ok(())
}

/// Deletes the session from the store; its cookie is removed on the way out.
pub async fn log_out(session: &Session) -> Result<(), AppError> {
    session.flush().await.map_err(store_error)
}

/// The name of this login (see [`LOGIN`]); `None` for sessions logged in before it existed.
pub async fn login_id(session: &Session) -> Result<Option<String>, AppError> {
    session.get(LOGIN).await.map_err(store_error)
}

/// The session `id` as the store holds it now. A WebSocket outlives the request that opened
/// it, so it reads its session afresh to notice a logout or an expiry.
pub fn reopen(store: Arc<Store>, id: Id, idle_secs: u64) -> Session {
    let idle = time::Duration::seconds(idle_secs.min(i64::MAX as u64) as i64);
    Session::new(Some(id), store, Some(Expiry::OnInactivity(idle)))
}

/// Rolls a reopened session's expiry forward: an open socket keeps its session alive while a
/// ride lasts. The store saves only over an existing record, so a session that ended meanwhile
/// stays ended.
pub async fn keep_alive(session: &Session) -> Result<(), AppError> {
    session
        .insert(RENEWED_AT, OffsetDateTime::now_utc().unix_timestamp())
        .await
        .map_err(store_error)?;
    session.save().await.map_err(store_error)
}

/// Who a reopened session belongs to, without renewing it.
pub async fn identity_of(session: &Session) -> Result<Option<Identity>, AppError> {
    session.get(IDENTITY).await.map_err(store_error)
}

pub async fn save_location(session: &Session, at: GeoPoint) -> Result<(), AppError> {
    session.insert(LOCATION, at).await.map_err(store_error)
}

pub async fn location(session: &Session) -> Result<Option<GeoPoint>, AppError> {
    session.get(LOCATION).await.map_err(store_error)
}

/// The user's offset from UTC as their browser last reported it; written only when it changed,
/// so a screen that sends it with every read does not write its session every time.
pub async fn remember_utc_offset(session: &Session, offset: UtcOffset) -> Result<(), AppError> {
    if utc_offset(session).await? != Some(offset) {
        session
            .insert(UTC_OFFSET, offset)
            .await
            .map_err(store_error)?;
    }
    Ok(())
}

pub async fn utc_offset(session: &Session) -> Result<Option<UtcOffset>, AppError> {
    session.get(UTC_OFFSET).await.map_err(store_error)
}

/// Keeps a refused form's error and typed values for the page it redirects back to.
pub async fn set_flash(session: &Session, flash: &Flash) -> Result<(), AppError> {
    session.insert(FLASH, flash).await.map_err(store_error)
}

/// Takes the flash once, saving at once: the page may stream on after the layer has saved.
/// Without a flash the session is left untouched: tower-sessions counts any `remove` as a
/// change, and every page view would then write its session back to Redis (and fail, with a
/// 500, while Redis is full).
pub async fn take_flash(session: &Session) -> Result<Option<Flash>, AppError> {
    let flash = session.get::<Flash>(FLASH).await.map_err(store_error)?;
    if flash.is_some() {
        session.remove::<Flash>(FLASH).await.map_err(store_error)?;
        session.save().await.map_err(store_error)?;
    }
    Ok(flash)
}

/// The logged-in user of the request, if they have `role`: 401 when nobody is logged in,
/// 403 for the other role.
pub async fn require_role(role: crate::domain::Role) -> Result<Identity, AppError> {
    let identity = require_identity(&current().await?).await?;
    identity.require_role(role)?;
    Ok(identity)
}

/// The logged-in user of the request, whatever their role.
pub async fn require_user() -> Result<Identity, AppError> {
    require_identity(&current().await?).await
}
