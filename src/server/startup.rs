//! Builds one Hail instance from a `Config`: used by `main` and by the integration tests
//! (port 0, no globals), so the tests run what production runs.

use std::future::{Future, IntoFuture as _};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use fred::prelude::{ClientLike, ReconnectPolicy};
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_redis_store::fred;

use super::accounts::AccountStore;
use super::bus::{Bus, BusMetrics, Source};
use super::keys::Keys;
use super::metrics::{self, Metrics};
use super::ratelimit::{LoginLimiter, SignupLimiter};
use super::redis_errors::{Connection, Redis};
use super::sockets::SocketCounts;
use super::ws::Live;
use super::{api_errors, client_ip, csp, csrf, health, session, ws, AppState, Config};
use crate::app::{shell, App};

/// Bounds on one Redis round trip: a Redis that does not answer is a 503, not a hung request.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    /// Tells the dispatcher, the bus and every live socket to stop.
    stop: tokio::sync::watch::Sender<bool>,
    bus_task: tokio::task::JoinHandle<()>,
}

impl Application {
    /// Connects to Redis (waiting, with backoff, until it answers) and binds the address in
    /// `leptos_options.site_addr` (port 0 picks a free one).
    pub async fn build(mut config: Config, leptos_options: LeptosOptions) -> anyhow::Result<Self> {
        use anyhow::Context as _;

        let metrics = Arc::new(Metrics::new());
        let redis = Redis::new(connect_redis(&config).await?, metrics.redis_errors.clone());
        let session_store = session::Store::new(connect_session_store(&config).await?);
        // Bound once Redis answers: until then a balancer's connection is refused (and tried on
        // another instance) rather than left waiting.
        let listener = TcpListener::bind(leptos_options.site_addr)
            .await
            .with_context(|| format!("could not listen on {}", leptos_options.site_addr))?;
        if config.instance_name.is_empty() {
            config.instance_name = format!("hail@{}", listener.local_addr()?);
        }
        let keys = Keys::new(config.key_prefix.clone(), &config.region);
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let bus_source = if config.redis_cluster_nodes.is_empty() {
            Source::Node(
                redis::Client::open(config.redis_url.as_str())
                    .map_err(|err| anyhow::anyhow!("REDIS_URL is not a Redis URL ({err})"))?,
            )
        } else {
            Source::Cluster {
                nodes: config.redis_cluster_nodes.clone(),
                probe: keys.bus_probe(&hex::encode(rand::random::<[u8; 8]>())),
            }
        };
        let bus_metrics = BusMetrics {
            channels: metrics.channels_subscribed.clone(),
            reconnects: metrics.bus_reconnects.clone(),
        };
        let (bus, bus_task) = Bus::start(bus_source, bus_metrics, stop_rx.clone());
        let state = AppState::new(super::state::Parts {
            bus,
            live: Live {
                stop: stop_rx,
                sockets: tokio_util::task::TaskTracker::new(),
                session_store: Arc::new(session_store.clone()),
            },
            dispatch: super::dispatch::Dispatch::new(
                redis.clone(),
                keys.clone(),
                &config,
                metrics.clone(),
            ),
            publisher: super::publisher::Publisher::start(redis.clone(), config.batching()),
            accounts: AccountStore::new(redis.clone(), keys.clone()),
            passwords: super::password::Passwords::start(super::password::workers(
                config.password_threads,
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            )),
            login_limiter: LoginLimiter::new(
                redis.clone(),
                keys.clone(),
                config.login_max_failures_per_email,
                config.login_max_failures_per_ip,
                config.login_window(),
            ),
            sockets: SocketCounts::new(
                redis.clone(),
                &keys,
                &hex::encode(rand::random::<[u8; 8]>()),
                config.max_sockets_per_user,
            ),
            signup_limiter: SignupLimiter::new(
                redis.clone(),
                keys.clone(),
                config.signups_per_ip,
                config.signup_window(),
            ),
            keys,
            redis,
            metrics,
            leptos_options: leptos_options.clone(),
            config: Arc::new(config),
        });
        let router = router(state.clone(), session_store)?;
        Ok(Self {
            listener,
            router,
            state,
            stop,
            bus_task,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves, and runs this instance's share of dispatch (and of demo mode, when it is on),
    /// until `shutdown` completes; then drains within `HAIL_DRAIN_SECS`: /readyz answers 503,
    /// the listener takes no new connection, requests in flight finish, live sockets are
    /// closed with 1001 (their browsers reconnect elsewhere at once), and the background tasks
    /// stop, which releases the pub/sub subscriptions and the demo lease.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let demo = (self.state.config.demo_drivers > 0)
            .then(|| tokio::spawn(super::demo::run(self.state.clone(), self.stop.subscribe())));
        let socket_counts = tokio::spawn(self.state.sockets.clone().run(self.stop.subscribe()));
        let dispatcher = tokio::spawn(super::dispatch::run_dispatcher(
            self.state.dispatch.clone(),
            Duration::from_millis(self.state.config.dispatch_poll_ms.max(10)),
            self.stop.subscribe(),
        ));
        let stop = self.stop.clone();
        let drain = self.state.config.drain();
        let (began, draining) = tokio::sync::oneshot::channel::<tokio::time::Instant>();
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!(within_secs = drain.as_secs(), "draining");
            let _ = began.send(tokio::time::Instant::now());
            // Upgraded sockets are not waited for by axum: they are told here (and /readyz
            // turns 503), and awaited below.
            let _ = stop.send(true);
        })
        .into_future();
        // Requests in flight may finish, but not past the drain's deadline.
        tokio::pin!(served);
        let mut deadline = None;
        let served = tokio::select! {
            served = &mut served => served,
            Ok(began) = draining => {
                deadline = Some(began + drain);
                match tokio::time::timeout_at(began + drain, &mut served).await {
                    Ok(served) => served,
                    Err(_) => {
                        tracing::warn!("requests still in flight at the end of the drain");
                        Ok(())
                    }
                }
            }
        };
        let _ = self.stop.send(true);
        let deadline = deadline.unwrap_or_else(|| tokio::time::Instant::now() + drain);
        let sockets = &self.state.live.sockets;
        sockets.close();
        if tokio::time::timeout_at(deadline, sockets.wait())
            .await
            .is_err()
        {
            tracing::warn!(open = sockets.len(), "live sockets did not close in time");
        }
        if let Err(err) = socket_counts.await {
            tracing::error!(error = %err, "the socket counting task failed");
        }
        if let Err(err) = dispatcher.await {
            tracing::error!(error = %err, "the dispatcher task failed");
        }
        if let Err(err) = self.bus_task.await {
            tracing::error!(error = %err, "the pub/sub task failed");
        }
        if let Some(demo) = demo {
            if let Err(err) = demo.await {
                tracing::error!(error = %err, "the demo mode task failed");
            }
        }
        served
    }
}

