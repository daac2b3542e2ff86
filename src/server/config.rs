//! Configuration from the environment: one typed struct, every field documented, printed at
//! start with secrets masked. The LEPTOS_* variables are read by Leptos itself.

use std::net::IpAddr;
use std::time::Duration;

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "hail",
    about = "Serves Hail. Every option is also an environment variable."
)]
pub struct Config {
    /// Redis for sessions, accounts and everything shared between instances.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,

    /// A Redis Cluster instead of one node: its seed nodes, comma-separated (`host:port` or
    /// `redis://[:password@]host:port`). When set, every connection speaks cluster (commands,
    /// sessions, live updates) and REDIS_URL is not used.
    #[arg(long, env = "REDIS_CLUSTER_NODES", value_delimiter = ',', num_args = 0..,
          value_parser = parse_cluster_node)]
    pub redis_cluster_nodes: Vec<String>,

    /// Prefix of every key Hail writes itself (the session store names its own).
    #[arg(long, env = "HAIL_KEY_PREFIX", default_value = "hail", value_parser = parse_key_part)]
    pub key_prefix: String,

    /// Name of the session cookie. Cookies ignore ports, so each app on a host needs its own.
    #[arg(long, env = "HAIL_COOKIE_NAME", default_value = "hail_session")]
    pub cookie_name: String,

    /// Mark the session cookie Secure: switch on behind TLS.
    #[arg(long, env = "HAIL_COOKIE_SECURE", default_value_t = false)]
    pub cookie_secure: bool,

    /// A session ends after this many seconds without a request that saves it.
    #[arg(long, env = "HAIL_SESSION_IDLE_SECS", default_value_t = 7 * 24 * 3600)]
    pub session_idle_secs: u64,

    /// Failed logins allowed for one email within the window.
    #[arg(long, env = "HAIL_LOGIN_MAX_FAILURES_PER_EMAIL", default_value_t = 5)]
    pub login_max_failures_per_email: u32,

    /// Failed logins allowed from one client address within the window.
    #[arg(long, env = "HAIL_LOGIN_MAX_FAILURES_PER_IP", default_value_t = 20)]
    pub login_max_failures_per_ip: u32,

    /// The window of the failed-login limits, in seconds.
    #[arg(long, env = "HAIL_LOGIN_WINDOW_SECS", default_value_t = 15 * 60)]
    pub login_window_secs: u64,

    /// Sign-ups allowed from one client address within the window (each with valid input
    /// counts, successful or not: every one costs a password hash).
    #[arg(long, env = "HAIL_SIGNUPS_PER_IP", default_value_t = 20)]
    pub signups_per_ip: u32,

    /// The window of the sign-up limit, in seconds.
    #[arg(long, env = "HAIL_SIGNUP_WINDOW_SECS", default_value_t = 3600)]
    pub signup_window_secs: u64,

    /// Live sockets one user may hold open at once, across every instance; the next upgrade is
    /// refused 429.
    #[arg(long, env = "HAIL_MAX_SOCKETS_PER_USER", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_sockets_per_user: u32,

    /// Peers whose X-Forwarded-For is believed (comma-separated IPs, e.g. the load balancer).
    #[arg(long, env = "HAIL_TRUSTED_PROXIES", value_delimiter = ',', num_args = 0..)]
    pub trusted_proxies: Vec<IpAddr>,

    /// Origins whose pages may open the live WebSocket (comma-separated, like
    /// `https://hail.example`), and send state-changing requests from another site (see
    /// server::csrf). Empty: only pages served by the host the socket is opened on.
    #[arg(long, env = "HAIL_ALLOWED_ORIGINS", value_delimiter = ',', num_args = 0..,
          value_parser = parse_origin)]
    pub allowed_origins: Vec<String>,

    /// Seconds between pings on each live socket (keeps proxies from closing idle sockets, and
    /// rechecks the socket's session). A socket silent for three intervals is closed.
    #[arg(long, env = "HAIL_WS_PING_SECS", default_value_t = 20)]
    pub ws_ping_secs: u64,

    /// The dispatch region: its name tags every dispatch key, so one region is one Cluster slot.
    #[arg(long, env = "HAIL_REGION", default_value = "demo", value_parser = parse_key_part)]
    pub region: String,

    /// Seconds a driver has to answer an offer before it passes to the next driver.
    #[arg(long, env = "HAIL_OFFER_TIMEOUT_SECS", default_value_t = 15)]
    pub offer_timeout_secs: u64,

    /// A driver whose last position is older than this many seconds is never offered a ride.
    #[arg(long, env = "HAIL_DRIVER_STALE_SECS", default_value_t = 30)]
    pub driver_stale_secs: u64,

    /// Seconds to look for a driver before telling the rider none was found.
    #[arg(long, env = "HAIL_SEARCH_TIMEOUT_SECS", default_value_t = 120)]
    pub search_timeout_secs: u64,

    /// Only drivers within this many metres of the pickup are offered the ride.
    #[arg(long, env = "HAIL_SEARCH_RADIUS_M", default_value_t = 5_000)]
    pub search_radius_m: u64,

    /// While no driver is free, or every nearby driver has passed on the ride in this round
    /// of the search, look again (in a new round) after this many milliseconds.
    #[arg(long, env = "HAIL_SEARCH_RETRY_MS", default_value_t = 2_000)]
    pub search_retry_ms: u64,

    /// Days a finished ride (completed, cancelled or unmatched) is kept, for its parties'
    /// histories, earnings and late ratings; then Redis drops it, and the histories that
    /// listed it are trimmed when their next ride finishes.
    #[arg(long, env = "HAIL_RIDE_RETENTION_DAYS", default_value_t = 30,
        value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub ride_retention_days: u32,

    /// How often each instance checks the shared deadlines (milliseconds).
    #[arg(long, env = "HAIL_DISPATCH_POLL_MS", default_value_t = 250)]
    pub dispatch_poll_ms: u64,

    /// Wrong pickup PINs allowed before the rider must re-confirm the ride.
    #[arg(long, env = "HAIL_PIN_MAX_ATTEMPTS", default_value_t = 3)]
    pub pin_max_attempts: u32,

    /// Fare: the base, in cents.
    #[arg(long, env = "HAIL_FARE_BASE_CENTS", default_value_t = 250)]
    pub fare_base_cents: u64,

    /// Fare: per kilometre, in cents.
    #[arg(long, env = "HAIL_FARE_PER_KM_CENTS", default_value_t = 120)]
    pub fare_per_km_cents: u64,

    /// Fare: per minute, in cents.
    #[arg(long, env = "HAIL_FARE_PER_MINUTE_CENTS", default_value_t = 30)]
    pub fare_per_minute_cents: u64,

    /// Fare: the least a ride costs, in cents.
    #[arg(long, env = "HAIL_FARE_MINIMUM_CENTS", default_value_t = 600)]
    pub fare_minimum_cents: u64,

    /// Average driving speed in the city, km/h, for trip times and pickup ETAs.
    #[arg(long, env = "HAIL_DRIVING_SPEED_KMH", default_value_t = 25.0)]
    pub driving_speed_kmh: f64,

    /// Road distance over straight-line distance.
    #[arg(long, env = "HAIL_DETOUR_FACTOR", default_value_t = 1.3)]
    pub detour_factor: f64,

    /// The fastest a driver's positions may move (km/h), with 100 m on top for GPS jitter;
    /// a position that would need more is refused as implausible.
    #[arg(long, env = "HAIL_MAX_SPEED_KMH", default_value_t = 200.0)]
    pub max_speed_kmh: f64,

    /// Threads that hash passwords (Argon2id, tens of milliseconds and 19 MiB each). 0: one
    /// fewer than the cores this process may use, at least one, so that a burst of logins
    /// queues on them while live traffic always keeps a core of its own.
    #[arg(long, env = "HAIL_PASSWORD_THREADS", default_value_t = 0)]
    pub password_threads: usize,

    /// Threads that run the server's tasks (requests, live sockets, Redis). 0: one per core
    /// this process may use. Where several instances share a machine (a fleet of one instance
    /// per core), one each saves the wake-ups of threads that find nothing to do; with 1, every
    /// task runs on one thread (tokio's current-thread scheduler).
    #[arg(long, env = "HAIL_WORKER_THREADS", default_value_t = 0,
        value_parser = clap::value_parser!(u16).range(0..=MAX_WORKER_THREADS))]
    pub worker_threads: u16,

    /// Under load, how long the publisher gathers drivers' positions into one pipeline to Redis
    /// (milliseconds; 0: never waits). Each pipeline costs Redis and both instances wake-ups
    /// whatever its size, so larger ones cost a position less; each position waits this long
    /// more (tokio's timer rounds up to the next millisecond).
    #[arg(long, env = "HAIL_PUBLISH_LINGER_MS", default_value_t = 1,
        value_parser = clap::value_parser!(u64).range(0..=MAX_PUBLISH_LINGER_MS))]
    pub publish_linger_ms: u64,

    /// Positions this instance published in the last second above which the publisher lingers
    /// (`HAIL_PUBLISH_LINGER_MS`); below it, every pipeline leaves at once.
    #[arg(long, env = "HAIL_PUBLISH_LINGER_ABOVE", default_value_t = 2_000)]
    pub publish_linger_above: u32,

    /// Positions one driver may send per second, over every socket and instance together.
    #[arg(long, env = "HAIL_POSITIONS_PER_SEC", default_value_t = 5)]
    pub positions_per_sec: u32,

    /// Optional raster tiles under the map: an http(s) URL with {z}, {x} and {y}. None by
    /// default: the map is drawn by Hail itself.
    #[arg(long, env = "HAIL_MAP_TILE_URL", value_parser = parse_tile_url)]
    pub map_tile_url: Option<String>,

    /// The attribution the tile service requires, shown under the map.
    #[arg(long, env = "HAIL_MAP_ATTRIBUTION")]
    pub map_attribution: Option<String>,

    /// Demo mode: how many simulated drivers drive the demo city, take offers and complete rides.
    /// 0, the default, is off. However many instances run, one at a time simulates them.
    #[arg(long, env = "HAIL_DEMO_DRIVERS", default_value_t = 0,
        value_parser = clap::value_parser!(u32).range(0..=MAX_DEMO_DRIVERS))]
    pub demo_drivers: u32,

    /// How fast the simulated drivers drive, km/h.
    #[arg(long, env = "HAIL_DEMO_SPEED_KMH", default_value_t = 40.0, value_parser = parse_speed)]
    pub demo_speed_kmh: f64,

    /// On SIGTERM, the most seconds a graceful drain may take: /readyz turns 503 at once, new
    /// connections are refused, requests in flight finish, live sockets are closed with 1001.
    #[arg(long, env = "HAIL_DRAIN_SECS", default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=MAX_DRAIN_SECS))]
    pub drain_secs: u64,

    /// This instance's name, sent on every answer as `x-hail-instance` and in its metrics'
    /// logs. Empty: `hail@<listening address>`.
    #[arg(long, env = "HAIL_INSTANCE_NAME", default_value = "", value_parser = parse_instance_name)]
    pub instance_name: String,

    /// Log as JSON lines (for production log shippers) instead of plain text.
    #[arg(long, env = "HAIL_LOG_JSON", default_value_t = false)]
    pub log_json: bool,
}

