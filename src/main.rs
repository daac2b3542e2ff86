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
    // One thread asked for: tokio's current-thread scheduler, which runs every task (the accept
    // loop too) on this thread. A multi-thread runtime of one worker would still hand work
    // between that worker and the thread blocked in `block_on`, and pay the work-stealing
    // scheduler's bookkeeping for nothing (BENCHMARKS.md, session 8).
    let mut runtime = if config.worker_threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    runtime.enable_all().thread_stack_size(THREAD_STACK_BYTES);
    if config.worker_threads > 1 {
        runtime.worker_threads(usize::from(config.worker_threads));
    }
    let runtime = runtime.build()?;
    // `block_on` runs on a thread of the same stack size: on a current-thread runtime every
    // task runs there, and the main thread's stack is whatever `ulimit -s` says.
    std::thread::Builder::new()
        .name("hail-main".into())
        .stack_size(THREAD_STACK_BYTES)
        .spawn(move || runtime.block_on(serve(config)))?
        .join()
        .map_err(|_| anyhow::anyhow!("the server's main thread panicked"))?
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
