//! The live endpoint over real sockets: two instances, one Redis, a WebSocket client in Rust.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hail::domain::live::{close, ClientMessage, LiveErrorCode, RideSeq, SeqCheck, ServerMessage};
use hail::domain::ride::{RideId, RideStatus};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::harness::*;

/// How long a test waits for a message that must come.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// A WebSocket client speaking the live protocol.
pub(crate) struct Live {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Live {
    /// Connects to `app` as `browser`, from a page of `app` itself; expects the welcome.
    pub(crate) async fn open(app: &impl Instance, browser: &Browser) -> Self {
        let origin = format!("http://{}", app.addr());
        let mut live = Self::try_open(app, browser.cookie.as_deref(), Some(&origin))
            .await
            .unwrap_or_else(|status| panic!("the upgrade was refused with {status}"));
        let welcome = live.next().await;
        assert!(
            matches!(welcome, ServerMessage::Welcome { .. }),
            "{welcome:?}"
        );
        live
    }

    pub(crate) async fn try_open(
        app: &impl Instance,
        cookie: Option<&str>,
        origin: Option<&str>,
    ) -> Result<Self, StatusCode> {
        let mut request = format!("ws://{}/ws", app.addr())
            .into_client_request()
            .unwrap();
        let headers = request.headers_mut();
        if let Some(cookie) = cookie {
            headers.insert("cookie", format!("{COOKIE_NAME}={cookie}").parse().unwrap());
        }
        if let Some(origin) = origin {
            headers.insert("origin", origin.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((ws, _)) => Ok(Self { ws }),
            Err(WsError::Http(response)) => {
                Err(StatusCode::from_u16(response.status().as_u16()).unwrap())
            }
            Err(err) => panic!("the handshake failed: {err}"),
        }
    }

    /// Closes with 1000 and waits for the server's Close.
    pub(crate) async fn close_normally(&mut self) {
        self.ws.close(None).await.expect("the close frame went out");
        while let Some(Ok(_)) = self.ws.next().await {}
    }

    pub(crate) async fn send(&mut self, message: &ClientMessage) {
        self.send_text(&message.to_json()).await;
    }

    pub(crate) async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("sent");
    }

    pub(crate) async fn subscribe(&mut self, ride: &RideId) -> Value {
        self.send(&ClientMessage::Subscribe {
            ride_id: ride.clone(),
        })
        .await;
        match self.next().await {
            ServerMessage::Snapshot { ride } => serde_json::to_value(ride).unwrap(),
            other => panic!("expected a snapshot, got {other:?}"),
        }
    }

    /// The next message from the server, or `None` when the socket closed.
    pub(crate) async fn next_or_close(&mut self, within: Duration) -> Result<ServerMessage, Ended> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .map_err(|_| Ended::Silent)?;
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return Ok(ServerMessage::parse(text.as_str()).expect("a valid message"))
                }
                Some(Ok(Message::Close(frame))) => return Err(Ended::Closed(frame)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Err(Ended::Closed(None)),
            }
        }
    }

    pub(crate) async fn next(&mut self) -> ServerMessage {
        self.next_or_close(PATIENCE)
            .await
            .unwrap_or_else(|ended| panic!("no message: {ended:?}"))
    }

    /// Skips messages until one matches.
    pub(crate) async fn wait_for(
        &mut self,
        what: &str,
        check: impl Fn(&ServerMessage) -> bool,
    ) -> ServerMessage {
        loop {
            let message = self
                .next_or_close(PATIENCE)
                .await
                .unwrap_or_else(|ended| panic!("waiting for {what}: {ended:?}"));
            if check(&message) {
                return message;
            }
        }
    }

    /// Asserts that nothing arrives for `quiet`.
    async fn expect_silence(&mut self, quiet: Duration) {
        if let Ok(message) = self.next_or_close(quiet).await {
            panic!("expected nothing, got {message:?}");
        }
    }

    /// Reads (answering pings) for `period`; panics if the socket closes meanwhile.
    async fn stays_open(&mut self, period: Duration) {
        let deadline = tokio::time::Instant::now() + period;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_or_close(left).await {
                Ok(_) => continue,
                Err(Ended::Silent) => return,
                Err(Ended::Closed(frame)) => panic!("the socket closed: {frame:?}"),
            }
        }
    }

    async fn closed(&mut self) -> Option<CloseFrame> {
        loop {
            match self.next_or_close(PATIENCE).await {
                Ok(_) => continue,
                Err(Ended::Closed(frame)) => return frame,
                Err(Ended::Silent) => panic!("the socket stayed open"),
            }
        }
    }
}

