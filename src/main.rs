//! The Hail server: reads its configuration from the environment, connects to Redis and serves
//! the app. In development run it through `cargo leptos watch`; see the README.

use hail::server::{telemetry, Application, Config};
use leptos::config::get_configuration;

/// Stack of each runtime thread. Server-rendering a whole screen nests deep futures; in a debug
/// build (`cargo leptos watch`) their frames are big enough that the driver's screen overflowed
/// the default 2 MiB. Only the pages touched are resident.
const THREAD_STACK_BYTES: usize = 8 * 1024 * 1024;

fn main() -> anyhow::Result<()> {
    let config = Config::from_env();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all().thread_stack_size(THREAD_STACK_BYTES);
    if config.worker_threads > 0 {
        runtime.worker_threads(usize::from(config.worker_threads));
    }
    runtime.build()?.block_on(serve(config))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    telemetry::init(config.log_json);
    let leptos_options = get_configuration(None)?.leptos_options;
    tracing::info!(
        redis = %config.redis_url_masked(),
        key_prefix = %config.key_prefix,
        cookie = %config.cookie_name,
        cookie_secure = config.cookie_secure,
        session_idle_secs = config.session_idle_secs,
        login_max_failures_per_email = config.login_max_failures_per_email,
        login_max_failures_per_ip = config.login_max_failures_per_ip,
        login_window_secs = config.login_window_secs,
        trusted_proxies = ?config.trusted_proxies,
        "starting Hail"
    );
    let app = Application::build(config, leptos_options).await?;
    tracing::info!("listening on http://{}", app.local_addr());
    app.run_until(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM (what orchestrators send) starts a graceful shutdown.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
