//! Every Redis key and channel Hail writes itself, in one place, under a configurable prefix.
//!
//! Keys one script touches together share a hash tag (`{...}`) so they land in one slot of a
//! Redis Cluster. Accounts share the `{accounts}` tag: sign-ups are rare, and the unique email
//! index must be claimed in the same atomic step that writes the account.

use crate::domain::{Email, UserId};

#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// Hash of one account: name, email, role, password hash, created_at.
    pub fn user(&self, id: &UserId) -> String {
        format!("{}:{{accounts}}:user:{id}", self.prefix)
    }

    /// The unique, case-insensitive email index: email -> user id.
    pub fn email_index(&self, email: &Email) -> String {
        format!("{}:{{accounts}}:email:{email}", self.prefix)
    }

    /// Demo mode's leader lease: the random token of the one instance that simulates the demo
    /// drivers, with an expiry it keeps extending.
    pub fn demo_leader(&self) -> String {
        format!("{}:demo:leader", self.prefix)
    }

    /// Failed logins for one email within the window.
    pub fn login_failures_email(&self, email: &Email) -> String {
        format!("{}:ratelimit:login:email:{email}", self.prefix)
    }

    /// Failed logins from one client address within the window.
    pub fn login_failures_ip(&self, ip: &std::net::IpAddr) -> String {
        format!("{}:ratelimit:login:ip:{ip}", self.prefix)
    }
}

/// The dispatch keys of one region. Every key a dispatch script touches starts with
/// `region_prefix`, whose `{r:<region>}` hash tag keeps them in one Cluster slot; the scripts
/// (src/server/lua) build the individual names from it:
///
/// | key | type | what |
/// |---|---|---|
/// | `ride:{id}` | hash | the ride: status, seq, parties, places, fare, PIN, offer, deadlines |
/// | `ride:{id}:declined` | set | drivers who passed on or let lapse this ride's offer |
/// | `driver:{id}` | hash | online, last position and its time, car, the offer and ride held |
/// | `rider:{id}` | hash | the rider's active ride |
/// | `drivers:geo` | geo | available drivers (online, free, fresh) |
/// | `drivers:seen` | zset | when each available driver last sent a position (Redis ms) |
/// | `deadlines` | zset | the next deadline of each searching ride (Redis ms) |
/// | `idem:{rider}:{key}` | string | a ride request's client key, for retries |
/// | `rides:rider:{id}`, `rides:driver:{id}` | zset | ride history by creation time |
impl Keys {
    pub fn region_prefix(&self, region: &str) -> String {
        format!("{}:{{r:{region}}}:", self.prefix)
    }

    /// Where a ride's changes are published (pub/sub channels are not slotted).
    pub fn ride_channel_prefix(&self) -> String {
        format!("{}:ride:", self.prefix)
    }

    /// Where one user's own events are published: a driver's offers, and the end of a login
    /// (so every instance closes that login's sockets).
    pub fn user_channel_prefix(&self) -> String {
        format!("{}:user:", self.prefix)
    }

    pub fn ride_channel(&self, id: &crate::domain::ride::RideId) -> String {
        format!("{}{id}", self.ride_channel_prefix())
    }

    pub fn user_channel(&self, id: &UserId) -> String {
        format!("{}{id}", self.user_channel_prefix())
    }

    /// Positions one driver sent within the current rate window.
    pub fn position_rate(&self, region: &str, id: &UserId) -> String {
        format!("{}rate:position:{id}", self.region_prefix(region))
    }

    pub fn ride(&self, region: &str, id: &crate::domain::ride::RideId) -> String {
        format!("{}ride:{id}", self.region_prefix(region))
    }

    pub fn driver(&self, region: &str, id: &UserId) -> String {
        format!("{}driver:{id}", self.region_prefix(region))
    }

    pub fn rider(&self, region: &str, id: &UserId) -> String {
        format!("{}rider:{id}", self.region_prefix(region))
    }

    pub fn rider_history(&self, region: &str, id: &UserId) -> String {
        format!("{}rides:rider:{id}", self.region_prefix(region))
    }

    pub fn driver_history(&self, region: &str, id: &UserId) -> String {
        format!("{}rides:driver:{id}", self.region_prefix(region))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_keys_share_one_hash_tag() {
        let keys = Keys::new("hail");
        let email = Email::parse("ada@example.com").unwrap();
        let id = UserId::from_trusted("0".repeat(32));
        assert_eq!(
            keys.email_index(&email),
            "hail:{accounts}:email:ada@example.com"
        );
        assert!(keys.user(&id).starts_with("hail:{accounts}:user:"));
    }

    #[test]
    fn dispatch_keys_share_the_regions_hash_tag() {
        let keys = Keys::new("hail");
        let id = UserId::from_trusted("0".repeat(32));
        assert_eq!(keys.region_prefix("demo"), "hail:{r:demo}:");
        assert!(keys
            .driver("demo", &id)
            .starts_with("hail:{r:demo}:driver:"));
        assert!(keys
            .rider_history("demo", &id)
            .starts_with("hail:{r:demo}:"));
    }

    #[test]
    fn the_prefix_is_configurable() {
        let keys = Keys::new("test-42");
        let ip = "10.0.0.1".parse().unwrap();
        assert_eq!(
            keys.login_failures_ip(&ip),
            "test-42:ratelimit:login:ip:10.0.0.1"
        );
        assert_eq!(keys.demo_leader(), "test-42:demo:leader");
    }
}
