//! Accounts: the parsed, validated pieces of a sign-up or login, and who is logged in.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use super::AppError;

/// An account's id: opaque, random, never derived from the email.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    /// Wraps an id that Hail itself made or stored; ids from clients are parsed with `parse`.
    pub fn from_trusted(id: String) -> Self {
        Self(id)
    }

    /// Ids are lowercase hex of a fixed length; anything else is not an id of ours.
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let ok = raw.len() == 32 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(AppError::invalid("id", "that is not a user id"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address, trimmed and lowercased so that the unique index is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let email = raw.trim().to_lowercase();
        let invalid = |why: &str| AppError::invalid("email", why);
        if email.is_empty() {
            return Err(invalid("enter your email address"));
        }
        if email.len() > Self::MAX_LEN {
            return Err(invalid("that email address is too long"));
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("an email address cannot contain spaces"));
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err(invalid(
                "an email address needs an @, like name@example.com",
            ));
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !domain.contains('@');
        if local.is_empty() || local.contains('@') || !domain_ok {
            return Err(invalid(
                "that does not look like an email address, like name@example.com",
            ));
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A display name: trimmed, 1 to 80 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Name(String);

impl Name {
    pub const MAX_CHARS: usize = 80;

    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(AppError::invalid("name", "enter your name"));
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(AppError::invalid(
                "name",
                "a name can be at most 80 characters",
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(AppError::invalid(
                "name",
                "a name cannot contain control characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed. Never serialized, never logged: `Debug` hides it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    /// Hashing cost grows with length; nobody types more than this.
    pub const MAX_BYTES: usize = 1024;

    /// The rules for a new password.
    pub fn parse_new(raw: &str) -> Result<Self, AppError> {
        if raw.chars().count() < Self::MIN_CHARS {
            return Err(AppError::invalid(
                "password",
                "password must be at least 8 characters",
            ));
        }
        Self::parse_existing(raw)
    }

    /// A password offered at login: only the size is checked, never the rules of the day.
    pub fn parse_existing(raw: &str) -> Result<Self, AppError> {
        if raw.is_empty() {
            return Err(AppError::invalid("password", "enter your password"));
        }
        if raw.len() > Self::MAX_BYTES {
            return Err(AppError::invalid(
                "password",
                "password must be at most 1024 bytes",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(****)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Rider,
    Driver,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Rider => "rider",
            Role::Driver => "driver",
        }
    }

    /// Where this role lands after logging in.
    pub fn home_path(self) -> &'static str {
        match self {
            Role::Rider => "/rider",
            Role::Driver => "/driver",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = AppError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "rider" => Ok(Role::Rider),
            "driver" => Ok(Role::Driver),
            "" => Err(AppError::invalid("role", "choose rider or driver")),
            _ => Err(AppError::invalid("role", "role must be rider or driver")),
        }
    }
}

/// Who is logged in: what the session holds and what `GET /api/me` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub id: UserId,
    pub name: String,
    pub email: String,
    pub role: Role,
}

impl Identity {
    /// Refuses a user of the other role, with a message that says where to go instead.
    pub fn require_role(&self, role: Role) -> Result<(), AppError> {
        if self.role == role {
            Ok(())
        } else {
            Err(AppError::forbidden(format!(
                "this is for {role}s; you are logged in as a {}",
                self.role
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        let email = Email::parse("  Ada.Lovelace@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "ada.lovelace@example.com");
    }

    #[test]
    fn malformed_emails_are_refused_with_the_field_named() {
        for raw in [
            "",
            "   ",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "ada@.com",
            "ada@example.",
            "ada@@example.com",
            "a da@example.com",
            "ada@exa..mple.com",
        ] {
            let err = Email::parse(raw).unwrap_err();
            assert_eq!(err.field(), Some("email"), "{raw:?} should be refused");
            assert_eq!(err.status(), 400);
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn passwords_shorter_than_eight_characters_are_refused() {
        let err = Password::parse_new("1234567").unwrap_err();
        assert_eq!(err.message(), "password must be at least 8 characters");
        assert!(Password::parse_new("12345678").is_ok());
        // Characters, not bytes: eight accented letters are enough.
        assert!(Password::parse_new("éééééééé").is_ok());
    }

    #[test]
    fn oversized_passwords_are_refused_before_hashing() {
        assert!(Password::parse_new(&"x".repeat(Password::MAX_BYTES + 1)).is_err());
        assert!(Password::parse_existing("").is_err());
    }

    #[test]
    fn a_password_never_shows_in_debug_output() {
        let password = Password::parse_new("correct horse").unwrap();
        assert!(!format!("{password:?}").contains("horse"));
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(Name::parse("  Ada ").unwrap().as_str(), "Ada");
        assert!(Name::parse("   ").is_err());
        assert!(Name::parse(&"x".repeat(81)).is_err());
        assert!(Name::parse("Ada\u{0}").is_err());
    }

    #[test]
    fn roles_parse_from_forms() {
        assert_eq!("rider".parse::<Role>().unwrap(), Role::Rider);
        assert_eq!(" Driver ".parse::<Role>().unwrap(), Role::Driver);
        assert_eq!(
            "admin".parse::<Role>().unwrap_err().message(),
            "role must be rider or driver"
        );
    }

    #[test]
    fn the_wrong_role_is_forbidden() {
        let rider = Identity {
            id: UserId::from_trusted("a".repeat(32)),
            name: "Ada".into(),
            email: "ada@example.com".into(),
            role: Role::Rider,
        };
        assert!(rider.require_role(Role::Rider).is_ok());
        assert_eq!(rider.require_role(Role::Driver).unwrap_err().status(), 403);
    }

    #[test]
    fn user_ids_are_fixed_length_hex() {
        assert!(UserId::parse(&"0f".repeat(16)).is_ok());
        assert!(UserId::parse("../etc").is_err());
        assert!(UserId::parse(&"G".repeat(32)).is_err());
    }
}
