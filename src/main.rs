//! The Hail server: reads its configuration from the environment, connects to Redis and serves
//! the app. In development run it through `cargo leptos watch`; see the README.

use hail::server::{telemetry, Application, Config};
use leptos::config::get_configuration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env();
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
