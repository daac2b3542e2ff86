//! The live modes: rides whose drivers stream positions to their riders, and idle sockets.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Args;
use futures::{stream, SinkExt as _, StreamExt as _};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::http::{client, pct, post, run_id, sign_up_many, User, COOKIE, PASSWORD};
use crate::procfs::{rss_all, rss_kib, CpuWindow};
use crate::stats::summary;
use crate::Common;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Handshakes in flight at once.
const CONNECTS_AT_ONCE: usize = 64;
/// Send instants kept per ride, by position number: 80 s at 12.5 a second.
const RING: usize = 1024;
/// Each position moves the car this far east (about 7 cm): always a plausible speed, and the
/// position's number can be read back from the longitude.
const STEP_DEG: f64 = 1e-6;
/// Lanes of ride set-up far enough apart (16 km; offers reach 5 km) never to share a driver.
const LANES: usize = 8;
const LANE_DEG: f64 = 0.15;

#[derive(Args, Debug)]
pub struct RidesArgs {
    #[command(flatten)]
    common: Common,
    /// Where riders sign up and connect.
    #[arg(long)]
    rider_url: String,
    /// Where drivers sign up and connect (the same URL: all through one balancer).
    #[arg(long)]
    driver_url: String,
    /// Accepted rides to set up.
    #[arg(long, default_value_t = 100)]
    rides: usize,
    /// `NxRATE:SECS`: the first N rides' drivers each send RATE positions a second for SECS
    /// (repeatable; phases run in order).
    #[arg(long = "phase", value_parser = Phase::parse, required = true)]
    phases: Vec<Phase>,
    /// Extra idle logged-in rider sockets, split over both URLs, open through every phase.
    #[arg(long, default_value_t = 0)]
    idle: usize,
    /// Concurrent logins fired 5 s into the last phase.
    #[arg(long, default_value_t = 0)]
    login_burst: usize,
    /// How long riders keep listening after a phase's last send.
    #[arg(long, default_value_t = 2000)]
    grace_ms: u64,
}

#[derive(Debug, Clone)]
pub struct Phase {
    spec: String,
    active: usize,
    rate: f64,
    secs: f64,
}

impl Phase {
    fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("expected NxRATE:SECS (e.g. 1000x5:30), got {text:?}");
        let (n, rest) = text.split_once('x').ok_or_else(bad)?;
        let (rate, secs) = rest.split_once(':').ok_or_else(bad)?;
        let phase = Self {
            spec: text.to_owned(),
            active: n.trim().parse().map_err(|_| bad())?,
            rate: rate.trim().parse().map_err(|_| bad())?,
            secs: secs.trim().parse().map_err(|_| bad())?,
        };
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if phase.active == 0 || !positive(phase.rate) || !positive(phase.secs) {
            return Err(format!("{text:?}: rides, rate and seconds must be above 0"));
        }
        Ok(phase)
    }

    fn period(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.rate)
    }
}

/// What the rider's socket is sent, read without allocating.
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default)]
    lng: f64,
    #[serde(default, borrow)]
    code: Option<&'a str>,
}

#[derive(Default)]
struct PhaseStats {
    sent: u64,
    delivered: u64,
    unexpected: u64,
    resyncs: u64,
    /// Rider and driver sockets the server closed.
    closed: u64,
    refused: BTreeMap<String, u64>,
    /// (send time in µs since the run's start, latency in µs).
    samples: Vec<(u64, u32)>,
}

struct Shared {
    start: Instant,
    phase: AtomicUsize,
    stats: Mutex<Vec<PhaseStats>>,
}

impl Shared {
    fn with<T>(&self, phase: usize, f: impl FnOnce(&mut PhaseStats) -> T) -> T {
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut stats[phase])
    }
}

/// One ride: where its car is, and when each of its positions was sent.
struct Ride {
    lat: f64,
    lng0: f64,
    /// (position number, phase, when sent) by number modulo RING.
    sent: Mutex<Vec<Option<(u64, usize, Instant)>>>,
}

