//! The live endpoint, `GET /ws`: one WebSocket per browser tab, speaking `domain::live`.
//!
//! The upgrade is refused (403) unless the page's Origin is allowed and the request carries a
//! logged-in session, and (429) when the user holds `HAIL_MAX_SOCKETS_PER_USER` sockets already
//! (`server::sockets`). Each socket follows its user's channel (offers, logouts) and the rides it
//! subscribes to, all through the instance's one pub/sub connection (`server::bus`). Every
//! frame is parsed and checked here; a bad one is answered with an `error`, a stream of them
//! closes the socket, and neither disturbs any other socket.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt as _;
use tokio::sync::watch;
use tokio_stream::{StreamExt as _, StreamMap};
use tokio_util::task::TaskTracker;
use tower_sessions::session::Id;
use tower_sessions::Session;
use tracing::Instrument as _;

use super::bus::{BusEvent, Capacity, Subscription};
use super::dispatch::RateCounted;
use super::sockets::Refused;
use super::tracker::{self, Plan, PositionTracker};
use super::{session, AppState};
use crate::domain::cells::Cell;
use crate::domain::live::{close, ClientMessage, LiveError, LiveErrorCode, ServerMessage};
use crate::domain::ride::RideId;
use crate::domain::{AppError, Identity, Role};

/// Frames and messages above this are not even buffered: the connection is dropped. Between
/// `MAX_MESSAGE_BYTES` and this, a message is read only to be answered `too_large`.
const TRANSPORT_LIMIT: usize = 64 * 1024;

/// How each live socket's buffers are sized. tungstenite's defaults (a 128 KiB read buffer,
/// zero-filled on the first read, and 128 KiB of write coalescing) cost more than a hundred
/// kilobytes of resident memory per socket; Hail's messages are a few hundred bytes, so a
/// small read buffer (grown for the rare bigger message, up to `TRANSPORT_LIMIT`) and writes
/// that go out at once keep an idle socket to a few kilobytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketBuffers {
    /// Bytes read from the connection at a time.
    pub read: usize,
    /// Bytes gathered before a write is made (0: every message is written at once).
    pub write: usize,
    /// Bytes a socket may have waiting to be written before a send fails: a client that does
    /// not read is dropped instead of growing the server.
    pub max_write: usize,
    /// The largest frame and message read at all.
    pub max_message: usize,
}

pub const SOCKET_BUFFERS: SocketBuffers = SocketBuffers {
    read: 512,
    write: 0,
    max_write: 4 * TRANSPORT_LIMIT,
    max_message: TRANSPORT_LIMIT,
};

impl SocketBuffers {
    fn apply<F>(self, ws: WebSocketUpgrade<F>) -> WebSocketUpgrade<F> {
        ws.read_buffer_size(self.read)
            .write_buffer_size(self.write)
            .max_write_buffer_size(self.max_write)
            .max_message_size(self.max_message)
            .max_frame_size(self.max_message)
    }
}

/// A socket that cannot take a message within this time is too slow to keep.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a closing socket waits for the client's Close.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// Messages a socket may send per second (and twice that in a burst), unless drivers are
/// allowed more positions than that: then twice their position rate.
const PER_SEC: f64 = 10.0;
/// Refused messages in a row before the socket is closed as abusive.
const MAX_STRIKES: u32 = 20;
/// Rides one socket may follow at once (a user has one ride, plus an offer).
const MAX_RIDES: usize = 4;
/// Events handled in one go; positions among them are thinned to the newest per ride.
const BATCH: usize = 64;
/// The type counted for a message that could not be read (not JSON, binary, unknown type).
const INVALID: &str = "invalid";
/// The type counted for a message dropped unread by the rate limit.
const UNREAD: &str = "unread";

/// What the live sockets of an instance share: the stop signal and the tracker that shutdown
/// waits on (axum does not wait for upgraded connections by itself).
#[derive(Clone)]
pub struct Live {
    pub stop: watch::Receiver<bool>,
    pub sockets: TaskTracker,
    pub session_store: Arc<session::Store>,
}

