//! What a form posted without JavaScript gets back: the error and what was typed (never a
//! password), carried across the redirect in the session and shown once.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::AppError;

/// Fields that are never kept, whatever the form.
pub const SECRET_FIELDS: &[&str] = &["password", "password_confirm", "current_password"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flash {
    /// The server function's path (`/api/login`): says which form the error belongs to.
    pub action: String,
    pub error: AppError,
    pub values: BTreeMap<String, String>,
}

impl Flash {
    /// Builds a flash from the posted form, dropping secrets and oversized values.
    pub fn new<'a>(
        action: impl Into<String>,
        error: AppError,
        fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        const MAX_VALUE: usize = 256;
        let values = fields
            .into_iter()
            .filter(|(name, _)| !SECRET_FIELDS.contains(name))
            .filter(|(_, value)| value.len() <= MAX_VALUE)
            .take(16)
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        Self {
            action: action.into(),
            error,
            values,
        }
    }

    pub fn value(&self, field: &str) -> Option<&str> {
        self.values.get(field).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flash_never_keeps_the_password() {
        let flash = Flash::new(
            "/api/login",
            AppError::unauthorized("email or password is wrong"),
            [("email", "ada@example.com"), ("password", "hunter22")],
        );
        assert_eq!(flash.value("email"), Some("ada@example.com"));
        assert_eq!(flash.value("password"), None);
    }

    #[test]
    fn oversized_values_are_dropped() {
        let long = "x".repeat(1000);
        let flash = Flash::new(
            "/api/signup",
            AppError::internal(),
            [("name", long.as_str())],
        );
        assert_eq!(flash.value("name"), None);
    }
}
