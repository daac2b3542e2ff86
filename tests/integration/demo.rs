//! Demo mode: simulated drivers on two instances, one of which simulates at a time, and a
//! rider who takes a whole ride with nobody else there.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hail::domain::GeoPoint;
use hail::server::Config;
use reqwest::StatusCode;

use crate::harness::{client_key, config, Browser, Cluster, TestApp, TestRedis, PICKUP};

/// A driver's position as Redis holds it: where, and when (Redis's clock, ms).
#[derive(Debug, Clone, Copy)]
struct Fix {
    at: GeoPoint,
    at_ms: u64,
}

fn demo(drivers: u32) -> impl Fn(&mut Config) {
    move |config| {
        config.demo_drivers = drivers;
        config.dispatch_poll_ms = 50;
        config.search_retry_ms = 200;
    }
}

/// The user ids of the demo drivers' accounts.
async fn demo_driver_ids(redis: &TestRedis) -> Vec<String> {
    let mut conn = redis.connection().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("t:{accounts}:email:demo-driver-*")
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for key in keys {
        let id: String = redis::cmd("GET")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        ids.push(id);
    }
    ids.sort();
    ids
}

/// The position of every demo driver who is online.
async fn online_demo_drivers(redis: &TestRedis) -> HashMap<String, Fix> {
    let mut conn = redis.connection().await;
    let mut online = HashMap::new();
    for id in demo_driver_ids(redis).await {
        let (flag, lat, lng, at_ms): (Option<String>, Option<f64>, Option<f64>, Option<u64>) =
            redis::cmd("HMGET")
                .arg(format!("t:{{r:demo}}:driver:{id}"))
                .arg(&["online", "lat", "lng", "at_ms"])
                .query_async(&mut conn)
                .await
                .unwrap();
        if let (Some("1"), Some(lat), Some(lng), Some(at_ms)) = (flag.as_deref(), lat, lng, at_ms) {
            let at = GeoPoint::new(lat, lng).unwrap();
            online.insert(id, Fix { at, at_ms });
        }
    }
    online
}

