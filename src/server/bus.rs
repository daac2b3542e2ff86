//! The instance's one Redis pub/sub connection, shared by all of its WebSockets.
//!
//! A socket asks for a channel (`hail:ride:<id>`, `hail:user:<id>`) and gets a [`Subscription`]:
//! a receiver on that channel's local `broadcast`. The first subscriber of a channel makes the
//! bus SUBSCRIBE in Redis; when the last one drops its subscription the bus UNSUBSCRIBEs. So
//! Redis sees one subscription per channel per instance, never one per socket, and an instance
//! only hears about rides its own clients follow.
//!
//! When the connection is lost (Redis restarted, the network dropped) the bus reconnects with
//! backoff, subscribes again to every channel still wanted, and sends every subscriber a
//! [`BusEvent::Resync`]: anything published meanwhile was missed.
//!
//! On a Redis Cluster the channels are sharded (SSUBSCRIBE, over one RESP3 cluster connection,
//! which opens one connection per shard node it needs) and the bus owns its subscriptions, as
//! no client library keeps them alive across a slot move or a failover: a `sunsubscribe` push
//! for a channel still wanted (its slot moved) subscribes that channel again, with backoff, and
//! resyncs its sockets; and once a second the bus publishes a probe on a channel of its own in
//! the region's slot and expects to hear it back, so a subscription gone deaf (a failover, a
//! lost node) is noticed within about two seconds and the whole connection is made again.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use futures_util::{Stream, StreamExt as _};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use redis::aio::PubSubSink;
use redis::cluster_async::ClusterConnection;
use redis::{PushInfo, PushKind};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

use super::keys::hash_tag;
use crate::domain::live::ServerMessage;

/// Events a channel may hold before a slow socket starts to lag (and is told to resync). Each
/// slot costs memory for as long as the channel is followed, and every logged-in socket follows
/// its user's channel, which carries little (offers, logouts): so it is kept small.
#[derive(Debug, Clone, Copy)]
pub enum Capacity {
    /// A user's channel: offers, withdrawals, logouts, driver changes.
    User = 8,
    /// A ride's channel: status changes and positions (several a second).
    Ride = 32,
    /// A map cell's channel: its free cars, each once a second. A socket that falls behind
    /// skips to the newest (the next second brings every car again).
    Cell = 64,
}
/// A SUBSCRIBE that takes longer than this is given up on; the reconnect loop will retry it.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(2);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// On a cluster: how often the bus checks that it still hears its own region's slot, and how
/// long it waits for its probe to come back.
const PROBE_EVERY: Duration = Duration::from_secs(1);
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Channels per SSUBSCRIBE when subscribing again: one command must stay within one slot.
const SUBSCRIBE_CHUNK: usize = 256;
/// How often the idle connection is checked: a peer that vanished without closing the TCP
/// connection (a network partition) is noticed within this plus `SUBSCRIBE_TIMEOUT`.
const HEALTH_EVERY: Duration = Duration::from_secs(15);

/// What a subscriber receives.
#[derive(Debug, Clone)]
pub enum BusEvent {
    /// A message for clients, with its JSON frame made once: every socket sends the same
    /// shared bytes (cloning `Utf8Bytes` copies no text).
    Forward {
        message: ServerMessage,
        json: Utf8Bytes,
    },
    /// A login ended (logout): the sockets opened with it close.
    LoggedOut { login: String },
    /// A driver's ride or presence changed: their sockets check the next position in Redis.
    DriverChanged,
    /// Messages may have been lost while Redis was away.
    Resync,
}

/// What Hail publishes that is not for clients: it travels on the same channels.
#[derive(Debug, serde::Deserialize, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Internal {
    LoggedOut { login: String },
    DriverChanged,
}

/// The text to publish on a user's channel when one of their logins ends.
pub fn logged_out_payload(login: &str) -> String {
    serde_json::to_string(&Internal::LoggedOut {
        login: login.to_owned(),
    })
    .expect("a logout event always serializes")
}

