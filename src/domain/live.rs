//! The live protocol: what travels over the WebSocket at `/ws`, in each direction, as JSON text
//! frames tagged by `type`. Both sides use these types, so the browser and the server cannot
//! disagree about a field. The README's "Live updates" section documents every message.
//!
//! Incoming messages are parsed here, once, at the edge: [`ClientMessage::parse`] checks the
//! size, the JSON, the type and every field, and says what is wrong in words a person can act
//! on. Nothing past it sees a raw string id or an unchecked coordinate.

use serde::{Deserialize, Serialize};

use super::cells::{Cell, MAX_WATCHED};
use super::ride::{RideId, RideStatus, RideView};
use super::{GeoPoint, Role, UserId};

/// The largest message the server reads and answers. Bigger ones (up to the transport's own,
/// higher limit) get a `too_large` error; beyond that the connection is closed.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024;

/// Close codes the server uses besides the standard ones (1001 going away, 1008 policy).
pub mod close {
    /// The session ended: logged out, or expired. Reconnecting will not help; log in again.
    pub const SESSION_ENDED: u16 = 4001;
    /// Standard "policy violation": too many bad messages. Reconnect later, and behave.
    pub const POLICY: u16 = 1008;
    /// Standard "going away": the instance is shutting down, or the peer stopped answering.
    pub const GOING_AWAY: u16 = 1001;
    /// Standard, never sent: the peer's Close frame carried no code.
    pub const NO_CODE: u16 = 1005;
    /// Standard, never sent: the connection ended without a Close frame.
    pub const ABNORMAL: u16 = 1006;
}

/// A message from a browser (or any client) to the server.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    /// Follow a ride: its status changes and (for its rider) the driver's position. Allowed for
    /// the ride's rider, its driver, and the driver it is offered to. Answered by a `snapshot`.
    Subscribe { ride_id: RideId },
    /// Stop following a ride. Answered by `unsubscribed`.
    Unsubscribe { ride_id: RideId },
    /// A driver's current position. Answered only when refused.
    Position { at: GeoPoint },
    /// A rider's map shows these cells: send the free cars in them as they move (`nearby`,
    /// `nearby_gone`), instead of what the last `watch` named. Empty: stop. Answered by
    /// `watching`.
    Watch { cells: Vec<Cell> },
}

/// The wire form of [`ClientMessage`], before its fields are checked.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum RawClientMessage {
    Subscribe { ride_id: String },
    Unsubscribe { ride_id: String },
    Position { lat: f64, lng: f64 },
    Watch { cells: Vec<String> },
}

const CLIENT_TYPES: &str = "subscribe, unsubscribe, position or watch";

/// Why an incoming message was refused. Each variant is answered with an `error` message whose
/// `code` is the variant's name, so a client can react to the kind and show the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum LiveErrorCode {
    /// Not JSON, an unknown type, a missing or malformed field.
    #[error("bad_message")]
    BadMessage,
    /// Bigger than [`MAX_MESSAGE_BYTES`].
    #[error("too_large")]
    TooLarge,
    /// Not yours: someone else's ride, or a rider sending a position.
    #[error("forbidden")]
    Forbidden,
    /// Too many messages, or positions, in too short a time.
    #[error("rate_limited")]
    RateLimited,
    /// A position too far from the last one for the time between them.
    #[error("implausible")]
    Implausible,
    /// Not possible now: a position from a driver who is offline.
    #[error("conflict")]
    Conflict,
    /// Redis does not answer; try again shortly.
    #[error("unavailable")]
    Unavailable,
}

/// A refused message: its code and a sentence for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LiveError {
    pub code: LiveErrorCode,
    pub message: String,
}

impl LiveErrorCode {
    /// The code as it travels (a metric's label on the server).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::BadMessage => "bad_message",
            Self::TooLarge => "too_large",
            Self::Forbidden => "forbidden",
            Self::RateLimited => "rate_limited",
            Self::Implausible => "implausible",
            Self::Conflict => "conflict",
            Self::Unavailable => "unavailable",
        }
    }
}

impl LiveError {
    pub fn new(code: LiveErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        Self::new(LiveErrorCode::BadMessage, message)
    }
}

