//! Bad days, with real processes: Redis killed with SIGKILL in the middle of rides (and started
//! again from its append-only file), an instance killed with SIGKILL while it holds offers and
//! sockets, and a client that stops reading.

use std::time::Duration;

use hail::domain::live::{ClientMessage, ServerMessage};
use hail::domain::ride::{RideId, RideStatus};
use reqwest::StatusCode;

use crate::harness::*;
use crate::live::{Ended, Live, PATIENCE};

fn near_pickup(metres: f64) -> (f64, f64) {
    (PICKUP.0 + metres / 111_195.0, PICKUP.1)
}

/// A ride requested by `rider` and accepted by `driver` (the nearest free driver).
async fn accepted(cluster: &Cluster, rider: &mut Browser, driver: &mut Browser) -> String {
    let requested = rider.request_ride(&cluster.a, &client_key()).await;
    assert_eq!(requested.status, StatusCode::OK, "{}", requested.body);
    let id = requested.json()["id"].as_str().unwrap().to_owned();
    driver
        .wait_for_current(&cluster.b, 5, |c| c["id"].as_str() == Some(&id))
        .await;
    let accepted = driver.ride_step(&cluster.b, "/api/accept", &id, &[]).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    id
}

/// Waits until both instances answer /readyz again.
async fn ready_again(cluster: &Cluster) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    for app in [&cluster.a, &cluster.b] {
        loop {
            let ready = reqwest::get(app.url("/readyz")).await.map(|r| r.status());
            if matches!(ready, Ok(StatusCode::OK)) {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "not ready again");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test]
async fn redis_killed_mid_ride_comes_back_from_its_log_with_every_account_and_ride() {
    let durable = Store::Node(TestRedis::start_durable().await);
    let mut cluster = Cluster::on_store(durable, |c| {
        fast_dispatch(c);
        teleporting_drivers(c);
        c.search_timeout_secs = 120;
    })
    .await;

    // Rides in three states: a driver on the way, a trip under way, a search with nobody free.
    let mut dan = Browser::driver_online(&cluster.b, "Dan", near_pickup(300.0)).await;
    let mut rita = Browser::rider(&cluster.a, "Rita").await;
    let assigned = accepted(&cluster, &mut rita, &mut dan).await;
    let mut dora = Browser::driver_online(&cluster.a, "Dora", near_pickup(600.0)).await;
    let mut rob = Browser::rider(&cluster.b, "Rob").await;
    let in_trip = accepted(&cluster, &mut rob, &mut dora).await;
    dora.ride_step(&cluster.a, "/api/arrive", &in_trip, &[])
        .await;
    let pin = rob.ride(&cluster.b, &in_trip).await.json()["pin"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = dora
        .ride_step(&cluster.b, "/api/start_trip", &in_trip, &[("pin", &pin)])
        .await;
    assert_eq!(started.json()["status"], "in_progress", "{}", started.body);
    let mut sue = Browser::rider(&cluster.a, "Sue").await;
    let searching = sue.request_ride(&cluster.a, &client_key()).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut before = Vec::new();
    for (rider, id) in [
        (&mut rita, &assigned),
        (&mut rob, &in_trip),
        (&mut sue, &searching),
    ] {
        before.push(rider.ride(&cluster.a, id).await.json());
    }
    let mut rider_live = Live::open(&cluster.a, &rita).await;
    rider_live
        .subscribe(&RideId::parse(&assigned).unwrap())
        .await;

    // Older than the fsync window (a second), then SIGKILL, then the same server again.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let Store::Node(redis) = &mut cluster.redis else {
        unreachable!("one node")
    };
    redis.stop();
    redis.restart().await;
    ready_again(&cluster).await;

    // Sessions, accounts and rides are as they were; the live socket is told to catch up.
    rider_live
        .wait_for("resync", |m| matches!(m, ServerMessage::Resync { .. }))
        .await;
    for (i, (rider, id)) in [
        (&mut rita, &assigned),
        (&mut rob, &in_trip),
        (&mut sue, &searching),
    ]
    .into_iter()
    .enumerate()
    {
        let now = rider.ride(&cluster.b, id).await;
        assert_eq!(now.status, StatusCode::OK, "{}", now.body);
        let now = now.json();
        for field in ["status", "seq", "pin", "fare", "driver"] {
            assert_eq!(now[field], before[i][field], "{field} of {id}");
        }
        let status: RideStatus = now["status"].as_str().unwrap().parse().unwrap();
        assert!(RideStatus::ALL.contains(&status));
    }
    for browser in [&mut rita, &mut rob, &mut sue, &mut dan, &mut dora] {
        assert_eq!(browser.me(&cluster.a).await.status, StatusCode::OK);
    }
    // The rides go on, moved by either instance: the trip ends, the search finds a new driver.
    let done = dora
        .ride_step(&cluster.a, "/api/complete", &in_trip, &[])
        .await;
    assert_eq!(done.json()["status"], "completed", "{}", done.body);
    let mut eve = Browser::driver_online(&cluster.b, "Eve", near_pickup(400.0)).await;
    eve.wait_for_current(&cluster.a, 10, |c| c["id"].as_str() == Some(&searching))
        .await;
    let arrived = dan
        .ride_step(&cluster.b, "/api/arrive", &assigned, &[])
        .await;
    assert_eq!(
        arrived.json()["status"],
        "driver_arrived",
        "{}",
        arrived.body
    );
    // A fresh login works too: the accounts are all there.
    let mut again = Browser::new();
    let email = rita.me(&cluster.a).await.json()["email"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        again
            .log_in(&cluster.b, &email, "correct horse")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_instance_killed_with_sigkill_leaves_its_offers_and_its_clients_to_the_other() {
    let redis = TestRedis::start().await;
    let fast = [
        ("HAIL_OFFER_TIMEOUT_SECS", "2"),
        ("HAIL_DISPATCH_POLL_MS", "50"),
        ("HAIL_SEARCH_RETRY_MS", "200"),
    ];
    let mut doomed = TestProcess::spawn(&redis.url(), &fast).await;
    let mut config = config(&redis);
    fast_dispatch(&mut config);
    let b = TestApp::spawn(config).await;

    let mut near = Browser::driver_online(&doomed, "Nia", near_pickup(300.0)).await;
    let mut far = Browser::driver_online(&b, "Fay", near_pickup(1_500.0)).await;
    let mut rider = Browser::rider(&doomed, "Rita").await;
    let mut rider_live = Live::open(&doomed, &rider).await;
    let mut near_live = Live::open(&doomed, &near).await;
    let requested = rider.request_ride(&doomed, &client_key()).await;
    let id = requested.json()["id"].as_str().unwrap().to_owned();
    let ride = RideId::parse(&id).unwrap();
    rider_live.subscribe(&ride).await;
    near_live
        .wait_for("the offer", |m| matches!(m, ServerMessage::Offer { .. }))
        .await;

    doomed.kill();

    // Its sockets are cut (no close frame: nothing was left to send one).
    assert!(matches!(
        rider_live.next_or_close(PATIENCE).await,
        Err(Ended::Closed(_))
    ));
    // The offer it held lapses by the other instance's dispatcher and moves on.
    far.wait_for_current(&b, 10, |c| c["id"].as_str() == Some(&id))
        .await;
    assert!(near.current_ride(&b).await.is_null());
    // The rider reconnects to the other instance and sees where the ride is now.
    let mut rider_live = Live::open(&b, &rider).await;
    let snapshot = rider_live.subscribe(&ride).await;
    assert_eq!(snapshot["status"], "searching");
    let accepted = far.ride_step(&b, "/api/accept", &id, &[]).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    rider_live
        .wait_for("the new status", |m| {
            matches!(
                m,
                ServerMessage::Status {
                    status: RideStatus::DriverAssigned,
                    ..
                }
            )
        })
        .await;
    // The killed instance's sessions were in Redis: they go on elsewhere.
    assert_eq!(near.me(&b).await.status, StatusCode::OK);
}

/// A live socket whose reader stops: the client's receive buffer is kept tiny, so the server's
/// writes back up as soon as it stops reading.
async fn stalled_socket(
    app: &impl Instance,
    browser: &Browser,
    ride: &RideId,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    let stream = socket.connect(app.addr()).await.unwrap();
    let mut request = format!("ws://{}/ws", app.addr())
        .into_client_request()
        .unwrap();
    let headers = request.headers_mut();
    headers.insert(
        "cookie",
        format!("{COOKIE_NAME}={}", browser.cookie.as_deref().unwrap())
            .parse()
            .unwrap(),
    );
    headers.insert("origin", format!("http://{}", app.addr()).parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("the upgrade");
    let subscribe = ClientMessage::Subscribe {
        ride_id: ride.clone(),
    };
    ws.send(Message::text(subscribe.to_json())).await.unwrap();
    // The welcome and the snapshot; from here on it reads nothing.
    for _ in 0..2 {
        ws.next().await.expect("a message").expect("read");
    }
    ws
}

#[tokio::test]
async fn a_client_that_stops_reading_delays_nobody_and_is_cut_off_with_bounded_memory() {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;

    let redis = TestRedis::start().await;
    let settings = [
        ("HAIL_MAX_SPEED_KMH", "1000000"),
        ("HAIL_POSITIONS_PER_SEC", "10000"),
    ];
    let instance = TestProcess::spawn(&redis.url(), &settings).await;
    let mut config = config(&redis);
    fast_dispatch(&mut config);
    teleporting_drivers(&mut config);
    let b = TestApp::spawn(config).await;
    let mut driver = Browser::driver_online(&b, "Dan", near_pickup(300.0)).await;
    let mut rider = Browser::rider(&instance, "Rita").await;
    let requested = rider.request_ride(&instance, &client_key()).await;
    let ride = RideId::parse(requested.json()["id"].as_str().unwrap()).unwrap();
    driver
        .wait_for_current(&b, 5, |c| c["id"].as_str() == Some(ride.as_str()))
        .await;
    let accepted = driver
        .ride_step(&b, "/api/accept", ride.as_str(), &[])
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);

    let mut healthy = Live::open(&instance, &rider).await;
    healthy.subscribe(&ride).await;
    let mut stalled = stalled_socket(&instance, &rider, &ride).await;
    let mut driver_live = Live::open(&b, &driver).await;
    let before = instance.resident_bytes();

    // Positions as fast as the driver's socket may send them, for longer than the server waits
    // on a socket that takes nothing (5 s), while the healthy socket reads on.
    let reader = tokio::spawn(async move {
        let mut received = 0u32;
        let mut last = None;
        loop {
            match healthy.next_or_close(Duration::from_secs(3)).await {
                Ok(ServerMessage::Position { lat, .. }) => {
                    received += 1;
                    last = Some(lat);
                }
                Ok(_) => {}
                Err(_) => return (received, last),
            }
        }
    });
    let mut peak = before;
    let started = tokio::time::Instant::now();
    let mut n = 0u32;
    while started.elapsed() < Duration::from_secs(9) {
        n += 1;
        let at = hail::domain::GeoPoint::parse(
            &format!("{:.7}", PICKUP.0 + f64::from(n) * 1e-7),
            &PICKUP.1.to_string(),
        )
        .unwrap();
        driver_live.send(&ClientMessage::Position { at }).await;
        if n.is_multiple_of(200) {
            peak = peak.max(instance.resident_bytes());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let last_sent = PICKUP.0 + f64::from(n) * 1e-7;
    let (received, last) = reader.await.unwrap();

    // The healthy socket kept up: it saw positions all along, and the last one.
    assert!(
        received > 100,
        "the healthy socket got only {received} of {n}"
    );
    assert!(
        last.is_some_and(|lat| (lat - last_sent).abs() < 1e-9),
        "the healthy socket's last position {last:?}, sent {last_sent}"
    );
    // The instance's memory stayed bounded while the socket stalled.
    let growth = peak.saturating_sub(before);
    assert!(growth < 64 << 20, "grew by {} MiB", growth >> 20);
    // Reading again, the stalled client finds it was told to resync, or cut off.
    let mut told = false;
    let drained = tokio::time::timeout(PATIENCE, async {
        while let Some(frame) = stalled.next().await {
            match frame {
                Ok(Message::Text(text)) => {
                    if matches!(
                        ServerMessage::parse(text.as_str()),
                        Ok(ServerMessage::Resync { .. })
                    ) {
                        told = true;
                        return;
                    }
                }
                Ok(Message::Close(_)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        drained.is_ok() || told,
        "the stalled socket was neither told nor cut off"
    );
    eprintln!(
        "stalled client: {n} positions sent, {received} received by the healthy socket, \
         instance memory +{} KiB at most, stalled socket {}",
        growth >> 10,
        if told { "told to resync" } else { "cut off" }
    );
}
