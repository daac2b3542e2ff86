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

    /// Failed logins for one email within the window.
    pub fn login_failures_email(&self, email: &Email) -> String {
        format!("{}:ratelimit:login:email:{email}", self.prefix)
    }

    /// Failed logins from one client address within the window.
    pub fn login_failures_ip(&self, ip: &std::net::IpAddr) -> String {
        format!("{}:ratelimit:login:ip:{ip}", self.prefix)
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
    fn the_prefix_is_configurable() {
        let keys = Keys::new("test-42");
        let ip = "10.0.0.1".parse().unwrap();
        assert_eq!(
            keys.login_failures_ip(&ip),
            "test-42:ratelimit:login:ip:10.0.0.1"
        );
    }
}
