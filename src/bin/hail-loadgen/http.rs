//! The HTTP side, as a browser does it: form posts, the session cookie carried by hand. Also
//! the `session` and `page` modes, which are HTTP only.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Args;
use futures::{stream, StreamExt as _};
use serde_json::{json, Value};

use crate::procfs::{rss_all, CpuWindow};
use crate::stats::summary;
use crate::Common;

pub const COOKIE: &str = "hail_session";
pub const PASSWORD: &str = "correct horse battery";

/// Sign-ups wait behind Argon2 on a busy server: be patient.
const TIMEOUT: Duration = Duration::from_secs(120);

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .pool_max_idle_per_host(64)
        .build()
        .expect("a plain HTTP client builds")
}

/// A logged-in user: their email and session cookie.
#[derive(Clone, Debug)]
pub struct User {
    pub email: String,
    pub cookie: String,
}

/// A random tag for this run's emails, so runs never collide.
pub fn run_id() -> String {
    format!("{:08x}", rand::random::<u32>())
}

/// POSTs a form; returns the answer's JSON and the session cookie it set, if any.
pub async fn post(
    http: &reqwest::Client,
    url: &str,
    path: &str,
    cookie: Option<&str>,
    form: &[(&str, &str)],
) -> anyhow::Result<(Value, Option<String>)> {
    let mut request = http.post(format!("{url}{path}")).form(form);
    if let Some(cookie) = cookie {
        request = request.header("cookie", format!("{COOKIE}={cookie}"));
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("POST {url}{path}"))?;
    let status = response.status();
    let set = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.strip_prefix(&format!("{COOKIE}="))
                .map(|rest| rest.split(';').next().unwrap_or_default().to_owned())
        });
    let body = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("POST {path} answered {status}: {body}");
    }
    Ok((serde_json::from_str(&body).unwrap_or(Value::Null), set))
}

pub async fn sign_up(
    http: &reqwest::Client,
    url: &str,
    email: String,
    role: &str,
) -> anyhow::Result<User> {
    let name = format!("Load {role}");
    let form = [
        ("name", name.as_str()),
        ("email", email.as_str()),
        ("password", PASSWORD),
        ("role", role),
    ];
    let (_, cookie) = post(http, url, "/api/signup", None, &form).await?;
    let cookie = cookie.context("sign-up set no session cookie")?;
    Ok(User { email, cookie })
}

