//! How a Redis failure reaches a client: 503 when Redis does not answer, else a logged 500;
//! and the instance's command connection, which counts the failures for `/metrics`.

use prometheus_client::metrics::counter::Counter;
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ErrorKind, Pipeline, RedisFuture, ServerErrorKind, Value};

use crate::domain::AppError;

/// The instance's command connection, to one node or to a Redis Cluster; either reconnects by
/// itself (the cluster's also follows failovers and slot moves, by MOVED and ASK).
#[derive(Clone)]
pub enum Connection {
    Node(ConnectionManager),
    Cluster(ClusterConnection),
}

/// The instance's one multiplexed command connection, counting every command that fails.
/// Cloning shares the connection and the count.
#[derive(Clone)]
pub struct Redis {
    inner: Connection,
    errors: Counter,
}

impl Redis {
    pub fn new(inner: Connection, errors: Counter) -> Self {
        Self { inner, errors }
    }

    /// Whether the connection is to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.inner, Connection::Cluster(_))
    }

    /// How Hail publishes: PUBLISH on one node; SPUBLISH on a cluster, where a channel lives in
    /// the slot of its name (and so on the node of the keys that share its tag) instead of
    /// being broadcast to every node.
    pub fn publish_command(&self) -> &'static str {
        if self.is_cluster() {
            "SPUBLISH"
        } else {
            "PUBLISH"
        }
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
            let result = match &mut self.inner {
                Connection::Node(node) => node.req_packed_command(cmd).await,
                Connection::Cluster(cluster) => cluster.req_packed_command(cmd).await,
            };
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
            let result = match &mut self.inner {
                Connection::Node(node) => node.req_packed_commands(pipeline, offset, count).await,
                Connection::Cluster(cluster) => {
                    cluster.req_packed_commands(pipeline, offset, count).await
                }
            };
            self.count(&result);
            result
        })
    }

    fn get_db(&self) -> i64 {
        match &self.inner {
            Connection::Node(node) => node.get_db(),
            Connection::Cluster(cluster) => cluster.get_db(),
        }
    }
}

/// Maps a Redis error, logging its cause; the client never sees Redis's own words.
pub fn to_app_error(err: redis::RedisError) -> AppError {
    if err.is_io_error()
        || err.is_connection_refusal()
        || err.is_connection_dropped()
        || err.is_timeout()
        || cluster_in_flux(&err)
    {
        tracing::warn!(error = %err, "Redis is unavailable");
        AppError::unavailable()
    } else if err.code() == Some("OOM") {
        // maxmemory reached with noeviction: reads still work, writes wait for room.
        tracing::error!(error = %err, "Redis is full: writes are refused");
        super::session::full()
    } else {
        tracing::error!(error = %err, "Redis command failed");
        AppError::internal()
    }
}

/// A cluster that is failing over or moving a slot: it answers again within seconds, so the
/// client is told to retry (503), as for a node that is restarting.
fn cluster_in_flux(err: &redis::RedisError) -> bool {
    matches!(
        err.kind(),
        ErrorKind::ClusterConnectionNotFound
            | ErrorKind::Server(
                ServerErrorKind::ClusterDown
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::BusyLoading
                    | ServerErrorKind::Moved
                    | ServerErrorKind::Ask
            )
    )
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
