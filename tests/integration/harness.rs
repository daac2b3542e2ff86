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
    /// A node of a Redis Cluster (see `TestRedisCluster`).
    clustered: bool,
    /// Writes an append-only file, synced every second (`start_durable`).
    durable: bool,
}

impl TestRedis {
    pub async fn start() -> Self {
        Self::start_as(false).await
    }

    /// A server that logs every write to an append-only file and syncs it every second, as the
    /// README recommends for production: a restart after a crash loses at most that second.
    pub async fn start_durable() -> Self {
        Self::start_as(true).await
    }

    async fn start_as(durable: bool) -> Self {
        let mut redis = Self {
            port: free_port(),
            child: None,
            clustered: false,
            durable,
        };
        redis.spawn().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self) {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--dir", &self.data_dir()]);
        if self.durable {
            command.args(["--appendonly", "yes", "--appendfsync", "everysec"]);
        } else {
            command.args(["--appendonly", "no"]);
        }
        if self.clustered {
            // Its cluster state lives in its directory, so a restarted node rejoins.
            command
                .args([
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                ])
                .args([
                    "--cluster-node-timeout",
                    "1000",
                    "--repl-diskless-sync-delay",
                    "0",
                ]);
        }
        let child = command
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

    /// A connection of the test's own, patient enough for a machine busy with several
    /// clusters at once (the client's defaults give up after half a second) and for `WAIT`.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        let patient = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(5)));
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection_with_config(&patient)
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

/// What a test talks to: an instance in this process or in its own.
pub trait Instance {
    fn addr(&self) -> SocketAddr;

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr(), path)
    }
}

