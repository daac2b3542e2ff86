//! The one error type of every server function, shaped by how the caller reacts.
//!
//! It travels as JSON (`{"kind": "...", "message": "..."}`); the server maps `kind` to the HTTP
//! status in one place (`server::api_errors`). A 500 means a bug.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AppError {
    /// The input is wrong; `field` names the form field to show the message beside.
    #[error("{message}")]
    Validation {
        field: Option<String>,
        message: String,
    },
    /// Wrong credentials, or nobody is logged in.
    #[error("{message}")]
    Unauthorized { message: String },
    /// Logged in, but not allowed: the wrong role, or someone else's thing.
    #[error("{message}")]
    Forbidden { message: String },
    #[error("{message}")]
    NotFound { message: String },
    /// The request clashes with what exists: an email already registered, a ride already taken.
    #[error("{message}")]
    Conflict {
        field: Option<String>,
        message: String,
    },
    /// Too many attempts; try again after `retry_after_secs`.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
    /// Redis (or another part Hail needs) does not answer; the request may be retried.
    #[error("{message}")]
    Unavailable { message: String },
    /// A bug. The message is safe to show; the cause went to the log.
    #[error("{message}")]
    Internal { message: String },
}

impl AppError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Validation {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::Unauthorized {
            message: message.into(),
        }
    }

    pub fn not_logged_in() -> Self {
        Self::unauthorized("you are not logged in: please log in first")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden {
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound {
            message: message.into(),
        }
    }

    pub fn conflict(field: Option<&str>, message: impl Into<String>) -> Self {
        Self::Conflict {
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }

    pub fn unavailable() -> Self {
        Self::Unavailable {
            message: "Hail is briefly unavailable (its data store does not answer); please try again in a moment".into(),
        }
    }

    pub fn internal() -> Self {
        Self::Internal {
            message: "something went wrong on our side; it has been logged".into(),
        }
    }

    /// The HTTP status that says why the request was refused.
    pub fn status(&self) -> u16 {
        match self {
            Self::Validation { .. } => 400,
            Self::Unauthorized { .. } => 401,
            Self::Forbidden { .. } => 403,
            Self::NotFound { .. } => 404,
            Self::Conflict { .. } => 409,
            Self::TooManyRequests { .. } => 429,
            Self::Unavailable { .. } => 503,
            Self::Internal { .. } => 500,
        }
    }

    /// A validation error of a part (a coordinate) as the error of the whole it belongs to
    /// (`field`: "pickup", "dropoff"), named in the message too; any other error unchanged.
    pub fn for_field(self, field: &str) -> Self {
        match self {
            Self::Validation { message, .. } => Self::Validation {
                field: Some(field.to_owned()),
                message: format!("{field}: {message}"),
            },
            other => other,
        }
    }

    /// The form field this error belongs beside, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Validation { field, .. } | Self::Conflict { field, .. } => field.as_deref(),
            _ => None,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Self::Validation { message, .. }
            | Self::Unauthorized { message }
            | Self::Forbidden { message }
            | Self::NotFound { message }
            | Self::Conflict { message, .. }
            | Self::TooManyRequests { message, .. }
            | Self::Unavailable { message }
            | Self::Internal { message } => message,
        }
    }
}

/// The error as it travels, read into one flat struct: serde's derive for an internally tagged
/// enum buffers every field in its own generic form first, which put a second parser of every
/// field into the browser build.
#[derive(Deserialize)]
struct WireError {
    kind: String,
    field: Option<String>,
    message: String,
    retry_after_secs: Option<u64>,
}

impl<'de> Deserialize<'de> for AppError {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let WireError {
            kind,
            field,
            message,
            retry_after_secs,
        } = WireError::deserialize(deserializer)?;
        Ok(match kind.as_str() {
            "validation" => Self::Validation { field, message },
            "unauthorized" => Self::Unauthorized { message },
            "forbidden" => Self::Forbidden { message },
            "not_found" => Self::NotFound { message },
            "conflict" => Self::Conflict { field, message },
            "too_many_requests" => Self::TooManyRequests {
                message,
                retry_after_secs: retry_after_secs
                    .ok_or_else(|| serde::de::Error::missing_field("retry_after_secs"))?,
            },
            "unavailable" => Self::Unavailable { message },
            "internal" => Self::Internal { message },
            other => {
                return Err(serde::de::Error::unknown_variant(
                    other,
                    &[
                        "validation",
                        "unauthorized",
                        "forbidden",
                        "not_found",
                        "conflict",
                        "too_many_requests",
                        "unavailable",
                        "internal",
                    ],
                ))
            }
        })
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // The request itself did not parse: a missing field, a wrong method, a bad body.
            ServerFnErrorErr::Args(detail) | ServerFnErrorErr::UnsupportedRequestMethod(detail) => {
                Self::Validation {
                    field: None,
                    message: format!("the request is not valid: {detail}"),
                }
            }
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => Self::Unavailable {
                message: "could not reach Hail; check your connection and try again".into(),
            },
            ServerFnErrorErr::MissingArg(arg) => Self::Validation {
                field: Some(arg.clone()),
                message: format!("{arg} is missing"),
            },
            _ => Self::internal(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_travel_as_json_with_kind_and_message() {
        let err = AppError::conflict(Some("email"), "that email is already registered");
        let json = serde_json::to_value(&err).unwrap();
        assert_eq!(json["kind"], "conflict");
        assert_eq!(json["message"], "that email is already registered");
        assert_eq!(json["field"], "email");
        let back: AppError = serde_json::from_value(json).unwrap();
        assert_eq!(back, err);
    }

    #[test]
    fn every_kind_reads_back_as_it_was_written() {
        let all = [
            AppError::invalid("lat", "latitude must be a number"),
            AppError::not_logged_in(),
            AppError::forbidden("riders only"),
            AppError::not_found("no such ride"),
            AppError::conflict(None, "already taken"),
            AppError::TooManyRequests {
                message: "slow down".into(),
                retry_after_secs: 42,
            },
            AppError::unavailable(),
            AppError::internal(),
        ];
        for err in all {
            let json = serde_json::to_string(&err).unwrap();
            assert_eq!(
                serde_json::from_str::<AppError>(&json).unwrap(),
                err,
                "{json}"
            );
        }
        let unknown = serde_json::from_str::<AppError>(r#"{"kind":"teapot","message":"x"}"#);
        assert!(unknown
            .unwrap_err()
            .to_string()
            .contains("unknown variant `teapot`"));
        let no_retry =
            serde_json::from_str::<AppError>(r#"{"kind":"too_many_requests","message":"x"}"#);
        assert!(no_retry
            .unwrap_err()
            .to_string()
            .contains("retry_after_secs"));
    }

    #[test]
    fn each_kind_has_the_status_that_says_why() {
        assert_eq!(AppError::invalid("lat", "x").status(), 400);
        assert_eq!(AppError::not_logged_in().status(), 401);
        assert_eq!(AppError::forbidden("x").status(), 403);
        assert_eq!(AppError::not_found("x").status(), 404);
        assert_eq!(AppError::conflict(None, "x").status(), 409);
        let limited = AppError::TooManyRequests {
            message: "x".into(),
            retry_after_secs: 3,
        };
        assert_eq!(limited.status(), 429);
        assert_eq!(AppError::unavailable().status(), 503);
        assert_eq!(AppError::internal().status(), 500);
    }

    #[test]
    fn undecodable_arguments_are_a_validation_error() {
        let err = AppError::from_server_fn_error(ServerFnErrorErr::Args("missing field".into()));
        assert_eq!(err.status(), 400);
    }
}