/// `GET /ws`.
#[tracing::instrument(skip_all)]
pub async fn upgrade(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let origin = text(header::ORIGIN);
    if !origin_allowed(&state.config.allowed_origins, origin, text(header::HOST)) {
        tracing::info!(?origin, "refused a live connection from a foreign origin");
        return refuse("pages from this origin may not open Hail's live connection");
    }
    let identity = match session::identity(&session).await {
        Ok(Some(identity)) => identity,
        Ok(None) => return refuse("log in first: the live connection needs a session"),
        Err(err) => {
            return (StatusCode::SERVICE_UNAVAILABLE, err.message().to_owned()).into_response()
        }
    };
    let Some(session_id) = session.id() else {
        return refuse("log in first: the live connection needs a session");
    };
    let login = session::login_id(&session).await.ok().flatten();
    let slot = match state.sockets.take(&identity.id).await {
        Ok(slot) => slot,
        Err(Refused::TooMany(open)) => {
            tracing::info!(user = %identity.id, open, "refused a live socket over the user's limit");
            let message = format!(
                "you have {open} live connections open, the most one account may have: close \
                 another tab or window of Hail, then reload"
            );
            return (StatusCode::TOO_MANY_REQUESTS, message).into_response();
        }
        Err(Refused::Unavailable(err)) => {
            return (StatusCode::SERVICE_UNAVAILABLE, err.message().to_owned()).into_response()
        }
    };
    let sockets = state.live.sockets.clone();
    // A failed upgrade drops the closure, and with it the slot, which gives the count back.
    SOCKET_BUFFERS
        .apply(ws)
        .on_failed_upgrade(|err| tracing::info!(error = %err, "a live upgrade failed"))
        .on_upgrade(move |socket| {
            slot.hand_over();
            let connection = Connection::new(state, identity, session_id, login);
            sockets.track_future(connection.run(socket))
        })
}

fn refuse(reason: &'static str) -> Response {
    (StatusCode::FORBIDDEN, reason).into_response()
}

/// Browsers always send the page's origin with a WebSocket handshake, and a page on another
/// site must not ride on the user's cookie (cross-site WebSocket hijacking). With no origins
/// configured, only a page from the host the socket is opened on may connect.
pub fn origin_allowed(allowed: &[String], origin: Option<&str>, host: Option<&str>) -> bool {
    let Some(origin) = origin.map(|o| o.trim().to_ascii_lowercase()) else {
        return false;
    };
    if !allowed.is_empty() {
        return allowed.contains(&origin);
    }
    let Some(host) = host.map(|h| h.trim().to_ascii_lowercase()) else {
        return false;
    };
    origin == format!("http://{host}") || origin == format!("https://{host}")
}