impl BusEvent {
    /// Parses what arrived on a channel. Only the kinds Hail publishes are let through: the
    /// payload comes from Redis, and Redis is shared with whatever else can reach it.
    fn parse(payload: &str) -> Option<Self> {
        if let Ok(message) = ServerMessage::parse(payload) {
            return match message {
                ServerMessage::Status { .. }
                | ServerMessage::Position { .. }
                | ServerMessage::Offer { .. }
                | ServerMessage::OfferWithdrawn { .. }
                | ServerMessage::Nearby { .. }
                | ServerMessage::NearbyGone { .. } => Some(Self::Forward {
                    json: message.to_json().into(),
                    message,
                }),
                _ => None,
            };
        }
        match serde_json::from_str::<Internal>(payload) {
            Ok(Internal::LoggedOut { login }) => Some(Self::LoggedOut { login }),
            Ok(Internal::DriverChanged) => Some(Self::DriverChanged),
            Err(_) => None,
        }
    }
}

struct Channel {
    sender: broadcast::Sender<Arc<BusEvent>>,
    subscribers: usize,
}

#[derive(Default)]
struct Channels {
    wanted: HashMap<String, Channel>,
}

enum Command {
    /// Make sure Redis delivers this channel (if it is still wanted), then answer.
    Subscribe(String, oneshot::Sender<()>),
    /// Stop Redis delivering this channel (if it is no longer wanted).
    Unsubscribe(String),
}

/// What the bus reports to `/metrics`.
#[derive(Clone, Default)]
pub struct BusMetrics {
    /// Channels Redis delivers to this instance now (0 while disconnected).
    pub channels: Gauge,
    /// Times the connection was lost and made again.
    pub reconnects: Counter,
}

/// Where the bus listens.
pub enum Source {
    /// One node: SUBSCRIBE over a pub/sub connection of its own.
    Node(redis::Client),
    /// A cluster: SSUBSCRIBE over one RESP3 cluster connection. `probe` is a channel of this
    /// instance's own in the region's slot (see the module's documentation).
    Cluster { nodes: Vec<String>, probe: String },
}

/// A handle on the bus; cheap to clone.
#[derive(Clone)]
pub struct Bus {
    channels: Arc<Mutex<Channels>>,
    commands: mpsc::UnboundedSender<Command>,
    connected: watch::Receiver<bool>,
}

/// One socket's interest in one channel: a stream of its events. Dropping it releases the
/// channel. The stream yields `Err(Lagged(n))` when this socket fell `n` events behind.
pub struct Subscription {
    events: BroadcastStream<Arc<BusEvent>>,
    _guard: Guard,
}

struct Guard {
    channel: String,
    bus: Bus,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.bus.release(&self.channel);
    }
}

impl Stream for Subscription {
    type Item = Result<Arc<BusEvent>, BroadcastStreamRecvError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::pin::Pin::new(&mut self.events).poll_next(cx)
    }
}

impl Bus {
    /// Starts the bus's task; it runs until `stop` turns true.
    pub fn start(
        source: Source,
        metrics: BusMetrics,
        stop: watch::Receiver<bool>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (connected_tx, connected) = watch::channel(false);
        let bus = Self {
            channels: Arc::default(),
            commands,
            connected,
        };
        let link = Link {
            bus: bus.clone(),
            metrics,
            commands: command_rx,
            connected: connected_tx,
            stop,
        };
        let task = match source {
            Source::Node(client) => tokio::spawn(run_node(link, client)),
            Source::Cluster { nodes, probe } => tokio::spawn(run_cluster(link, nodes, probe)),
        };
        (bus, task)
    }

