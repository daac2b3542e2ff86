//! Every Redis key and channel Hail writes itself, in one place, under a configurable prefix.
//!
//! Keys one script touches together share a hash tag (`{...}`) so they land in one slot of a
//! Redis Cluster. Accounts share the `{accounts}` tag: sign-ups are rare, and the unique email
//! index must be claimed in the same atomic step that writes the account.

use crate::domain::{Email, UserId};

#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
    /// `<prefix>:{r:<region>}:`, the start of every key and channel of the instance's region.
    region: String,
}

impl Keys {
    /// The names of an instance serving `region`. Neither may hold `{` or `}` (the
    /// configuration refuses them): the region's tag must be the first one in every name.
    pub fn new(prefix: impl Into<String>, region: &str) -> Self {
        let prefix = prefix.into();
        Self {
            region: format!("{prefix}:{{r:{region}}}:"),
            prefix,
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

    /// The instances counting live sockets: a zset of instance ids by when their counts lapse
    /// (see `server::sockets`). Tagged `{sockets}` with the counts, for one script to sum them.
    pub fn socket_registry(&self) -> String {
        format!("{}:{{sockets}}:instances", self.prefix)
    }

    /// One instance's open sockets per user, for users of one bucket (the first byte of their
    /// id): a hash, user id (16 bytes) -> count.
    pub fn socket_counts(&self, instance: &str, bucket: u8) -> String {
        format!(
            "{}:{{sockets}}:instance:{instance}:{bucket:02x}",
            self.prefix
        )
    }

    /// Sign-ups from one client address within the window.
    pub fn signups_ip(&self, ip: &std::net::IpAddr) -> String {
        format!("{}:ratelimit:signup:ip:{ip}", self.prefix)
    }
}

/// The dispatch keys and live channels of the instance's region. Every name starts with
/// [`Keys::region_prefix`], whose `{r:<region>}` hash tag keeps them in one Cluster slot, so a
/// script may touch keys it discovers (a driver found by GEOSEARCH) and publish to the region's
/// channels (SPUBLISH is slotted too) without leaving its node. The scripts (src/server/lua)
/// build the same names from the prefix of their first key:
///
/// | name | type | what |
/// |---|---|---|
/// | `deadlines` | zset | the next deadline of each searching ride (Redis ms): every script's KEYS[1] |
/// | `ride:{id}` | hash | the ride: status, seq, parties, places, fare, PIN, offer, deadlines, search round; expires `HAIL_RIDE_RETENTION_DAYS` after it finished |
/// | `ride:{id}:passes` | hash | driver -> `<round>:<declines>`: who passed on (declined or let lapse) the offer, in which search round, declines so far |
/// | `driver:{id}` | hash | online, last position and its time, car, the offer and ride held, the map cell last shown in and when |
/// | `rider:{id}` | hash | the rider's active ride |
/// | `drivers:geo` | geo | available drivers (online, free, fresh) |
/// | `drivers:seen` | zset | when each available driver last sent a position (Redis ms) |
/// | `idem:{rider}:{key}` | string | a ride request's client key, for retries |
/// | `rides:rider:{id}`, `rides:driver:{id}` | zset | ride history by request (rider) or acceptance (driver) time, trimmed of expired rides |
/// | `rate:position:{id}` | string | positions one driver sent within the rate window |
/// | channel `ride:{id}` | pub/sub | the ride's status changes and its driver's positions |
/// | channel `user:{id}` | pub/sub | a driver's offers, a login's end, a driver's changes |
/// | channel `cell:{cell}` | pub/sub | free cars in one map cell (`domain::cells`), anonymous, at most once a second each |
impl Keys {
    pub fn region_prefix(&self) -> &str {
        &self.region
    }

    pub fn deadlines(&self) -> String {
        format!("{}deadlines", self.region)
    }

    pub fn drivers_geo(&self) -> String {
        format!("{}drivers:geo", self.region)
    }

    pub fn drivers_seen(&self) -> String {
        format!("{}drivers:seen", self.region)
    }

    /// Where a ride's changes and its driver's positions are published.
    pub fn ride_channel(&self, id: &crate::domain::ride::RideId) -> String {
        format!("{}ride:{id}", self.region)
    }

    /// Where free drivers' positions in one map cell are published, for idle riders' maps.
    pub fn cell_channel(&self, cell: crate::domain::cells::Cell) -> String {
        format!("{}cell:{cell}", self.region)
    }

    /// Where one user's own events are published: a driver's offers, and the end of a login
    /// (so every instance of the region closes that login's sockets).
    pub fn user_channel(&self, id: &UserId) -> String {
        format!("{}user:{id}", self.region)
    }

    /// A channel only one instance's bus follows, in the region's slot: it publishes a probe
    /// there to check that its sharded subscriptions still deliver (src/server/bus.rs).
    pub fn bus_probe(&self, instance: &str) -> String {
        format!("{}bus:{instance}", self.region)
    }

    pub fn ride(&self, id: &crate::domain::ride::RideId) -> String {
        format!("{}ride:{id}", self.region)
    }

    pub fn driver(&self, id: &UserId) -> String {
        format!("{}driver:{id}", self.region)
    }

    pub fn rider(&self, id: &UserId) -> String {
        format!("{}rider:{id}", self.region)
    }

    pub fn rider_history(&self, id: &UserId) -> String {
        format!("{}rides:rider:{id}", self.region)
    }

    pub fn driver_history(&self, id: &UserId) -> String {
        format!("{}rides:driver:{id}", self.region)
    }
}

/// The hash tag Redis Cluster hashes a name by: what lies between its first `{` and the next
/// `}`, when that is not empty; else the whole name.
pub fn hash_tag(name: &str) -> &str {
    name.split_once('{')
        .and_then(|(_, rest)| rest.split_once('}'))
        .map(|(tag, _)| tag)
        .filter(|tag| !tag.is_empty())
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_keys_share_one_hash_tag() {
        let keys = Keys::new("hail", "demo");
        let email = Email::parse("ada@example.com").unwrap();
        let id = UserId::from_trusted("0".repeat(32));
        assert_eq!(
            keys.email_index(&email),
            "hail:{accounts}:email:ada@example.com"
        );
        assert!(keys.user(&id).starts_with("hail:{accounts}:user:"));
    }

    #[test]
    fn dispatch_keys_and_channels_share_the_regions_hash_tag() {
        let keys = Keys::new("hail", "demo");
        let id = UserId::from_trusted("0".repeat(32));
        let ride = crate::domain::ride::RideId::from_trusted("f".repeat(32));
        assert_eq!(keys.region_prefix(), "hail:{r:demo}:");
        assert_eq!(keys.deadlines(), "hail:{r:demo}:deadlines");
        for name in [
            keys.driver(&id),
            keys.rider(&id),
            keys.ride(&ride),
            keys.rider_history(&id),
            keys.driver_history(&id),
            keys.drivers_geo(),
            keys.drivers_seen(),
            keys.ride_channel(&ride),
            keys.user_channel(&id),
        ] {
            assert_eq!(hash_tag(&name), "r:demo", "{name}");
        }
    }

    #[test]
    fn hash_tags_are_read_as_redis_reads_them() {
        assert_eq!(hash_tag("a:{r:demo}:b"), "r:demo");
        assert_eq!(hash_tag("a:{x}:{y}"), "x");
        assert_eq!(
            hash_tag("a:{}:{y}"),
            "a:{}:{y}",
            "an empty tag hashes the whole name"
        );
        assert_eq!(hash_tag("a:{open"), "a:{open");
        assert_eq!(hash_tag("plain"), "plain");
    }

    #[test]
    fn the_prefix_is_configurable() {
        let keys = Keys::new("test-42", "demo");
        let ip = "10.0.0.1".parse().unwrap();
        assert_eq!(
            keys.login_failures_ip(&ip),
            "test-42:ratelimit:login:ip:10.0.0.1"
        );
        assert_eq!(keys.demo_leader(), "test-42:demo:leader");
    }
}
