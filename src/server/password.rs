//! Password hashing with Argon2id (RustCrypto's PHC-string API), always on the blocking pool:
//! a hash takes tens of milliseconds of CPU that must not stall the async workers.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::LazyLock;

use crate::domain::{AppError, Password};

/// A hash of a password nobody has, so that an unknown email costs as much as a wrong password
/// and response times do not reveal which emails are registered.
static DECOY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_blocking("decoy password that no account has").unwrap_or_default());

fn hash_blocking(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

fn verify_blocking(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(err) => {
            tracing::error!(error = %err, "a stored password hash does not parse");
            false
        }
    }
}

pub async fn hash(password: Password) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || hash_blocking(password.expose()))
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "password hashing task failed");
            AppError::internal()
        })?
        .map_err(|err| {
            tracing::error!(error = %err, "password hashing failed");
            AppError::internal()
        })
}

/// Checks `password` against the stored hash, or against a decoy when there is none.
pub async fn verify(password: Password, stored: Option<String>) -> Result<bool, AppError> {
    tokio::task::spawn_blocking(move || match stored {
        Some(phc) => verify_blocking(password.expose(), &phc),
        None => {
            verify_blocking(password.expose(), &DECOY_HASH);
            false
        }
    })
    .await
    .map_err(|err| {
        tracing::error!(error = %err, "password verification task failed");
        AppError::internal()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let password = Password::parse_new("correct horse battery").unwrap();
        let phc = hash(password.clone()).await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify(password, Some(phc.clone())).await.unwrap());
        let wrong = Password::parse_existing("wrong horse battery").unwrap();
        assert!(!verify(wrong, Some(phc)).await.unwrap());
    }

    #[tokio::test]
    async fn no_stored_hash_never_verifies() {
        let password = Password::parse_existing("decoy password that no account has").unwrap();
        assert!(!verify(password, None).await.unwrap());
    }
}