impl Config {
    /// Reads the environment (and the command line, which takes the same options).
    pub fn from_env() -> Self {
        Self::parse()
    }

    /// Defaults for a Redis at `redis_url`: what tests start from.
    pub fn for_redis(redis_url: impl Into<String>) -> Self {
        let mut config = Self::parse_from(["hail"]);
        config.redis_url = redis_url.into();
        config
    }

    pub fn session_idle(&self) -> Duration {
        Duration::from_secs(self.session_idle_secs)
    }

    pub fn drain(&self) -> Duration {
        Duration::from_secs(self.drain_secs)
    }

    pub fn login_window(&self) -> Duration {
        Duration::from_secs(self.login_window_secs)
    }

    pub fn signup_window(&self) -> Duration {
        Duration::from_secs(self.signup_window_secs)
    }

    pub fn fares(&self) -> crate::domain::fare::FareSchedule {
        use crate::domain::fare::{Cents, FareSchedule};
        FareSchedule {
            base: Cents(self.fare_base_cents),
            per_km: Cents(self.fare_per_km_cents),
            per_minute: Cents(self.fare_per_minute_cents),
            minimum: Cents(self.fare_minimum_cents),
        }
    }

    pub fn driving(&self) -> crate::domain::fare::Driving {
        crate::domain::fare::Driving {
            detour_factor: self.detour_factor,
            speed_kmh: self.driving_speed_kmh,
        }
    }