pub async fn rides(args: RidesArgs) -> anyhow::Result<String> {
    let pids = args.common.pids.clone();
    let http = client();
    let run = run_id();
    let at_once = args.common.setup_concurrency;
    let setup_started = Instant::now();
    eprintln!(
        "signing up {} riders, {} drivers, {} idle riders",
        args.rides, args.rides, args.idle
    );
    let (driver_urls, rider_urls) = ([args.driver_url.clone()], [args.rider_url.clone()]);
    let drivers = sign_up_many(
        &http,
        &driver_urls,
        (args.rides, "driver", "driver"),
        &run,
        at_once,
    )
    .await?;
    let riders = sign_up_many(
        &http,
        &rider_urls,
        (args.rides, "rider", "rider"),
        &run,
        at_once,
    )
    .await?;
    let urls = [args.rider_url.clone(), args.driver_url.clone()];
    let idle_users =
        sign_up_many(&http, &urls, (args.idle, "rider", "idle"), &run, at_once).await?;
    eprintln!("pairing {} rides", args.rides);
    let rides = pair(&http, &args, &riders, &drivers).await?;
    let setup_secs = setup_started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after_setup = rss_all(&pids);

    let (stop_tx, stop) = watch::channel(false);
    let shared = Arc::new(Shared {
        start: Instant::now(),
        phase: AtomicUsize::new(0),
        stats: Mutex::new(
            (0..args.phases.len())
                .map(|_| PhaseStats::default())
                .collect(),
        ),
    });
    let opened = Instant::now();
    let mut tasks = Vec::new();
    let rider_sockets: Vec<Ws> = open_all(riders.iter().zip(&rides).map(|(user, (id, _))| {
        let (url, cookie, id) = (args.rider_url.clone(), user.cookie.clone(), id.clone());
        async move {
            let mut ws = connect(&url, &cookie).await?;
            let subscribe = json!({"type": "subscribe", "ride_id": id}).to_string();
            ws.send(Message::text(subscribe)).await?;
            wait_for(&mut ws, "snapshot").await?;
            Ok(ws)
        }
    }))
    .await?;
    for (ws, (_, ride)) in rider_sockets.into_iter().zip(&rides) {
        tasks.push(tokio::spawn(follow(
            ws,
            ride.clone(),
            shared.clone(),
            stop.clone(),
        )));
    }
    let driver_sockets = open_all(drivers.iter().map(|user| {
        let (url, cookie) = (args.driver_url.clone(), user.cookie.clone());
        async move { connect(&url, &cookie).await }
    }))
    .await?;
    let idle_sockets = open_all(idle_users.iter().enumerate().map(|(i, user)| {
        let (url, cookie) = (urls[i % 2].clone(), user.cookie.clone());
        async move { connect(&url, &cookie).await }
    }))
    .await?;
    for ws in idle_sockets {
        tasks.push(tokio::spawn(idle_reader(ws, stop.clone())));
    }
    let sockets_open_secs = opened.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_with_sockets = rss_all(&pids);

    // Every phase's window, fixed in advance so every driver keeps the same schedule.
    let grace = Duration::from_millis(args.grace_ms);
    let mut windows = Vec::new();
    let mut at = Instant::now() + Duration::from_secs(1);
    for phase in &args.phases {
        let end = at + Duration::from_secs_f64(phase.secs);
        windows.push((at, end));
        at = end + grace + Duration::from_secs(1);
    }
    let windows = Arc::new(windows);
    let phases = Arc::new(args.phases.clone());
    for (i, (ws, (_, ride))) in driver_sockets.into_iter().zip(&rides).enumerate() {
        tasks.push(tokio::spawn(drive(
            ws,
            i,
            ride.clone(),
            phases.clone(),
            windows.clone(),
            shared.clone(),
            stop.clone(),
        )));
    }

    let mut out_phases = Vec::new();
    for (p, phase) in args.phases.iter().enumerate() {
        let (start, end) = windows[p];
        tokio::time::sleep_until(start).await;
        // scripts/bench.sh waits for this line to attach the profiler.
        eprintln!(
            "phase {} ({}) sending for {} s",
            p + 1,
            phase.spec,
            phase.secs
        );
        shared.phase.store(p, Ordering::Relaxed);
        let rss_start = rss_all(&pids);
        let cpu = CpuWindow::start(&pids);
        let burst = (p + 1 == args.phases.len() && args.login_burst > 0).then(|| {
            let users: Vec<User> = riders
                .iter()
                .chain(&idle_users)
                .take(args.login_burst)
                .cloned()
                .collect();
            tokio::spawn(login_burst(
                http.clone(),
                urls.clone(),
                users,
                start + Duration::from_secs(5),
                pids.clone(),
            ))
        });
        tokio::time::sleep_until(end).await;
        let used = cpu.end(&pids);
        tokio::time::sleep(grace).await;
        let burst = match burst {
            Some(task) => Some(task.await.context("the login burst task")??),
            None => None,
        };
        out_phases.push(phase_report(
            phase, p, &shared, &pids, &used, rss_start, burst,
        ));
        eprintln!(
            "{}",
            out_phases.last().map(Value::to_string).unwrap_or_default()
        );
    }

    stop_tx.send_replace(true);
    // All at once, with one bound: a socket whose close is not taken must not hold the rest.
    let _ = tokio::time::timeout(Duration::from_secs(10), futures::future::join_all(tasks)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    Ok(json!({
        "mode": "rides",
        "label": args.common.label,
        "rides": args.rides,
        "idle": args.idle,
        "setup_secs": round1(setup_secs),
        "sockets_open_secs": round1(sockets_open_secs),
        "rss_kb_after_setup": rss_after_setup,
        "rss_kb_with_sockets": rss_with_sockets,
        "rss_kb_after_close": rss_all(&pids),
        "phases": out_phases,
    })
    .to_string())
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Pairs each rider with a driver: the driver goes online, the rider asks, the driver (the only
/// free one near) accepts. Lanes far apart run side by side, each one pair at a time.
async fn pair(
    http: &reqwest::Client,
    args: &RidesArgs,
    riders: &[User],
    drivers: &[User],
) -> anyhow::Result<Vec<(String, Arc<Ride>)>> {
    let lanes =
        futures::future::try_join_all((0..LANES.min(riders.len())).map(|lane| async move {
            let mut done = Vec::new();
            for i in (lane..riders.len()).step_by(LANES) {
                let (lat, lng) = (
                    52.52 + lane as f64 * LANE_DEG,
                    13.0 + (i / LANES) as f64 * 2e-4,
                );
                let driver = &drivers[i].cookie;
                let (url, rurl) = (&args.driver_url, &args.rider_url);
                let plate = format!("L-{i}");
                let car = [
                    ("make", "Toyota"),
                    ("model", "Prius"),
                    ("plate", plate.as_str()),
                ];
                post(http, url, "/api/car", Some(driver), &car).await?;
                let (la, ln) = (lat.to_string(), lng.to_string());
                post(
                    http,
                    url,
                    "/api/go_online",
                    Some(driver),
                    &[("lat", &la), ("lng", &ln)],
                )
                .await?;
                let (dla, dln) = ((lat + 0.01).to_string(), (lng + 0.01).to_string());
                let key = format!("load-{}-{i}", run_id());
                let form = [
                    ("pickup_lat", la.as_str()),
                    ("pickup_lng", ln.as_str()),
                    ("pickup_name", "Here"),
                    ("dropoff_lat", dla.as_str()),
                    ("dropoff_lng", dln.as_str()),
                    ("dropoff_name", "There"),
                    ("client_key", key.as_str()),
                ];
                let (ride, _) = post(
                    http,
                    rurl,
                    "/api/request_ride",
                    Some(&riders[i].cookie),
                    &form,
                )
                .await?;
                let id = ride["id"]
                    .as_str()
                    .context("a ride without an id")?
                    .to_owned();
                post(
                    http,
                    url,
                    "/api/accept",
                    Some(driver),
                    &[("id", id.as_str())],
                )
                .await
                .with_context(|| format!("ride {i}: the driver could not accept"))?;
                let ride = Ride {
                    lat,
                    lng0: lng,
                    sent: Mutex::new(vec![None; RING]),
                };
                done.push((i, (id, Arc::new(ride))));
            }
            anyhow::Ok(done)
        }))
        .await?;
    let mut all: Vec<_> = lanes.into_iter().flatten().collect();
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, ride)| ride).collect())
}