    /// Subscribes to `channel`. Returns once Redis confirmed the subscription (or, while Redis
    /// is away, at once: the reconnect will subscribe and send a resync), so a state read after
    /// this call is never older than the first event received.
    pub async fn subscribe(&self, channel: String, capacity: Capacity) -> Subscription {
        let (receiver, first) = {
            let mut channels = self.lock();
            let entry = channels
                .wanted
                .entry(channel.clone())
                .or_insert_with(|| Channel {
                    sender: broadcast::channel(capacity as usize).0,
                    subscribers: 0,
                });
            entry.subscribers += 1;
            (entry.sender.subscribe(), entry.subscribers == 1)
        };
        let subscription = Subscription {
            events: BroadcastStream::new(receiver),
            _guard: Guard {
                channel: channel.clone(),
                bus: self.clone(),
            },
        };
        if first {
            let (done, confirmed) = oneshot::channel();
            if self
                .commands
                .send(Command::Subscribe(channel, done))
                .is_ok()
            {
                let _ = tokio::time::timeout(SUBSCRIBE_TIMEOUT, confirmed).await;
            }
        }
        subscription
    }

    /// Whether the pub/sub connection is up.
    pub fn is_connected(&self) -> bool {
        *self.connected.borrow()
    }

    /// Channels with at least one local subscriber.
    pub fn channel_count(&self) -> usize {
        self.lock().wanted.len()
    }

