//! Benchmark: live positions over real WebSockets, from a driver on one instance to the rider
//! on the other, and what a thousand idle sockets cost them.
//!
//! Run: `cargo bench --features ssr --bench live` (release build; its own redis-server on a
//! free port, two in-process instances, the WebSocket clients in the same process). Each ride
//! has its rider's socket on A, subscribed to the ride, and its driver's socket on B sending
//! positions; latency is from the driver's send to the rider's receipt of that very position,
//! both on this process's clock. Results go to BENCHMARKS.md with conditions.
//!
//! `HAIL_TEST_TOPOLOGY=cluster` runs it on a six-node Redis Cluster instead, and adds a
//! failover: the region's primary is killed while 10 rides stream.

#[path = "../tests/integration/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{stream, SinkExt, StreamExt};
use hail::domain::live::{ClientMessage, ServerMessage};
use hail::domain::ride::{RideId, RideStatus};
use hail::domain::GeoPoint;
use hail::server::Config;
use harness::{
    client_key, fast_dispatch, teleporting_drivers, Browser, Cluster, TestApp, Topology,
    COOKIE_NAME, PICKUP,
};
use reqwest::StatusCode;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Rides streaming at once in the first part.
const RIDES: usize = 50;
/// Positions per second from each driver: the server's default per-driver limit, so this is
/// every driver sending as fast as a real one may (the socket's own limit is 10 a second).
const POSITIONS_PER_SEC: u32 = 5;
const STREAM_FOR: Duration = Duration::from_secs(20);
/// Rides streaming in the second part, with and without the idle sockets.
const FEW: usize = 10;
/// Longer than the default ping interval (20 s), so the idle sockets' pings and session checks
/// fall inside the window.
const FEW_FOR: Duration = Duration::from_secs(25);
/// Idle sockets: riders without rides, half on each instance.
const IDLE: usize = 1000;
/// Sign-ups at once: each is an Argon2 hash on the blocking pool, and there are 2 cores.
const SIGNUPS_AT_ONCE: usize = 8;
const CONNECTS_AT_ONCE: usize = 64;
/// How long a rider keeps listening after the last send, for positions still on the way.
const GRACE: Duration = Duration::from_secs(2);
const PATIENCE: Duration = Duration::from_secs(10);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
/// When each position of one ride was sent, by its number.
type Ledger = Arc<Mutex<HashMap<u32, Instant>>>;

/// A ride accepted by its driver: the two logins that follow it.
struct Ride {
    id: RideId,
    rider_cookie: String,
    driver_cookie: String,
}

/// Each ride's driver keeps its own latitude, and counts its positions in the longitude, so the
/// rider can tell which position arrived (cjson keeps 14 significant digits: enough).
fn position(ride: usize, n: u32) -> (f64, f64) {
    (
        PICKUP.0 + ride as f64 * 1e-4,
        PICKUP.1 + f64::from(n) * 1e-6,
    )
}

fn which_position(ride: usize, lat: f64, lng: f64) -> Option<u32> {
    let n = ((lng - PICKUP.1) * 1e6).round();
    let expected = position(ride, 0).0;
    ((lat - expected).abs() < 1e-9 && n >= 0.0).then_some(n as u32)
}