/// Opens sockets, `CONNECTS_AT_ONCE` handshakes at a time, in order.
pub async fn open_all<F>(opens: impl Iterator<Item = F>) -> anyhow::Result<Vec<Ws>>
where
    F: std::future::Future<Output = anyhow::Result<Ws>>,
{
    stream::iter(opens)
        .buffered(CONNECTS_AT_ONCE)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Opens `/ws` as a page of `url` would, and reads the welcome.
pub async fn connect(url: &str, cookie: &str) -> anyhow::Result<Ws> {
    let ws_url = format!("{}/ws", url.replacen("http", "ws", 1));
    let mut request = ws_url.as_str().into_client_request()?;
    let headers = request.headers_mut();
    headers.insert("cookie", format!("{COOKIE}={cookie}").parse()?);
    headers.insert("origin", url.parse()?);
    // Small buffers: thousands of client sockets must not cost the generator gigabytes
    // (tungstenite's default read buffer is 128 KiB, zero-filled on the first read).
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), false)
        .await
        .with_context(|| format!("opening {ws_url}"))?;
    wait_for(&mut ws, "welcome").await?;
    Ok(ws)
}

async fn wait_for(ws: &mut Ws, kind: &str) -> anyhow::Result<()> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .with_context(|| format!("no {kind} within 30 s"))?;
        match frame {
            Some(Ok(Message::Text(text))) => {
                let message: Incoming = serde_json::from_str(text.as_str())?;
                if message.kind == kind {
                    return Ok(());
                }
                if message.kind == "error" {
                    bail!("waiting for {kind}: {text}");
                }
            }
            Some(Ok(_)) => {}
            other => bail!("the socket ended waiting for {kind}: {other:?}"),
        }
    }
}

