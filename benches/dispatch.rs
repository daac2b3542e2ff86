//! Benchmark: matching and the ride lifecycle in Redis, across two instances.
//!
//! Run: `cargo bench --features ssr --bench dispatch` (release build; its own redis-server on
//! a free port, two in-process instances, a bounded number of requests over loopback).
//! 200 drivers are online around the demo city; riders request, the offered driver accepts,
//! the rider cancels (freeing both), in a loop. Results go to BENCHMARKS.md with conditions.

#[path = "../tests/integration/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::future::join_all;
use harness::{client_key, fast_dispatch, Browser, Cluster, PICKUP};
use reqwest::StatusCode;

const DRIVERS: usize = 200;
const RIDERS: usize = 8;
const ROUNDS: usize = 60;

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(name: &str, mut latencies: Vec<Duration>) {
    latencies.sort();
    println!(
        "{name:<52} n={:<5} p50 {:>6.2} ms   p95 {:>6.2} ms   p99 {:>6.2} ms",
        latencies.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.95),
        percentile(&latencies, 0.99),
    );
}

#[tokio::main]
async fn main() {
    let cluster: &'static Cluster = Box::leak(Box::new(
        Cluster::start_with(|c| {
            fast_dispatch(c);
            c.driver_stale_secs = 600;
        })
        .await,
    ));
    // Drivers on a 20 x 10 grid of about 4 x 2 km around the pickup.
    let mut drivers = Vec::new();
    for i in 0..DRIVERS {
        let (row, col) = ((i / 20) as f64, (i % 20) as f64);
        let at = (
            PICKUP.0 - 0.009 + row * 0.002,
            PICKUP.1 - 0.03 + col * 0.003,
        );
        let app = if i.is_multiple_of(2) {
            &cluster.a
        } else {
            &cluster.b
        };
        drivers.push(Browser::driver_online(app, &format!("Driver {i}"), at).await);
    }
    let mut riders = Vec::new();
    for i in 0..RIDERS {
        riders.push(Browser::rider(&cluster.a, &format!("Rider {i}")).await);
    }
    // By user id, each behind its own lock: an offered driver is busy, so two riders never
    // want the same one at once.
    let mut by_id = HashMap::new();
    for mut driver in drivers {
        let id = driver.me(&cluster.a).await.json()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        by_id.insert(id, tokio::sync::Mutex::new(driver));
    }
    let drivers: &'static HashMap<String, tokio::sync::Mutex<Browser>> = Box::leak(Box::new(by_id));
    let redis = cluster.redis.connection().await;
    println!(
        "{DRIVERS} drivers online, {RIDERS} riders looping request -> accept -> cancel {ROUNDS} times, instances alternating"
    );

    let started = Instant::now();
    let runs = riders.into_iter().enumerate().map(|(r, mut rider)| {
        let mut redis = redis.clone();
        async move {
            let (mut request_lat, mut accept_lat, mut cancel_lat) =
                (Vec::new(), Vec::new(), Vec::new());
            for round in 0..ROUNDS {
                let (on, other) = if (r + round).is_multiple_of(2) {
                    (&cluster.a, &cluster.b)
                } else {
                    (&cluster.b, &cluster.a)
                };
                let t = Instant::now();
                let requested = rider.request_ride(on, &client_key()).await;
                request_lat.push(t.elapsed());
                assert_eq!(requested.status, StatusCode::OK, "{}", requested.body);
                let id = requested.json()["id"].as_str().unwrap().to_owned();
                // The offer was made inside the request's script; Redis says to whom.
                let offered: Option<String> = redis::cmd("HGET")
                    .arg(format!("t:{{r:demo}}:ride:{id}"))
                    .arg("offered_to")
                    .query_async(&mut redis)
                    .await
                    .unwrap();
                if let Some(driver) = offered.as_ref().and_then(|d| drivers.get(d)) {
                    let mut driver = driver.lock().await;
                    let t = Instant::now();
                    let accepted = driver.ride_step(other, "/api/accept", &id, &[]).await;
                    accept_lat.push(t.elapsed());
                    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
                }
                let t = Instant::now();
                let cancelled = rider.ride_step(other, "/api/cancel_ride", &id, &[]).await;
                cancel_lat.push(t.elapsed());
                assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
            }
            (request_lat, accept_lat, cancel_lat)
        }
    });
    let results = join_all(runs).await;
    let elapsed = started.elapsed();
    let (mut req, mut acc, mut can) = (Vec::new(), Vec::new(), Vec::new());
    for (r, a, c) in results {
        req.extend(r);
        acc.extend(a);
        can.extend(c);
    }
    println!(
        "{} rides requested, accepted and cancelled in {:.2} s: {:.0} ride cycles/s",
        req.len(),
        elapsed.as_secs_f64(),
        req.len() as f64 / elapsed.as_secs_f64()
    );
    report("POST /api/request_ride (create + GEO match + offer)", req);
    report("POST /api/accept", acc);
    report("POST /api/cancel_ride (frees rider and driver)", can);
    cluster.redis.shut_down().await;
}