#[derive(Debug)]
pub(crate) enum Ended {
    Silent,
    Closed(Option<CloseFrame>),
}

fn error_code(message: &ServerMessage) -> Option<LiveErrorCode> {
    match message {
        ServerMessage::Error { code, .. } => Some(code.clone()),
        _ => None,
    }
}

/// A rider on A with a ride accepted by a driver on B.
pub(crate) struct Assigned {
    pub(crate) cluster: Cluster,
    pub(crate) rider: Browser,
    pub(crate) driver: Browser,
    pub(crate) ride: RideId,
}

async fn assigned_ride() -> Assigned {
    assigned_ride_on(Topology::from_env()).await
}

pub(crate) async fn assigned_ride_on(topology: Topology) -> Assigned {
    let cluster = Cluster::start_on(topology, fast_dispatch).await;
    let (a, b) = (&cluster.a, &cluster.b);
    let mut driver = Browser::driver_online(b, "Dora", (52.5210, 13.4060)).await;
    let mut rider = Browser::rider(a, "Rita").await;
    let requested = rider.request_ride(a, &client_key()).await;
    assert_eq!(requested.status, StatusCode::OK, "{}", requested.body);
    let ride = RideId::parse(requested.json()["id"].as_str().unwrap()).unwrap();
    driver
        .wait_for_current(b, 10, |c| c["status"] == "searching")
        .await;
    let accepted = driver.ride_step(b, "/api/accept", ride.as_str(), &[]).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    Assigned {
        cluster,
        rider,
        driver,
        ride,
    }
}

#[tokio::test]
async fn a_position_sent_by_a_driver_on_b_reaches_the_rider_on_a_and_no_one_else() {
    let Assigned {
        cluster,
        rider,
        driver,
        ride,
    } = assigned_ride().await;
    let (a, b) = (&cluster.a, &cluster.b);
    let mut rider_live = Live::open(a, &rider).await;
    let snapshot = rider_live.subscribe(&ride).await;
    assert_eq!(snapshot["status"], "driver_assigned");
    let stranger = Browser::rider(a, "Sam").await;
    let mut stranger_live = Live::open(a, &stranger).await;
    stranger_live
        .send(&ClientMessage::Subscribe {
            ride_id: ride.clone(),
        })
        .await;
    let refused = stranger_live.next().await;
    assert_eq!(
        error_code(&refused),
        Some(LiveErrorCode::Forbidden),
        "{refused:?}"
    );
    let mut driver_live = Live::open(b, &driver).await;

    let to = hail::domain::GeoPoint::new(52.5212, 13.4063).unwrap();
    driver_live.send(&ClientMessage::Position { at: to }).await;

    let moved = rider_live
        .wait_for("the driver's position", |m| {
            matches!(m, ServerMessage::Position { .. })
        })
        .await;
    let ServerMessage::Position {
        ride_id, lat, lng, ..
    } = moved
    else {
        unreachable!()
    };
    assert_eq!((ride_id, lat, lng), (ride, to.lat(), to.lng()));
    stranger_live
        .expect_silence(Duration::from_millis(700))
        .await;
    driver_live.expect_silence(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn status_changes_are_pushed_to_the_rider_and_the_driver_in_order() {
    let Assigned {
        cluster,
        mut rider,
        mut driver,
        ride,
    } = assigned_ride().await;
    let (a, b) = (&cluster.a, &cluster.b);
    let mut rider_live = Live::open(a, &rider).await;
    let mut driver_live = Live::open(b, &driver).await;
    let seq = rider_live.subscribe(&ride).await["seq"].as_u64().unwrap();
    driver_live.subscribe(&ride).await;

    let arrived = driver.ride_step(b, "/api/arrive", ride.as_str(), &[]).await;
    assert_eq!(arrived.status, StatusCode::OK, "{}", arrived.body);
    let cancelled = rider
        .ride_step(a, "/api/cancel_ride", ride.as_str(), &[])
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);

    for live in [&mut rider_live, &mut driver_live] {
        let mut tracker = RideSeq::from_snapshot(seq);
        for expected in [RideStatus::DriverArrived, RideStatus::Cancelled] {
            let message = live
                .wait_for("a status", |m| matches!(m, ServerMessage::Status { .. }))
                .await;
            let ServerMessage::Status { seq, status, .. } = message else {
                unreachable!()
            };
            assert_eq!(status, expected);
            assert_eq!(tracker.observe(seq), SeqCheck::Next);
        }
    }
}

#[tokio::test]
async fn an_offer_reaches_the_driver_at_once_and_its_withdrawal_too() {
    let cluster = Cluster::start_with(fast_dispatch).await;
    let (a, b) = (&cluster.a, &cluster.b);
    let driver = Browser::driver_online(b, "Dora", (52.5210, 13.4060)).await;
    let mut driver_live = Live::open(b, &driver).await;
    let mut rider = Browser::rider(a, "Rita").await;

    let requested = rider.request_ride(a, &client_key()).await;
    let ride = RideId::parse(requested.json()["id"].as_str().unwrap()).unwrap();
    let offer = driver_live.next().await;
    assert!(
        matches!(&offer, ServerMessage::Offer { ride_id, .. } if *ride_id == ride),
        "{offer:?}"
    );
    let snapshot = driver_live.subscribe(&ride).await;
    assert_eq!(snapshot["status"], "searching");
    let cancelled = rider
        .ride_step(a, "/api/cancel_ride", ride.as_str(), &[])
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);

    driver_live
        .wait_for(
            "the withdrawal",
            |m| matches!(m, ServerMessage::OfferWithdrawn { ride_id } if *ride_id == ride),
        )
        .await;
}