    pub fn batching(&self) -> super::publisher::Batching {
        super::publisher::Batching {
            linger: Duration::from_millis(self.publish_linger_ms),
            linger_above: self.publish_linger_above,
        }
    }

    /// The Redis URL with any password masked, for logs (the cluster's seed nodes, when set).
    pub fn redis_url_masked(&self) -> String {
        if self.redis_cluster_nodes.is_empty() {
            mask_password(&self.redis_url)
        } else {
            let nodes: Vec<_> = self
                .redis_cluster_nodes
                .iter()
                .map(|node| mask_password(node))
                .collect();
            format!("cluster {}", nodes.join(","))
        }
    }

    /// The session store's URL for fred: `redis-cluster://` with every seed node on a cluster.
    pub fn session_store_url(&self) -> String {
        let Some((first, rest)) = self.redis_cluster_nodes.split_first() else {
            return self.redis_url.clone();
        };
        let mut url = first.replacen("redis://", "redis-cluster://", 1);
        for (i, node) in rest.iter().enumerate() {
            let address = node.rsplit('@').next().unwrap_or(node);
            let address = address.trim_start_matches("redis://");
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str("node=");
            url.push_str(address);
        }
        url
    }
}

/// Every demo driver is an account created at start with an Argon2 hash: a bound keeps that
/// work, and the simulation's Redis traffic, small.
const MAX_DEMO_DRIVERS: i64 = 100;