/// A per-socket token bucket: a burst, then a steady rate.
#[derive(Debug)]
struct Bucket {
    per_sec: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// The bucket of a socket whose drivers may send `positions_per_sec`.
    fn new(positions_per_sec: u32, now: Instant) -> Self {
        let per_sec = PER_SEC.max(2.0 * f64::from(positions_per_sec));
        Self {
            per_sec,
            burst: 2.0 * per_sec,
            tokens: 2.0 * per_sec,
            at: now,
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * self.per_sec;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Feed {
    /// The user's own channel: offers, and logouts.
    User,
    Ride(RideId),
    /// A map cell's free cars (a rider's `watch`).
    Cell(Cell),
}

/// Why the loop ended, if the server is the one to close.
type Closing = Option<(u16, &'static str)>;

/// How a socket is closed when its instance stops (drain).
const RESTARTING: (u16, &str) = (close::GOING_AWAY, "the server is restarting; reconnect");

struct Connection {
    state: AppState,
    identity: Identity,
    session_id: Id,
    login: Option<String>,
    feeds: StreamMap<Feed, Subscription>,
    bucket: Bucket,
    /// A driver's positions between two checks in Redis: made at the first position, so that
    /// riders' sockets do not carry it.
    tracker: Option<Box<PositionTracker>>,
    /// Positions queued with the publisher since the last check in Redis.
    unflushed: bool,
    strikes: u32,
    last_heard: Instant,
    /// The code of the client's Close frame (1005 when it gave none), once it sent one.
    client_close: Option<u16>,
}

/// The connection cannot go on (the peer is gone or too slow).
struct Gone;

/// However the socket ends, its user holds one socket fewer.
impl Drop for Connection {
    fn drop(&mut self) {
        self.state.sockets.release(&self.identity.id);
    }
}

impl Connection {
    fn new(state: AppState, identity: Identity, session_id: Id, login: Option<String>) -> Self {
        let now = Instant::now();
        let limits = state.dispatch.position_limits();
        Self {
            state,
            identity,
            session_id,
            login,
            // Most sockets follow only their user's channel; a ride adds one.
            feeds: StreamMap::with_capacity(1),
            bucket: Bucket::new(limits.per_window, now),
            tracker: None,
            unflushed: false,
            strikes: 0,
            last_heard: now,
            client_close: None,
        }
    }

    /// Serves the socket until either side closes it.
    ///
    /// Not an `async fn`: one would move its arguments into the body's own locals, so the
    /// connection and the socket would be stored twice in every socket's task (and three
    /// times under `#[tracing::instrument]`, which wraps the body in a second future). Here
    /// the block uses them where they were captured.
    fn run(mut self, mut socket: WebSocket) -> impl Future<Output = ()> + Send {
        let span = tracing::info_span!("live", user = %self.identity.id);
        async move {
            let ping_every = Duration::from_secs(self.state.config.ws_ping_secs.max(1));
            let user_channel = self.state.keys.user_channel(&self.identity.id);
            let user_feed = self.state.bus.subscribe(user_channel, Capacity::User).await;
            self.feeds.insert(Feed::User, user_feed);
            self.state.metrics.sockets_opened.inc();
            self.state.metrics.sockets_open.inc();
            let welcome = ServerMessage::Welcome {
                user_id: self.identity.id.clone(),
                role: self.identity.role,
                ping_secs: ping_every.as_secs(),
            };
            if self.say(&mut socket, welcome).await.is_err() {
                self.state.metrics.socket_closed(close::ABNORMAL);
                return;
            }
            tracing::debug!("live socket open");
            let mut ping =
                tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
            ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // One wait for the stop signal for the socket's whole life: made inside the loop, it
            // would join and leave the signal's list of waiters (a lock each way) on every message.
            let mut stop = self.state.live.stop.clone();
            let stopping = async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            };
            tokio::pin!(stopping);
            let closing: Result<Closing, Gone> = loop {
                // Also checked here: a socket whose client never stops sending would otherwise
                // never reach the stop branch below.
                if *self.state.live.stop.borrow() {
                    break Ok(Some(RESTARTING));
                }
                // The handlers' futures are boxed: they hold Redis and session futures, and inline
                // they would sit in every idle socket's task for its whole life; boxed, they take
                // memory only while a message is being handled. `biased`: the branches are polled
                // in this order, the busy ones first, instead of in a random one (a stop is
                // seen at the latest when the socket's current message is handled).
                tokio::select! {
                    biased;
                    frame = socket.recv() => {
                        let Some(Ok(frame)) = frame else { break Ok(None) };
                        self.last_heard = Instant::now();
                        match Box::pin(self.on_frame(&mut socket, frame)).await {
                            Ok(None) => {}
                            other => break other,
                        }
                    }
                    Some(first) = self.feeds.next() => {
                        match Box::pin(self.on_events(&mut socket, first)).await {
                            Ok(None) => {}
                            other => break other,
                        }
                    }
                    _ = ping.tick() => {
                        match Box::pin(self.on_tick(&mut socket, ping_every)).await {
                            Ok(None) => {}
                            other => break other,
                        }
                    }
                    _ = &mut stopping => {
                        break Ok(Some(RESTARTING));
                    }
                }
            };
            if let Ok(Some((code, reason))) = closing {
                let frame = CloseFrame {
                    code,
                    reason: Utf8Bytes::from_static(reason),
                };
                let _ =
                    tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Close(Some(frame))))
                        .await;
                // The closing handshake: read (and drop) what the client still sends until its own
                // Close. Dropping a socket with unread data makes the kernel answer with a reset,
                // and the client would lose the close frame and its reason.
                let _ = tokio::time::timeout(CLOSE_WAIT, async {
                    while let Some(Ok(frame)) = socket.recv().await {
                        if matches!(frame, Message::Close(_)) {
                            break;
                        }
                    }
                })
                .await;
                tracing::debug!(code, reason, "live socket closed by the server");
                self.state.metrics.socket_closed(code);
            } else {
                tracing::debug!("live socket closed by the client");
                let code = self.client_close.unwrap_or(close::ABNORMAL);
                self.state.metrics.socket_closed(code);
            }
        }
        .instrument(span)
    }

    async fn on_frame(&mut self, socket: &mut WebSocket, frame: Message) -> Result<Closing, Gone> {
        match frame {
            Message::Text(text) => self.on_text(socket, text.as_str()).await,
            Message::Binary(_) => {
                self.state.metrics.received(INVALID);
                let err = LiveError::new(
                    LiveErrorCode::BadMessage,
                    "send JSON text frames, not binary ones",
                );
                self.refuse(socket, err).await
            }
            // Pongs are answered by the library; any frame counts as a sign of life.
            Message::Ping(_) | Message::Pong(_) => Ok(None),
            Message::Close(frame) => {
                self.client_close = Some(frame.map_or(close::NO_CODE, |f| f.code));
                Ok(None)
            }
        }
    }

    async fn on_text(&mut self, socket: &mut WebSocket, text: &str) -> Result<Closing, Gone> {
        if !self.bucket.take(Instant::now()) {
            self.state.metrics.received(UNREAD);
            let err = LiveError::new(
                LiveErrorCode::RateLimited,
                format!(
                    "too many messages: at most {} a second; this one was dropped",
                    self.bucket.per_sec
                ),
            );
            return self.refuse(socket, err).await;
        }
        let message = match ClientMessage::parse(text) {
            Ok(message) => message,
            Err(err) => {
                self.state.metrics.received(INVALID);
                return self.refuse(socket, err).await;
            }
        };
        self.state.metrics.received(message.kind());
        match message {
            ClientMessage::Subscribe { ride_id } => self.subscribe(socket, ride_id).await,
            ClientMessage::Watch { cells } => self.watch(socket, cells).await,
            ClientMessage::Unsubscribe { ride_id } => {
                self.feeds.remove(&Feed::Ride(ride_id.clone()));
                self.strikes = 0;
                self.say(socket, ServerMessage::Unsubscribed { ride_id })
                    .await?;
                Ok(None)
            }
            ClientMessage::Position { at } => {
                if self.identity.role != Role::Driver {
                    let err =
                        LiveError::new(LiveErrorCode::Forbidden, "only drivers send positions");
                    return self.refuse(socket, err).await;
                }
                self.strikes = 0;
                match self.position(at).await {
                    Ok(()) => Ok(None),
                    // Honest mistakes (offline, a GPS jump) are answered but not held against
                    // the socket; a flood is.
                    Err(err) if err.code == LiveErrorCode::RateLimited => {
                        self.refuse(socket, err).await
                    }
                    Err(err) => {
                        self.answer_error(socket, err).await?;
                        Ok(None)
                    }
                }
            }
        }
    }

    /// A driver's position: checked here, and in Redis at most once a second (see
    /// `server::tracker`); published to the driver's ride, if they have one, through the
    /// instance's publisher (`server::publisher`) without waiting for Redis.
    async fn position(&mut self, at: crate::domain::GeoPoint) -> Result<(), LiveError> {
        let (now, wall_ms) = (Instant::now(), tracker::wall_ms());
        let limits = self.state.dispatch.position_limits();
        let tracker = self.tracker.get_or_insert_with(|| {
            let key = self.state.dispatch.driver_key(&self.identity.id);
            Box::new(PositionTracker::new(limits, key.into(), now))
        });
        match tracker.plan(at, now, wall_ms) {
            Plan::Refuse(err) => Err(err),
            Plan::Keep => Ok(()),
            Plan::Publish {
                channel,
                json,
                store,
            } => {
                self.state.publisher.publish(channel, json, store)?;
                self.unflushed = true;
                Ok(())
            }
            Plan::Check => {
                // The check may publish this position itself: the ones queued before it go
                // first.
                if std::mem::take(&mut self.unflushed) {
                    self.state.publisher.flushed().await;
                }
                self.check(at, now, wall_ms).await
            }
        }
    }

    /// What Redis said may have changed: the next position takes the full check.
    fn forget_positions(&mut self) {
        if let Some(tracker) = self.tracker.as_mut() {
            tracker.forget();
        }
    }

    /// The full check in Redis; what it says is remembered until it may have changed.
    async fn check(
        &mut self,
        at: crate::domain::GeoPoint,
        now: Instant,
        wall_ms: u64,
    ) -> Result<(), LiveError> {
        let (dispatch, keys) = (&self.state.dispatch, &self.state.keys);
        match dispatch
            .position_checked(&self.identity, at, RateCounted::ByCaller)
            .await
        {
            Ok(receipt) => {
                if let Some(tracker) = self.tracker.as_mut() {
                    tracker.checked(at, now, wall_ms, receipt, |ride| keys.ride_channel(ride));
                }
                Ok(())
            }
            Err(err) => {
                self.forget_positions();
                Err(err)
            }
        }
    }

    /// Follows a ride the user may see, answering with its snapshot. The bus subscription comes
    /// first: the snapshot read after it is never older than the first event that follows.
    async fn subscribe(
        &mut self,
        socket: &mut WebSocket,
        ride_id: RideId,
    ) -> Result<Closing, Gone> {
        let feed = Feed::Ride(ride_id.clone());
        let rides = self
            .feeds
            .keys()
            .filter(|f| matches!(f, Feed::Ride(_)))
            .count();
        if !self.feeds.contains_key(&feed) && rides >= MAX_RIDES {
            let err = LiveError::new(
                LiveErrorCode::BadMessage,
                format!("follow at most {MAX_RIDES} rides at once; unsubscribe from one first"),
            );
            return self.refuse(socket, err).await;
        }
        let channel = self.state.keys.ride_channel(&ride_id);
        let subscription = self.state.bus.subscribe(channel, Capacity::Ride).await;
        match self.state.dispatch.view(&ride_id, &self.identity).await {
            Ok(ride) => {
                self.feeds.insert(feed, subscription);
                self.strikes = 0;
                let snapshot = ServerMessage::Snapshot {
                    ride: Box::new(ride),
                };
                self.say(socket, snapshot).await?;
                Ok(None)
            }
            Err(AppError::NotFound { .. }) => {
                let err = LiveError::new(
                    LiveErrorCode::Forbidden,
                    "you can follow only your own ride, or a ride offered to you",
                );
                self.refuse(socket, err).await
            }
            Err(err) => {
                self.answer_error(socket, err.into()).await?;
                Ok(None)
            }
        }
    }

    /// Follows the free cars of `cells` instead of the cells watched before (riders only).
    async fn watch(&mut self, socket: &mut WebSocket, cells: Vec<Cell>) -> Result<Closing, Gone> {
        if self.identity.role != Role::Rider {
            let err = LiveError::new(
                LiveErrorCode::Forbidden,
                "only riders watch the free cars on the map",
            );
            return self.refuse(socket, err).await;
        }
        let dropped: Vec<Feed> = self
            .feeds
            .keys()
            .filter(|f| matches!(f, Feed::Cell(c) if !cells.contains(c)))
            .cloned()
            .collect();
        for feed in &dropped {
            self.feeds.remove(feed);
        }
        for &cell in &cells {
            let feed = Feed::Cell(cell);
            if !self.feeds.contains_key(&feed) {
                let channel = self.state.keys.cell_channel(cell);
                let subscription = self.state.bus.subscribe(channel, Capacity::Cell).await;
                self.feeds.insert(feed, subscription);
            }
        }
        self.strikes = 0;
        self.say(socket, ServerMessage::Watching { cells }).await?;
        Ok(None)
    }

    /// Answers a refused message; a run of them closes the socket.
    async fn refuse(&mut self, socket: &mut WebSocket, err: LiveError) -> Result<Closing, Gone> {
        self.strikes += 1;
        self.answer_error(socket, err).await?;
        if self.strikes >= MAX_STRIKES {
            tracing::info!(strikes = self.strikes, "closing an abusive live socket");
            return Ok(Some((close::POLICY, "too many refused messages")));
        }
        Ok(None)
    }

    /// Handles the events that are ready, newest position per ride only: a client that fell
    /// behind skips to where the car is now.
    async fn on_events(
        &mut self,
        socket: &mut WebSocket,
        first: (
            Feed,
            Result<Arc<BusEvent>, tokio_stream::wrappers::errors::BroadcastStreamRecvError>,
        ),
    ) -> Result<Closing, Gone> {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match self.feeds.next().now_or_never() {
                Some(Some(event)) => batch.push(event),
                _ => break,
            }
        }
        // Which events to skip: older positions of a ride with a newer one in the batch. Most
        // wake-ups carry one event, and then there is nothing to thin (nor to allocate).
        let mut skip = Vec::new();
        if batch.len() > 1 {
            let mut latest_position = HashSet::new();
            skip = vec![false; batch.len()];
            for (i, (_, event)) in batch.iter().enumerate().rev() {
                if let Ok(event) = event {
                    if let BusEvent::Forward {
                        message: ServerMessage::Position { ride_id, .. },
                        ..
                    } = &**event
                    {
                        skip[i] = !latest_position.insert(ride_id);
                    }
                }
            }
        }
        let mut resync_sent = false;
        for (i, (feed, event)) in batch.into_iter().enumerate() {
            if skip.get(i).copied().unwrap_or(false) {
                continue;
            }
            let event = match event {
                Ok(event) => event,
                // A map cell's cars all come again within a second: skip to the newest.
                Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(_))
                    if matches!(feed, Feed::Cell(_)) =>
                {
                    continue
                }
                Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(missed)) => {
                    tracing::info!(?feed, missed, "a slow live socket skipped events");
                    self.state.metrics.sockets_lagged.inc();
                    // What it missed may have changed the driver's ride.
                    self.forget_positions();
                    if !resync_sent {
                        resync_sent = true;
                        let reason = "this connection fell behind; reload the ride".into();
                        self.resync(socket, reason).await?;
                    }
                    continue;
                }
            };
            match &*event {
                BusEvent::Resync => {
                    self.forget_positions();
                    if !resync_sent {
                        resync_sent = true;
                        let reason = "the server lost its connection to Redis for a moment".into();
                        self.resync(socket, reason).await?;
                    }
                }
                BusEvent::LoggedOut { login } => {
                    if self.login.as_deref() == Some(login.as_str()) {
                        return Ok(Some((close::SESSION_ENDED, "you logged out")));
                    }
                }
                BusEvent::DriverChanged => self.forget_positions(),
                BusEvent::Forward { message, json } => {
                    match message {
                        // A driver knows where they are; only the rider is sent the car.
                        ServerMessage::Position { .. } if self.identity.role == Role::Driver => {
                            continue
                        }
                        // A withdrawn offer's ride is no longer this driver's business.
                        ServerMessage::OfferWithdrawn { ride_id } => {
                            self.feeds.remove(&Feed::Ride(ride_id.clone()));
                        }
                        _ => {}
                    }
                    self.send(socket, message.kind(), json.clone()).await?;
                }
            }
        }
        Ok(None)
    }

    /// Every ping interval: is the peer still there, is the session still valid, and, once half
    /// of its idle window has passed, should a ride under way keep it alive?
    async fn on_tick(&mut self, socket: &mut WebSocket, every: Duration) -> Result<Closing, Gone> {
        if self.last_heard.elapsed() > every * 3 {
            return Ok(Some((close::GOING_AWAY, "no answer to pings")));
        }
        tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Ping(Default::default())))
            .await
            .map_err(|_| Gone)?
            .map_err(|_| Gone)?;
        let session = session::reopen(
            self.state.live.session_store.clone(),
            self.session_id,
            self.state.config.session_idle_secs,
        );
        match session::identity_of(&session).await {
            Ok(Some(_)) => {
                // The ride is looked up only when a renewal is due (once per half idle window,
                // not on every ping of every socket): the session record was just read, so
                // asking costs nothing, while the ride costs two more Redis round trips.
                if session::renewal_due(&session).await.unwrap_or(false)
                    && self.ride_under_way().await
                {
                    if let Err(err) = session::keep_alive(&session).await {
                        tracing::warn!(error = %err, "could not keep a riding session alive");
                    }
                }
                Ok(None)
            }
            Ok(None) => Ok(Some((
                close::SESSION_ENDED,
                "your session ended; log in again",
            ))),
            // Redis is away: the bus will tell the client to resync once it is back.
            Err(_) => Ok(None),
        }
    }

    /// Sends a message, counting it by type.
    async fn say(&self, socket: &mut WebSocket, message: ServerMessage) -> Result<(), Gone> {
        self.send(socket, message.kind(), message.to_json()).await
    }

    async fn send(
        &self,
        socket: &mut WebSocket,
        kind: &'static str,
        json: impl Into<Utf8Bytes>,
    ) -> Result<(), Gone> {
        send(socket, json).await?;
        self.state.metrics.sent(kind);
        Ok(())
    }

    /// Answers a message that could not be done, counting it by its error code.
    async fn answer_error(&self, socket: &mut WebSocket, err: LiveError) -> Result<(), Gone> {
        self.state.metrics.refused(err.code.as_str());
        self.say(socket, ServerMessage::error(err)).await
    }

    async fn resync(&self, socket: &mut WebSocket, reason: String) -> Result<(), Gone> {
        self.say(socket, ServerMessage::Resync { reason }).await?;
        self.state.metrics.resyncs_sent.inc();
        Ok(())
    }

    async fn ride_under_way(&self) -> bool {
        match self.state.dispatch.current(&self.identity).await {
            Ok(Some(ride)) => !ride.status.is_final(),
            _ => false,
        }
    }
}