#[tokio::test]
async fn upgrades_without_a_session_or_from_a_foreign_origin_are_refused() {
    let cluster = Cluster::start().await;
    let a = &cluster.a;
    let rider = Browser::rider(a, "Rita").await;
    let own = format!("http://{}", a.addr);
    let cookie = rider.cookie.as_deref();

    let refusals = [
        (None, Some(own.as_str())),
        (Some("not-a-session"), Some(own.as_str())),
        (cookie, Some("http://evil.example")),
        (cookie, None),
    ];
    for (cookie, origin) in refusals {
        let status = Live::try_open(a, cookie, origin).await.err();
        assert_eq!(
            status,
            Some(StatusCode::FORBIDDEN),
            "cookie {cookie:?}, origin {origin:?}"
        );
    }
    assert!(Live::try_open(a, cookie, Some(&own)).await.is_ok());
}

#[tokio::test]
async fn a_user_holds_at_most_the_configured_sockets_across_instances() {
    let mut cluster = Cluster::start_with(|c| c.max_sockets_per_user = 3).await;
    let rider = Browser::rider(&cluster.a, "Rita").await;
    let cookie = rider.cookie.as_deref();

    let on_a = Live::open(&cluster.a, &rider).await;
    let on_b = Live::open(&cluster.b, &rider).await;
    let mut last = Live::open(&cluster.b, &rider).await;
    for app in [&cluster.a, &cluster.b] {
        assert_eq!(
            refusal(app, cookie).await,
            Some(StatusCode::TOO_MANY_REQUESTS)
        );
    }
    // Someone else is not affected.
    let other = Browser::rider(&cluster.b, "Olga").await;
    let _theirs = Live::open(&cluster.a, &other).await;

    // A socket that closes makes room (its count goes down once the server has seen it go).
    last.close_normally().await;
    let reopened = open_when_there_is_room(&cluster.a, cookie).await;
    drop(on_a);
    let _again = open_when_there_is_room(&cluster.b, cookie).await;
    // An instance that stops closes its sockets and takes its counts out of Redis: b held two
    // of the three.
    drop((on_b, reopened));
    cluster.b.stop().await;
    let counting: std::collections::BTreeSet<String> = cluster
        .redis
        .keys()
        .await
        .into_iter()
        .filter_map(|key| {
            let rest = key.strip_prefix("t:{sockets}:instance:")?;
            Some(rest.split(':').next()?.to_owned())
        })
        .collect();
    assert!(
        counting.len() <= 1,
        "only a counts sockets now: {counting:?}"
    );
    let a = &cluster.a;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(open_when_there_is_room(a, cookie).await);
    }
    assert_eq!(
        refusal(a, cookie).await,
        Some(StatusCode::TOO_MANY_REQUESTS),
        "the three on a are the limit again"
    );
}

