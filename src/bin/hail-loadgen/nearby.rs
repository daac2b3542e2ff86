//! The `nearby` mode: what pushing free cars per map cell costs. Free drivers spread over the
//! demo city stream a position a second; the run is measured twice over the same drivers, first
//! with no rider watching, then with idle riders' sockets watching every cell. The difference is
//! the push: the instances' and Redis's CPU, Redis's publishes and its bytes out, and what the
//! watchers receive.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use hail::domain::cells::Cell;
use hail::domain::city::BOUNDS;

use crate::http::{client, pct, post, processes, run_id, sign_up_many};
use crate::procfs::CpuWindow;
use crate::rides::{close, connect, open_all, Ws};
use crate::Common;

#[derive(Args, Debug)]
pub struct NearbyArgs {
    #[command(flatten)]
    common: Common,
    /// Where the drivers sign up and connect.
    #[arg(long)]
    driver_url: String,
    /// Where the watching riders connect (repeatable; split evenly).
    #[arg(long = "watch-url", required = true)]
    watch_urls: Vec<String>,
    /// Free drivers, each sending a position a second.
    #[arg(long, default_value_t = 1000)]
    drivers: usize,
    /// Idle riders' sockets watching every cell, in the second half.
    #[arg(long, default_value_t = 200)]
    watchers: usize,
    /// Seconds measured in each half.
    #[arg(long, default_value_t = 20)]
    secs: u64,
    /// The Redis the instances use, for its own counters (`INFO`): publishes, their time, bytes
    /// out. Without it only the processes are measured.
    #[arg(long)]
    redis_url: Option<String>,
}

/// What the watchers heard.
#[derive(Default)]
struct Heard {
    messages: AtomicU64,
    bytes: AtomicU64,
}