/// A rider's socket: matches every position to its send.
async fn follow(mut ws: Ws, ride: Arc<Ride>, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        let frame = tokio::select! {
            frame = ws.next() => frame,
            _ = stop.changed() => break,
        };
        let received = Instant::now();
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                shared.with(shared.phase.load(Ordering::Relaxed), |s| s.closed += 1);
                return;
            }
            Some(Ok(_)) => continue,
        };
        let Ok(message) = serde_json::from_str::<Incoming>(text.as_str()) else {
            continue;
        };
        match message.kind {
            "position" => {
                let n = ((message.lng - ride.lng0) / STEP_DEG).round() as u64;
                let slot = {
                    let mut sent = ride.sent.lock().unwrap_or_else(|p| p.into_inner());
                    match sent[n as usize % RING] {
                        Some((m, phase, at)) if m == n => {
                            sent[n as usize % RING] = None;
                            Some((phase, at))
                        }
                        _ => None,
                    }
                };
                match slot {
                    Some((phase, at)) => shared.with(phase, |s| {
                        s.delivered += 1;
                        let since = at.duration_since(shared.start).as_micros() as u64;
                        s.samples.push((since, (received - at).as_micros() as u32));
                    }),
                    None => {
                        shared.with(shared.phase.load(Ordering::Relaxed), |s| s.unexpected += 1)
                    }
                }
            }
            "resync" => shared.with(shared.phase.load(Ordering::Relaxed), |s| s.resyncs += 1),
            _ => {}
        }
    }
    close(&mut ws).await;
}

/// A driver's socket: positions on the phases' schedules, refusals counted.
async fn drive(
    mut ws: Ws,
    index: usize,
    ride: Arc<Ride>,
    phases: Arc<Vec<Phase>>,
    windows: Arc<Vec<(Instant, Instant)>>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut n = 0u64;
    for (p, phase) in phases.iter().enumerate() {
        let (start, end) = windows[p];
        if index >= phase.active {
            continue;
        }
        let period = phase.period();
        // Staggered evenly over one period, so the load is smooth.
        let first = start + period.mul_f64(index as f64 / phase.active as f64);
        let mut ticks = tokio::time::interval_at(first, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        loop {
            tokio::select! {
                at = ticks.tick() => {
                    if at >= end { break; }
                    n += 1;
                    let lng = ride.lng0 + n as f64 * STEP_DEG;
                    let text = format!(r#"{{"type":"position","lat":{},"lng":{}}}"#, ride.lat, lng);
                    {
                        let mut sent = ride.sent.lock().unwrap_or_else(|p| p.into_inner());
                        sent[n as usize % RING] = Some((n, p, Instant::now()));
                    }
                    if ws.send(Message::text(text)).await.is_err() {
                        return;
                    }
                    shared.with(p, |s| s.sent += 1);
                }
                frame = ws.next() => {
                    if !on_driver_frame(frame, &shared) { return; }
                }
                _ = stop.changed() => { close(&mut ws).await; return; }
            }
        }
    }
    loop {
        tokio::select! {
            frame = ws.next() => {
                if !on_driver_frame(frame, &shared) { return; }
            }
            _ = stop.changed() => { close(&mut ws).await; return; }
        }
    }
}

/// Says goodbye, without waiting long for a peer that does not take it.
pub async fn close(ws: &mut Ws) {
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
}

/// Counts a refusal; false when the socket ended.
fn on_driver_frame(
    frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    shared: &Shared,
) -> bool {
    match frame {
        Some(Ok(Message::Text(text))) => {
            if let Ok(message) = serde_json::from_str::<Incoming>(text.as_str()) {
                if message.kind == "error" {
                    let code = message.code.unwrap_or("unknown").to_owned();
                    shared.with(shared.phase.load(Ordering::Relaxed), |s| {
                        *s.refused.entry(code).or_default() += 1
                    });
                }
            }
            true
        }
        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
            shared.with(shared.phase.load(Ordering::Relaxed), |s| s.closed += 1);
            false
        }
        Some(Ok(_)) => true,
    }
}

/// An idle socket: read (so pings are answered) until told to stop.
async fn idle_reader(mut ws: Ws, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            frame = ws.next() => if !matches!(frame, Some(Ok(_))) { return },
            _ = stop.changed() => { close(&mut ws).await; return; }
        }
    }
}