/// Opens `/ws` on `app` as a page of `app` would, and reads the welcome.
async fn open(app: &TestApp, cookie: &str) -> Socket {
    let mut request = format!("ws://{}/ws", app.addr)
        .into_client_request()
        .unwrap();
    let headers = request.headers_mut();
    headers.insert("cookie", format!("{COOKIE_NAME}={cookie}").parse().unwrap());
    headers.insert("origin", format!("http://{}", app.addr).parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the upgrade is accepted");
    let welcome = next_message(&mut ws).await;
    assert!(
        matches!(welcome, ServerMessage::Welcome { .. }),
        "{welcome:?}"
    );
    ws
}

async fn next_message(ws: &mut Socket) -> ServerMessage {
    loop {
        let frame = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("a message in time");
        match frame {
            Some(Ok(Message::Text(text))) => {
                return ServerMessage::parse(text.as_str()).expect("a valid message")
            }
            Some(Ok(_)) => continue,
            other => panic!("the socket ended: {other:?}"),
        }
    }
}

/// Signs up `n` riders, `SIGNUPS_AT_ONCE` at a time, alternating instances; their cookies.
/// The clients themselves are dropped, so no idle HTTP connection is left behind.
async fn rider_cookies(cluster: &Cluster, n: usize, name: &str) -> Vec<String> {
    stream::iter(0..n)
        .map(|i| {
            let app = if i.is_multiple_of(2) {
                &cluster.a
            } else {
                &cluster.b
            };
            async move {
                let rider = Browser::rider(app, &format!("{name} {i}")).await;
                rider.cookie.expect("a session cookie")
            }
        })
        .buffer_unordered(SIGNUPS_AT_ONCE)
        .collect()
        .await
}

/// `n` rides, each with its rider on A and its driver on B. Drivers sign up in parallel but go
/// online one at a time, each just before its rider asks: the only free driver gets the offer.
async fn assigned_rides(cluster: &Cluster, n: usize) -> Vec<Ride> {
    let (a, b) = (&cluster.a, &cluster.b);
    let drivers: Vec<Browser> = stream::iter(0..n)
        .map(|i| async move { Browser::driver_with_car(b, &format!("Driver {i}")).await })
        .buffer_unordered(SIGNUPS_AT_ONCE)
        .collect()
        .await;
    let riders: Vec<Browser> = stream::iter(0..n)
        .map(|i| async move { Browser::rider(a, &format!("Rider {i}")).await })
        .buffer_unordered(SIGNUPS_AT_ONCE)
        .collect()
        .await;
    let mut rides = Vec::new();
    for (i, (mut driver, mut rider)) in drivers.into_iter().zip(riders).enumerate() {
        driver.go_online(b, position(i, 0)).await;
        let requested = rider.request_ride(a, &client_key()).await;
        assert_eq!(requested.status, StatusCode::OK, "{}", requested.body);
        let id = requested.json()["id"].as_str().unwrap().to_owned();
        let accepted = driver.ride_step(b, "/api/accept", &id, &[]).await;
        assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
        rides.push(Ride {
            id: RideId::parse(&id).unwrap(),
            rider_cookie: rider.cookie.unwrap(),
            driver_cookie: driver.cookie.unwrap(),
        });
    }
    rides
}

/// One rider's socket: matches each position to the driver's send; stops at `until`.
async fn follow(
    mut ws: Socket,
    ride: usize,
    id: RideId,
    sent: Ledger,
    until: Instant,
) -> (Socket, Vec<(Instant, Duration)>, usize) {
    let (mut latencies, mut unmatched) = (Vec::new(), 0);
    while let Ok(frame) = tokio::time::timeout_at(until, ws.next()).await {
        let received = Instant::now();
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            other => panic!("ride {ride}: the rider's socket ended: {other:?}"),
        };
        match ServerMessage::parse(text.as_str()).expect("a valid message") {
            ServerMessage::Position {
                ride_id, lat, lng, ..
            } if ride_id == id => {
                let at =
                    which_position(ride, lat, lng).and_then(|n| sent.lock().unwrap().remove(&n));
                match at {
                    Some(at) => latencies.push((at, received - at)),
                    None => unmatched += 1,
                }
            }
            other => println!("ride {ride}: the rider was also sent {other:?}"),
        }
    }
    (ws, latencies, unmatched)
}

/// One driver's socket: a position every `period` from `first` until `until`; answers are
/// read meanwhile (a refusal would show up here). Returns how many were sent and refused.
async fn drive(
    mut ws: Socket,
    ride: usize,
    sent: Ledger,
    first: Instant,
    period: Duration,
    until: Instant,
) -> (Socket, u32, usize) {
    let mut tick = tokio::time::interval_at(first, period);
    // Catching up in a burst would trip the socket's rate limit, which is not what is measured.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut n, mut refused) = (0, 0);
    loop {
        tokio::select! {
            at = tick.tick() => {
                if at >= until {
                    break;
                }
                n += 1;
                let (lat, lng) = position(ride, n);
                let message = ClientMessage::Position {
                    at: GeoPoint::new(lat, lng).unwrap(),
                };
                sent.lock().unwrap().insert(n, Instant::now());
                ws.send(Message::text(message.to_json())).await.expect("sent");
            }
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    refused += 1;
                    println!("ride {ride}: the driver was answered {text}");
                }
                Some(Ok(_)) => {}
                other => panic!("ride {ride}: the driver's socket ended: {other:?}"),
            },
        }
    }
    (ws, n, refused)
}

struct Outcome {
    /// When each delivered position was sent, and how long it took.
    latencies: Vec<(Instant, Duration)>,
    start: Instant,
    sent: u32,
    refused: usize,
    unmatched: usize,
    window: Duration,
}