/// The app's routes, generated once per process. Generating them renders the app with resource
/// loading suppressed by a process-wide flag (leptos_server's `SuppressResourceLoad`): a page
/// whose resource first polls meanwhile waits forever (leptos-rs/leptos#4773). One process may
/// hold several instances (the integration tests start and restart them while others serve), so
/// the list is made before the first instance serves and never again.
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

fn router(state: AppState, session_store: session::Store) -> anyhow::Result<Router> {
    let config = state.config.clone();
    let instance = axum::http::HeaderValue::from_str(&config.instance_name)
        .map_err(|_| anyhow::anyhow!("HAIL_INSTANCE_NAME is not a header value"))?;
    let session_layer = SessionManagerLayer::new(session_store)
        .with_name(config.cookie_name.clone())
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.cookie_secure)
        .with_expiry(Expiry::OnInactivity(time::Duration::seconds(
            config.session_idle_secs.min(i64::MAX as u64) as i64,
        )));
    let trusted = Arc::new(config.trusted_proxies.clone());
    let allowed_origins = Arc::new(config.allowed_origins.clone());
    let routes = route_list();
    let context_state = state.clone();
    let page_sources = csp::PageSources::new(
        config.map_tile_url.as_deref(),
        std::env::var_os("LEPTOS_WATCH").map(|_| state.leptos_options.reload_port),
    );
    let leptos_options = state.leptos_options.clone();

    Ok(Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::serve))
        .route("/ws", get(ws::upgrade))
        .leptos_routes_with_context(
            &state,
            routes,
            {
                let page_sources = page_sources.clone();
                move || {
                    provide_context(context_state.clone());
                    page_sources.announce();
                }
            },
            {
                let leptos_options = leptos_options.clone();
                move || shell(leptos_options.clone())
            },
        )
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(
            {
                let fallback_state = state.clone();
                move || {
                    provide_context(fallback_state.clone());
                    page_sources.announce();
                }
            },
            shell,
        ))
        .layer(axum::middleware::from_fn(api_errors::map_server_fn_errors))
        .layer(session_layer)
        .layer(axum::middleware::from_fn(session::answer_failed_writes))
        .layer(axum::middleware::from_fn(move |req, next| {
            client_ip::resolve(trusted.clone(), req, next)
        }))
        .layer(RequestBodyLimitLayer::new(api_errors::MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(api_errors::transport_refusals))
        .layer(axum::middleware::from_fn(move |req, next| {
            csrf::refuse_cross_site(allowed_origins.clone(), req, next)
        }))
        // Pages set their own policy, with their render's nonce (server::csp).
        .layer(security_header("content-security-policy", csp::NOT_A_PAGE))
        .layer(security_header("x-content-type-options", "nosniff"))
        .layer(security_header("x-frame-options", "DENY"))
        // Same-origin requests keep their full Referer: no-JS forms are sent back by it.
        .layer(security_header("referrer-policy", "same-origin"))
        .layer(SetResponseHeaderLayer::overriding(
            axum::http::HeaderName::from_static("x-hail-instance"),
            instance,
        ))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::new())
        // Outermost, so that it counts every answer: refusals and caught panics included.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state))
}