/// Signs up `n` users of `role` (emails tagged `tag`), `at_once` in flight, spread over `urls`
/// in turn.
pub async fn sign_up_many(
    http: &reqwest::Client,
    urls: &[String],
    (n, role, tag): (usize, &str, &str),
    run: &str,
    at_once: usize,
) -> anyhow::Result<Vec<User>> {
    stream::iter(0..n)
        .map(|i| {
            let url = urls[i % urls.len()].clone();
            let email = format!("{tag}-{i}-{run}@load.hail");
            async move { sign_up(http, &url, email, role).await }
        })
        .buffered(at_once.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

#[derive(Args, Debug)]
pub struct SessionArgs {
    #[command(flatten)]
    common: Common,
    /// Where locations are saved.
    #[arg(long)]
    write_url: String,
    /// Where they are read back.
    #[arg(long)]
    read_url: String,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Pairs per client.
    #[arg(long, default_value_t = 250)]
    requests: usize,
}

pub async fn session(args: SessionArgs) -> anyhow::Result<String> {
    let http = client();
    let run = run_id();
    let users = sign_up_many(
        &http,
        std::slice::from_ref(&args.write_url),
        (args.concurrency, "rider", "session"),
        &run,
        args.common.setup_concurrency,
    )
    .await?;
    let pids = &args.common.pids;
    let cpu = CpuWindow::start(pids);
    let started = Instant::now();
    let results = futures::future::join_all(users.iter().enumerate().map(|(c, user)| {
        let (http, args) = (&http, &args);
        async move {
            let (mut latencies, mut mismatches, mut errors) = (Vec::new(), 0u64, 0u64);
            for i in 0..args.requests {
                let lat = format!("{:.6}", 52.0 + c as f64 * 0.01 + i as f64 * 1e-6);
                let lng = format!("{:.6}", 13.0 + i as f64 * 1e-6);
                let sent = Instant::now();
                let form = [("lat", lat.as_str()), ("lng", lng.as_str())];
                let saved = post(
                    http,
                    &args.write_url,
                    "/api/save_location",
                    Some(&user.cookie),
                    &form,
                )
                .await;
                let read = http
                    .get(format!("{}/api/location", args.read_url))
                    .header("cookie", format!("{COOKIE}={}", user.cookie))
                    .send()
                    .await;
                let body: Option<Value> = match read {
                    Ok(r) if r.status().is_success() => r.json().await.ok(),
                    _ => None,
                };
                latencies.push(sent.elapsed().as_micros() as u32);
                match (saved, body) {
                    (Ok(_), Some(body)) => {
                        let same = body["lat"].as_f64().map(|v| format!("{v:.6}")) == Some(lat)
                            && body["lng"].as_f64().map(|v| format!("{v:.6}")) == Some(lng);
                        if !same {
                            mismatches += 1;
                        }
                    }
                    _ => errors += 1,
                }
            }
            (latencies, mismatches, errors)
        }
    }))
    .await;
    let secs = started.elapsed().as_secs_f64();
    let used = cpu.end(pids);
    let mut latencies: Vec<u32> = results.iter().flat_map(|r| r.0.clone()).collect();
    let pairs = latencies.len();
    Ok(json!({
        "mode": "session",
        "label": args.common.label,
        "concurrency": args.concurrency,
        "pairs": pairs,
        "mismatches": results.iter().map(|r| r.1).sum::<u64>(),
        "errors": results.iter().map(|r| r.2).sum::<u64>(),
        "pairs_per_s": (pairs as f64 / secs).round(),
        "latency_ms": summary(&mut latencies),
        "processes": processes(pids, &used.theirs, used.secs, pairs),
        "loadgen_cpu_pct": pct(used.ours, used.secs),
        "rss_kb": rss_all(pids),
    })
    .to_string())
}

#[derive(Args, Debug)]
pub struct PageArgs {
    #[command(flatten)]
    common: Common,
    #[arg(long)]
    url: String,
    #[arg(long, default_value = "/rider")]
    path: String,
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
}

pub async fn page(args: PageArgs) -> anyhow::Result<String> {
    let http = client();
    let user = sign_up(
        &http,
        &args.url,
        format!("page-{}@load.hail", run_id()),
        "rider",
    )
    .await?;
    let url = format!("{}{}", args.url, args.path);
    let pids = &args.common.pids;
    let cpu = CpuWindow::start(pids);
    let started = Instant::now();
    let per_client = args.requests / args.concurrency.max(1);
    let results = futures::future::join_all((0..args.concurrency.max(1)).map(|_| {
        let (http, url, cookie) = (&http, &url, &user.cookie);
        async move {
            let (mut latencies, mut errors) = (Vec::new(), 0u64);
            for _ in 0..per_client {
                let sent = Instant::now();
                let answer = http
                    .get(url)
                    .header("cookie", format!("{COOKIE}={cookie}"))
                    .header("accept", "text/html")
                    .send()
                    .await;
                let ok = match answer {
                    Ok(r) => {
                        let html = r
                            .headers()
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .is_some_and(|v| v.starts_with("text/html"));
                        r.status().is_success() && html && r.bytes().await.is_ok()
                    }
                    Err(_) => false,
                };
                latencies.push(sent.elapsed().as_micros() as u32);
                if !ok {
                    errors += 1;
                }
            }
            (latencies, errors)
        }
    }))
    .await;
    let secs = started.elapsed().as_secs_f64();
    let used = cpu.end(pids);
    let mut latencies: Vec<u32> = results.iter().flat_map(|r| r.0.clone()).collect();
    let n = latencies.len();
    Ok(json!({
        "mode": "page",
        "label": args.common.label,
        "path": args.path,
        "concurrency": args.concurrency,
        "requests": n,
        "errors": results.iter().map(|r| r.1).sum::<u64>(),
        "requests_per_s": (n as f64 / secs).round(),
        "latency_ms": summary(&mut latencies),
        "processes": processes(pids, &used.theirs, used.secs, n),
        "loadgen_cpu_pct": pct(used.ours, used.secs),
    })
    .to_string())
}

pub fn pct(cpu_secs: f64, wall_secs: f64) -> f64 {
    if wall_secs <= 0.0 {
        return 0.0;
    }
    (cpu_secs / wall_secs * 1000.0).round() / 10.0
}

/// Each process's CPU over a window, and per unit of work.
pub fn processes(pids: &[(String, u32)], cpu: &[f64], secs: f64, units: usize) -> Value {
    pids.iter()
        .zip(cpu)
        .map(|((name, pid), used)| {
            json!({
                "name": name,
                "pid": pid,
                "cpu_pct": pct(*used, secs),
                "cpu_us_per_unit": if units > 0 { (used * 1e6 / units as f64 * 10.0).round() / 10.0 } else { 0.0 },
            })
        })
        .collect()
}
