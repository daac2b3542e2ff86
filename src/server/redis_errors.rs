//! How a Redis failure reaches a client: 503 when Redis does not answer, else a logged 500;
//! and the instance's command connection, which counts the failures for `/metrics`.

use prometheus_client::metrics::counter::Counter;
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{Cmd, ErrorKind, Pipeline, RedisFuture, ServerErrorKind, Value};

use crate::domain::AppError;

/// The instance's one multiplexed command connection (it reconnects by itself), counting every
/// command that fails. Cloning shares the connection and the count.
#[derive(Clone)]
pub struct Redis {
    inner: ConnectionManager,
    errors: Counter,
}

impl Redis {
    pub fn new(inner: ConnectionManager, errors: Counter) -> Self {
        Self { inner, errors }
    }

    fn count<T>(&self, result: &redis::RedisResult<T>) {
        if let Err(err) = result {
            // A script not yet cached in Redis is loaded and run again by the client itself.
            if err.kind() != ErrorKind::Server(ServerErrorKind::NoScript) {
                self.errors.inc();
            }
        }
    }
}

impl ConnectionLike for Redis {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let result = self.inner.req_packed_command(cmd).await;
            self.count(&result);
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let result = self
                .inner
                .req_packed_commands(pipeline, offset, count)
                .await;
            self.count(&result);
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

/// Maps a Redis error, logging its cause; the client never sees Redis's own words.
pub fn to_app_error(err: redis::RedisError) -> AppError {
    if err.is_io_error()
        || err.is_connection_refusal()
        || err.is_connection_dropped()
        || err.is_timeout()
    {
        tracing::warn!(error = %err, "Redis is unavailable");
        AppError::unavailable()
    } else {
        tracing::error!(error = %err, "Redis command failed");
        AppError::internal()
    }
}

/// Extension for `?` on Redis results inside the server.
pub trait RedisResultExt<T> {
    fn or_unavailable(self) -> Result<T, AppError>;
}

impl<T> RedisResultExt<T> for redis::RedisResult<T> {
    fn or_unavailable(self) -> Result<T, AppError> {
        self.map_err(to_app_error)
    }
}