    fn release(&self, channel: &str) {
        let mut channels = self.lock();
        let Some(entry) = channels.wanted.get_mut(channel) else {
            return;
        };
        entry.subscribers = entry.subscribers.saturating_sub(1);
        if entry.subscribers == 0 {
            channels.wanted.remove(channel);
            let _ = self.commands.send(Command::Unsubscribe(channel.to_owned()));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Channels> {
        // A panic while holding this lock cannot leave the map half-changed (each change is one
        // insert or remove), so a poisoned lock is still usable.
        self.channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn wanted(&self) -> Vec<String> {
        self.lock().wanted.keys().cloned().collect()
    }

    fn wants(&self, channel: &str) -> bool {
        self.lock().wanted.contains_key(channel)
    }

    /// Hands what arrived on `channel` to its subscribers, if Hail published it.
    fn receive(&self, channel: &str, payload: &str) {
        match BusEvent::parse(payload) {
            Some(event) => self.deliver(channel, event),
            None => tracing::warn!(%channel, "ignored an unknown pub/sub message"),
        }
    }

    fn deliver(&self, channel: &str, event: BusEvent) {
        let sender = self.lock().wanted.get(channel).map(|c| c.sender.clone());
        if let Some(sender) = sender {
            // No receiver left means the last socket is just going: nothing to do.
            let _ = sender.send(Arc::new(event));
        }
    }

    fn resync_all(&self) {
        let senders: Vec<_> = self
            .lock()
            .wanted
            .values()
            .map(|c| c.sender.clone())
            .collect();
        let event = Arc::new(BusEvent::Resync);
        for sender in senders {
            let _ = sender.send(event.clone());
        }
    }
}

/// What the bus's task works with, whichever Redis it listens to.
struct Link {
    bus: Bus,
    metrics: BusMetrics,
    commands: mpsc::UnboundedReceiver<Command>,
    connected: watch::Sender<bool>,
    stop: watch::Receiver<bool>,
}

impl Link {
    /// Waits for `connecting`, answering subscribe requests at once meanwhile (the channels
    /// are wanted already and will be subscribed as soon as the connection is up). None: stop.
    async fn connect<T>(&mut self, connecting: impl Future<Output = T>) -> Option<T> {
        tokio::pin!(connecting);
        loop {
            tokio::select! {
                result = &mut connecting => return Some(result),
                Some(command) = self.commands.recv() => {
                    if let Command::Subscribe(_, done) = command { let _ = done.send(()); }
                }
                _ = self.stop.changed() => return None,
            }
        }
    }

    /// Sleeps for `backoff` (then doubles it) unless stopped (then false). Subscribe requests
    /// are answered meanwhile.
    async fn back_off(&mut self, backoff: &mut Duration) -> bool {
        let delay = *backoff;
        *backoff = (*backoff * 2).min(MAX_BACKOFF);
        self.connect(tokio::time::sleep(delay)).await.is_some()
    }

    /// The connection is up with every wanted channel subscribed.
    fn up(&self, channels: usize, lost_before: bool) {
        let _ = self.connected.send(true);
        self.metrics.channels.set(channels as i64);
        if lost_before {
            self.metrics.reconnects.inc();
            tracing::info!(channels, "pub/sub reconnected; clients told to resync");
            self.bus.resync_all();
        }
    }

    fn down(&self) {
        let _ = self.connected.send(false);
        self.metrics.channels.set(0);
        tracing::warn!("pub/sub connection lost; reconnecting");
    }
}

/// The bus's task on one node: connect, subscribe to what is wanted, deliver; on loss, start
/// again.
async fn run_node(mut link: Link, client: redis::Client) {
    let mut backoff = FIRST_BACKOFF;
    let mut lost_before = false;
    loop {
        let Some(pubsub) = link.connect(client.get_async_pubsub()).await else {
            return;
        };
        let (mut sink, mut stream) = match pubsub {
            Ok(pubsub) => pubsub.split(),
            Err(err) => {
                tracing::warn!(error = %err, retry_in_ms = backoff.as_millis() as u64, "pub/sub cannot reach Redis");
                if !link.back_off(&mut backoff).await {
                    return;
                }
                continue;
            }
        };
        let wanted = link.bus.wanted();
        if !wanted.is_empty() {
            if let Err(err) = sink.subscribe(&wanted).await {
                tracing::warn!(error = %err, "pub/sub could not subscribe again; reconnecting");
                if !link.back_off(&mut backoff).await {
                    return;
                }
                continue;
            }
        }
        backoff = FIRST_BACKOFF;
        link.up(wanted.len(), lost_before);
        let mut health =
            tokio::time::interval_at(tokio::time::Instant::now() + HEALTH_EVERY, HEALTH_EVERY);
        loop {
            tokio::select! {
                _ = health.tick() => {
                    let ping = tokio::time::timeout(SUBSCRIBE_TIMEOUT, sink.ping::<redis::Value>()).await;
                    if !matches!(ping, Ok(Ok(_))) {
                        tracing::warn!("pub/sub connection does not answer PING; reconnecting");
                        break;
                    }
                }
                message = stream.next() => {
                    let Some(message) = message else { break };
                    let channel = message.get_channel_name();
                    match message.get_payload::<String>() {
                        Ok(payload) => link.bus.receive(channel, &payload),
                        Err(err) => tracing::warn!(%channel, error = %err, "unreadable pub/sub payload"),
                    }
                }
                Some(command) = link.commands.recv() => {
                    if let Err(err) = apply(&link.bus, &mut NodeSink(&mut sink), command).await {
                        tracing::warn!(error = %err, "pub/sub command failed; reconnecting");
                        break;
                    }
                    link.metrics.channels.set(link.bus.channel_count() as i64);
                }
                _ = link.stop.changed() => return,
            }
        }
        link.down();
        lost_before = true;
    }
}

/// The bus's task on a cluster (see the module's documentation).
async fn run_cluster(mut link: Link, nodes: Vec<String>, probe: String) {
    let mut backoff = FIRST_BACKOFF;
    let mut lost_before = false;
    loop {
        let (pushes_tx, mut pushes) = mpsc::unbounded_channel::<PushInfo>();
        let Some(connection) = link.connect(connect_cluster(&nodes, pushes_tx)).await else {
            return;
        };
        let mut connection = match connection {
            Ok(connection) => connection,
            Err(err) => {
                tracing::warn!(error = %err, retry_in_ms = backoff.as_millis() as u64, "pub/sub cannot reach the Redis cluster");
                if !link.back_off(&mut backoff).await {
                    return;
                }
                continue;
            }
        };
        let mut wanted = link.bus.wanted();
        wanted.push(probe.clone());
        if let Err(err) = ssubscribe_all(&mut connection, &wanted).await {
            tracing::warn!(error = %err, "pub/sub could not subscribe on the cluster; reconnecting");
            if !link.back_off(&mut backoff).await {
                return;
            }
            continue;
        }
        backoff = FIRST_BACKOFF;
        link.up(wanted.len() - 1, lost_before);
        let mut probes = Probes::new(probe.clone());
        // Channels whose slot moved away, to subscribe again where it went.
        let mut moved: Vec<String> = Vec::new();
        let mut moved_backoff = FIRST_BACKOFF;
        let retry_moved = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(retry_moved);
        loop {
            tokio::select! {
                biased;
                Some(push) = pushes.recv() => match push.kind {
                    PushKind::SMessage | PushKind::Message => {
                        let [channel, payload] = <[redis::Value; 2]>::try_from(push.data).unwrap_or_default();
                        let (Ok(channel), Ok(payload)) = (
                            redis::from_redis_value::<String>(channel),
                            redis::from_redis_value::<String>(payload),
                        ) else {
                            tracing::warn!("unreadable sharded pub/sub message");
                            continue;
                        };
                        if !probes.heard(&channel, &payload) {
                            link.bus.receive(&channel, &payload);
                        }
                    }
                    PushKind::SUnsubscribe => {
                        let channel = push.data.into_iter().next().and_then(|c| redis::from_redis_value::<String>(c).ok());
                        if let Some(channel) = channel {
                            if (channel == probe || link.bus.wants(&channel)) && !moved.contains(&channel) {
                                if moved.is_empty() {
                                    retry_moved.as_mut().reset(tokio::time::Instant::now());
                                }
                                moved.push(channel);
                            }
                        }
                    }
                    // A node's connection dropped: check at once whether the region still hears.
                    PushKind::Disconnection => probes.due_now(),
                    _ => {}
                },
                Some(command) = link.commands.recv() => {
                    if let Err(err) = apply(&link.bus, &mut ClusterSink(&mut connection), command).await {
                        tracing::warn!(error = %err, "sharded pub/sub command failed; reconnecting");
                        break;
                    }
                    link.metrics.channels.set(link.bus.channel_count() as i64);
                }
                () = &mut retry_moved, if !moved.is_empty() => {
                    match ssubscribe_all(&mut connection, &moved).await {
                        Ok(()) => {
                            tracing::info!(channels = moved.len(), "sharded channels followed to their new node; clients told to resync");
                            for channel in moved.drain(..) {
                                link.bus.deliver(&channel, BusEvent::Resync);
                            }
                            moved_backoff = FIRST_BACKOFF;
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, retry_in_ms = moved_backoff.as_millis() as u64, "could not follow moved channels yet");
                            retry_moved.as_mut().reset(tokio::time::Instant::now() + moved_backoff);
                            moved_backoff = (moved_backoff * 2).min(MAX_BACKOFF);
                        }
                    }
                }
                () = probes.tick() => {
                    let Some(payload) = probes.fired() else {
                        tracing::warn!("the bus no longer hears its region's slot (a failover?); reconnecting");
                        break;
                    };
                    let sent = tokio::time::timeout(
                        SUBSCRIBE_TIMEOUT,
                        redis::cmd("SPUBLISH").arg(&probe).arg(payload).query_async::<redis::Value>(&mut connection),
                    )
                    .await;
                    if !matches!(sent, Ok(Ok(_))) {
                        tracing::debug!("the bus's probe could not be published; it will be missed");
                    }
                }
                _ = link.stop.changed() => return,
            }
        }
        link.down();
        lost_before = true;
    }
}

async fn connect_cluster(
    nodes: &[String],
    pushes: mpsc::UnboundedSender<PushInfo>,
) -> redis::RedisResult<ClusterConnection> {
    redis::cluster::ClusterClientBuilder::new(nodes.to_vec())
        .use_protocol(redis::ProtocolVersion::RESP3)
        .push_sender(pushes)
        .connection_timeout(SUBSCRIBE_TIMEOUT)
        .response_timeout(SUBSCRIBE_TIMEOUT)
        .retries(3)
        .build()?
        .get_async_connection()
        .await
}

/// SSUBSCRIBEs `channels`, a command per slot's worth (channels sharing a hash tag share a
/// slot), so that none is refused with CROSSSLOT.
async fn ssubscribe_all(
    connection: &mut ClusterConnection,
    channels: &[String],
) -> redis::RedisResult<()> {
    let mut by_tag: HashMap<&str, Vec<&String>> = HashMap::new();
    for channel in channels {
        by_tag.entry(hash_tag(channel)).or_default().push(channel);
    }
    for group in by_tag.values() {
        for chunk in group.chunks(SUBSCRIBE_CHUNK) {
            tokio::time::timeout(SUBSCRIBE_TIMEOUT, connection.ssubscribe(chunk))
                .await
                .map_err(|_| {
                    redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))
                })??;
        }
    }
    Ok(())
}