pub async fn nearby(args: NearbyArgs) -> anyhow::Result<String> {
    let pids = args.common.pids.clone();
    let http = client();
    let run = run_id();
    let at_once = args.common.setup_concurrency;
    eprintln!(
        "nearby: signing up {} drivers and {} riders",
        args.drivers, args.watchers
    );
    let drivers = sign_up_many(
        &http,
        std::slice::from_ref(&args.driver_url),
        (args.drivers, "driver", "near-d"),
        &run,
        at_once,
    )
    .await?;
    let riders = sign_up_many(
        &http,
        &args.watch_urls,
        (args.watchers, "rider", "near-r"),
        &run,
        at_once,
    )
    .await?;

    // Drivers on a grid over the whole city, so every cell has some.
    let side = (args.drivers as f64).sqrt().ceil().max(1.0) as usize;
    let spot = |i: usize| {
        let (row, col) = (i / side, i % side);
        let lat = BOUNDS.south + (BOUNDS.north - BOUNDS.south) * (row as f64 + 0.5) / side as f64;
        let lng = BOUNDS.west + (BOUNDS.east - BOUNDS.west) * (col as f64 + 0.5) / side as f64;
        (lat, lng)
    };
    futures::stream::iter(drivers.iter().enumerate())
        .map(|(i, driver)| {
            let (http, url) = (&http, &args.driver_url);
            async move {
                let plate = format!("N-{i}");
                let car = [
                    ("make", "Toyota"),
                    ("model", "Prius"),
                    ("plate", plate.as_str()),
                ];
                post(http, url, "/api/car", Some(&driver.cookie), &car).await?;
                let (lat, lng) = spot(i);
                let (la, ln) = (lat.to_string(), lng.to_string());
                let at = [("lat", la.as_str()), ("lng", ln.as_str())];
                post(http, url, "/api/go_online", Some(&driver.cookie), &at).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(at_once.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<()>>>()?;

    let sockets = open_all(drivers.iter().map(|d| connect(&args.driver_url, &d.cookie))).await?;
    let (stop_tx, stop) = watch::channel(false);
    let sent = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(i, ws)| {
            let (lat, lng) = spot(i);
            let period = Duration::from_secs(1);
            // Staggered over the second, so the load is smooth.
            let first = Instant::now() + period.mul_f64(i as f64 / args.drivers.max(1) as f64);
            tokio::spawn(cruise(ws, (lat, lng), first, sent.clone(), stop.clone()))
        })
        .collect();
    eprintln!("nearby: {} drivers streaming; settling", tasks.len());
    tokio::time::sleep(Duration::from_secs(3)).await;

    let secs = Duration::from_secs(args.secs);
    let alone = measure(&pids, &args.redis_url, &sent, None, secs).await?;
    eprintln!(
        "nearby: no watchers measured; {} riders start watching",
        riders.len()
    );

    let watchers = open_all(riders.iter().enumerate().map(|(i, rider)| {
        let url = args.watch_urls[i % args.watch_urls.len()].clone();
        let cookie = rider.cookie.clone();
        async move { connect(&url, &cookie).await }
    }))
    .await?;
    let heard = Arc::new(Heard::default());
    let cells: Vec<String> = Cell::all().map(|c| c.to_string()).collect();
    let watch_text = json!({ "type": "watch", "cells": cells }).to_string();
    let mut listening = Vec::new();
    for mut ws in watchers {
        ws.send(Message::text(watch_text.clone()))
            .await
            .context("a watcher could not send its watch")?;
        listening.push(tokio::spawn(listen(ws, heard.clone(), stop.clone())));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let watched = measure(&pids, &args.redis_url, &sent, Some(&heard), secs).await?;

    stop_tx.send_replace(true);
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        futures::future::join_all(tasks.into_iter().chain(listening)),
    )
    .await;
    Ok(json!({
        "mode": "nearby",
        "label": args.common.label,
        "drivers": args.drivers,
        "watchers": args.watchers,
        "secs": args.secs,
        "no_watchers": alone,
        "watching": watched,
    })
    .to_string())
}

/// One half of the run: CPU of each process, positions sent, Redis's counters, what was heard.
async fn measure(
    pids: &[(String, u32)],
    redis_url: &Option<String>,
    sent: &AtomicU64,
    heard: Option<&Heard>,
    secs: Duration,
) -> anyhow::Result<Value> {
    let redis_before = redis_counters(redis_url).await?;
    let heard_before = heard.map(|h| {
        (
            h.messages.load(Ordering::Relaxed),
            h.bytes.load(Ordering::Relaxed),
        )
    });
    let sent_before = sent.load(Ordering::Relaxed);
    let window = CpuWindow::start(pids);
    tokio::time::sleep(secs).await;
    let used = window.end(pids);
    let positions = sent.load(Ordering::Relaxed) - sent_before;
    let redis_after = redis_counters(redis_url).await?;
    let per_s = |n: u64| (n as f64 / used.secs * 10.0).round() / 10.0;
    let redis = match (redis_before, redis_after) {
        (Some(a), Some(b)) => json!({
            "publish_per_s": per_s(b.publish_calls - a.publish_calls),
            "publish_us_each": if b.publish_calls > a.publish_calls {
                ((b.publish_usec - a.publish_usec) as f64 / (b.publish_calls - a.publish_calls) as f64 * 100.0).round() / 100.0
            } else { 0.0 },
            "net_out_kb_per_s": per_s((b.net_output_bytes - a.net_output_bytes) / 1024),
            "commands_per_s": per_s(b.commands - a.commands),
        }),
        _ => Value::Null,
    };
    let heard = match (heard, heard_before) {
        (Some(h), Some((m, b))) => json!({
            "messages_per_s": per_s(h.messages.load(Ordering::Relaxed) - m),
            "kb_per_s": per_s((h.bytes.load(Ordering::Relaxed) - b) / 1024),
        }),
        _ => Value::Null,
    };
    Ok(json!({
        "positions_per_s": per_s(positions),
        "processes": processes(pids, &used.theirs, used.secs, positions as usize),
        "loadgen_cpu_pct": pct(used.ours, used.secs),
        "redis": redis,
        "heard": heard,
    }))
}

/// Redis's own counters that the push moves.
struct RedisCounters {
    publish_calls: u64,
    publish_usec: u64,
    net_output_bytes: u64,
    commands: u64,
}

async fn redis_counters(url: &Option<String>) -> anyhow::Result<Option<RedisCounters>> {
    let Some(url) = url else {
        return Ok(None);
    };
    let client = redis::Client::open(url.as_str())?;
    let mut redis = client.get_multiplexed_async_connection().await?;
    let info: String = redis::cmd("INFO")
        .arg("all")
        .query_async(&mut redis)
        .await?;
    Ok(Some(parse_counters(&info)))
}

/// The counters out of `INFO all`'s text; a missing one reads as zero (a fresh Redis has no
/// `cmdstat_publish` line until the first publish).
fn parse_counters(info: &str) -> RedisCounters {
    let field = |line: &str, name: &str| -> u64 {
        line.split(',')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let mut counters = RedisCounters {
        publish_calls: 0,
        publish_usec: 0,
        net_output_bytes: 0,
        commands: 0,
    };
    for line in info.lines() {
        if let Some(stats) = line.strip_prefix("cmdstat_publish:") {
            counters.publish_calls = field(stats, "calls");
            counters.publish_usec = field(stats, "usec");
        } else if let Some(v) = line.strip_prefix("total_net_output_bytes:") {
            counters.net_output_bytes = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("total_commands_processed:") {
            counters.commands = v.trim().parse().unwrap_or(0);
        }
    }
    counters
}

/// A free driver: a position a second, a few centimetres on each time (always plausible).
async fn cruise(
    mut ws: Ws,
    (lat, lng): (f64, f64),
    first: Instant,
    sent: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval_at(first, Duration::from_secs(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n = 0u64;
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                n += 1;
                let text = format!(r#"{{"type":"position","lat":{lat},"lng":{}}}"#, lng + n as f64 * 1e-6);
                if ws.send(Message::text(text)).await.is_err() {
                    return;
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
            frame = ws.next() => if !matches!(frame, Some(Ok(_))) { return },
            _ = stop.changed() => { close(&mut ws).await; return; }
        }
    }
}

/// A watching rider: counts the cars it is told of.
async fn listen(mut ws: Ws, heard: Arc<Heard>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    // Not `nearby_gone`: only the cars themselves.
                    if text.as_str().contains(r#""type":"nearby""#) {
                        heard.messages.fetch_add(1, Ordering::Relaxed);
                        heard.bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
                    }
                }
                Some(Ok(_)) => {}
                _ => return,
            },
            _ = stop.changed() => { close(&mut ws).await; return; }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_counters_are_read_from_info_and_missing_ones_are_zero() {
        let info = "# Stats\r\ntotal_commands_processed:1234\r\ntotal_net_output_bytes:98765\r\n# Commandstats\r\ncmdstat_publish:calls=42,usec=84,usec_per_call=2.00,rejected_calls=0,failed_calls=0\r\n";
        let c = parse_counters(info);
        assert_eq!(
            (
                c.publish_calls,
                c.publish_usec,
                c.net_output_bytes,
                c.commands
            ),
            (42, 84, 98765, 1234)
        );
        let fresh = parse_counters("# Stats\r\ntotal_commands_processed:7\r\n");
        assert_eq!((fresh.publish_calls, fresh.commands), (0, 7));
    }
}