impl From<super::AppError> for LiveError {
    fn from(err: super::AppError) -> Self {
        use super::AppError as E;
        let code = match &err {
            E::Validation { .. } => LiveErrorCode::BadMessage,
            E::Unauthorized { .. } | E::Forbidden { .. } | E::NotFound { .. } => {
                LiveErrorCode::Forbidden
            }
            E::Conflict { .. } => LiveErrorCode::Conflict,
            E::TooManyRequests { .. } => LiveErrorCode::RateLimited,
            E::Unavailable { .. } | E::Internal { .. } => LiveErrorCode::Unavailable,
        };
        Self::new(code, err.message())
    }
}

/// The same refusal over HTTP (`POST /api/position` shares the checks with the socket).
impl From<LiveError> for super::AppError {
    fn from(err: LiveError) -> Self {
        use super::AppError as E;
        let message = err.message;
        match err.code {
            LiveErrorCode::BadMessage | LiveErrorCode::TooLarge | LiveErrorCode::Implausible => {
                E::Validation {
                    field: None,
                    message,
                }
            }
            LiveErrorCode::Forbidden => E::Forbidden { message },
            LiveErrorCode::RateLimited => E::TooManyRequests {
                message,
                retry_after_secs: 1,
            },
            LiveErrorCode::Conflict => E::Conflict {
                field: None,
                message,
            },
            LiveErrorCode::Unavailable => E::Unavailable { message },
        }
    }
}

impl ClientMessage {
    /// The `type` it travels with (a metric's label on the server).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Subscribe { .. } => "subscribe",
            Self::Unsubscribe { .. } => "unsubscribe",
            Self::Position { .. } => "position",
            Self::Watch { .. } => "watch",
        }
    }

    /// Parses and checks one text frame.
    pub fn parse(text: &str) -> Result<Self, LiveError> {
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(LiveError::new(
                LiveErrorCode::TooLarge,
                format!(
                    "the message has {} bytes; at most {MAX_MESSAGE_BYTES} are read",
                    text.len()
                ),
            ));
        }
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|err| LiveError::bad(format!("the message is not JSON ({err})")))?;
        let kind = match value.get("type") {
            Some(serde_json::Value::String(kind)) => kind.clone(),
            Some(_) => return Err(LiveError::bad("`type` must be a string")),
            None if value.is_object() => {
                return Err(LiveError::bad(format!(
                    "the message has no `type`; expected {CLIENT_TYPES}"
                )))
            }
            None => {
                return Err(LiveError::bad(
                    "a message is a JSON object with a `type`, like {\"type\":\"subscribe\",\"ride_id\":\"…\"}",
                ))
            }
        };
        if !matches!(
            kind.as_str(),
            "subscribe" | "unsubscribe" | "position" | "watch"
        ) {
            return Err(LiveError::bad(format!(
                "unknown message type {kind:?}; expected {CLIENT_TYPES}"
            )));
        }
        let raw: RawClientMessage = serde_json::from_value(value)
            .map_err(|err| LiveError::bad(format!("a {kind} message: {err}")))?;
        Ok(match raw {
            RawClientMessage::Subscribe { ride_id } => Self::Subscribe {
                ride_id: RideId::parse(&ride_id)?,
            },
            RawClientMessage::Unsubscribe { ride_id } => Self::Unsubscribe {
                ride_id: RideId::parse(&ride_id)?,
            },
            RawClientMessage::Position { lat, lng } => Self::Position {
                at: GeoPoint::new(lat, lng)?,
            },
            RawClientMessage::Watch { cells: raw } => {
                if raw.len() > MAX_WATCHED {
                    return Err(LiveError::bad(format!(
                        "a watch message names {} cells; the map has {MAX_WATCHED}",
                        raw.len()
                    )));
                }
                let mut cells = Vec::with_capacity(raw.len());
                for name in &raw {
                    let cell = Cell::parse(name).map_err(LiveError::bad)?;
                    if !cells.contains(&cell) {
                        cells.push(cell);
                    }
                }
                Self::Watch { cells }
            }
        })
    }

    /// The JSON text a client sends.
    pub fn to_json(&self) -> String {
        let raw = match self {
            Self::Subscribe { ride_id } => RawClientMessage::Subscribe {
                ride_id: ride_id.as_str().to_owned(),
            },
            Self::Unsubscribe { ride_id } => RawClientMessage::Unsubscribe {
                ride_id: ride_id.as_str().to_owned(),
            },
            Self::Position { at } => RawClientMessage::Position {
                lat: at.lat(),
                lng: at.lng(),
            },
            Self::Watch { cells } => RawClientMessage::Watch {
                cells: cells.iter().map(Cell::to_string).collect(),
            },
        };
        serde_json::to_string(&raw).expect("a client message always serializes")
    }
}