fn security_header(
    name: &'static str,
    value: &'static str,
) -> SetResponseHeaderLayer<axum::http::HeaderValue> {
    SetResponseHeaderLayer::if_not_present(
        axum::http::HeaderName::from_static(name),
        axum::http::HeaderValue::from_static(value),
    )
}

/// The command connection, to one node or to a cluster: waits for Redis at start, logging one
/// line per attempt, with exponential backoff; reconnects by itself afterwards.
async fn connect_redis(config: &Config) -> anyhow::Result<Connection> {
    let mut delay = Duration::from_millis(250);
    loop {
        let attempt = if config.redis_cluster_nodes.is_empty() {
            connect_node(config).await
        } else {
            connect_cluster(config).await
        };
        match attempt {
            Ok(connection) => {
                tracing::info!(redis = %config.redis_url_masked(), "connected to Redis");
                return Ok(connection);
            }
            Err(err) if err.kind() == redis::ErrorKind::InvalidClientConfig => {
                anyhow::bail!(
                    "{} is not a Redis address ({err})",
                    config.redis_url_masked()
                )
            }
            Err(err) => {
                tracing::warn!(
                    "Redis at {} is unreachable ({err}); retrying in {:.1}s",
                    config.redis_url_masked(),
                    delay.as_secs_f32()
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

async fn connect_node(config: &Config) -> redis::RedisResult<Connection> {
    let client = redis::Client::open(config.redis_url.as_str())?;
    let manager_config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(REDIS_TIMEOUT))
        .set_response_timeout(Some(REDIS_TIMEOUT))
        .set_max_delay(Duration::from_secs(2));
    let manager = ConnectionManager::new_with_config(client, manager_config).await?;
    Ok(Connection::Node(manager))
}

async fn connect_cluster(config: &Config) -> redis::RedisResult<Connection> {
    let client = redis::cluster::ClusterClientBuilder::new(config.redis_cluster_nodes.clone())
        .connection_timeout(REDIS_TIMEOUT)
        .response_timeout(REDIS_TIMEOUT)
        // A failover takes a few seconds: MOVED, TRYAGAIN and lost nodes are retried with
        // backoff for about that long before a request is answered 503.
        .retries(6)
        .min_retry_wait(50)
        .max_retry_wait(1_000)
        .build()?;
    Ok(Connection::Cluster(client.get_async_connection().await?))
}

/// The session store's own pool (tower-sessions-redis-store speaks fred).
async fn connect_session_store(config: &Config) -> anyhow::Result<fred::prelude::Pool> {
    let fred_config =
        fred::prelude::Config::from_url(&config.session_store_url()).map_err(|err| {
            anyhow::anyhow!(
                "{} is not a Redis address ({err})",
                config.redis_url_masked()
            )
        })?;
    let pool = fred::types::Builder::from_config(fred_config)
        .with_connection_config(|c| {
            c.connection_timeout = REDIS_TIMEOUT;
            c.internal_command_timeout = REDIS_TIMEOUT;
        })
        .with_performance_config(|p| {
            p.default_command_timeout = REDIS_TIMEOUT;
        })
        // Retry forever: a Redis outage is waited out, not fatal.
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
        .build_pool(4)?;
    pool.init().await?;
    Ok(pool)
}
