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