/// A message from the server to a client.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The first message on every socket: who the server believes you are, and how often it
    /// pings (a client may treat twice that without any frame as a dead connection).
    Welcome {
        user_id: UserId,
        role: Role,
        ping_secs: u64,
    },
    /// The ride as it is now: the answer to `subscribe`. Its `seq` is where to count from.
    Snapshot { ride: Box<RideView> },
    /// The ride changed. `seq` grows by one per change: a client that sees a gap (or has just
    /// reconnected) subscribes again for a fresh snapshot.
    Status {
        ride_id: RideId,
        seq: u64,
        status: RideStatus,
    },
    /// Where the ride's driver is (for the ride's rider, from assignment to the end of the
    /// trip). Latest wins: a slow client is sent only the newest.
    Position {
        ride_id: RideId,
        lat: f64,
        lng: f64,
        /// When the position reached Redis, on Redis's clock (unix ms).
        at_ms: u64,
    },
    /// For a driver: a ride is offered to you until `expires_at_ms` (server clock, unix ms).
    Offer { ride_id: RideId, expires_at_ms: u64 },
    /// For a driver: the offer is gone (taken back by the rider, or it lapsed).
    OfferWithdrawn { ride_id: RideId },
    /// The answer to `unsubscribe`.
    Unsubscribed { ride_id: RideId },
    /// The answer to `watch`: the cells followed from now on.
    Watching { cells: Vec<Cell> },
    /// A free car in a watched cell, where it is now (at most once a second per car). `car`
    /// names the car for the day, so a map can move it, but says nothing of who drives it.
    Nearby {
        cell: Cell,
        car: String,
        lat: f64,
        lng: f64,
    },
    /// The car left `cell`: taken, offline, out of date, or on to another cell (which then
    /// sends its own `nearby`).
    NearbyGone { cell: Cell, car: String },
    /// Something may have been missed (the server lost Redis for a while, or this socket fell
    /// behind): reload what you show, and subscribe again to the rides you follow.
    Resync { reason: String },
    /// A message was refused. The socket stays open unless it is closed right after.
    Error {
        code: LiveErrorCode,
        message: String,
    },
}

/// A server message as it travels, read into one flat struct (the browser's edge): serde's
/// derive for an internally tagged enum buffers every field in its own generic form first,
/// which put a second parser of every field, the whole ride view's among them, into the
/// browser build.
#[derive(Deserialize)]
struct WireServerMessage {
    #[serde(rename = "type")]
    kind: String,
    user_id: Option<UserId>,
    role: Option<Role>,
    ping_secs: Option<u64>,
    ride: Option<Box<RideView>>,
    ride_id: Option<RideId>,
    seq: Option<u64>,
    status: Option<RideStatus>,
    lat: Option<f64>,
    lng: Option<f64>,
    at_ms: Option<u64>,
    expires_at_ms: Option<u64>,
    reason: Option<String>,
    code: Option<LiveErrorCode>,
    message: Option<String>,
    cells: Option<Vec<Cell>>,
    cell: Option<Cell>,
    car: Option<String>,
}

