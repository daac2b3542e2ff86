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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use futures_util::{Stream, StreamExt as _};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use redis::aio::PubSubSink;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

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
}
/// A SUBSCRIBE that takes longer than this is given up on; the reconnect loop will retry it.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
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
                | ServerMessage::OfferWithdrawn { .. } => Some(Self::Forward {
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
        client: redis::Client,
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
        let task = tokio::spawn(run(
            bus.clone(),
            client,
            metrics,
            command_rx,
            connected_tx,
            stop,
        ));
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

/// The bus's task: connect, subscribe to what is wanted, deliver; on loss, start again.
async fn run(
    bus: Bus,
    client: redis::Client,
    metrics: BusMetrics,
    mut commands: mpsc::UnboundedReceiver<Command>,
    connected: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut lost_before = false;
    loop {
        // Connect, answering subscribe requests at once meanwhile: the channels are wanted
        // already and will be subscribed as soon as the connection is up.
        let connect = client.get_async_pubsub();
        tokio::pin!(connect);
        let pubsub = loop {
            tokio::select! {
                result = &mut connect => break result,
                Some(command) = commands.recv() => {
                    if let Command::Subscribe(_, done) = command { let _ = done.send(()); }
                }
                _ = stop.changed() => return,
            }
        };
        let (mut sink, mut stream) = match pubsub {
            Ok(pubsub) => pubsub.split(),
            Err(err) => {
                tracing::warn!(error = %err, retry_in_ms = backoff.as_millis() as u64, "pub/sub cannot reach Redis");
                if wait_or_stop(backoff, &mut stop, &mut commands).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let wanted = bus.wanted();
        if !wanted.is_empty() {
            if let Err(err) = sink.subscribe(&wanted).await {
                tracing::warn!(error = %err, "pub/sub could not subscribe again; reconnecting");
                if wait_or_stop(backoff, &mut stop, &mut commands).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        }
        backoff = Duration::from_millis(100);
        let _ = connected.send(true);
        metrics.channels.set(wanted.len() as i64);
        if lost_before {
            metrics.reconnects.inc();
            tracing::info!(
                channels = wanted.len(),
                "pub/sub reconnected; clients told to resync"
            );
            bus.resync_all();
        }
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
                    let channel = message.get_channel_name().to_owned();
                    let payload: String = match message.get_payload() {
                        Ok(payload) => payload,
                        Err(err) => {
                            tracing::warn!(%channel, error = %err, "unreadable pub/sub payload");
                            continue;
                        }
                    };
                    match BusEvent::parse(&payload) {
                        Some(event) => bus.deliver(&channel, event),
                        None => tracing::warn!(%channel, "ignored an unknown pub/sub message"),
                    }
                }
                Some(command) = commands.recv() => {
                    if let Err(err) = apply(&bus, &mut sink, command).await {
                        tracing::warn!(error = %err, "pub/sub command failed; reconnecting");
                        break;
                    }
                    metrics.channels.set(bus.channel_count() as i64);
                }
                _ = stop.changed() => return,
            }
        }
        let _ = connected.send(false);
        metrics.channels.set(0);
        lost_before = true;
        tracing::warn!("pub/sub connection lost; reconnecting");
    }
}

/// Carries out one command against what is wanted *now*: commands are handled in order, so
/// a subscribe racing an unsubscribe of the same channel ends in the wanted state.
async fn apply(bus: &Bus, sink: &mut PubSubSink, command: Command) -> redis::RedisResult<()> {
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

/// Sleeps for `delay` unless stopped (then true). Subscribe requests are answered meanwhile.
async fn wait_or_stop(
    delay: Duration,
    stop: &mut watch::Receiver<bool>,
    commands: &mut mpsc::UnboundedReceiver<Command>,
) -> bool {
    let sleep = tokio::time::sleep(delay);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            _ = &mut sleep => return false,
            Some(command) = commands.recv() => {
                if let Command::Subscribe(_, done) = command { let _ = done.send(()); }
            }
            _ = stop.changed() => return true,
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