/// A drain longer than this would outlast what orchestrators wait before a SIGKILL.
const MAX_DRAIN_SECS: u64 = 300;

/// Lingering longer than this would show on the rider's map.
const MAX_PUBLISH_LINGER_MS: u64 = 50;

/// More worker threads than this is a typo, not a machine.
const MAX_WORKER_THREADS: i64 = 1024;

/// A header value people can read in logs: letters, digits and `.-_@:`, at most 64 of them.
fn parse_instance_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@' | ':');
    if name.len() > 64 || !name.chars().all(plain) {
        return Err(format!(
            "{raw:?} is not an instance name: use at most 64 letters, digits and . - _ @ :, like hail-1"
        ));
    }
    Ok(name.to_owned())
}

/// A key prefix or a region name: it goes into every key, and the region into its hash tag, so
/// no braces (they would move the tag), no spaces, no colons at the ends.
fn parse_key_part(raw: &str) -> Result<String, String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':');
    if raw.is_empty()
        || raw.len() > 32
        || !raw.chars().all(plain)
        || raw.starts_with(':')
        || raw.ends_with(':')
    {
        return Err(format!(
            "{raw:?} cannot go into key names: use 1 to 32 letters, digits and . - _ (inner : allowed), like hail"
        ));
    }
    Ok(raw.to_owned())
}