impl<'de> Deserialize<'de> for ServerMessage {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        fn need<T, E: serde::de::Error>(value: Option<T>, field: &'static str) -> Result<T, E> {
            value.ok_or_else(|| E::missing_field(field))
        }
        let w = WireServerMessage::deserialize(deserializer)?;
        Ok(match w.kind.as_str() {
            "welcome" => Self::Welcome {
                user_id: need(w.user_id, "user_id")?,
                role: need(w.role, "role")?,
                ping_secs: need(w.ping_secs, "ping_secs")?,
            },
            "snapshot" => Self::Snapshot {
                ride: need(w.ride, "ride")?,
            },
            "status" => Self::Status {
                ride_id: need(w.ride_id, "ride_id")?,
                seq: need(w.seq, "seq")?,
                status: need(w.status, "status")?,
            },
            "position" => Self::Position {
                ride_id: need(w.ride_id, "ride_id")?,
                lat: need(w.lat, "lat")?,
                lng: need(w.lng, "lng")?,
                at_ms: need(w.at_ms, "at_ms")?,
            },
            "offer" => Self::Offer {
                ride_id: need(w.ride_id, "ride_id")?,
                expires_at_ms: need(w.expires_at_ms, "expires_at_ms")?,
            },
            "offer_withdrawn" => Self::OfferWithdrawn {
                ride_id: need(w.ride_id, "ride_id")?,
            },
            "unsubscribed" => Self::Unsubscribed {
                ride_id: need(w.ride_id, "ride_id")?,
            },
            "watching" => Self::Watching {
                cells: need(w.cells, "cells")?,
            },
            "nearby" => Self::Nearby {
                cell: need(w.cell, "cell")?,
                car: need(w.car, "car")?,
                lat: need(w.lat, "lat")?,
                lng: need(w.lng, "lng")?,
            },
            "nearby_gone" => Self::NearbyGone {
                cell: need(w.cell, "cell")?,
                car: need(w.car, "car")?,
            },
            "resync" => Self::Resync {
                reason: need(w.reason, "reason")?,
            },
            "error" => Self::Error {
                code: need(w.code, "code")?,
                message: need(w.message, "message")?,
            },
            other => {
                return Err(serde::de::Error::unknown_variant(
                    other,
                    &[
                        "welcome",
                        "snapshot",
                        "status",
                        "position",
                        "offer",
                        "offer_withdrawn",
                        "unsubscribed",
                        "watching",
                        "nearby",
                        "nearby_gone",
                        "resync",
                        "error",
                    ],
                ))
            }
        })
    }
}

impl ServerMessage {
    /// The `type` it travels with (a metric's label on the server).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Welcome { .. } => "welcome",
            Self::Snapshot { .. } => "snapshot",
            Self::Status { .. } => "status",
            Self::Position { .. } => "position",
            Self::Offer { .. } => "offer",
            Self::OfferWithdrawn { .. } => "offer_withdrawn",
            Self::Unsubscribed { .. } => "unsubscribed",
            Self::Watching { .. } => "watching",
            Self::Nearby { .. } => "nearby",
            Self::NearbyGone { .. } => "nearby_gone",
            Self::Resync { .. } => "resync",
            Self::Error { .. } => "error",
        }
    }

    pub fn error(err: LiveError) -> Self {
        Self::Error {
            code: err.code,
            message: err.message,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a server message always serializes")
    }

    /// Parses a message from the server (the browser's edge).
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|err| format!("unreadable message from Hail: {err}"))
    }

    /// The ride a message is about, if any.
    pub fn ride_id(&self) -> Option<&RideId> {
        match self {
            Self::Snapshot { ride } => Some(&ride.id),
            Self::Status { ride_id, .. }
            | Self::Position { ride_id, .. }
            | Self::Offer { ride_id, .. }
            | Self::OfferWithdrawn { ride_id }
            | Self::Unsubscribed { ride_id } => Some(ride_id),
            Self::Welcome { .. }
            | Self::Resync { .. }
            | Self::Error { .. }
            | Self::Watching { .. }
            | Self::Nearby { .. }
            | Self::NearbyGone { .. } => None,
        }
    }
}

/// What a client makes of a ride event's sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqCheck {
    /// Already seen (a duplicate, or older than the snapshot): ignore it.
    Stale,
    /// The very next change.
    Next,
    /// Changes were missed: reload the ride.
    Gap,
}

/// Follows one ride's sequence numbers, so a missed change is noticed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RideSeq {
    last: Option<u64>,
}

impl RideSeq {
    /// Starts from a snapshot's `seq`.
    pub fn from_snapshot(seq: u64) -> Self {
        Self { last: Some(seq) }
    }

    pub fn last(&self) -> Option<u64> {
        self.last
    }

