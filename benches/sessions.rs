//! Benchmark: what a logged-in session costs across two instances sharing one Redis.
//!
//! Run: `cargo bench --features ssr --bench sessions` (release build; starts its own
//! redis-server on a free port and two in-process instances; a bounded number of requests over
//! loopback). Results go to BENCHMARKS.md by hand, with the machine's conditions.

#[path = "../tests/integration/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::time::{Duration, Instant};

use futures::future::join_all;
use harness::{unique_email, Browser, Cluster};
use reqwest::StatusCode;

const CLIENTS: usize = 16;
const REQUESTS_PER_CLIENT: usize = 250;
const LOGINS: usize = 40;

struct Report {
    name: &'static str,
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Report {
    fn print(mut self) {
        self.latencies.sort();
        let pick = |q: f64| {
            let i = ((self.latencies.len() as f64 - 1.0) * q).round() as usize;
            self.latencies[i].as_secs_f64() * 1000.0
        };
        println!(
            "{:<44} n={:<5} {:>8.0} req/s   p50 {:>6.2} ms   p95 {:>6.2} ms   p99 {:>6.2} ms",
            self.name,
            self.latencies.len(),
            self.latencies.len() as f64 / self.elapsed.as_secs_f64(),
            pick(0.50),
            pick(0.95),
            pick(0.99),
        );
    }
}

/// `CLIENTS` logged-in browsers each run `op` `REQUESTS_PER_CLIENT` times, alternating instances.
async fn measure<F, Fut>(name: &'static str, browsers: Vec<Browser>, op: F) -> Report
where
    F: Fn(Browser, usize) -> Fut + Clone,
    Fut: std::future::Future<Output = (Browser, Vec<Duration>)>,
{
    let started = Instant::now();
    let runs = browsers
        .into_iter()
        .enumerate()
        .map(|(i, b)| op.clone()(b, i));
    let latencies = join_all(runs)
        .await
        .into_iter()
        .flat_map(|(_, l)| l)
        .collect();
    Report {
        name,
        latencies,
        elapsed: started.elapsed(),
    }
}

/// Every client GETs `path` `REQUESTS_PER_CLIENT` times, alternating instances; all must be 200.
async fn run(
    name: &'static str,
    browsers: Vec<Browser>,
    cluster: &'static Cluster,
    path: &'static str,
) -> Vec<Browser> {
    let started = Instant::now();
    let runs = browsers
        .into_iter()
        .enumerate()
        .map(|(i, mut b)| async move {
            let mut lat = Vec::with_capacity(REQUESTS_PER_CLIENT);
            for n in 0..REQUESTS_PER_CLIENT {
                let app = if (i + n).is_multiple_of(2) {
                    &cluster.a
                } else {
                    &cluster.b
                };
                let t = Instant::now();
                let answer = b.get(app, path).await;
                lat.push(t.elapsed());
                assert_eq!(answer.status, StatusCode::OK, "{path}");
            }
            (b, lat)
        });
    let (browsers, latencies): (Vec<_>, Vec<_>) = join_all(runs).await.into_iter().unzip();
    Report {
        name,
        latencies: latencies.into_iter().flatten().collect(),
        elapsed: started.elapsed(),
    }
    .print();
    browsers
}

#[tokio::main]
async fn main() {
    // Lives for the whole run; leaking it lets every client borrow it without Arcs.
    let cluster: &'static Cluster = Box::leak(Box::new(Cluster::start().await));
    let mut browsers = Vec::new();
    let mut emails = Vec::new();
    for i in 0..CLIENTS {
        let mut browser = Browser::new();
        let email = unique_email("bench");
        let app = if i.is_multiple_of(2) {
            &cluster.a
        } else {
            &cluster.b
        };
        let answer = browser.sign_up(app, "Bench", &email, "rider").await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        browsers.push(browser);
        emails.push(email);
    }
    println!(
        "{CLIENTS} concurrent logged-in clients, {REQUESTS_PER_CLIENT} requests each, alternating two instances"
    );

    let anonymous = (0..CLIENTS).map(|_| Browser::new()).collect();
    run(
        "GET /healthz (baseline: no session)",
        anonymous,
        cluster,
        "/healthz",
    )
    .await;
    let browsers = run("GET /api/me (session read)", browsers, cluster, "/api/me").await;
    run(
        "GET / (server-rendered page, logged in)",
        browsers,
        cluster,
        "/",
    )
    .await;

    let mut browsers = Vec::new();
    for email in &emails {
        let mut b = Browser::new();
        b.log_in(&cluster.a, email, "correct horse").await;
        browsers.push(b);
    }
    let handoff = measure(
        "save_location on A, read on B (write+read)",
        browsers,
        move |mut b: Browser, i: usize| async move {
            let c = cluster;
            let mut lat = Vec::with_capacity(REQUESTS_PER_CLIENT);
            for n in 0..REQUESTS_PER_CLIENT / 2 {
                let (write, read) = if (i + n).is_multiple_of(2) {
                    (&c.a, &c.b)
                } else {
                    (&c.b, &c.a)
                };
                let value = format!("{}.{}", i % 80, n);
                let t = Instant::now();
                let saved = b
                    .post(
                        write,
                        "/api/save_location",
                        &[("lat", &value), ("lng", "13.4")],
                    )
                    .await;
                let got = b.get(read, "/api/location").await;
                lat.push(t.elapsed());
                assert_eq!(saved.status, StatusCode::OK);
                assert_eq!(got.json()["lat"].as_f64(), value.parse::<f64>().ok());
            }
            (b, lat)
        },
    )
    .await;
    handoff.print();

    // Logins are bounded by Argon2 on purpose: this is the cost of one.
    let started = Instant::now();
    let mut lat = Vec::new();
    for (n, email) in emails.iter().cycle().take(LOGINS).enumerate() {
        let app = if n.is_multiple_of(2) {
            &cluster.a
        } else {
            &cluster.b
        };
        let t = Instant::now();
        let answer = Browser::new().log_in(app, email, "correct horse").await;
        lat.push(t.elapsed());
        assert_eq!(answer.status, StatusCode::OK);
    }
    Report {
        name: "POST /api/login (argon2id, one at a time)",
        latencies: lat,
        elapsed: started.elapsed(),
    }
    .print();
    cluster.redis.shut_down().await;
}
