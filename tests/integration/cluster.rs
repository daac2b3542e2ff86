//! What only a Redis Cluster can do to Hail: move a ride's slot to another primary while its
//! sockets follow it, and serve two regions from two primaries at once. (The ride and live
//! suites also run whole on a cluster: `HAIL_TEST_TOPOLOGY=cluster`, see scripts/test.sh.)

use std::time::Duration;

use hail::domain::live::{ClientMessage, ServerMessage};
use hail::domain::GeoPoint;
use reqwest::StatusCode;

use crate::harness::*;
use crate::live::{assigned_ride_on, Assigned, Live, PATIENCE};

fn cluster_of(store: &Store) -> &TestRedisCluster {
    match store {
        Store::Cluster(cluster) => cluster,
        Store::Node(_) => unreachable!("these tests start a cluster"),
    }
}

async fn exists_on(node: &TestRedis, key: &str) -> bool {
    let mut conn = node.connection().await;
    redis::cmd("EXISTS")
        .arg(key)
        .query_async::<u64>(&mut conn)
        .await
        .unwrap()
        == 1
}

#[tokio::test]
async fn sockets_following_a_ride_keep_receiving_positions_after_its_slot_moves() {
    let Assigned {
        cluster,
        rider,
        driver,
        ride,
    } = assigned_ride_on(Topology::Cluster).await;
    let redis = cluster_of(&cluster.redis);
    let mut rider_live = Live::open(&cluster.a, &rider).await;
    let before = rider_live.subscribe(&ride).await;
    let mut driver_live = Live::open(&cluster.b, &driver).await;
    let mut step = 0u32;
    let mut next_position = || {
        step += 1;
        GeoPoint::new(52.5210 + f64::from(step) * 1e-5, 13.4060).unwrap()
    };
    driver_live
        .send(&ClientMessage::Position {
            at: next_position(),
        })
        .await;
    rider_live
        .wait_for("a first position", |m| {
            matches!(m, ServerMessage::Position { .. })
        })
        .await;

    let slot = redis.region_slot().await;
    let from = redis.primary_of(slot).await.port;
    let to = redis
        .primaries()
        .await
        .into_iter()
        .map(|node| node.port)
        .find(|port| *port != from)
        .unwrap();
    redis.migrate_slot(slot, to).await;

    // The bus hears `sunsubscribe`, follows the channels to their new node and says resync;
    // then the driver's positions (published on the new node) reach the rider again.
    let (mut resyncs, mut after_resync) = (0, false);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !after_resync {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no position after the slot moved ({resyncs} resyncs)"
        );
        driver_live
            .send(&ClientMessage::Position {
                at: next_position(),
            })
            .await;
        let until = tokio::time::Instant::now() + Duration::from_millis(300);
        while let Ok(message) = rider_live
            .next_or_close(until.saturating_duration_since(tokio::time::Instant::now()))
            .await
        {
            match message {
                ServerMessage::Resync { .. } => resyncs += 1,
                ServerMessage::Position { .. } if resyncs > 0 => after_resync = true,
                _ => {}
            }
        }
    }
    // One per channel the socket follows in that slot at most (its ride's and its user's),
    // and one in practice: the two arrive together and the socket sends one.
    assert!((1..=2).contains(&resyncs), "{resyncs} resyncs");
    let key = format!("t:{{r:demo}}:ride:{ride}");
    assert!(exists_on(redis.node_on(to), &key).await, "the ride moved");
    let after = rider_live.subscribe(&ride).await;
    assert_eq!(after["status"], "driver_assigned");
    assert_eq!(after["seq"], before["seq"], "the ride's state is intact");
    assert_eq!(
        cluster
            .redis
            .subscribers(&format!("t:{{r:demo}}:ride:{ride}"))
            .await,
        1,
        "the new node has the rider's instance's subscription, once"
    );
}

/// A region whose hash tag lands on another primary than `demo`'s.
async fn region_on_another_primary(redis: &TestRedisCluster) -> (String, u16) {
    let demo = redis.region_primary().await.port;
    for n in 0.. {
        let region = format!("r{n}");
        let slot = redis.slot_of(&format!("{{r:{region}}}")).await;
        if redis.primary_of(slot).await.port != demo {
            return (region, slot);
        }
    }
    unreachable!()
}

/// A rider and a driver of one region's instances; returns the accepted ride's id and its
/// rider.
async fn ride_in(a: &TestApp, b: &TestApp, pickup: (f64, f64)) -> (String, Browser) {
    let mut driver = Browser::driver_online(b, "Dora", (pickup.0 + 0.001, pickup.1)).await;
    let mut rider = Browser::rider(a, "Rita").await;
    let requested = rider.request_ride(a, &client_key()).await;
    assert_eq!(requested.status, StatusCode::OK, "{}", requested.body);
    let id = requested.json()["id"].as_str().unwrap().to_owned();
    driver
        .wait_for_current(b, 10, |c| c["id"].as_str() == Some(&id))
        .await;
    let accepted = driver.ride_step(b, "/api/accept", &id, &[]).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(accepted.json()["status"], "driver_assigned");
    (id, rider)
}

#[tokio::test]
async fn two_regions_serve_rides_at_once_each_on_its_own_primary() {
    let cluster = Cluster::start_on(Topology::Cluster, fast_dispatch).await;
    let redis = cluster_of(&cluster.redis);
    let (other, other_slot) = region_on_another_primary(redis).await;
    let mut config = cluster.redis.config();
    fast_dispatch(&mut config);
    config.region = other.clone();
    let (c, d) = (
        TestApp::spawn(config.clone()).await,
        TestApp::spawn(config).await,
    );

    let ((demo_ride, mut demo_rider), (other_ride, _)) = futures::join!(
        ride_in(&cluster.a, &cluster.b, PICKUP),
        ride_in(&c, &d, PICKUP)
    );

    let demo_node = redis.region_primary().await;
    let other_node = redis.primary_of(other_slot).await;
    assert_ne!(demo_node.port, other_node.port);
    assert!(exists_on(demo_node, &format!("t:{{r:demo}}:ride:{demo_ride}")).await);
    assert!(exists_on(other_node, &format!("t:{{r:{other}}}:ride:{other_ride}")).await);
    // The login holds in every region (accounts are global), the ride only in its own.
    assert_eq!(demo_rider.me(&c).await.status, StatusCode::OK);
    assert_eq!(
        demo_rider.ride(&c, &demo_ride).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        demo_rider.ride(&cluster.b, &demo_ride).await.status,
        StatusCode::OK
    );
}
