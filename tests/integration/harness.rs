//! Test harness: a real redis-server on a free port (killed on drop) and real Hail instances
//! built by the same `Application::build` as production, each on its own port.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hail::server::{Application, Config};
use leptos::config::LeptosOptions;
use reqwest::header::{HeaderMap, HeaderValue, COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const COOKIE_NAME: &str = "hail_session";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A redis-server of the test's own; never the one on 6379.
pub struct TestRedis {
    pub port: u16,
    child: Option<Child>,
}

impl TestRedis {
    pub async fn start() -> Self {
        let mut redis = Self {
            port: free_port(),
            child: None,
        };
        redis.spawn().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--dir", &self.data_dir()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is on PATH (scripts/setup.sh installs it)");
        self.child = Some(child);
        let client = redis::Client::open(self.url()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                let pong: redis::RedisResult<String> =
                    redis::cmd("PING").query_async(&mut conn).await;
                if pong.is_ok() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Where `restart_keeping_data` keeps the snapshot: this server's own directory.
    fn data_dir(&self) -> String {
        let dir = std::env::temp_dir().join(format!("hail-test-redis-{}", self.port));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        dir.to_string_lossy().into_owned()
    }

    /// Stops the server through a shared reference, for a run that leaked its cluster (the
    /// benches share one `&'static` cluster between every client).
    pub async fn shut_down(&self) {
        let mut conn = self.connection().await;
        let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN")
            .arg("NOSAVE")
            .query_async(&mut conn)
            .await;
        let _ = std::fs::remove_dir_all(self.data_dir());
    }

    /// Restarts the server with its data, as a Redis with persistence comes back.
    pub async fn restart_keeping_data(&mut self) {
        let mut conn = self.connection().await;
        let _: () = redis::cmd("SAVE").query_async(&mut conn).await.unwrap();
        self.restart().await;
    }

    /// Kills the server, as a crash would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port: empty, unless a snapshot was saved.
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn().await;
    }

    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// Every key in the server.
    pub async fn keys(&self) -> Vec<String> {
        let mut conn = self.connection().await;
        redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut conn)
            .await
            .unwrap()
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(self.data_dir());
    }
}