/// The login burst's report and when it ran, in µs since the run's start.
struct Burst {
    report: Value,
    start_us: u64,
    end_us: u64,
}

/// `users.len()` logins at once, at `at`, alternating instances.
async fn login_burst(
    http: reqwest::Client,
    urls: [String; 2],
    users: Vec<User>,
    at: Instant,
    pids: Vec<(String, u32)>,
) -> anyhow::Result<(Instant, Instant, Value)> {
    tokio::time::sleep_until(at).await;
    let rss_before = rss_all(&pids);
    let start = Instant::now();
    let answers = futures::future::join_all(users.iter().enumerate().map(|(i, user)| {
        let (http, url) = (&http, &urls[i % 2]);
        async move {
            let sent = Instant::now();
            let form = [("email", user.email.as_str()), ("password", PASSWORD)];
            let ok = post(http, url, "/api/login", None, &form).await.is_ok();
            (ok, sent.elapsed().as_micros() as u32)
        }
    }))
    .await;
    let end = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut latencies: Vec<u32> = answers.iter().map(|(_, us)| *us).collect();
    let ok = answers.iter().filter(|(ok, _)| *ok).count();
    Ok((
        start,
        end,
        json!({
            "n": users.len(),
            "ok": ok,
            "failed": users.len() - ok,
            "duration_ms": (end - start).as_millis() as u64,
            "latency_ms": summary(&mut latencies),
            "rss_kb_before": rss_before,
            "rss_kb_after": rss_all(&pids),
        }),
    ))
}

fn phase_report(
    phase: &Phase,
    p: usize,
    shared: &Shared,
    pids: &[(String, u32)],
    used: &crate::procfs::CpuUse,
    rss_start: Value,
    burst: Option<(Instant, Instant, Value)>,
) -> Value {
    let mut stats = shared.stats.lock().unwrap_or_else(|p| p.into_inner());
    let s = &mut stats[p];
    let refused: u64 = s.refused.values().sum();
    let lost = s.sent.saturating_sub(refused + s.delivered);
    let burst = burst.map(|(start, end, report)| Burst {
        report,
        start_us: start.duration_since(shared.start).as_micros() as u64,
        end_us: end.duration_since(shared.start).as_micros() as u64,
    });
    let mut latencies: Vec<u32> = s.samples.iter().map(|(_, us)| *us).collect();
    let server_cpu: f64 = used.theirs.iter().sum();
    let processes: Vec<Value> = pids
        .iter()
        .zip(&used.theirs)
        .map(|((name, pid), cpu)| {
            json!({
                "name": name,
                "pid": pid,
                "cpu_pct": pct(*cpu, used.secs),
                "cpu_us_per_delivered": per(*cpu, s.delivered),
                "rss_kb_start": rss_start[name],
                "rss_kb_end": rss_kib(*pid),
            })
        })
        .collect();
    let mut report = json!({
        "spec": phase.spec,
        "active_rides": phase.active,
        "rate_per_s": (phase.active as f64 * phase.rate).round(),
        "secs": phase.secs,
        "sent": s.sent,
        "delivered": s.delivered,
        "refused": refused,
        "refused_by_code": s.refused,
        "lost": lost,
        "unexpected": s.unexpected,
        "resyncs": s.resyncs,
        "closed_by_server": s.closed,
        "latency_ms": summary(&mut latencies),
        "delivered_per_s": (s.delivered as f64 / used.secs.max(1e-9)).round(),
        "processes": processes,
        "server_cpu_us_per_delivered": per(server_cpu, s.delivered),
        "loadgen_cpu_pct": pct(used.ours, used.secs),
    });
    if let Some(burst) = burst {
        let (mut inside, mut outside): (Vec<u32>, Vec<u32>) = (Vec::new(), Vec::new());
        for (at, us) in &s.samples {
            if (burst.start_us..=burst.end_us).contains(at) {
                inside.push(*us);
            } else {
                outside.push(*us);
            }
        }
        let mut b = burst.report;
        b["positions_during_ms"] = summary(&mut inside);
        b["positions_during_n"] = json!(inside.len());
        b["positions_outside_ms"] = summary(&mut outside);
        report["login_burst"] = b;
    }
    report
}