impl Outcome {
    fn print(mut self, name: &str) {
        self.latencies.sort_by_key(|(_, took)| *took);
        let pick = |q: f64| {
            let i = ((self.latencies.len() as f64 - 1.0) * q).round() as usize;
            self.latencies[i].1.as_secs_f64() * 1000.0
        };
        println!(
            "{name:<44} n={:<5} {:>5.0} msg/s   p50 {:>5.2} ms   p90 {:>5.2} ms   p99 {:>6.2} ms   max {:>6.2} ms",
            self.latencies.len(),
            self.latencies.len() as f64 / self.window.as_secs_f64(),
            pick(0.50),
            pick(0.90),
            pick(0.99),
            pick(1.0),
        );
        let missing = self.sent as usize - self.latencies.len();
        let over = |ms: u64| {
            let limit = Duration::from_millis(ms);
            self.latencies.iter().filter(|(_, t)| *t > limit).count()
        };
        // Where in the window the slow ones were: a burst points at a cause (pings, the
        // machine's other work), a spread at the steady cost.
        let mut slow_by_second = std::collections::BTreeMap::new();
        for (at, took) in &self.latencies {
            if *took > Duration::from_millis(5) {
                let second = at.saturating_duration_since(self.start).as_secs();
                *slow_by_second.entry(second).or_insert(0) += 1;
            }
        }
        let worst = self.latencies.last().map_or(0.0, |(at, _)| {
            at.saturating_duration_since(self.start).as_secs_f64()
        });
        println!(
            "{:<44} sent {}, delivered {}, not delivered {missing} (refused {}, unmatched {}); over 5 ms: {}, over 10 ms: {}; the slowest sent at +{worst:.1} s",
            "",
            self.sent,
            self.latencies.len(),
            self.refused,
            self.unmatched,
            over(5),
            over(10),
        );
        if !slow_by_second.is_empty() {
            let seconds: Vec<String> = slow_by_second
                .iter()
                .map(|(second, n)| format!("+{second} s: {n}"))
                .collect();
            println!(
                "{:<44} over 5 ms by second of the window: {}",
                "",
                seconds.join(", ")
            );
        }
    }
}

/// Every ride in `rides` streams positions for `length`, drivers spread evenly over the period.
async fn stream_positions(cluster: &Cluster, rides: &[Ride], length: Duration) -> Outcome {
    let (a, b) = (&cluster.a, &cluster.b);
    // Every socket is open and subscribed before the clock starts.
    let mut sockets = Vec::new();
    for ride in rides {
        let mut rider = open(a, &ride.rider_cookie).await;
        let subscribe = ClientMessage::Subscribe {
            ride_id: ride.id.clone(),
        };
        rider
            .send(Message::text(subscribe.to_json()))
            .await
            .unwrap();
        match next_message(&mut rider).await {
            ServerMessage::Snapshot { ride } => assert_eq!(ride.status, RideStatus::DriverAssigned),
            other => panic!("expected a snapshot, got {other:?}"),
        }
        sockets.push((rider, open(b, &ride.driver_cookie).await));
    }
    let period = Duration::from_secs(1) / POSITIONS_PER_SEC;
    let start = Instant::now() + Duration::from_millis(200);
    let stop = start + length;
    let mut followers = Vec::new();
    let mut drivers = Vec::new();
    for (i, (ride, (rider, driver))) in rides.iter().zip(sockets).enumerate() {
        let sent = Ledger::default();
        followers.push(tokio::spawn(follow(
            rider,
            i,
            ride.id.clone(),
            sent.clone(),
            stop + GRACE,
        )));
        let first = start + period * i as u32 / rides.len() as u32;
        drivers.push(tokio::spawn(drive(driver, i, sent, first, period, stop)));
    }
    let mut outcome = Outcome {
        latencies: Vec::new(),
        start,
        sent: 0,
        refused: 0,
        unmatched: 0,
        window: length,
    };
    // The drivers' sockets stay open until the riders are done listening.
    let mut open_drivers = Vec::new();
    for driver in drivers {
        let (ws, sent, refused) = driver.await.unwrap();
        outcome.sent += sent;
        outcome.refused += refused;
        open_drivers.push(ws);
    }
    for follower in followers {
        let (_ws, latencies, unmatched) = follower.await.unwrap();
        outcome.latencies.extend(latencies);
        outcome.unmatched += unmatched;
    }
    outcome
}