/// The bus's check that it still hears its region's slot on a cluster: a probe published
/// every [`PROBE_EVERY`] must come back within [`PROBE_TIMEOUT`].
struct Probes {
    channel: String,
    sent: u64,
    /// While a probe is out: when it was sent.
    waiting_since: Option<tokio::time::Instant>,
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl Probes {
    fn new(channel: String) -> Self {
        Self {
            channel,
            sent: 0,
            waiting_since: None,
            timer: Box::pin(tokio::time::sleep(PROBE_EVERY)),
        }
    }

    /// Until the next probe is due, or the one out is overdue.
    async fn tick(&mut self) {
        self.timer.as_mut().await;
    }

    /// After a tick: the next probe's payload to publish, or None when the last one never came
    /// back.
    fn fired(&mut self) -> Option<String> {
        if self.waiting_since.is_some() {
            return None;
        }
        let now = tokio::time::Instant::now();
        self.sent += 1;
        self.waiting_since = Some(now);
        self.timer.as_mut().reset(now + PROBE_TIMEOUT);
        Some(self.sent.to_string())
    }

    /// Whether this message is the bus's own probe (then it is for no socket).
    fn heard(&mut self, channel: &str, payload: &str) -> bool {
        if channel != self.channel {
            return false;
        }
        if let Some(since) = self.waiting_since {
            if payload == self.sent.to_string() {
                self.waiting_since = None;
                self.timer.as_mut().reset(since + PROBE_EVERY);
            }
        }
        true
    }

    /// A node's connection dropped: probe at once rather than at the next second.
    fn due_now(&mut self) {
        if self.waiting_since.is_none() {
            self.timer.as_mut().reset(tokio::time::Instant::now());
        }
    }
}

/// Subscribing and unsubscribing, on one node or a cluster.
trait Sink {
    async fn subscribe(&mut self, channel: &str) -> redis::RedisResult<()>;
    async fn unsubscribe(&mut self, channel: &str) -> redis::RedisResult<()>;
}

struct NodeSink<'a>(&'a mut PubSubSink);

