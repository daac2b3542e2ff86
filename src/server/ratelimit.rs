//! Failed logins, limited per email and per client address, and sign-ups, limited per client
//! address: a Redis counter per key that expires with its window, shared by every instance.

use std::net::IpAddr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use super::redis_errors::Redis;
use redis::Script;

use super::keys::Keys;
use super::redis_errors::RedisResultExt;
use crate::domain::{AppError, Email};

/// KEYS[1] counter; ARGV[1] window in ms. Counts one failure, starting the window at the first.
static RECORD_FAILURE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/failure_record.lua")));

/// KEYS[1] counter; ARGV[1] limit. Returns the ms until the window ends when the limit is
/// reached, else -1.
static BLOCKED_FOR: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/failure_blocked.lua")));

/// KEYS[1] counter; ARGV[1] limit; ARGV[2] window in ms. Counts one attempt (-1), or returns the
/// ms until the window ends when the limit is reached.
static TAKE_ATTEMPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/attempt_take.lua")));

#[derive(Clone)]
pub struct LoginLimiter {
    redis: Redis,
    keys: Arc<Keys>,
    max_per_email: u32,
    max_per_ip: u32,
    window: Duration,
}

impl LoginLimiter {
    pub fn new(
        redis: Redis,
        keys: Keys,
        max_per_email: u32,
        max_per_ip: u32,
        window: Duration,
    ) -> Self {
        Self {
            redis,
            keys: Arc::new(keys),
            max_per_email,
            max_per_ip,
            window,
        }
    }

    /// Refuses with 429 and the seconds to wait while either limit is reached.
    pub async fn check(&self, email: &Email, ip: IpAddr) -> Result<(), AppError> {
        let mut redis = self.redis.clone();
        let mut wait_ms: i64 = -1;
        for (key, limit) in [
            (self.keys.login_failures_email(email), self.max_per_email),
            (self.keys.login_failures_ip(&ip), self.max_per_ip),
        ] {
            let blocked: i64 = BLOCKED_FOR
                .key(key)
                .arg(limit)
                .invoke_async(&mut redis)
                .await
                .or_unavailable()?;
            wait_ms = wait_ms.max(blocked);
        }
        refuse_for(wait_ms, "too many failed logins")
    }

    pub async fn record_failure(&self, email: &Email, ip: IpAddr) -> Result<(), AppError> {
        let mut redis = self.redis.clone();
        let window_ms = self.window.as_millis() as u64;
        for key in [
            self.keys.login_failures_email(email),
            self.keys.login_failures_ip(&ip),
        ] {
            let _: i64 = RECORD_FAILURE
                .key(key)
                .arg(window_ms)
                .invoke_async(&mut redis)
                .await
                .or_unavailable()?;
        }
        Ok(())
    }

    /// A successful login forgives the email's failures (not the address's).
    pub async fn clear_email(&self, email: &Email) -> Result<(), AppError> {
        let _: i64 = redis::cmd("DEL")
            .arg(self.keys.login_failures_email(email))
            .query_async(&mut self.redis.clone())
            .await
            .or_unavailable()?;
        Ok(())
    }
}

/// Sign-ups from one client address: each one whose input is valid counts (it costs a password
/// hash), successful or not.
#[derive(Clone)]
pub struct SignupLimiter {
    redis: Redis,
    keys: Arc<Keys>,
    max_per_ip: u32,
    window: Duration,
}

impl SignupLimiter {
    pub fn new(redis: Redis, keys: Keys, max_per_ip: u32, window: Duration) -> Self {
        Self {
            redis,
            keys: Arc::new(keys),
            max_per_ip,
            window,
        }
    }

    /// Counts a sign-up from `ip`, or refuses it with 429 and the seconds to wait once the
    /// address has used up its window.
    pub async fn take(&self, ip: IpAddr) -> Result<(), AppError> {
        let wait_ms: i64 = TAKE_ATTEMPT
            .key(self.keys.signups_ip(&ip))
            .arg(self.max_per_ip)
            .arg(self.window.as_millis() as u64)
            .invoke_async(&mut self.redis.clone())
            .await
            .or_unavailable()?;
        refuse_for(wait_ms, "too many sign-ups from your address")
    }
}

/// Ok for a negative wait; else 429 with `what` and when to try again.
fn refuse_for(wait_ms: i64, what: &str) -> Result<(), AppError> {
    if wait_ms < 0 {
        return Ok(());
    }
    let retry_after_secs = retry_after_secs(wait_ms);
    Err(AppError::TooManyRequests {
        message: format!("{what}; try again in {}", human_wait(retry_after_secs)),
        retry_after_secs,
    })
}

/// Whole seconds, rounded up, never zero: a client told 0 would retry at once.
fn retry_after_secs(wait_ms: i64) -> u64 {
    (wait_ms.max(0) as u64).div_ceil(1000).max(1)
}

fn human_wait(secs: u64) -> String {
    match secs {
        0..=1 => "a second".to_owned(),
        2..=59 => format!("{secs} seconds"),
        _ => {
            let minutes = secs.div_ceil(60);
            if minutes == 1 {
                "a minute".to_owned()
            } else {
                format!("{minutes} minutes")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after_secs(0), 1);
        assert_eq!(retry_after_secs(1), 1);
        assert_eq!(retry_after_secs(1000), 1);
        assert_eq!(retry_after_secs(1001), 2);
    }

    #[test]
    fn waits_read_as_a_person_says_them() {
        assert_eq!(human_wait(1), "a second");
        assert_eq!(human_wait(30), "30 seconds");
        assert_eq!(human_wait(60), "a minute");
        assert_eq!(human_wait(14 * 60 + 1), "15 minutes");
    }
}