/// A seed node of a Redis Cluster, as a `redis://` URL.
fn parse_cluster_node(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let url = if raw.contains("://") {
        raw.to_owned()
    } else {
        format!("redis://{raw}")
    };
    let Some(rest) = url.strip_prefix("redis://") else {
        return Err(format!(
            "{raw:?} is not a cluster node: use host:port or redis://host:port"
        ));
    };
    let address = rest
        .rsplit('@')
        .next()
        .unwrap_or(rest)
        .trim_end_matches('/');
    let port_ok = address
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if !port_ok || address.contains('/') {
        return Err(format!(
            "{raw:?} is not a cluster node: use host:port or redis://host:port"
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

fn parse_speed(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(kmh) if kmh.is_finite() && kmh > 0.0 => Ok(kmh),
        _ => Err("a speed is a number of km/h above 0, like 40".to_owned()),
    }
}

fn parse_tile_url(raw: &str) -> Result<String, String> {
    crate::domain::tiles::check_template(raw)
        .map(|()| raw.to_owned())
        .map_err(|err| err.message().to_owned())
}

/// An origin as browsers send it: `scheme://host[:port]`, lowercase, nothing after.
fn parse_origin(raw: &str) -> Result<String, String> {
    let origin = raw.trim().trim_end_matches('/').to_ascii_lowercase();
    let Some((scheme, authority)) = origin.split_once("://") else {
        return Err(format!(
            "{raw:?} is not an origin like https://hail.example"
        ));
    };
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    if !matches!(scheme, "http" | "https") || authority.is_empty() || !authority.chars().all(plain)
    {
        return Err(format!(
            "{raw:?} is not an origin like https://hail.example (scheme, host and port only)"
        ));
    }
    Ok(origin)
}

fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:****@{host}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_the_redis_url_are_masked() {
        assert_eq!(
            mask_password("redis://user:secret@db:6379/0"),
            "redis://user:****@db:6379/0"
        );
        assert_eq!(
            mask_password("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }

    #[test]
    fn defaults_are_documented_values() {
        let config = Config::parse_from(["hail"]);
        assert_eq!(config.cookie_name, "hail_session");
        assert!(!config.cookie_secure);
        assert_eq!(config.key_prefix, "hail");
        assert!(config.trusted_proxies.is_empty());
    }

    #[test]
    fn a_tile_url_without_its_parts_is_refused_at_start() {
        let bad = Config::try_parse_from(["hail", "--map-tile-url", "https://tiles.example/x.png"]);
        assert!(bad.is_err());
        let good = Config::try_parse_from([
            "hail",
            "--map-tile-url",
            "https://t.example/{z}/{x}/{y}.png",
        ]);
        assert!(good.unwrap().map_tile_url.is_some());
    }

    #[test]
    fn allowed_origins_are_normalized_and_checked() {
        let config = Config::parse_from([
            "hail",
            "--allowed-origins",
            "https://Hail.Example/,http://127.0.0.1:8080",
        ]);
        assert_eq!(
            config.allowed_origins,
            ["https://hail.example", "http://127.0.0.1:8080"]
        );
        for bad in ["hail.example", "ftp://x", "https://x/path", "https://"] {
            assert!(
                Config::try_parse_from(["hail", "--allowed-origins", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn one_node_is_the_default_and_cluster_nodes_switch_to_a_cluster() {
        let config = Config::parse_from(["hail"]);
        assert!(config.redis_cluster_nodes.is_empty());
        assert_eq!(config.session_store_url(), "redis://127.0.0.1:6379");
        let cluster = Config::parse_from([
            "hail",
            "--redis-cluster-nodes",
            "10.0.0.1:7000, redis://:pw@10.0.0.2:7001/,10.0.0.3:7002",
        ]);
        assert_eq!(
            cluster.redis_cluster_nodes,
            [
                "redis://10.0.0.1:7000",
                "redis://:pw@10.0.0.2:7001",
                "redis://10.0.0.3:7002"
            ]
        );
        assert_eq!(
            cluster.session_store_url(),
            "redis-cluster://10.0.0.1:7000?node=10.0.0.2:7001&node=10.0.0.3:7002"
        );
        assert_eq!(
            cluster.redis_url_masked(),
            "cluster redis://10.0.0.1:7000,redis://:****@10.0.0.2:7001,redis://10.0.0.3:7002"
        );
        for bad in [
            "10.0.0.1",
            "10.0.0.1:0",
            ":7000",
            "http://x:1",
            "redis://x:1/2",
        ] {
            assert!(
                Config::try_parse_from(["hail", "--redis-cluster-nodes", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn prefixes_and_regions_cannot_move_the_hash_tag() {
        let config =
            Config::parse_from(["hail", "--region", "berlin-2", "--key-prefix", "app:hail"]);
        assert_eq!(
            (config.region.as_str(), config.key_prefix.as_str()),
            ("berlin-2", "app:hail")
        );
        for bad in ["{x}", "a}b", "a{", "", "with space", ":lead", "trail:"] {
            assert!(
                Config::try_parse_from(["hail", "--region", bad]).is_err(),
                "{bad}"
            );
            assert!(
                Config::try_parse_from(["hail", "--key-prefix", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn demo_mode_is_off_unless_asked_for() {
        let config = Config::parse_from(["hail"]);
        assert_eq!(config.demo_drivers, 0);
        assert_eq!(config.demo_speed_kmh, 40.0);
        let on = Config::parse_from(["hail", "--demo-drivers", "6", "--demo-speed-kmh", "55"]);
        assert_eq!((on.demo_drivers, on.demo_speed_kmh), (6, 55.0));
    }

    #[test]
    fn demo_settings_out_of_range_are_refused_at_start() {
        for args in [
            ["hail", "--demo-drivers", "101"],
            ["hail", "--demo-drivers", "-1"],
            ["hail", "--demo-speed-kmh", "0"],
            ["hail", "--demo-speed-kmh", "NaN"],
            ["hail", "--demo-speed-kmh", "fast"],
        ] {
            assert!(Config::try_parse_from(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn drain_and_instance_name_are_checked_at_start() {
        let config = Config::parse_from(["hail"]);
        assert_eq!(config.drain(), Duration::from_secs(10));
        assert_eq!(config.instance_name, "");
        let set = Config::parse_from(["hail", "--drain-secs", "3", "--instance-name", "hail-2"]);
        assert_eq!((set.drain_secs, set.instance_name.as_str()), (3, "hail-2"));
        for args in [
            ["hail", "--drain-secs", "0"],
            ["hail", "--drain-secs", "ten"],
            ["hail", "--drain-secs", "-1"],
            ["hail", "--drain-secs", "301"],
            ["hail", "--instance-name", "hail 1"],
            ["hail", "--instance-name", "hail\r\nx-evil: 1"],
        ] {
            assert!(Config::try_parse_from(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn worker_threads_default_to_one_per_core_and_are_checked_at_start() {
        assert_eq!(Config::parse_from(["hail"]).worker_threads, 0);
        let one = Config::parse_from(["hail", "--worker-threads", "1"]);
        assert_eq!(one.worker_threads, 1);
        for args in [
            ["hail", "--worker-threads", "-1"],
            ["hail", "--worker-threads", "two"],
            ["hail", "--worker-threads", "1025"],
        ] {
            assert!(Config::try_parse_from(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn the_publisher_lingers_a_millisecond_above_2000_positions_a_second_by_default() {
        let batching = Config::parse_from(["hail"]).batching();
        assert_eq!(batching.linger, Duration::from_millis(1));
        assert_eq!(batching.linger_above, 2_000);
        let off = Config::parse_from(["hail", "--publish-linger-ms", "0"]).batching();
        assert!(off.linger.is_zero());
        for args in [
            ["hail", "--publish-linger-ms", "51"],
            ["hail", "--publish-linger-ms", "-1"],
            ["hail", "--publish-linger-ms", "0.5"],
            ["hail", "--publish-linger-above", "-1"],
            ["hail", "--publish-linger-above", "many"],
        ] {
            assert!(Config::try_parse_from(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn trusted_proxies_are_a_comma_separated_list() {
        let config = Config::parse_from(["hail", "--trusted-proxies", "127.0.0.1,::1"]);
        assert_eq!(config.trusted_proxies.len(), 2);
    }
}