impl Instance for TestApp {
    fn addr(&self) -> SocketAddr {
        self.addr
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

/// A Hail instance in a process of its own (the `hail` binary this build made), for what only a
/// process can show: being killed with SIGKILL, and its log.
pub struct TestProcess {
    pub addr: SocketAddr,
    child: Option<Child>,
    log: std::path::PathBuf,
}

impl Instance for TestProcess {
    fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl TestProcess {
    /// Starts the binary on a free port against `redis_url`, with the tests' settings (the
    /// prefix `t`, demo mode off, a high sign-up limit) and `env` on top; waits for /readyz.
    pub async fn spawn(redis_url: &str, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let log = std::env::temp_dir().join(format!("hail-test-instance-{port}.log"));
        let out = std::fs::File::create(&log).expect("a log file");
        let child = Command::new(env!("CARGO_BIN_EXE_hail"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("LEPTOS_OUTPUT_NAME", "hail")
            .env("LEPTOS_SITE_ROOT", "target/site")
            .env("LEPTOS_SITE_ADDR", addr.to_string())
            .env("REDIS_URL", redis_url)
            .env("HAIL_KEY_PREFIX", "t")
            .env("HAIL_DEMO_DRIVERS", "0")
            .env("HAIL_SIGNUPS_PER_IP", "10000")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("the hail binary starts");
        let process = Self {
            addr,
            child: Some(child),
            log,
        };
        let ready = process.url("/readyz");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(res) = reqwest::get(&ready).await {
                if res.status() == StatusCode::OK {
                    return process;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the instance did not become ready; its log:\n{}",
                process.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the process with SIGKILL: no drain, no goodbye.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// The process's resident memory now, in bytes (Linux).
    pub fn resident_bytes(&self) -> u64 {
        let pid = self.child.as_ref().expect("running").id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    /// Everything the instance logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for TestProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Test configuration: its own key prefix, a tight login limit.
pub fn config(redis: &TestRedis) -> Config {
    let mut config = Config::for_redis(redis.url());
    config.key_prefix = "t".into();
    // Off even when the shell exports HAIL_DEMO_DRIVERS: simulated drivers would take the
    // tests' offers. The demo tests turn it on themselves.
    config.demo_drivers = 0;
    // Every test signs up from 127.0.0.1; the sign-up limit has its own test.
    config.signups_per_ip = 10_000;
    config
}

/// Redis and two instances sharing it.
pub struct Cluster {
    pub redis: Store,
    pub a: TestApp,
    pub b: TestApp,
}

impl Cluster {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// On the topology `HAIL_TEST_TOPOLOGY` names: one node by default.
    pub async fn start_with(tweak: impl Fn(&mut Config)) -> Self {
        Self::start_on(Topology::from_env(), tweak).await
    }

    pub async fn start_on(topology: Topology, tweak: impl Fn(&mut Config)) -> Self {
        Self::on_store(Store::start(topology).await, tweak).await
    }

    /// Two instances on a Redis the test started itself.
    pub async fn on_store(redis: Store, tweak: impl Fn(&mut Config)) -> Self {
        let topology = redis.topology();
        let mut cfg = redis.config();
        tweak(&mut cfg);
        let a = TestApp::spawn(cfg.clone()).await;
        let b = TestApp::spawn(cfg).await;
        assert_eq!(
            a.state.redis.is_cluster(),
            topology == Topology::Cluster,
            "the instances run on the topology asked for"
        );
        Self { redis, a, b }
    }
}

/// Which Redis the instances share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// One redis-server.
    Node,
    /// Six redis-servers as a Redis Cluster: three primaries, a replica each.
    Cluster,
}

impl Topology {
    /// `HAIL_TEST_TOPOLOGY=cluster` runs the suites that take it on a cluster
    /// (scripts/test.sh runs the ride and live suites both ways).
    pub fn from_env() -> Self {
        match std::env::var("HAIL_TEST_TOPOLOGY").as_deref() {
            Ok("cluster") => Self::Cluster,
            Ok("node") | Ok("") | Err(_) => Self::Node,
            Ok(other) => panic!("HAIL_TEST_TOPOLOGY is node or cluster, not {other:?}"),
        }
    }
}

/// The key prefix and region of every test instance: every ride key, and the channels, hash
/// to this tag's slot.
pub const REGION_TAG: &str = "{r:demo}";

/// The Redis of a test, on either topology, with what tests ask of it.
pub enum Store {
    Node(TestRedis),
    Cluster(TestRedisCluster),
}

impl Store {
    pub async fn start(topology: Topology) -> Self {
        match topology {
            Topology::Node => Self::Node(TestRedis::start().await),
            Topology::Cluster => Self::Cluster(TestRedisCluster::start().await),
        }
    }

    pub fn topology(&self) -> Topology {
        match self {
            Self::Node(_) => Topology::Node,
            Self::Cluster(_) => Topology::Cluster,
        }
    }

    /// Test configuration for instances on this Redis.
    pub fn config(&self) -> Config {
        match self {
            Self::Node(node) => config(node),
            Self::Cluster(cluster) => {
                let mut config = config(&cluster.nodes[0]);
                config.redis_cluster_nodes = cluster.nodes.iter().map(TestRedis::url).collect();
                config
            }
        }
    }

    /// The one node, for tests that only run on one.
    pub fn node(&self) -> &TestRedis {
        match self {
            Self::Node(node) => node,
            Self::Cluster(_) => panic!("this test runs on one node only"),
        }
    }

    /// A connection to the node that serves the test region's keys and channels.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        match self {
            Self::Node(node) => node.connection().await,
            Self::Cluster(cluster) => cluster.region_primary().await.connection().await,
        }
    }

    /// Every key, on every primary.
    pub async fn keys(&self) -> Vec<String> {
        match self {
            Self::Node(node) => node.keys().await,
            Self::Cluster(cluster) => {
                let mut keys = Vec::new();
                for node in cluster.primaries().await {
                    keys.extend(node.keys().await);
                }
                keys
            }
        }
    }

    /// What Hail publishes on `channel` (PUBLISH on one node, SPUBLISH on a cluster): payloads.
    pub async fn subscribe(&self, channel: &str) -> futures::stream::BoxStream<'static, String> {
        use futures::StreamExt as _;
        match self {
            Self::Node(node) => node
                .subscribe(channel)
                .await
                .map(|message| message.get_payload::<String>().unwrap())
                .boxed(),
            Self::Cluster(cluster) => cluster.ssubscribe(channel).await,
        }
    }

    /// How many connections follow `channel`: PUBSUB NUMSUB, or SHARDNUMSUB on the channel's
    /// node of a cluster.
    pub async fn subscribers(&self, channel: &str) -> u64 {
        let (command, mut redis) = match self {
            Self::Node(node) => ("NUMSUB", node.connection().await),
            Self::Cluster(cluster) => (
                "SHARDNUMSUB",
                cluster.region_primary().await.connection().await,
            ),
        };
        let (_, count): (String, u64) = redis::cmd("PUBSUB")
            .arg(command)
            .arg(channel)
            .query_async(&mut redis)
            .await
            .unwrap();
        count
    }

    /// On a cluster: SIGKILL for the region's primary, which stays dead (its replica takes
    /// over); for measuring a failover while traffic flows. Returns its port.
    pub async fn kill_region_primary(&self) -> u16 {
        let Self::Cluster(cluster) = self else {
            panic!("only a cluster fails over")
        };
        let node = cluster.region_primary().await;
        let pid = node.child.as_ref().expect("a running primary").id();
        let killed = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        node.port
    }

    /// Stops every server through a shared reference (the benches share one `&'static`).
    pub async fn shut_down(&self) {
        match self {
            Self::Node(node) => node.shut_down().await,
            Self::Cluster(cluster) => {
                for node in &cluster.nodes {
                    node.shut_down().await;
                }
            }
        }
    }

    /// Takes the region's node away and brings it back with its data: one node restarts (from
    /// a snapshot, as a Redis with persistence does); on a cluster its primary is killed with
    /// SIGKILL once its replica has every write, the replica is promoted, and the old primary
    /// comes back as a replica.
    pub async fn lose_the_region_node(&mut self) {
        match self {
            Self::Node(node) => node.restart_keeping_data().await,
            Self::Cluster(cluster) => cluster.fail_over_the_region().await,
        }
    }
}

/// A free port whose cluster bus port (10000 above it) is free too.
fn free_cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// Six redis-servers of the test's own as a Redis Cluster: three primaries with a replica each,
/// created by `redis-cli --cluster create`; every process is killed on drop.
pub struct TestRedisCluster {
    pub nodes: Vec<TestRedis>,
}

impl TestRedisCluster {
    pub async fn start() -> Self {
        let mut nodes = Vec::new();
        for _ in 0..6 {
            let mut node = TestRedis {
                port: free_cluster_port(),
                child: None,
                clustered: true,
                durable: false,
            };
            let _ = std::fs::remove_dir_all(node.data_dir());
            node.spawn().await;
            nodes.push(node);
        }
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli is on PATH (scripts/setup.sh installs it)");
        assert!(created.success(), "redis-cli --cluster create failed");
        let cluster = Self { nodes };
        cluster.wait_until_healthy(Duration::from_secs(20)).await;
        cluster
    }

    /// Until every live node says `cluster_state:ok` and every replica's link is up.
    async fn wait_until_healthy(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let mut healthy = true;
            for node in self.nodes.iter().filter(|n| n.child.is_some()) {
                let mut conn = node.connection().await;
                let cluster: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query_async(&mut conn)
                    .await
                    .unwrap_or_default();
                let replication: String = redis::cmd("INFO")
                    .arg("replication")
                    .query_async(&mut conn)
                    .await
                    .unwrap_or_default();
                let is_replica = replication.contains("role:slave");
                healthy &= cluster.contains("cluster_state:ok")
                    && (!is_replica || replication.contains("master_link_status:up"));
            }
            if healthy {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not become healthy"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The slot of the test region's keys and channels.
    pub async fn region_slot(&self) -> u16 {
        self.slot_of(REGION_TAG).await
    }

    /// The slot a key or channel name hashes to.
    pub async fn slot_of(&self, name: &str) -> u16 {
        let mut conn = self.any_live().connection().await;
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(name)
            .query_async(&mut conn)
            .await
            .unwrap()
    }

    fn any_live(&self) -> &TestRedis {
        self.nodes
            .iter()
            .find(|n| n.child.is_some())
            .expect("a live node")
    }

    /// Each slot range's primary, as a live node sees it: (first slot, last slot, port).
    async fn slot_owners(&self) -> Vec<(u16, u16, u16)> {
        self.slot_owners_seen_by(self.any_live()).await
    }

    /// The primary of `slot` as `node` sees it: its port.
    async fn owner_seen_by(&self, node: &TestRedis, slot: u16) -> Option<u16> {
        self.slot_owners_seen_by(node)
            .await
            .into_iter()
            .find(|(first, last, _)| (*first..=*last).contains(&slot))
            .map(|(_, _, port)| port)
    }

    async fn slot_owners_seen_by(&self, node: &TestRedis) -> Vec<(u16, u16, u16)> {
        let mut conn = node.connection().await;
        let slots: Vec<redis::Value> = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut conn)
            .await
            .unwrap();
        slots
            .into_iter()
            .filter_map(|range| {
                let redis::Value::Array(parts) = range else {
                    return None;
                };
                let first: u16 = redis::from_redis_value_ref(&parts[0]).ok()?;
                let last: u16 = redis::from_redis_value_ref(&parts[1]).ok()?;
                let redis::Value::Array(primary) = &parts[2] else {
                    return None;
                };
                let port: u16 = redis::from_redis_value_ref(&primary[1]).ok()?;
                Some((first, last, port))
            })
            .collect()
    }

    pub fn node_on(&self, port: u16) -> &TestRedis {
        self.nodes
            .iter()
            .find(|n| n.port == port)
            .expect("a node of this cluster")
    }

    pub async fn primary_of(&self, slot: u16) -> &TestRedis {
        let port = self
            .owner_seen_by(self.any_live(), slot)
            .await
            .expect("every slot has a primary");
        self.node_on(port)
    }

    pub async fn region_primary(&self) -> &TestRedis {
        let slot = self.region_slot().await;
        self.primary_of(slot).await
    }

    pub async fn primaries(&self) -> Vec<&TestRedis> {
        let mut ports: Vec<u16> = self
            .slot_owners()
            .await
            .into_iter()
            .map(|(_, _, p)| p)
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports.into_iter().map(|p| self.node_on(p)).collect()
    }

    /// SIGKILL for the region's primary once its replica holds every write; returns when the
    /// replica was promoted and the old primary is back, as a replica.
    pub async fn fail_over_the_region(&mut self) {
        let slot = self.region_slot().await;
        let port = self.primary_of(slot).await.port;
        let mut conn = self.node_on(port).connection().await;
        let _: u64 = redis::cmd("WAIT")
            .arg(1)
            .arg(2000)
            .query_async(&mut conn)
            .await
            .unwrap();
        let index = self.nodes.iter().position(|n| n.port == port).unwrap();
        self.nodes[index].stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let owner = self.owner_seen_by(self.any_live(), slot).await;
            if owner.is_some_and(|p| p != port) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no replica was promoted within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.nodes[index].spawn().await;
        self.wait_until_healthy(Duration::from_secs(20)).await;
    }

    /// The node id a node goes by in the cluster.
    pub async fn node_id(&self, port: u16) -> String {
        let mut conn = self.node_on(port).connection().await;
        redis::cmd("CLUSTER")
            .arg("MYID")
            .query_async(&mut conn)
            .await
            .unwrap()
    }

    /// Moves `slot` with its keys to the primary on port `to`, as `redis-cli --cluster
    /// reshard` does: IMPORTING and MIGRATING, MIGRATE key by key, then SETSLOT NODE on every
    /// primary; returns when every live node agrees.
    pub async fn migrate_slot(&self, slot: u16, to: u16) {
        let from = self.primary_of(slot).await.port;
        assert_ne!(from, to, "the slot is already there");
        let (from_id, to_id) = (self.node_id(from).await, self.node_id(to).await);
        let mut source = self.node_on(from).connection().await;
        let mut target = self.node_on(to).connection().await;
        let setslot = |state: &str, id: &str| {
            redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg(state)
                .arg(id)
                .clone()
        };
        let _: () = setslot("IMPORTING", &from_id)
            .query_async(&mut target)
            .await
            .unwrap();
        let _: () = setslot("MIGRATING", &to_id)
            .query_async(&mut source)
            .await
            .unwrap();
        loop {
            let keys: Vec<String> = redis::cmd("CLUSTER")
                .arg("GETKEYSINSLOT")
                .arg(slot)
                .arg(100)
                .query_async(&mut source)
                .await
                .unwrap();
            if keys.is_empty() {
                break;
            }
            let _: () = redis::cmd("MIGRATE")
                .arg("127.0.0.1")
                .arg(to)
                .arg("")
                .arg(0)
                .arg(5000)
                .arg("KEYS")
                .arg(&keys)
                .query_async(&mut source)
                .await
                .unwrap();
        }
        let _: () = setslot("NODE", &to_id)
            .query_async(&mut target)
            .await
            .unwrap();
        let _: () = setslot("NODE", &to_id)
            .query_async(&mut source)
            .await
            .unwrap();
        for node in self.primaries().await {
            if node.port != from && node.port != to {
                let mut conn = node.connection().await;
                let _: () = setslot("NODE", &to_id)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(
                Instant::now() < deadline,
                "the nodes did not agree on the slot's move"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut agreed = true;
            for node in self.nodes.iter().filter(|n| n.child.is_some()) {
                agreed &= self.owner_seen_by(node, slot).await == Some(to);
            }
            if agreed {
                return;
            }
        }
    }

    /// A sharded subscription to `channel`, as a client of the cluster: its payloads.
    pub async fn ssubscribe(&self, channel: &str) -> futures::stream::BoxStream<'static, String> {
        use futures::StreamExt as _;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<redis::PushInfo>();
        let client = redis::cluster::ClusterClientBuilder::new(
            self.nodes.iter().map(TestRedis::url).collect::<Vec<_>>(),
        )
        .use_protocol(redis::ProtocolVersion::RESP3)
        .push_sender(tx)
        .build()
        .unwrap();
        let mut connection = client.get_async_connection().await.unwrap();
        connection.ssubscribe(channel).await.unwrap();
        futures::stream::unfold((rx, connection), |(mut rx, connection)| async move {
            loop {
                let push = rx.recv().await?;
                if push.kind == redis::PushKind::SMessage {
                    let payload = redis::from_redis_value_ref::<String>(push.data.get(1)?).ok()?;
                    return Some((payload, (rx, connection)));
                }
            }
        })
        .boxed()
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
            // A request that hangs fails its test within a minute (with the instance's log)
            // instead of holding CI until its deadline.
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(60))
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

    pub async fn post(&mut self, app: &impl Instance, path: &str, form: &[(&str, &str)]) -> Answer {
        self.send(Method::POST, app.url(path), form, &[]).await
    }

    pub async fn get(&mut self, app: &impl Instance, path: &str) -> Answer {
        self.send(Method::GET, app.url(path), &[], &[]).await
    }

    pub async fn sign_up(
        &mut self,
        app: &impl Instance,
        name: &str,
        email: &str,
        role: &str,
    ) -> Answer {
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

    pub async fn log_in(&mut self, app: &impl Instance, email: &str, password: &str) -> Answer {
        self.post(
            app,
            "/api/login",
            &[("email", email), ("password", password)],
        )
        .await
    }

    pub async fn me(&mut self, app: &impl Instance) -> Answer {
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
    pub async fn rider(app: &impl Instance, name: &str) -> Self {
        let mut rider = Self::new();
        let answer = rider
            .sign_up(app, name, &unique_email("rider"), "rider")
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        rider
    }

    /// A driver with a car, offline.
    pub async fn driver_with_car(app: &impl Instance, name: &str) -> Self {
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
    pub async fn driver_online(app: &impl Instance, name: &str, at: (f64, f64)) -> Self {
        let mut driver = Self::driver_with_car(app, name).await;
        driver.go_online(app, at).await;
        driver
    }

    pub async fn go_online(&mut self, app: &impl Instance, at: (f64, f64)) {
        let (lat, lng) = (at.0.to_string(), at.1.to_string());
        let online = self
            .post(app, "/api/go_online", &[("lat", &lat), ("lng", &lng)])
            .await;
        assert_eq!(online.status, StatusCode::OK, "{}", online.body);
    }

    pub async fn send_position(&mut self, app: &impl Instance, at: (f64, f64)) {
        let (lat, lng) = (at.0.to_string(), at.1.to_string());
        let sent = self
            .post(app, "/api/position", &[("lat", &lat), ("lng", &lng)])
            .await;
        assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    }

    pub async fn request_ride(&mut self, app: &impl Instance, client_key: &str) -> Answer {
        self.request_ride_from(app, client_key, "Central Station")
            .await
    }

    /// The standard trip, PICKUP to DROPOFF, with the pickup named `pickup_name`.
    pub async fn request_ride_from(
        &mut self,
        app: &impl Instance,
        client_key: &str,
        pickup_name: &str,
    ) -> Answer {
        let (plat, plng) = (PICKUP.0.to_string(), PICKUP.1.to_string());
        let (dlat, dlng) = (DROPOFF.0.to_string(), DROPOFF.1.to_string());
        self.post(
            app,
            "/api/request_ride",
            &[
                ("pickup_lat", &plat),
                ("pickup_lng", &plng),
                ("pickup_name", pickup_name),
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
        app: &impl Instance,
        path: &str,
        id: &str,
        more: &[(&str, &str)],
    ) -> Answer {
        let mut form = vec![("id", id)];
        form.extend_from_slice(more);
        self.post(app, path, &form).await
    }

    pub async fn ride(&mut self, app: &impl Instance, id: &str) -> Answer {
        self.get(app, &format!("/api/ride?id={id}")).await
    }

    pub async fn current_ride(&mut self, app: &impl Instance) -> Value {
        let answer = self.get(app, "/api/current_ride").await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.json()
    }

    /// Polls until `check` holds for the current ride (or its absence), up to `secs` seconds.
    pub async fn wait_for_current(
        &mut self,
        app: &impl Instance,
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

/// A proptest runner for `default_cases` cases, or as many as `PROPTEST_CASES` says, that
/// writes no failure files into the tree.
pub fn proptest_runner(default_cases: u32) -> proptest::test_runner::TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default_cases);
    proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases,
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    })
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
    pub async fn quote(&mut self, app: &impl Instance) -> Answer {
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
