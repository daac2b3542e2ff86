//! How a Redis failure reaches a client: 503 when Redis does not answer, else a logged 500.

use crate::domain::AppError;

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
