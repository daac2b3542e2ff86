//! Accounts in Redis: a hash per user and a unique email index, claimed in one Lua step so
//! that two sign-ups with one email on two instances at once yield exactly one account.

use super::redis_errors::Redis;
use redis::{AsyncCommands, Script};
use std::sync::{Arc, LazyLock};

use super::keys::Keys;
use super::redis_errors::RedisResultExt;
use crate::domain::ride::Car;
use crate::domain::{AppError, Email, Identity, Name, Role, UserId};

/// KEYS[1] email index, KEYS[2] user hash; ARGV id, name, email, role, hash, created_at.
/// Returns 1 when the account was created, 0 when the email was already taken.
static CREATE_ACCOUNT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/account_create.lua")));

/// An account as stored, with its password hash: never leaves the server.
#[derive(Debug, Clone)]
pub struct StoredAccount {
    pub identity: Identity,
    pub password_hash: String,
}

#[derive(Clone)]
pub struct AccountStore {
    redis: Redis,
    keys: Arc<Keys>,
}

impl AccountStore {
    pub fn new(redis: Redis, keys: Keys) -> Self {
        Self {
            redis,
            keys: Arc::new(keys),
        }
    }

    /// Creates the account, or answers 409 when the email is registered already.
    pub async fn create(
        &self,
        name: &Name,
        email: &Email,
        role: Role,
        password_hash: &str,
    ) -> Result<Identity, AppError> {
        let id = new_user_id();
        let created_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let created: i64 = CREATE_ACCOUNT
            .key(self.keys.email_index(email))
            .key(self.keys.user(&id))
            .arg(id.as_str())
            .arg(name.as_str())
            .arg(email.as_str())
            .arg(role.as_str())
            .arg(password_hash)
            .arg(created_at)
            .invoke_async(&mut self.redis.clone())
            .await
            .or_unavailable()?;
        if created == 0 {
            return Err(AppError::conflict(
                Some("email"),
                "that email is already registered",
            ));
        }
        Ok(Identity {
            id,
            name: name.as_str().to_owned(),
            email: email.as_str().to_owned(),
            role,
        })
    }

    pub async fn find_by_email(&self, email: &Email) -> Result<Option<StoredAccount>, AppError> {
        let mut redis = self.redis.clone();
        let id: Option<String> = redis
            .get(self.keys.email_index(email))
            .await
            .or_unavailable()?;
        let Some(id) = id else {
            return Ok(None);
        };
        let id = UserId::from_trusted(id);
        let fields: std::collections::HashMap<String, String> =
            redis.hgetall(self.keys.user(&id)).await.or_unavailable()?;
        let field = |name: &str| fields.get(name).cloned();
        let (Some(name), Some(stored_email), Some(role), Some(password_hash)) = (
            field("name"),
            field("email"),
            field("role"),
            field("password_hash"),
        ) else {
            tracing::error!(user = %id, "an account hash is incomplete");
            return Err(AppError::internal());
        };
        let role = role.parse::<Role>().map_err(|_| {
            tracing::error!(user = %id, "an account has an unknown role");
            AppError::internal()
        })?;
        Ok(Some(StoredAccount {
            identity: Identity {
                id,
                name,
                email: stored_email,
                role,
            },
            password_hash,
        }))
    }
}

impl AccountStore {
    /// Keeps a driver's car on their account.
    pub async fn set_car(&self, id: &UserId, car: &Car) -> Result<(), AppError> {
        let _: () = self
            .redis
            .clone()
            .hset_multiple(
                self.keys.user(id),
                &[
                    ("car_make", car.make.as_str()),
                    ("car_model", car.model.as_str()),
                    ("car_plate", car.plate.as_str()),
                ],
            )
            .await
            .or_unavailable()?;
        Ok(())
    }

    pub async fn car(&self, id: &UserId) -> Result<Option<Car>, AppError> {
        let (make, model, plate): (Option<String>, Option<String>, Option<String>) =
            redis::cmd("HMGET")
                .arg(self.keys.user(id))
                .arg(&["car_make", "car_model", "car_plate"])
                .query_async(&mut self.redis.clone())
                .await
                .or_unavailable()?;
        Ok(match (make, model, plate) {
            (Some(make), Some(model), Some(plate)) => Some(Car { make, model, plate }),
            _ => None,
        })
    }
}

fn new_user_id() -> UserId {
    UserId::from_trusted(hex::encode(rand::random::<[u8; 16]>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_user_ids_parse_as_user_ids_and_differ() {
        let a = new_user_id();
        let b = new_user_id();
        assert!(UserId::parse(a.as_str()).is_ok());
        assert_ne!(a, b);
    }
}