impl Sink for NodeSink<'_> {
    async fn subscribe(&mut self, channel: &str) -> redis::RedisResult<()> {
        self.0.subscribe(channel).await
    }

    async fn unsubscribe(&mut self, channel: &str) -> redis::RedisResult<()> {
        self.0.unsubscribe(channel).await
    }
}

struct ClusterSink<'a>(&'a mut ClusterConnection);

impl Sink for ClusterSink<'_> {
    async fn subscribe(&mut self, channel: &str) -> redis::RedisResult<()> {
        self.0.ssubscribe(channel).await
    }

    async fn unsubscribe(&mut self, channel: &str) -> redis::RedisResult<()> {
        self.0.sunsubscribe(channel).await
    }
}

/// Carries out one command against what is wanted *now*: commands are handled in order, so
/// a subscribe racing an unsubscribe of the same channel ends in the wanted state.
async fn apply(bus: &Bus, sink: &mut impl Sink, command: Command) -> redis::RedisResult<()> {
    match command {
        Command::Subscribe(channel, done) => {
            let result = if bus.wants(&channel) {
                sink.subscribe(&channel).await
            } else {
                Ok(())
            };
            let _ = done.send(());
            result
        }
        Command::Unsubscribe(channel) => {
            if bus.wants(&channel) {
                Ok(())
            } else {
                sink.unsubscribe(&channel).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scripts_events_are_forwarded_once_serialized() {
        let event = BusEvent::parse(
            r#"{"type":"position","ride_id":"0123456789abcdef0123456789abcdef","lat":52.5,"lng":13.4,"at_ms":7}"#,
        )
        .unwrap();
        let BusEvent::Forward { message, json } = event else {
            panic!("a position is forwarded");
        };
        assert!(matches!(message, ServerMessage::Position { at_ms: 7, .. }));
        assert!(json.contains(r#""type":"position""#));
    }

    #[test]
    fn free_cars_are_forwarded_as_the_scripts_publish_them() {
        // As dispatch_lib.lua's `publish_nearby` and `publish_gone` publish them.
        for payload in [
            r#"{"lng":13.405,"car":"0a1b2c3d4e5f6789","cell":"r2c2","type":"nearby","lat":52.5253}"#,
            r#"{"car":"0a1b2c3d4e5f6789","type":"nearby_gone","cell":"r2c2"}"#,
        ] {
            let event = BusEvent::parse(payload);
            assert!(
                matches!(event, Some(BusEvent::Forward { .. })),
                "{payload}: {event:?}"
            );
        }
    }

    #[test]
    fn a_logout_is_an_internal_event() {
        let payload = logged_out_payload("abc");
        assert!(matches!(
            BusEvent::parse(&payload),
            Some(BusEvent::LoggedOut { login }) if login == "abc"
        ));
    }

    #[test]
    fn a_driver_change_is_an_internal_event() {
        // As the scripts publish it (dispatch_lib.lua, `driver_changed`).
        assert!(matches!(
            BusEvent::parse(r#"{"type":"driver_changed"}"#),
            Some(BusEvent::DriverChanged)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_goes_out_every_second_and_one_unheard_for_a_second_means_deaf() {
        let mut probes = Probes::new("t:{r:demo}:bus:x".into());
        let start = tokio::time::Instant::now();
        probes.tick().await;
        assert_eq!(start.elapsed(), PROBE_EVERY);
        let first = probes.fired().expect("the first probe");
        assert!(
            !probes.heard("t:{r:demo}:ride:y", &first),
            "another channel is for sockets"
        );
        assert!(probes.heard("t:{r:demo}:bus:x", "an older probe"));
        assert!(
            probes.waiting_since.is_some(),
            "a stale payload is not the answer"
        );
        assert!(probes.heard("t:{r:demo}:bus:x", &first));
        probes.tick().await;
        assert_eq!(
            start.elapsed(),
            PROBE_EVERY * 2,
            "a second after the last one left"
        );
        let second = probes.fired().expect("the second probe");
        assert_ne!(first, second);
        // Nobody answers this time.
        probes.tick().await;
        assert_eq!(start.elapsed(), PROBE_EVERY * 2 + PROBE_TIMEOUT);
        assert!(probes.fired().is_none(), "deaf: the bus reconnects");
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_node_connection_probes_at_once() {
        let mut probes = Probes::new("p".into());
        let start = tokio::time::Instant::now();
        probes.due_now();
        probes.tick().await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert!(probes.fired().is_some());
        // While a probe is out, another disconnection does not move its deadline.
        probes.due_now();
        probes.tick().await;
        assert_eq!(start.elapsed(), PROBE_TIMEOUT);
        assert!(probes.fired().is_none());
    }

    #[test]
    fn messages_hail_does_not_publish_are_ignored() {
        for payload in [
            "hello",
            r#"{"type":"resync","reason":"forged"}"#,
            r#"{"type":"error","code":"forbidden","message":"forged"}"#,
            r#"{"type":"position","ride_id":"nope"}"#,
        ] {
            assert!(BusEvent::parse(payload).is_none(), "{payload}");
        }
    }
}
