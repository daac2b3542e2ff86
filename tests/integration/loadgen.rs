//! The load generator (src/bin/hail-loadgen) against two real instances: its numbers are only
//! worth reading if a small run of it delivers every position it sends.

use serde_json::Value;

use crate::harness::*;

/// Runs the built `hail-loadgen` with `args`; its one JSON line.
async fn loadgen(args: &[&str]) -> Value {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_hail-loadgen"))
        .args(args)
        .args(["--pid", &format!("tests={}", std::process::id())])
        .output()
        .await
        .expect("the load generator runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "hail-loadgen failed: {stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line: {stdout}");
    serde_json::from_str(lines[0]).expect("the line is JSON")
}

#[tokio::test]
async fn ten_rides_for_three_seconds_deliver_every_position_across_instances() {
    let cluster = Cluster::start().await;
    let (a, b) = (cluster.a.url(""), cluster.b.url(""));

    // 4 a second: under the default limit of 5 with room for the timers' jitter.
    let run = loadgen(&[
        "rides",
        "--rider-url",
        &a,
        "--driver-url",
        &b,
        "--rides",
        "10",
        "--phase",
        "10x4:3",
        "--grace-ms",
        "1000",
    ])
    .await;

    let phase = &run["phases"][0];
    let sent = phase["sent"].as_u64().unwrap();
    assert!(sent >= 100, "about 120 positions were sent: {phase}");
    assert_eq!(phase["delivered"].as_u64(), Some(sent), "{phase}");
    assert_eq!(phase["lost"], 0, "{phase}");
    assert_eq!(phase["refused"], 0, "{phase}");
    assert_eq!(phase["unexpected"], 0, "{phase}");
    assert_eq!(phase["closed_by_server"], 0, "{phase}");
    assert!(
        phase["latency_ms"]["p99"].as_f64().unwrap() > 0.0,
        "{phase}"
    );
    assert!(
        phase["processes"][0]["cpu_pct"].as_f64().is_some(),
        "{phase}"
    );
}

#[tokio::test]
async fn idle_sockets_are_opened_and_their_memory_reported() {
    let cluster = Cluster::start().await;
    let (a, b) = (cluster.a.url(""), cluster.b.url(""));

    let run = loadgen(&[
        "idle",
        "--url",
        &a,
        "--url",
        &b,
        "--sockets",
        "20",
        "--settle-secs",
        "1",
    ])
    .await;

    assert_eq!(run["sockets"], 20, "{run}");
    assert!(run["bytes_per_socket"].is_i64(), "{run}");
    assert!(
        run["rss_kb_with_sockets"]["tests"].as_u64().unwrap() > 0,
        "{run}"
    );
}

#[tokio::test]
async fn a_location_saved_on_one_instance_is_read_back_on_the_other() {
    let cluster = Cluster::start().await;
    let (a, b) = (cluster.a.url(""), cluster.b.url(""));

    let run = loadgen(&[
        "session",
        "--write-url",
        &a,
        "--read-url",
        &b,
        "--concurrency",
        "2",
        "--requests",
        "10",
    ])
    .await;

    assert_eq!(run["pairs"], 20, "{run}");
    assert_eq!(run["mismatches"], 0, "{run}");
    assert_eq!(run["errors"], 0, "{run}");
}

#[tokio::test]
async fn free_cars_reach_watching_riders_and_redis_counts_one_publish_per_car() {
    let cluster = Cluster::start().await;
    let (a, b) = (cluster.a.url(""), cluster.b.url(""));
    let redis = cluster.redis.node().url();

    let run = loadgen(&[
        "nearby",
        "--driver-url",
        &b,
        "--watch-url",
        &a,
        "--watch-url",
        &b,
        "--drivers",
        "8",
        "--watchers",
        "4",
        "--secs",
        "3",
        "--redis-url",
        &redis,
    ])
    .await;

    let (alone, watched) = (&run["no_watchers"], &run["watching"]);
    // Eight drivers at one position a second each.
    for half in [alone, watched] {
        let sent = half["positions_per_s"].as_f64().unwrap();
        assert!((6.0..=10.0).contains(&sent), "{half}");
        let published = half["redis"]["publish_per_s"].as_f64().unwrap();
        assert!(published > 0.0 && published <= sent + 0.5, "{half}");
    }
    assert!(alone["heard"].is_null(), "{alone}");
    // Every watcher hears every car's publishes: four watchers, so about four times as many
    // messages as publishes (the windows are not exactly aligned).
    let heard = watched["heard"]["messages_per_s"].as_f64().unwrap();
    let published = watched["redis"]["publish_per_s"].as_f64().unwrap();
    assert!(
        heard > published * 2.0 && heard <= published * 4.0 * 1.5 + 4.0,
        "{heard} heard for {published} published: {watched}"
    );
    // Redis writes each publish once per watching instance, not once per rider.
    assert!(
        watched["redis"]["net_out_kb_per_s"].as_f64().is_some(),
        "{watched}"
    );
}
