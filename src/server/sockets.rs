//! How many live sockets each user holds across every instance, so that one account cannot open
//! them by the thousand: at most `HAIL_MAX_SOCKETS_PER_USER`, the next upgrade is refused 429.
//!
//! Each instance counts its own sockets in Redis, in 256 small hashes (user id, as 16 bytes ->
//! open sockets; a user's bucket is the first byte of their id), and lists itself in a registry
//! (a zset of instances by when their counts lapse). An upgrade sums the user's field in that
//! bucket over every registered instance and adds one to its own, in a single script; a close
//! takes one off. Small hashes are stored packed (up to 128 fields, Redis's
//! `hash-max-listpack-entries`, so up to about 30,000 users per instance): with 5,000 users on an
//! instance a user with a socket costs Redis about 30 bytes, where one big hash of hex ids took
//! 130 (BENCHMARKS.md); with fewer users the 256 keys' own cost is shared by fewer. The
//! registry and the hashes share the `{sockets}` hash tag, so the script runs on one node of a
//! Redis Cluster.
//!
//! An instance that dies stops renewing its hash, which lapses with its sockets' counts after
//! `LIFETIME`. If Redis loses its data (a restart without persistence), sockets opened before
//! are not counted until they close: the limit is a bound against abuse, not an exact census.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::Script;
use tokio::sync::watch;

use super::keys::Keys;
use super::redis_errors::{Redis, RedisResultExt};
use crate::domain::{AppError, UserId};

/// How long an instance's counts outlive its last heartbeat.
const LIFETIME: Duration = Duration::from_secs(30);
/// How often a live instance renews its counts.
const HEARTBEAT: Duration = Duration::from_secs(10);
/// Tries of the counting script before an upgrade gives up on a registry that keeps changing.
const TRIES: usize = 3;
/// Each instance's counts are spread over this many hashes.
const BUCKETS: usize = 256;

static TAKE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/sockets_take.lua")));
static RELEASE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/sockets_release.lua")));
static HEARTBEAT_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/sockets_heartbeat.lua")));

/// Why a socket was not counted.
#[derive(Debug)]
pub enum Refused {
    /// The user holds this many sockets already: the most allowed.
    TooMany(u32),
    /// Redis could not be asked.
    Unavailable(AppError),
}

/// This instance's count of its users' sockets, in Redis.
pub struct SocketCounts {
    redis: Redis,
    keys: Keys,
    registry: String,
    instance: String,
    /// This instance's hash of each bucket.
    own: Vec<String>,
    /// The other instances in the registry, as last read.
    others: std::sync::Mutex<Vec<String>>,
    max_per_user: u32,
}

impl SocketCounts {
    /// The counts of the instance `instance` (a random id, new at every start).
    pub fn new(redis: Redis, keys: &Keys, instance: &str, max_per_user: u32) -> Arc<Self> {
        Arc::new(Self {
            redis,
            keys: keys.clone(),
            registry: keys.socket_registry(),
            instance: instance.to_owned(),
            own: (0..BUCKETS)
                .map(|bucket| keys.socket_counts(instance, bucket as u8))
                .collect(),
            others: std::sync::Mutex::new(Vec::new()),
            max_per_user: max_per_user.max(1),
        })
    }

    /// Counts one more socket for `user`, or refuses it. The caller gives the socket back with
    /// [`SocketCounts::release`] once it closes, or lets the returned slot go unused.
    pub async fn take(self: &Arc<Self>, user: &UserId) -> Result<Slot, Refused> {
        let (field, bucket) = field_of(user);
        let mut redis = self.redis.clone();
        for _ in 0..TRIES {
            // The registry as last read: one round trip per upgrade while no instance comes or
            // goes (an instance gone stays declared until the next read; its counts are empty).
            let others = self
                .others
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let mut invocation = TAKE.prepare_invoke();
            invocation
                .key(&self.registry)
                .key(&self.own[usize::from(bucket)]);
            for instance in &others {
                invocation.key(self.keys.socket_counts(instance, bucket));
            }
            invocation
                .arg(&field[..])
                .arg(self.max_per_user)
                .arg(LIFETIME.as_millis() as u64)
                .arg(&self.instance);
            for instance in &others {
                invocation.arg(instance.as_str());
            }
            let answer: i64 = invocation
                .invoke_async(&mut redis)
                .await
                .or_unavailable()
                .map_err(Refused::Unavailable)?;
            match answer {
                -1 => {
                    return Ok(Slot {
                        counts: Some(self.clone()),
                        user: user.clone(),
                    })
                }
                -2 => self.read_registry().await?,
                open => return Err(Refused::TooMany(open.max(0) as u32)),
            }
        }
        Err(Refused::Unavailable(AppError::Unavailable {
            message: "the live service is changing its instances; try again in a moment".into(),
        }))
    }