/// How an upgrade from a page of `app` itself is refused, if it is.
async fn refusal(app: &TestApp, cookie: Option<&str>) -> Option<StatusCode> {
    let origin = format!("http://{}", app.addr);
    Live::try_open(app, cookie, Some(&origin)).await.err()
}

/// Opens a socket as soon as the user's limit leaves room for one, within `PATIENCE`.
async fn open_when_there_is_room(app: &TestApp, cookie: Option<&str>) -> Live {
    let origin = format!("http://{}", app.addr);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match Live::try_open(app, cookie, Some(&origin)).await {
            Ok(live) => return live,
            Err(status) if tokio::time::Instant::now() < deadline => {
                assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("still refused with {status}"),
        }
    }
}

#[tokio::test]
async fn configured_origins_replace_the_same_host_rule() {
    let cluster = Cluster::start_with(|c| {
        c.allowed_origins = vec!["https://hail.example".into()];
    })
    .await;
    let a = &cluster.a;
    let rider = Browser::rider(a, "Rita").await;
    let cookie = rider.cookie.as_deref();
    assert!(Live::try_open(a, cookie, Some("https://hail.example"))
        .await
        .is_ok());
    let own = format!("http://{}", a.addr);
    assert_eq!(
        Live::try_open(a, cookie, Some(&own)).await.err(),
        Some(StatusCode::FORBIDDEN)
    );
}