    /// Checks an event's `seq` and, unless stale, moves on to it.
    pub fn observe(&mut self, seq: u64) -> SeqCheck {
        let check = match self.last {
            Some(last) if seq <= last => return SeqCheck::Stale,
            Some(last) if seq == last + 1 => SeqCheck::Next,
            // Without a snapshot there is nothing to count from: a reload is needed.
            _ => SeqCheck::Gap,
        };
        self.last = Some(seq);
        check
    }
}

/// Reconnect delays: exponential, capped, with full jitter so that clients dropped together
/// (an instance went away) do not all come back in the same instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub base_ms: u64,
    pub max_ms: u64,
    attempt: u32,
}

impl Backoff {
    pub const fn new(base_ms: u64, max_ms: u64) -> Self {
        Self {
            base_ms,
            max_ms,
            attempt: 0,
        }
    }

    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The delay before the next attempt, given `unit`, a uniform random number in [0, 1).
    /// Never below half the step, so a flapping network is not hammered.
    pub fn next_delay_ms(&mut self, unit: f64) -> u64 {
        let step = self
            .base_ms
            .saturating_mul(1u64 << self.attempt.min(20))
            .min(self.max_ms);
        self.attempt = self.attempt.saturating_add(1);
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.5
        };
        step / 2 + (step as f64 / 2.0 * unit) as u64
    }

    /// The delay before reconnecting after the server closed with `code`: none after "going
    /// away" (its instance is draining, and the balancer sends the new connection to another),
    /// unless an attempt since the last connection failed already; otherwise the backoff.
    pub fn after_close_ms(&mut self, code: u16, unit: f64) -> u64 {
        if code == close::GOING_AWAY && self.attempt == 0 {
            return 0;
        }
        self.next_delay_ms(unit)
    }

    /// Connected: the next drop starts from the base again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RIDE: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_subscribe_message_is_parsed_into_a_checked_ride_id() {
        let msg =
            ClientMessage::parse(&format!(r#"{{"type":"subscribe","ride_id":"{RIDE}"}}"#)).unwrap();
        assert_eq!(
            msg,
            ClientMessage::Subscribe {
                ride_id: RideId::parse(RIDE).unwrap()
            }
        );
    }

    #[test]
    fn client_messages_survive_a_round_trip() {
        for msg in [
            ClientMessage::Subscribe {
                ride_id: RideId::parse(RIDE).unwrap(),
            },
            ClientMessage::Unsubscribe {
                ride_id: RideId::parse(RIDE).unwrap(),
            },
            ClientMessage::Position {
                at: GeoPoint::new(52.52, 13.405).unwrap(),
            },
            ClientMessage::Watch {
                cells: vec![Cell::parse("r0c1").unwrap(), Cell::parse("r3c3").unwrap()],
            },
            ClientMessage::Watch { cells: vec![] },
        ] {
            assert_eq!(ClientMessage::parse(&msg.to_json()).unwrap(), msg);
        }
    }

    #[test]
    fn bad_messages_are_refused_with_a_reason() {
        let cases = [
            ("not json", "not JSON"),
            ("[1,2]", "JSON object with a `type`"),
            (r#"{"ride_id":"x"}"#, "no `type`"),
            (r#"{"type":7}"#, "must be a string"),
            (
                r#"{"type":"teleport"}"#,
                "unknown message type \"teleport\"",
            ),
            (r#"{"type":"position","lat":52.5}"#, "missing field `lng`"),
            (
                r#"{"type":"position","lat":"north","lng":1}"#,
                "invalid type",
            ),
            (r#"{"type":"position","lat":91,"lng":1}"#, "latitude"),
            (
                r#"{"type":"subscribe","ride_id":"../etc"}"#,
                "not a ride id",
            ),
            (
                r#"{"type":"unsubscribe","ride_id":"0123456789abcdef0123456789abcdef","x":1}"#,
                "unknown field `x`",
            ),
            (r#"{"type":"watch"}"#, "missing field `cells`"),
            (r#"{"type":"watch","cells":"r0c0"}"#, "invalid type"),
            (
                r#"{"type":"watch","cells":["r9c9"]}"#,
                "\"r9c9\" is not a map cell",
            ),
        ];
        for (text, expected) in cases {
            let err = ClientMessage::parse(text).unwrap_err();
            assert!(
                err.message.contains(expected),
                "{text}: {:?} should mention {expected:?}",
                err.message
            );
            assert_eq!(err.code, LiveErrorCode::BadMessage, "{text}");
        }
    }

    #[test]
    fn a_watch_names_each_cell_once_and_no_more_than_the_map_has() {
        let twice = ClientMessage::parse(r#"{"type":"watch","cells":["r1c1","r1c1","r0c2"]}"#);
        assert_eq!(
            twice.unwrap(),
            ClientMessage::Watch {
                cells: vec![Cell::parse("r1c1").unwrap(), Cell::parse("r0c2").unwrap()]
            }
        );
        let all: Vec<String> = Cell::all().map(|c| c.to_string()).collect();
        let mut too_many = all.clone();
        too_many.push("r0c0".into());
        let text =
            |cells: &[String]| serde_json::json!({"type": "watch", "cells": cells}).to_string();
        assert!(ClientMessage::parse(&text(&all)).is_ok());
        let err = ClientMessage::parse(&text(&too_many)).unwrap_err();
        assert!(
            err.message.contains("names 17 cells; the map has 16"),
            "{}",
            err.message
        );
    }

    #[test]
    fn an_oversized_message_is_refused_before_it_is_parsed() {
        let text = format!(r#"{{"type":"position","pad":"{}"}}"#, "x".repeat(5000));
        let err = ClientMessage::parse(&text).unwrap_err();
        assert_eq!(err.code, LiveErrorCode::TooLarge);
        assert!(err.message.contains("at most 4096"));
    }

    #[test]
    fn server_messages_are_tagged_by_type() {
        let msg = ServerMessage::Position {
            ride_id: RideId::parse(RIDE).unwrap(),
            lat: 52.5,
            lng: 13.4,
            at_ms: 1,
        };
        let json = msg.to_json();
        assert!(json.starts_with(r#"{"type":"position""#), "{json}");
        assert_eq!(ServerMessage::parse(&json).unwrap(), msg);
        let err = ServerMessage::error(LiveError::new(LiveErrorCode::RateLimited, "slow down"));
        assert_eq!(
            err.to_json(),
            r#"{"type":"error","code":"rate_limited","message":"slow down"}"#
        );
    }

    #[test]
    fn error_codes_and_client_types_name_themselves_as_they_travel() {
        use LiveErrorCode::*;
        for code in [
            BadMessage,
            TooLarge,
            Forbidden,
            RateLimited,
            Implausible,
            Conflict,
            Unavailable,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
        let at = GeoPoint::new(52.5, 13.4).unwrap();
        let ride_id = RideId::parse(RIDE).unwrap();
        for message in [
            ClientMessage::Subscribe {
                ride_id: ride_id.clone(),
            },
            ClientMessage::Unsubscribe { ride_id },
            ClientMessage::Position { at },
            ClientMessage::Watch { cells: vec![] },
        ] {
            let json = message.to_json();
            assert!(
                json.contains(&format!(r#""type":"{}""#, message.kind())),
                "{json}"
            );
        }
    }

    #[test]
    fn every_server_message_reads_back_as_it_was_written() {
        let ride_id = RideId::parse(RIDE).unwrap();
        let at = GeoPoint::new(52.52, 13.4).unwrap();
        let view = RideView {
            id: ride_id.clone(),
            status: RideStatus::DriverAssigned,
            seq: 2,
            rider_name: "Rita".into(),
            pickup: at,
            pickup_name: "here".into(),
            dropoff: at,
            dropoff_name: "there".into(),
            distance_m: 1200,
            duration_s: 240,
            fare: crate::domain::fare::Cents(600),
            driver: None,
            pin: Some("1234".into()),
            pin_locked: false,
            rating: None,
            created_at_ms: 1,
            offer_expires_at_ms: None,
            driver_position: Some(at),
            server_now_ms: 2,
        };
        let all = [
            ServerMessage::Welcome {
                user_id: UserId::from_trusted("u1".into()),
                role: Role::Rider,
                ping_secs: 20,
            },
            ServerMessage::Snapshot {
                ride: Box::new(view),
            },
            ServerMessage::Status {
                ride_id: ride_id.clone(),
                seq: 3,
                status: RideStatus::DriverArrived,
            },
            ServerMessage::Position {
                ride_id: ride_id.clone(),
                lat: 52.5,
                lng: 13.4,
                at_ms: 7,
            },
            ServerMessage::Offer {
                ride_id: ride_id.clone(),
                expires_at_ms: 9,
            },
            ServerMessage::OfferWithdrawn {
                ride_id: ride_id.clone(),
            },
            ServerMessage::Unsubscribed { ride_id },
            ServerMessage::Watching {
                cells: Cell::all().collect(),
            },
            ServerMessage::Nearby {
                cell: Cell::parse("r2c1").unwrap(),
                car: "3f9a0c2b7d1e4a55".into(),
                lat: 52.5,
                lng: 13.4,
            },
            ServerMessage::NearbyGone {
                cell: Cell::parse("r2c1").unwrap(),
                car: "3f9a0c2b7d1e4a55".into(),
            },
            ServerMessage::Resync {
                reason: "lost Redis".into(),
            },
            ServerMessage::error(LiveError::new(LiveErrorCode::Forbidden, "not yours")),
        ];
        for message in all {
            let json = message.to_json();
            assert_eq!(ServerMessage::parse(&json).unwrap(), message, "{json}");
            let tag = format!(r#""type":"{}""#, message.kind());
            assert!(json.contains(&tag), "{json} has no {tag}");
        }
        let unknown = ServerMessage::parse(r#"{"type":"teleport"}"#).unwrap_err();
        assert!(unknown.contains("unknown variant `teleport`"), "{unknown}");
        let missing = ServerMessage::parse(&format!(r#"{{"type":"position","ride_id":"{RIDE}"}}"#))
            .unwrap_err();
        assert!(missing.contains("missing field `lat`"), "{missing}");
    }

    #[test]
    fn the_lua_scripts_status_event_is_a_server_message() {
        // What dispatch_lib.lua publishes (cjson's field order is not fixed).
        let lua =
            format!(r#"{{"status":"driver_assigned","seq":3,"ride_id":"{RIDE}","type":"status"}}"#);
        assert!(matches!(
            ServerMessage::parse(&lua).unwrap(),
            ServerMessage::Status {
                seq: 3,
                status: RideStatus::DriverAssigned,
                ..
            }
        ));
    }

    #[test]
    fn sequence_numbers_tell_next_from_gap_from_stale() {
        let mut seq = RideSeq::from_snapshot(4);
        assert_eq!(seq.observe(4), SeqCheck::Stale);
        assert_eq!(seq.observe(5), SeqCheck::Next);
        assert_eq!(seq.observe(7), SeqCheck::Gap);
        assert_eq!(seq.last(), Some(7));
        assert_eq!(seq.observe(6), SeqCheck::Stale);
        assert_eq!(RideSeq::default().observe(1), SeqCheck::Gap);
    }

    #[test]
    fn backoff_grows_to_its_cap_with_jitter_and_resets() {
        let mut backoff = Backoff::new(500, 8_000);
        let lows: Vec<u64> = (0..7).map(|_| backoff.next_delay_ms(0.0)).collect();
        assert_eq!(lows, [250, 500, 1000, 2000, 4000, 4000, 4000]);
        let mut backoff = Backoff::new(500, 8_000);
        assert_eq!(backoff.next_delay_ms(0.999_999), 499);
        assert_eq!(backoff.next_delay_ms(f64::NAN), 750);
        backoff.reset();
        assert_eq!(backoff.attempt(), 0);
        assert_eq!(backoff.next_delay_ms(0.0), 250);
    }

    #[test]
    fn going_away_reconnects_at_once_and_only_the_first_time() {
        let mut backoff = Backoff::new(500, 8_000);
        assert_eq!(backoff.after_close_ms(close::GOING_AWAY, 0.9), 0);
        // That attempt failed (nothing answered): from here on, the backoff.
        assert_eq!(backoff.after_close_ms(close::ABNORMAL, 0.0), 250);
        assert_eq!(backoff.after_close_ms(close::GOING_AWAY, 0.0), 500);
        backoff.reset();
        assert_eq!(backoff.after_close_ms(close::POLICY, 0.0), 250);
        backoff.reset();
        assert_eq!(backoff.after_close_ms(close::GOING_AWAY, 0.0), 0);
    }
}