    /// Reads which other instances count sockets now.
    async fn read_registry(&self) -> Result<(), Refused> {
        let registered: Vec<String> = redis::cmd("ZRANGE")
            .arg(&self.registry)
            .arg(0)
            .arg(-1)
            .query_async(&mut self.redis.clone())
            .await
            .or_unavailable()
            .map_err(Refused::Unavailable)?;
        *self.others.lock().unwrap_or_else(|e| e.into_inner()) = registered
            .into_iter()
            .filter(|instance| *instance != self.instance)
            .collect();
        Ok(())
    }

    /// A socket of `user` closed: its count goes down, in the background. (Outside a runtime,
    /// at the very end of the process, there is nothing left to tell.)
    pub fn release(self: &Arc<Self>, user: &UserId) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let counts = self.clone();
        let (field, bucket) = field_of(user);
        runtime.spawn(async move {
            let released: Result<i64, _> = RELEASE
                .key(&counts.own[usize::from(bucket)])
                .arg(&field[..])
                .invoke_async(&mut counts.redis.clone())
                .await;
            if let Err(err) = released {
                tracing::warn!(error = %err, "could not count a closed live socket");
            }
        });
    }

    /// Renews this instance's counts until `stop`; then takes them out of Redis (the
    /// instance's sockets are closed by then).
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut every = tokio::time::interval(HEARTBEAT);
        loop {
            tokio::select! {
                _ = every.tick() => {
                    let mut invocation = HEARTBEAT_SCRIPT.prepare_invoke();
                    invocation.key(&self.registry);
                    for hash in &self.own {
                        invocation.key(hash);
                    }
                    let renewed: Result<i64, _> = invocation
                        .arg(LIFETIME.as_millis() as u64)
                        .arg(&self.instance)
                        .invoke_async(&mut self.redis.clone())
                        .await;
                    if let Err(err) = renewed {
                        tracing::warn!(error = %err, "could not renew this instance's socket counts");
                    }
                }
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        break;
                    }
                }
            }
        }
        let mut pipe = redis::pipe();
        pipe.cmd("ZREM")
            .arg(&self.registry)
            .arg(&self.instance)
            .ignore();
        pipe.cmd("DEL").arg(&self.own).ignore();
        if let Err(err) = pipe.query_async::<()>(&mut self.redis.clone()).await {
            tracing::warn!(error = %err, "could not take this instance's socket counts out");
        }
    }
}

/// A user's field in the count hashes (their id as 16 bytes, or as it is if it is not hex), and
/// their bucket (the field's first byte: ids are random).
fn field_of(user: &UserId) -> (Vec<u8>, u8) {
    let field = hex::decode(user.as_str()).unwrap_or_else(|_| user.as_str().as_bytes().to_vec());
    let bucket = field.first().copied().unwrap_or(0);
    (field, bucket)
}

/// A socket counted for a user and not yet served: dropped unused (the upgrade failed), it
/// gives the count back.
pub struct Slot {
    counts: Option<Arc<SocketCounts>>,
    user: UserId,
}

impl Slot {
    /// The socket is served: whoever serves it releases the count when it closes.
    pub fn hand_over(mut self) {
        self.counts = None;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(counts) = self.counts.take() {
            counts.release(&self.user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_counted_under_their_id_as_bytes_in_the_bucket_of_its_first_byte() {
        let user = UserId::from_trusted("a1".repeat(16));
        let (field, bucket) = field_of(&user);
        assert_eq!(field, vec![0xa1; 16]);
        assert_eq!(bucket, 0xa1);
        let odd = UserId::from_trusted("not-hex".into());
        assert_eq!(field_of(&odd), (b"not-hex".to_vec(), b'n'));
    }

    #[test]
    fn each_bucket_has_a_key_of_its_own_under_the_sockets_tag() {
        let keys = Keys::new("hail", "demo");
        let names: std::collections::BTreeSet<String> =
            (0..=255u8).map(|b| keys.socket_counts("abc", b)).collect();
        assert_eq!(names.len(), BUCKETS);
        assert!(names
            .iter()
            .all(|n| n.starts_with("hail:{sockets}:instance:abc:")));
        assert_eq!(keys.socket_registry(), "hail:{sockets}:instances");
    }
}