async fn send(socket: &mut WebSocket, json: impl Into<Utf8Bytes>) -> Result<(), Gone> {
    match tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(json.into()))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Gone),
        Err(_) => {
            tracing::info!("a live socket took too long to take a message; dropping it");
            Err(Gone)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_configured_origins_only_the_same_host_may_connect() {
        let host = Some("hail.example:8080");
        assert!(origin_allowed(&[], Some("http://hail.example:8080"), host));
        assert!(origin_allowed(&[], Some("https://HAIL.example:8080"), host));
        assert!(!origin_allowed(&[], Some("http://evil.example"), host));
        assert!(!origin_allowed(&[], Some("http://hail.example"), host));
        assert!(!origin_allowed(&[], None, host));
        assert!(!origin_allowed(&[], Some("http://hail.example:8080"), None));
    }

    #[test]
    fn configured_origins_are_the_only_ones_allowed() {
        let allowed = ["https://hail.example".to_owned()];
        assert!(origin_allowed(
            &allowed,
            Some("https://hail.example"),
            Some("10.0.0.5:3000")
        ));
        assert!(!origin_allowed(
            &allowed,
            Some("http://10.0.0.5:3000"),
            Some("10.0.0.5:3000")
        ));
        assert!(!origin_allowed(
            &allowed,
            Some("null"),
            Some("10.0.0.5:3000")
        ));
    }

    #[test]
    fn socket_buffers_are_small_but_hold_every_message_hail_reads() {
        let b = SOCKET_BUFFERS;
        // Small: an idle socket must cost a few kilobytes, not tungstenite's 128 KiB.
        assert!(b.read <= 512, "read buffer {}", b.read);
        assert_eq!(b.write, 0, "messages are written at once, not gathered");
        // Yet a client's every ordinary message fits one read...
        let position = r#"{"type":"position","lat":-33.868820123456,"lng":151.209296123456}"#;
        let subscribe = r#"{"type":"subscribe","ride_id":"0123456789abcdef0123456789abcdef"}"#;
        assert!(position.len() + 14 <= b.read && subscribe.len() + 14 <= b.read);
        // ...a too-large message is still read whole, to be answered `too_large`...
        assert!(b.max_message > crate::domain::live::MAX_MESSAGE_BYTES);
        // ...and a reply of the largest size can always be queued for a slow reader, while
        // a reader that stops reading altogether is bounded.
        assert!(b.max_write > b.write + b.max_message);
        assert!(b.max_write <= 256 * 1024);
    }

    #[test]
    fn the_bucket_allows_a_burst_then_a_steady_rate() {
        let start = Instant::now();
        let mut bucket = Bucket::new(5, start);
        let burst = (0..100).take_while(|_| bucket.take(start)).count();
        assert_eq!(burst, 20);
        assert!(!bucket.take(start));
        assert!(bucket.take(start + Duration::from_millis(100)));
        assert!(!bucket.take(start + Duration::from_millis(100)));
    }

    #[test]
    fn drivers_allowed_more_positions_get_room_for_them_and_for_other_messages() {
        let start = Instant::now();
        let mut bucket = Bucket::new(15, start);
        assert_eq!(bucket.per_sec, 30.0);
        let burst = (0..100).take_while(|_| bucket.take(start)).count();
        assert_eq!(burst, 60);
    }
}
