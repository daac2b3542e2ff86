//! How many live sockets one user holds across every instance: at most
//! `HAIL_MAX_SOCKETS_PER_USER`, counted in Redis so that no instance can be talked into holding
//! a user's thousands. Each socket claims a place at its upgrade, renews it at every ping and
//! gives it back when it closes; a claim not renewed for three ping intervals lapses, so the
//! sockets of an instance that died are forgotten within a minute.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

use super::keys::Keys;
use super::redis_errors::{Redis, RedisResultExt};
use crate::domain::{AppError, UserId};

static CLAIM: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/socket_claim.lua")));
static RENEW: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/socket_renew.lua")));

/// The claims of one instance's sockets.
#[derive(Clone)]
pub struct SocketClaims {
    redis: Redis,
    keys: Keys,
    most: u32,
    lasts: Duration,
}

/// One socket's place among its user's: its random id (the user's key is made again when
/// needed, so a socket carries eight bytes for it).
#[derive(Debug, Clone, Copy)]
pub struct Claim(u64);

impl SocketClaims {
    /// `ping_every` is the sockets' ping interval: a claim lasts three of them.
    pub fn new(redis: Redis, keys: Keys, most: u32, ping_every: Duration) -> Self {
        Self {
            redis,
            keys,
            most: most.max(1),
            lasts: ping_every.max(Duration::from_secs(1)) * 3,
        }
    }

    /// A place for one more socket of `user`, or a 429 that says why.
    pub async fn claim(&self, user: &UserId) -> Result<Claim, AppError> {
        let claim = Claim(rand::random());
        let claimed: u8 = CLAIM
            .key(self.keys.user_sockets(user))
            .arg(claim.0)
            .arg(self.lasts.as_millis() as u64)
            .arg(self.most)
            .invoke_async(&mut self.redis.clone())
            .await
            .or_unavailable()?;
        if claimed == 0 {
            return Err(AppError::TooManyRequests {
                message: format!(
                    "you have {} live connections open already (other tabs or devices); close one and try again",
                    self.most
                ),
                retry_after_secs: 5,
            });
        }
        Ok(claim)
    }

    /// Keeps the claim from lapsing; false when it had lapsed already (Redis lost it).
    pub async fn renew(&self, user: &UserId, claim: Claim) -> Result<bool, AppError> {
        let renewed: u8 = RENEW
            .key(self.keys.user_sockets(user))
            .arg(claim.0)
            .arg(self.lasts.as_millis() as u64)
            .invoke_async(&mut self.redis.clone())
            .await
            .or_unavailable()?;
        Ok(renewed == 1)
    }

    /// Gives the place back.
    pub async fn release(&self, user: &UserId, claim: Claim) {
        let released: redis::RedisResult<u64> = redis::cmd("ZREM")
            .arg(self.keys.user_sockets(user))
            .arg(claim.0)
            .query_async(&mut self.redis.clone())
            .await;
        if let Err(err) = released {
            tracing::warn!(error = %err, "a socket's claim was not given back; it lapses by itself");
        }
    }
}