#[tokio::main]
async fn main() {
    let cluster = Cluster::start_with(|c| {
        fast_dispatch(c);
        teleporting_drivers(c);
    })
    .await;

    let t = Instant::now();
    let rides = assigned_rides(&cluster, RIDES).await;
    println!(
        "{RIDES} rides assigned in {:.1} s (rider on A, driver on B; {} sign-ups)",
        t.elapsed().as_secs_f64(),
        2 * RIDES
    );
    println!(
        "each driver sends {POSITIONS_PER_SEC} positions/s over its socket on B to its rider's socket on A"
    );
    stream_positions(&cluster, &rides, STREAM_FOR)
        .await
        .print(&format!("{RIDES} rides, {} s", STREAM_FOR.as_secs()));

    let few = &rides[..FEW];
    stream_positions(&cluster, few, FEW_FOR)
        .await
        .print(&format!(
            "{FEW} rides, no idle sockets, {} s",
            FEW_FOR.as_secs()
        ));

    let t = Instant::now();
    let idle = rider_cookies(&cluster, IDLE, "Idle").await;
    println!(
        "{IDLE} idle riders signed up in {:.1} s ({SIGNUPS_AT_ONCE} at a time, one Argon2 hash each)",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let mut connects: Vec<(Socket, Duration)> = stream::iter(idle.iter().enumerate())
        .map(|(i, cookie)| {
            let app = if i.is_multiple_of(2) {
                &cluster.a
            } else {
                &cluster.b
            };
            async move {
                let t = Instant::now();
                let ws = open(app, cookie).await;
                (ws, t.elapsed())
            }
        })
        .buffer_unordered(CONNECTS_AT_ONCE)
        .collect()
        .await;
    let opening = t.elapsed();
    connects.sort_by_key(|(_, d)| *d);
    let pick = |q: f64| {
        let i = ((connects.len() as f64 - 1.0) * q).round() as usize;
        connects[i].1.as_secs_f64() * 1000.0
    };
    println!(
        "{IDLE} idle sockets opened in {:.2} s ({CONNECTS_AT_ONCE} at a time, half on each instance): upgrade + welcome p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        opening.as_secs_f64(),
        pick(0.5),
        pick(0.99),
        pick(1.0),
    );
    // Read like a browser reads (which also answers pings); anything they hear is counted.
    let heard = Arc::new(AtomicUsize::new(0));
    let ended = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = connects
        .into_iter()
        .map(|(mut ws, _)| {
            let (heard, ended) = (heard.clone(), ended.clone());
            tokio::spawn(async move {
                while let Some(Ok(frame)) = ws.next().await {
                    if frame.is_text() {
                        heard.fetch_add(1, Ordering::Relaxed);
                    }
                }
                ended.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let loaded = stream_positions(&cluster, few, FEW_FOR).await;
    // The sockets were opened within a moment of each other, so their pings (each with a
    // session read) come in one burst per interval.
    let ping_every = Duration::from_secs(Config::for_redis("").ws_ping_secs);
    let pings = (t + ping_every).saturating_duration_since(loaded.start);
    loaded.print(&format!(
        "{FEW} rides, {IDLE} idle sockets, {} s",
        FEW_FOR.as_secs()
    ));
    println!(
        "the idle sockets heard {} messages and {} of them closed meanwhile; their first pings were due from +{:.1} s to +{:.1} s",
        heard.load(Ordering::Relaxed),
        ended.load(Ordering::Relaxed),
        pings.as_secs_f64(),
        (pings + opening).as_secs_f64(),
    );
    for reader in readers {
        reader.abort();
    }

    if cluster.redis.topology() == Topology::Cluster {
        failover(&cluster, few).await;
    }
}

/// On a cluster: the region's primary is killed with SIGKILL while the rides stream; how long
/// riders heard nothing, and how many positions were lost, until the replica took over and
/// both instances found it by themselves.
async fn failover(cluster: &Cluster, rides: &[Ride]) {
    const KILL_AT: Duration = Duration::from_secs(3);
    const FOR: Duration = Duration::from_secs(15);
    let killer = async {
        tokio::time::sleep(Duration::from_millis(200) + KILL_AT).await;
        (Instant::now(), cluster.redis.kill_region_primary().await)
    };
    let (outcome, (killed_at, port)) =
        futures::join!(stream_positions(cluster, rides, FOR), killer);
    let mut received: Vec<Instant> = outcome
        .latencies
        .iter()
        .map(|(sent, took)| *sent + *took)
        .collect();
    received.sort();
    let (gap, from) = received
        .windows(2)
        .map(|w| (w[1] - w[0], w[0]))
        .max_by_key(|(gap, _)| *gap)
        .unwrap_or((Duration::ZERO, outcome.start));
    let at = |t: Instant| t.saturating_duration_since(outcome.start).as_secs_f64();
    let last_before = received.iter().rev().find(|r| **r <= killed_at).copied();
    let first_after = received.iter().find(|r| **r > killed_at).copied();
    println!(
        "failover: the region's primary (port {port}) SIGKILLed at +{:.2} s; last position before at +{:.2} s, first after at +{:.2} s ({:.2} s after the kill); longest silence {:.2} s from +{:.2} s; sent {}, delivered {}, lost {}",
        at(killed_at),
        last_before.map_or(f64::NAN, at),
        first_after.map_or(f64::NAN, at),
        first_after.map_or(f64::NAN, |t| (t - killed_at).as_secs_f64()),
        gap.as_secs_f64(),
        at(from),
        outcome.sent,
        outcome.latencies.len(),
        outcome.sent as usize - outcome.latencies.len(),
    );
    outcome.print(&format!(
        "{} rides across a failover, {} s",
        rides.len(),
        FOR.as_secs()
    ));
}