/// One Hail instance serving on its own port.
pub struct TestApp {
    pub addr: SocketAddr,
    /// The instance's state, to look inside it (it lives on while the instance runs).
    pub state: hail::server::AppState,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl TestApp {
    pub async fn spawn(config: Config) -> Self {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let leptos_options = LeptosOptions::builder()
            .output_name("hail")
            .site_root("target/site")
            .site_addr(addr)
            .build();
        let app = Application::build(config, leptos_options)
            .await
            .expect("the app builds");
        let addr = app.local_addr();
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel();
        let server = tokio::spawn(async move {
            app.run_until(async {
                let _ = rx.await;
            })
            .await
            .expect("the server runs");
        });
        Self {
            addr,
            state,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Starts a graceful shutdown (what SIGTERM does) without waiting for it.
    pub fn begin_stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Whether the instance finished its shutdown (and `run_until` returned Ok) within `within`.
    pub async fn stopped_within(&mut self, within: Duration) -> bool {
        match self.server.take() {
            Some(server) => match tokio::time::timeout(within, server).await {
                Ok(joined) => joined.is_ok(),
                Err(_) => false,
            },
            None => true,
        }
    }

    pub async fn stop(&mut self) {
        self.begin_stop();
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// Test configuration: its own key prefix, a tight login limit.
pub fn config(redis: &TestRedis) -> Config {
    let mut config = Config::for_redis(redis.url());
    config.key_prefix = "t".into();
    // Off even when the shell exports HAIL_DEMO_DRIVERS: simulated drivers would take the
    // tests' offers. The demo tests turn it on themselves.
    config.demo_drivers = 0;
    config
}

/// A Redis and two instances sharing it.
pub struct Cluster {
    pub redis: TestRedis,
    pub a: TestApp,
    pub b: TestApp,
}

impl Cluster {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl Fn(&mut Config)) -> Self {
        let redis = TestRedis::start().await;
        let mut cfg = config(&redis);
        tweak(&mut cfg);
        let a = TestApp::spawn(cfg.clone()).await;
        let b = TestApp::spawn(cfg).await;
        Self { redis, a, b }
    }
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The session cookie this answer sets, if any ("" when it removes it).
    pub fn session_cookie(&self) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{COOKIE_NAME}=")))
            .map(str::to_owned)
    }
}

/// A browser-like client whose one cookie is sent to whichever instance it talks to, as a
/// browser does behind a load balancer. Cookies are handled by hand so tests can see them.
pub struct Browser {
    http: reqwest::Client,
    pub cookie: Option<String>,
    pub forwarded_for: Option<String>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
            forwarded_for: None,
        }
    }

    pub async fn send(
        &mut self,
        method: Method,
        url: String,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self.http.request(method.clone(), url);
        if let Some(cookie) = &self.cookie {
            req = req.header(COOKIE, format!("{COOKIE_NAME}={cookie}"));
        }
        if let Some(xff) = &self.forwarded_for {
            req = req.header("x-forwarded-for", xff);
        }
        for (name, value) in headers {
            req = req.header(*name, HeaderValue::from_str(value).unwrap());
        }
        if method == Method::POST {
            req = req.form(form);
        }
        let res = req.send().await.expect("the instance answers");
        let answer = Answer {
            status: res.status(),
            headers: res.headers().clone(),
            body: res.text().await.unwrap_or_default(),
        };
        if let Some(set) = answer.session_cookie() {
            let value = set
                .trim_start_matches(&format!("{COOKIE_NAME}="))
                .split(';')
                .next()
                .unwrap_or_default()
                .to_owned();
            let removed = set.contains("Max-Age=0") || value.is_empty();
            self.cookie = if removed { None } else { Some(value) };
        }
        answer
    }

    pub async fn post(&mut self, app: &TestApp, path: &str, form: &[(&str, &str)]) -> Answer {
        self.send(Method::POST, app.url(path), form, &[]).await
    }

    pub async fn get(&mut self, app: &TestApp, path: &str) -> Answer {
        self.send(Method::GET, app.url(path), &[], &[]).await
    }

    pub async fn sign_up(&mut self, app: &TestApp, name: &str, email: &str, role: &str) -> Answer {
        self.post(
            app,
            "/api/signup",
            &[
                ("name", name),
                ("email", email),
                ("password", "correct horse"),
                ("role", role),
            ],
        )
        .await
    }

    pub async fn log_in(&mut self, app: &TestApp, email: &str, password: &str) -> Answer {
        self.post(
            app,
            "/api/login",
            &[("email", email), ("password", password)],
        )
        .await
    }

    pub async fn me(&mut self, app: &TestApp) -> Answer {
        self.get(app, "/api/me").await
    }
}

/// A unique email per call, so tests never collide.
pub fn unique_email(who: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{who}-{}-{}@example.com",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Test timings: fast offers and polling so rides move in test time.
pub fn fast_dispatch(config: &mut Config) {
    config.offer_timeout_secs = 2;
    config.dispatch_poll_ms = 50;
    config.search_retry_ms = 200;
    config.search_timeout_secs = 30;
}

/// For tests that place drivers by hand, hundreds of metres apart in quick succession: the
/// plausible-speed and position-rate checks (tested on their own) would refuse the jumps.
pub fn teleporting_drivers(config: &mut Config) {
    config.max_speed_kmh = 1e6;
    config.positions_per_sec = 10_000;
}

/// Near the demo city's centre; drivers are placed around it.
pub const PICKUP: (f64, f64) = (52.5200, 13.4050);
pub const DROPOFF: (f64, f64) = (52.5000, 13.4400);

impl Browser {
    /// A rider who is signed up and logged in.
    pub async fn rider(app: &TestApp, name: &str) -> Self {
        let mut rider = Self::new();
        let answer = rider
            .sign_up(app, name, &unique_email("rider"), "rider")
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        rider
    }

    /// A driver with a car, offline.
    pub async fn driver_with_car(app: &TestApp, name: &str) -> Self {
        let mut driver = Self::new();
        let answer = driver
            .sign_up(app, name, &unique_email("driver"), "driver")
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let car = driver
            .post(
                app,
                "/api/car",
                &[
                    ("make", "Toyota"),
                    ("model", "Prius"),
                    ("plate", "B-HX 123"),
                ],
            )
            .await;
        assert_eq!(car.status, StatusCode::OK, "{}", car.body);
        driver
    }

    /// A driver with a car, online at (lat, lng).
    pub async fn driver_online(app: &TestApp, name: &str, at: (f64, f64)) -> Self {
        let mut driver = Self::driver_with_car(app, name).await;
        driver.go_online(app, at).await;
        driver
    }

    pub async fn go_online(&mut self, app: &TestApp, at: (f64, f64)) {
        let (lat, lng) = (at.0.to_string(), at.1.to_string());
        let online = self
            .post(app, "/api/go_online", &[("lat", &lat), ("lng", &lng)])
            .await;
        assert_eq!(online.status, StatusCode::OK, "{}", online.body);
    }

    pub async fn send_position(&mut self, app: &TestApp, at: (f64, f64)) {
        let (lat, lng) = (at.0.to_string(), at.1.to_string());
        let sent = self
            .post(app, "/api/position", &[("lat", &lat), ("lng", &lng)])
            .await;
        assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    }

    pub async fn request_ride(&mut self, app: &TestApp, client_key: &str) -> Answer {
        let (plat, plng) = (PICKUP.0.to_string(), PICKUP.1.to_string());
        let (dlat, dlng) = (DROPOFF.0.to_string(), DROPOFF.1.to_string());
        self.post(
            app,
            "/api/request_ride",
            &[
                ("pickup_lat", &plat),
                ("pickup_lng", &plng),
                ("pickup_name", "Central Station"),
                ("dropoff_lat", &dlat),
                ("dropoff_lng", &dlng),
                ("dropoff_name", "Riverside Park"),
                ("client_key", client_key),
            ],
        )
        .await
    }

    /// Posts `path` with the ride id (and any more fields).
    pub async fn ride_step(
        &mut self,
        app: &TestApp,
        path: &str,
        id: &str,
        more: &[(&str, &str)],
    ) -> Answer {
        let mut form = vec![("id", id)];
        form.extend_from_slice(more);
        self.post(app, path, &form).await
    }

    pub async fn ride(&mut self, app: &TestApp, id: &str) -> Answer {
        self.get(app, &format!("/api/ride?id={id}")).await
    }

    pub async fn current_ride(&mut self, app: &TestApp) -> Value {
        let answer = self.get(app, "/api/current_ride").await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.json()
    }

    /// Polls until `check` holds for the current ride (or its absence), up to `secs` seconds.
    pub async fn wait_for_current(
        &mut self,
        app: &TestApp,
        secs: u64,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let current = self.current_ride(app).await;
            if check(&current) {
                return current;
            }
            assert!(
                Instant::now() < deadline,
                "gave up waiting; last: {current}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A fresh client key per call.
pub fn client_key() -> String {
    format!("key-{}", unique_email("k").replace(['@', '.'], "-"))
}

impl TestRedis {
    /// A pub/sub subscription to `channel`, to watch what Hail publishes.
    pub async fn subscribe(&self, channel: &str) -> impl futures::Stream<Item = redis::Msg> {
        let client = redis::Client::open(self.url()).unwrap();
        let mut pubsub = client.get_async_pubsub().await.unwrap();
        pubsub.subscribe(channel).await.unwrap();
        pubsub.into_on_message()
    }
}

impl Browser {
    /// The rider's quote for the standard trip, PICKUP to DROPOFF.
    pub async fn quote(&mut self, app: &TestApp) -> Answer {
        let (plat, plng) = (PICKUP.0.to_string(), PICKUP.1.to_string());
        let (dlat, dlng) = (DROPOFF.0.to_string(), DROPOFF.1.to_string());
        self.post(
            app,
            "/api/quote",
            &[
                ("pickup_lat", &plat),
                ("pickup_lng", &plng),
                ("dropoff_lat", &dlat),
                ("dropoff_lng", &dlng),
            ],
        )
        .await
    }
}
