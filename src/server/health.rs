//! Liveness and readiness for load balancers and orchestrators.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;

/// Alive: the process answers.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready: not draining, and Redis answers a PING within a second. Without Redis no request
/// can be served.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if *state.live.stop.borrow() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "draining: this instance is shutting down",
        );
    }
    let mut redis = state.redis.clone();
    let cmd = redis::cmd("PING");
    let ping = cmd.query_async::<String>(&mut redis);
    match tokio::time::timeout(Duration::from_secs(1), ping).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready"),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "not ready: Redis refused PING");
            (StatusCode::SERVICE_UNAVAILABLE, "Redis is unavailable")
        }
        Err(_) => {
            tracing::warn!("not ready: Redis did not answer PING within a second");
            (StatusCode::SERVICE_UNAVAILABLE, "Redis is unavailable")
        }
    }
}