#[tokio::test]
async fn bad_messages_get_errors_and_nobody_else_notices() {
    let Assigned {
        cluster,
        rider,
        driver,
        ride,
    } = assigned_ride().await;
    let (a, b) = (&cluster.a, &cluster.b);
    let mut rider_live = Live::open(a, &rider).await;
    rider_live.subscribe(&ride).await;
    let mut bad = Live::open(a, &rider).await;

    let cases: [(String, LiveErrorCode); 6] = [
        ("{not json".into(), LiveErrorCode::BadMessage),
        (r#"{"type":"teleport"}"#.into(), LiveErrorCode::BadMessage),
        (
            r#"{"type":"position","lat":"x","lng":1}"#.into(),
            LiveErrorCode::BadMessage,
        ),
        (
            format!(r#"{{"type":"subscribe","ride_id":"{}"}}"#, "x".repeat(8000)),
            LiveErrorCode::TooLarge,
        ),
        (
            r#"{"type":"position","lat":52.5,"lng":13.4}"#.into(),
            LiveErrorCode::Forbidden,
        ),
        (
            r#"{"type":"subscribe","ride_id":"zz"}"#.into(),
            LiveErrorCode::BadMessage,
        ),
    ];
    for (text, expected) in cases {
        bad.send_text(&text).await;
        let answer = bad.next().await;
        assert_eq!(error_code(&answer), Some(expected), "{answer:?}");
    }
    bad.ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(
        error_code(&bad.next().await),
        Some(LiveErrorCode::BadMessage)
    );
    // The same socket still works after its mistakes.
    assert_eq!(bad.subscribe(&ride).await["status"], "driver_assigned");

    // A flood is cut off with a reason; the server and the other sockets carry on.
    for _ in 0..60 {
        if bad.ws.send(Message::text("nonsense")).await.is_err() {
            break;
        }
    }
    let closed = bad.closed().await.expect("a close frame");
    assert_eq!(u16::from(closed.code), close::POLICY);
    assert!(closed.reason.contains("too many"), "{}", closed.reason);

    // A frame beyond the transport's limit ends that connection only.
    let mut huge = Live::open(a, &rider).await;
    let _ = huge.ws.send(Message::text("x".repeat(200 * 1024))).await;
    huge.closed().await;

    let mut driver_live = Live::open(b, &driver).await;
    let to = hail::domain::GeoPoint::new(52.5211, 13.4061).unwrap();
    driver_live.send(&ClientMessage::Position { at: to }).await;
    rider_live
        .wait_for("a position after the abuse", |m| {
            matches!(m, ServerMessage::Position { .. })
        })
        .await;
    let mut probe = Browser::new();
    assert_eq!(probe.get(a, "/healthz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn implausible_and_too_frequent_positions_are_refused_with_reasons() {
    let Assigned {
        cluster, driver, ..
    } = assigned_ride().await;
    let b = &cluster.b;
    let mut live = Live::open(b, &driver).await;

    // Across the city in an instant.
    let far = hail::domain::GeoPoint::new(52.5450, 13.3500).unwrap();
    live.send(&ClientMessage::Position { at: far }).await;
    let refused = live.next().await;
    assert_eq!(
        error_code(&refused),
        Some(LiveErrorCode::Implausible),
        "{refused:?}"
    );

    let mut limited = None;
    for step in 0..10 {
        let near = hail::domain::GeoPoint::new(52.5210 + step as f64 * 1e-5, 13.4060).unwrap();
        live.send(&ClientMessage::Position { at: near }).await;
    }
    while limited.is_none() {
        let message = live.next().await;
        if error_code(&message) == Some(LiveErrorCode::RateLimited) {
            limited = Some(message);
        }
    }
}

/// On one node Redis restarts with its data; on a cluster the region's primary is killed with
/// SIGKILL and its replica promoted (a failover).
#[tokio::test]
async fn after_losing_its_redis_node_the_stream_resumes_and_clients_are_told_to_resync() {
    let Assigned {
        mut cluster,
        rider,
        driver,
        ride,
    } = assigned_ride().await;
    let mut rider_live = Live::open(&cluster.a, &rider).await;
    let before = rider_live.subscribe(&ride).await;

    cluster.redis.lose_the_region_node().await;

    rider_live
        .wait_for("a resync", |m| matches!(m, ServerMessage::Resync { .. }))
        .await;
    let snapshot = rider_live.subscribe(&ride).await;
    assert_eq!(snapshot["status"], "driver_assigned");
    assert_eq!(snapshot["seq"], before["seq"], "the ride's state is intact");
    // The driver's instance reconnected by itself too: its positions flow again.
    let mut driver_live = Live::open(&cluster.b, &driver).await;
    let to = hail::domain::GeoPoint::new(52.5211, 13.4062).unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        driver_live.send(&ClientMessage::Position { at: to }).await;
        match rider_live.next_or_close(Duration::from_millis(500)).await {
            Ok(ServerMessage::Position { .. }) => break,
            _ => assert!(
                tokio::time::Instant::now() < deadline,
                "no position after the restart"
            ),
        }
    }
}

#[tokio::test]
async fn a_gap_in_sequence_numbers_makes_the_client_reload_the_ride() {
    let Assigned {
        cluster,
        driver: mut driver_http,
        rider,
        ride,
    } = assigned_ride().await;
    let (a, b) = (&cluster.a, &cluster.b);
    let mut live = Live::open(a, &rider).await;
    let seq = live.subscribe(&ride).await["seq"].as_u64().unwrap();
    let mut tracker = RideSeq::from_snapshot(seq);

    // A change the client never hears of: the ride's counter moves without a message.
    let mut redis = cluster.redis.connection().await;
    let key = format!("t:{{r:demo}}:ride:{ride}");
    let _: u64 = redis::cmd("HINCRBY")
        .arg(&key)
        .arg("seq")
        .arg(1)
        .query_async(&mut redis)
        .await
        .unwrap();
    let arrived = driver_http
        .ride_step(b, "/api/arrive", ride.as_str(), &[])
        .await;
    assert_eq!(arrived.status, StatusCode::OK, "{}", arrived.body);

    let ServerMessage::Status { seq: next, .. } = live
        .wait_for("a status", |m| matches!(m, ServerMessage::Status { .. }))
        .await
    else {
        unreachable!()
    };
    assert_eq!(tracker.observe(next), SeqCheck::Gap);
    let reloaded = live.subscribe(&ride).await;
    assert_eq!(reloaded["status"], "driver_arrived");
    assert_eq!(reloaded["seq"].as_u64(), Some(next));
}

#[tokio::test]
async fn logging_out_closes_that_logins_sockets_on_every_instance() {
    let cluster = Cluster::start().await;
    let (a, b) = (&cluster.a, &cluster.b);
    let mut rider = Browser::rider(a, "Rita").await;
    let mut on_a = Live::open(a, &rider).await;
    let mut on_b = Live::open(b, &rider).await;
    let other = Browser::rider(a, "Sam").await;
    let mut bystander = Live::open(b, &other).await;

    let out = rider.post(a, "/api/logout", &[]).await;
    assert!(
        out.status.is_success() || out.status.is_redirection(),
        "{}",
        out.status
    );

    for live in [&mut on_a, &mut on_b] {
        let frame = live.closed().await.expect("a close frame");
        assert_eq!(u16::from(frame.code), close::SESSION_ENDED);
        assert!(frame.reason.contains("logged out"), "{}", frame.reason);
    }
    bystander.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn an_expired_session_closes_its_socket_but_a_ride_keeps_it_alive() {
    let cluster = Cluster::start_with(|c| {
        fast_dispatch(c);
        c.session_idle_secs = 3;
        c.ws_ping_secs = 1;
    })
    .await;
    let (a, b) = (&cluster.a, &cluster.b);
    let idle = Browser::rider(a, "Ida").await;
    let mut idle_live = Live::open(a, &idle).await;
    let mut rider = Browser::rider(a, "Rita").await;
    let _driver = Browser::driver_online(b, "Dora", (52.5210, 13.4060)).await;
    let requested = rider.request_ride(a, &client_key()).await;
    assert_eq!(requested.status, StatusCode::OK, "{}", requested.body);
    let ride = RideId::parse(requested.json()["id"].as_str().unwrap()).unwrap();
    let mut riding_live = Live::open(b, &rider).await;

    // Both sockets are read (and so answer pings, as a browser does) while the idle one ends.
    let (closed, ()) = tokio::join!(
        idle_live.closed(),
        riding_live.stays_open(Duration::from_secs(5))
    );
    let frame = closed.expect("a close frame");
    assert_eq!(u16::from(frame.code), close::SESSION_ENDED);
    // Long past the idle time, the rider with a ride under way is still logged in.
    assert_eq!(riding_live.subscribe(&ride).await["id"], ride.as_str());
    assert_eq!(rider.me(a).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_ride_channel_is_subscribed_once_per_instance_and_released_after() {
    let Assigned {
        cluster,
        rider,
        ride,
        ..
    } = assigned_ride().await;
    let channel = format!("t:{{r:demo}}:ride:{ride}");
    let mut tabs = vec![
        Live::open(&cluster.a, &rider).await,
        Live::open(&cluster.a, &rider).await,
        Live::open(&cluster.a, &rider).await,
    ];
    for tab in &mut tabs {
        tab.subscribe(&ride).await;
    }
    assert_eq!(cluster.redis.subscribers(&channel).await, 1);

    tabs[0]
        .send(&ClientMessage::Unsubscribe {
            ride_id: ride.clone(),
        })
        .await;
    assert!(matches!(
        tabs[0].next().await,
        ServerMessage::Unsubscribed { .. }
    ));
    drop(tabs);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while cluster.redis.subscribers(&channel).await != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the channel was never released"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Positions between two checks in Redis are published by the driver's socket from memory
/// (server::tracker); news that the ride ended must reach that memory before the next one.
#[tokio::test]
async fn no_position_reaches_a_ride_after_it_was_cancelled() {
    let Assigned {
        cluster,
        mut rider,
        driver,
        ride,
    } = assigned_ride().await;
    let (a, b) = (&cluster.a, &cluster.b);
    let mut rider_live = Live::open(a, &rider).await;
    rider_live.subscribe(&ride).await;
    let mut driver_live = Live::open(b, &driver).await;
    // A few positions 250 ms apart: the first is checked in Redis, the next ones are not.
    for lng in [13.4061, 13.4062, 13.4063] {
        let at = hail::domain::GeoPoint::new(52.5210, lng).unwrap();
        driver_live.send(&ClientMessage::Position { at }).await;
        rider_live
            .wait_for(
                "the driver's position",
                |m| matches!(m, ServerMessage::Position { lng, .. } if *lng == at.lng()),
            )
            .await;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let cancelled = rider
        .ride_step(a, "/api/cancel_ride", ride.as_str(), &[])
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    rider_live
        .wait_for("the cancellation", |m| {
            matches!(
                m,
                ServerMessage::Status {
                    status: RideStatus::Cancelled,
                    ..
                }
            )
        })
        .await;
    // Well inside a second of the last check in Redis.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let after = hail::domain::GeoPoint::new(52.5210, 13.4064).unwrap();
    driver_live
        .send(&ClientMessage::Position { at: after })
        .await;

    rider_live.expect_silence(Duration::from_millis(700)).await;
    driver_live.expect_silence(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_free_driver_s_first_position_after_accepting_reaches_the_rider_at_once() {
    let cluster = Cluster::start_with(fast_dispatch).await;
    let (a, b) = (&cluster.a, &cluster.b);
    let mut rider = Browser::rider(a, "Rita").await;
    let mut driver = Browser::driver_online(b, "Dora", (52.5210, 13.4060)).await;
    let mut driver_live = Live::open(b, &driver).await;
    // Checked in Redis: a free driver. Until the next check, a second away, the socket would
    // keep further positions to itself, had it not heard that the driver took a ride.
    let free = hail::domain::GeoPoint::new(52.5210, 13.4061).unwrap();
    driver_live
        .send(&ClientMessage::Position { at: free })
        .await;
    let requested = rider.request_ride(a, &client_key()).await;
    assert_eq!(requested.status, StatusCode::OK, "{}", requested.body);
    let ride = RideId::parse(requested.json()["id"].as_str().unwrap()).unwrap();
    driver_live
        .wait_for("the offer", |m| matches!(m, ServerMessage::Offer { .. }))
        .await;
    let accepted = driver.ride_step(b, "/api/accept", ride.as_str(), &[]).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    let mut rider_live = Live::open(a, &rider).await;
    rider_live.subscribe(&ride).await;

    let at = hail::domain::GeoPoint::new(52.5210, 13.4064).unwrap();
    driver_live.send(&ClientMessage::Position { at }).await;

    rider_live
        .wait_for(
            "that very position",
            |m| matches!(m, ServerMessage::Position { lng, .. } if *lng == at.lng()),
        )
        .await;
}

/// Counts in Prometheus's text, by the line's name and labels as written
/// (`hail_messages_sent_total{type="snapshot"}`); every line must be a comment or a sample.
fn samples(text: &str) -> std::collections::HashMap<String, f64> {
    assert!(text.ends_with("# EOF\n"), "no EOF marker: {text}");
    let mut samples = std::collections::HashMap::new();
    for line in text.lines() {
        if line.starts_with("# HELP ")
            || line.starts_with("# TYPE ")
            || line.starts_with("# UNIT ")
            || line == "# EOF"
        {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample: {line:?}"));
        let name = series.split('{').next().unwrap();
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "bad labels in {line:?}"
            );
        }
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("not a number in {line:?}")),
        };
        samples.insert(series.to_owned(), value);
    }
    samples
}

async fn metrics(app: &TestApp) -> std::collections::HashMap<String, f64> {
    let answer = reqwest::get(app.url("/metrics")).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let kind = answer.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    samples(&answer.text().await.unwrap())
}

fn moved(
    before: &std::collections::HashMap<String, f64>,
    after: &std::collections::HashMap<String, f64>,
    series: &str,
) -> f64 {
    let at = |m: &std::collections::HashMap<String, f64>| m.get(series).copied().unwrap_or(0.0);
    at(after) - at(before)
}

#[tokio::test]
async fn each_instance_counts_its_own_sockets_messages_and_requests() {
    let Assigned {
        cluster,
        mut rider,
        ride,
        ..
    } = assigned_ride().await;
    let (a, b) = (&cluster.a, &cluster.b);
    let before = metrics(a).await;
    let before_b = metrics(b).await;

    let mut live = Live::open(a, &rider).await;
    live.subscribe(&ride).await;
    live.send_text("not json").await;
    assert_eq!(
        error_code(&live.next().await),
        Some(LiveErrorCode::BadMessage)
    );
    let me = rider.me(a).await;
    assert_eq!(me.status, StatusCode::OK);
    assert!(me.headers.contains_key("x-hail-instance"));
    let missing = reqwest::get(a.url("/no/such/page")).await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let open = metrics(a).await;
    for (series, by) in [
        ("hail_sockets_opened_total", 1.0),
        ("hail_sockets_open", 1.0),
        ("hail_messages_received_total{type=\"subscribe\"}", 1.0),
        ("hail_messages_received_total{type=\"invalid\"}", 1.0),
        ("hail_messages_sent_total{type=\"welcome\"}", 1.0),
        ("hail_messages_sent_total{type=\"snapshot\"}", 1.0),
        ("hail_messages_sent_total{type=\"error\"}", 1.0),
        ("hail_messages_refused_total{code=\"bad_message\"}", 1.0),
        (
            "hail_http_requests_total{route=\"/api/me\",status=\"200\"}",
            1.0,
        ),
        (
            "hail_http_requests_total{route=\"unmatched\",status=\"404\"}",
            1.0,
        ),
        (
            "hail_http_request_duration_seconds_count{route=\"/api/me\"}",
            1.0,
        ),
    ] {
        assert_eq!(moved(&before, &open, series), by, "{series}");
    }
    // The user's channel and the ride's: subscribed in Redis by this instance.
    assert!(open["hail_channels_subscribed"] >= 2.0, "{open:?}");
    assert!(open["hail_dispatch_ticks_total"] >= 1.0);
    // The ride was offered and accepted through the two instances: each counted its own part.
    let offers = |m: &std::collections::HashMap<String, f64>, outcome: &str| {
        m.get(&format!("hail_offers_total{{outcome=\"{outcome}\"}}"))
            .copied()
            .unwrap_or(0.0)
    };
    assert!(offers(&before, "made") + offers(&before_b, "made") >= 1.0);
    assert_eq!(offers(&before_b, "accepted"), 1.0);
    // The other instance saw none of this socket.
    assert_eq!(
        moved(&before_b, &metrics(b).await, "hail_sockets_opened_total"),
        0.0
    );

    live.ws
        .close(Some(CloseFrame {
            code: 1000.into(),
            reason: "bye".into(),
        }))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let closed = metrics(a).await;
        if moved(&before, &closed, "hail_sockets_closed_total{code=\"1000\"}") == 1.0 {
            assert_eq!(moved(&before, &closed, "hail_sockets_open"), 0.0);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never counted as closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What a rolling restart relies on: an instance told to stop (SIGTERM in production) closes
/// its sockets with 1001 at once, takes no new connection, releases its subscriptions and
/// finishes within its drain; the rider, back through the other instance, sees the car again.
#[tokio::test]
async fn a_draining_instance_sends_its_sockets_away_and_they_resume_on_another() {
    let Assigned {
        mut cluster,
        rider,
        driver,
        ride,
    } = assigned_ride().await;
    let channel = format!("t:{{r:demo}}:ride:{ride}");
    let mut on_a = Live::open(&cluster.a, &rider).await;
    on_a.subscribe(&ride).await;
    let mut driver_live = Live::open(&cluster.b, &driver).await;

    let state_a = cluster.a.state.clone();
    let ready = || hail::server::health::readyz(axum::extract::State(state_a.clone()));
    assert_eq!(ready().await.0, StatusCode::OK);
    cluster.a.begin_stop();
    let frame = on_a.closed().await.expect("a close frame");
    // Not ready from the moment the drain began (a balancer's check on a kept-alive connection
    // would see it; new connections are refused outright, below).
    assert_eq!(ready().await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(u16::from(frame.code), close::GOING_AWAY);
    assert!(
        TcpStream::connect(cluster.a.addr).await.is_err(),
        "a draining instance takes no new connection"
    );
    assert!(
        cluster.a.stopped_within(Duration::from_secs(10)).await,
        "the instance finished draining (default HAIL_DRAIN_SECS: 10) and returned Ok"
    );

    let mut on_b = Live::open(&cluster.b, &rider).await;
    let snapshot = on_b.subscribe(&ride).await;
    assert_eq!(snapshot["status"], "driver_assigned");
    let to = hail::domain::GeoPoint::new(52.5213, 13.4064).unwrap();
    driver_live.send(&ClientMessage::Position { at: to }).await;
    on_b.wait_for(
        "the driver's position",
        |m| matches!(m, ServerMessage::Position { lat, .. } if *lat == to.lat()),
    )
    .await;

    // Only B still follows the ride in Redis: A's connection and its subscriptions are gone.
    assert_eq!(cluster.redis.subscribers(&channel).await, 1);
}