async fn wait_until_online(redis: &TestRedis, drivers: usize, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let online = online_demo_drivers(redis).await.len();
        if online == drivers {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{online} of {drivers} demo drivers online"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Watches the demo drivers for `secs` and asserts that every move is one that a car at
/// `speed_kmh` can make (two simulations of one driver would leap between their two cars).
/// Returns how many positions each driver sent.
async fn watch_moves(redis: &TestRedis, secs: u64, speed_kmh: f64) -> HashMap<String, u32> {
    let mut last = online_demo_drivers(redis).await;
    let mut moves: HashMap<String, u32> = last.keys().map(|id| (id.clone(), 0)).collect();
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        for (id, fix) in online_demo_drivers(redis).await {
            let Some(before) = last.get(&id) else {
                continue;
            };
            if fix.at_ms == before.at_ms {
                continue;
            }
            let secs = (fix.at_ms - before.at_ms) as f64 / 1000.0;
            let metres = before.at.distance_m(&fix.at);
            // Slack for request latency on a busy machine.
            let allowed = speed_kmh / 3.6 * secs * 1.5 + 5.0;
            assert!(
                metres <= allowed,
                "driver {id} moved {metres:.0} m in {secs:.1} s (allowed {allowed:.0} m)"
            );
            *moves.entry(id.clone()).or_default() += 1;
            last.insert(id, fix);
        }
    }
    moves
}

/// Counts, for `secs`, every write to each driver's hash (Redis keyspace notifications see
/// them all, however close together two writers are): while a driver cruises, its positions.
async fn writes_per_driver(redis: &TestRedis, secs: u64) -> HashMap<String, u32> {
    let mut conn = redis.connection().await;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg("Kh")
        .query_async(&mut conn)
        .await
        .unwrap();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub
        .psubscribe("__keyspace@0__:t:{r:demo}:driver:*")
        .await
        .unwrap();
    let mut messages = pubsub.into_on_message();
    let mut writes = HashMap::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(secs);
    while let Ok(Some(message)) = tokio::time::timeout_at(until, messages.next()).await {
        let id = message.get_channel_name().rsplit(':').next().unwrap();
        *writes.entry(id.to_owned()).or_default() += 1;
    }
    writes
}

#[tokio::test]
async fn two_instances_simulate_one_set_of_demo_drivers_that_drive_smoothly() {
    let cluster = Cluster::start_with(demo(3)).await;

    wait_until_online(cluster.redis.node(), 3, 20).await;
    let (moves, writes) = tokio::join!(
        watch_moves(cluster.redis.node(), 4, 40.0),
        writes_per_driver(cluster.redis.node(), 4),
    );

    assert_eq!(demo_driver_ids(cluster.redis.node()).await.len(), 3);
    assert_eq!(online_demo_drivers(cluster.redis.node()).await.len(), 3);
    assert_eq!(moves.len(), 3);
    for (id, moved) in moves {
        assert!(moved >= 2, "driver {id} moved {moved} times in 4 s");
        // One simulation sends one position a second; two would send twice as many.
        let sent = writes.get(&id).copied().unwrap_or_default();
        assert!(
            (2..=6).contains(&sent),
            "driver {id} sent {sent} positions in 4 s"
        );
    }
}

#[tokio::test]
async fn a_rider_alone_is_driven_from_pickup_to_dropoff_by_a_demo_driver() {
    // Fast cars keep the test short; the simulated pauses (accepting, waiting at the pickup)
    // stay human.
    let cluster = Cluster::start_with(|config: &mut Config| {
        demo(2)(config);
        config.demo_speed_kmh = 3_600.0;
        config.max_speed_kmh = 10_000.0;
    })
    .await;
    wait_until_online(cluster.redis.node(), 2, 20).await;
    let mut rider = Browser::rider(&cluster.a, "Rita").await;

    let requested = rider.request_ride(&cluster.a, &client_key()).await;
    assert_eq!(requested.status, StatusCode::OK, "{}", requested.body);
    let id = requested.json()["id"].as_str().unwrap().to_owned();

    let lifecycle = [
        "searching",
        "driver_assigned",
        "driver_arrived",
        "in_progress",
        "completed",
    ];
    let mut seen: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(45);
    let ride = loop {
        let answer = rider.ride(&cluster.b, &id).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let ride = answer.json();
        let status = ride["status"].as_str().unwrap().to_owned();
        if status == "driver_arrived" {
            let at = &ride["driver_position"];
            let at = GeoPoint::new(at["lat"].as_f64().unwrap(), at["lng"].as_f64().unwrap());
            let pickup = GeoPoint::new(PICKUP.0, PICKUP.1).unwrap();
            let off = at.unwrap().distance_m(&pickup);
            assert!(off < 1.0, "the driver waits {off:.0} m from the pickup");
        }
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if status == "completed" {
            break ride;
        }
        assert!(
            Instant::now() < deadline,
            "the ride did not complete in time; seen {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // Every step happened, in order (each lasts at least a tick, so polling sees it).
    let order: Vec<usize> = seen
        .iter()
        .map(|s| {
            lifecycle
                .iter()
                .position(|l| l == s)
                .expect("a lifecycle state")
        })
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert!(seen.iter().any(|s| s == "driver_arrived"), "{seen:?}");
    let driver = &ride["driver"];
    assert!(
        driver["name"].as_str().unwrap().ends_with("(demo)"),
        "{ride}"
    );
    assert!(driver["car"]["plate"].as_str().unwrap().starts_with("HL-D"));
}

#[tokio::test]
async fn another_instance_carries_on_with_the_same_drivers_when_the_leader_stops() {
    let redis = TestRedis::start().await;
    let mut cfg = config(&redis);
    demo(2)(&mut cfg);
    let mut a = TestApp::spawn(cfg.clone()).await;
    wait_until_online(&redis, 2, 20).await;
    let _b = TestApp::spawn(cfg).await;

    a.stop().await;
    let stopped = online_demo_drivers(&redis).await;
    let moves = watch_moves(&redis, 5, 40.0).await;

    // B moved the very drivers A had, on from where they were.
    assert_eq!(demo_driver_ids(&redis).await.len(), 2);
    assert_eq!(moves.len(), 2);
    let now = online_demo_drivers(&redis).await;
    for (id, fix) in stopped {
        assert!(
            moves[&id] >= 2,
            "driver {id} stood still after the leader stopped"
        );
        assert!(now[&id].at_ms > fix.at_ms);
    }
}