fn per(cpu_secs: f64, delivered: u64) -> f64 {
    if delivered == 0 {
        return 0.0;
    }
    (cpu_secs * 1e6 / delivered as f64 * 10.0).round() / 10.0
}

#[derive(Args, Debug)]
pub struct IdleArgs {
    #[command(flatten)]
    common: Common,
    /// Where sockets connect (repeatable; split evenly).
    #[arg(long = "url", required = true)]
    urls: Vec<String>,
    #[arg(long, default_value_t = 1000)]
    sockets: usize,
    /// Pause before each memory reading.
    #[arg(long, default_value_t = 5)]
    settle_secs: u64,
}

pub async fn idle(args: IdleArgs) -> anyhow::Result<String> {
    let pids = args.common.pids.clone();
    let http = client();
    let run = run_id();
    let users = sign_up_many(
        &http,
        &args.urls,
        (args.sockets, "rider", "idle"),
        &run,
        args.common.setup_concurrency,
    )
    .await?;
    let settle = Duration::from_secs(args.settle_secs);
    tokio::time::sleep(settle).await;
    let before = rss_all(&pids);
    let (stop_tx, stop) = watch::channel(false);
    let opened = Instant::now();
    let handshakes = Arc::new(Mutex::new(Vec::new()));
    let sockets = open_all(users.iter().enumerate().map(|(i, user)| {
        let (url, cookie) = (args.urls[i % args.urls.len()].clone(), user.cookie.clone());
        let handshakes = handshakes.clone();
        async move {
            let t = Instant::now();
            let ws = connect(&url, &cookie).await?;
            handshakes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(t.elapsed().as_micros() as u32);
            Ok(ws)
        }
    }))
    .await?;
    let open_secs = opened.elapsed().as_secs_f64();
    let count = sockets.len();
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|ws| tokio::spawn(idle_reader(ws, stop.clone())))
        .collect();
    tokio::time::sleep(settle).await;
    let with = rss_all(&pids);
    stop_tx.send_replace(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), futures::future::join_all(tasks)).await;
    tokio::time::sleep(settle).await;
    let after = rss_all(&pids);
    let growth: i64 = pids
        .iter()
        .map(|(name, _)| with[name].as_i64().unwrap_or(0) - before[name].as_i64().unwrap_or(0))
        .sum();
    let per_pid: serde_json::Map<String, Value> = pids
        .iter()
        .map(|(name, _)| {
            let grew = with[name].as_i64().unwrap_or(0) - before[name].as_i64().unwrap_or(0);
            (name.clone(), json!(grew * 1024 / count.max(1) as i64))
        })
        .collect();
    let mut handshakes = std::mem::take(&mut *handshakes.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(json!({
        "mode": "idle",
        "label": args.common.label,
        "sockets": count,
        "open_secs": round1(open_secs),
        "opened_per_s": (count as f64 / open_secs.max(1e-9)).round(),
        "handshake_ms": summary(&mut handshakes),
        "rss_kb_before": before,
        "rss_kb_with_sockets": with,
        "rss_kb_after_close": after,
        "bytes_per_socket": growth * 1024 / count.max(1) as i64,
        "bytes_per_socket_by_process": per_pid,
    })
    .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_parse_and_bad_ones_say_how_to_write_them() {
        let phase = Phase::parse("2000x12.5:20").unwrap();
        assert_eq!((phase.active, phase.rate, phase.secs), (2000, 12.5, 20.0));
        assert_eq!(phase.period(), Duration::from_millis(80));
        assert!(Phase::parse("2000:20").unwrap_err().contains("NxRATE:SECS"));
        assert!(Phase::parse("0x5:20").unwrap_err().contains("above 0"));
    }
}
