//! The one place where a server function's error becomes an HTTP answer.
//!
//! Leptos answers every server-function error with 500 and the error's JSON. API clients get
//! the status that says why (`AppError::status`) and, for 429, a Retry-After header. A browser
//! form posted without JavaScript gets a 303 back to the page it came from, with the error and
//! the typed values (never a password) kept in the session for that page to show.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;

use super::session;
use crate::domain::{AppError, Flash};

/// Server functions take small forms; anything larger is refused before it is read.
const MAX_FORM_BYTES: usize = 16 * 1024;
/// What every request body may hold (the router's `RequestBodyLimitLayer`).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Errors are a few hundred bytes of JSON.
const MAX_ERROR_BYTES: usize = 64 * 1024;
const SERVER_FN_ERROR_HEADER: &str = "serverfnerror";

pub async fn map_server_fn_errors(req: Request, next: Next) -> Response {
    let plain_form = is_plain_form_post(req.method(), req.headers());
    if !plain_form {
        let res = next.run(req).await;
        if !res.headers().contains_key(SERVER_FN_ERROR_HEADER) {
            return res;
        }
        let error = read_error(res).await;
        return api_error_response(&error);
    }

    // A form without JavaScript: keep its fields to refill the form after the redirect.
    let session = req.extensions().get::<Session>().cloned();
    let back_to = same_origin_referer(req.headers());
    let referer = req
        .headers()
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .map(|r| r.trim_end_matches('?').to_owned());
    let action = req.uri().path().to_owned();
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
        let error = AppError::Validation {
            field: None,
            message: "that form is too large".into(),
        };
        return api_error_response(&error);
    };
    let mut res = next
        .run(Request::from_parts(parts, Body::from(bytes.clone())))
        .await;
    if !res.headers().contains_key(SERVER_FN_ERROR_HEADER) {
        // Done. Unless the function chose where to go (sign-up goes to the new screen),
        // Leptos sends the browser back to its Referer, whole, with a stray "?" once it has
        // taken its own error fields out: it goes back by our checked path instead, as a
        // refusal does.
        let to_referer = res
            .headers()
            .get(header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .is_some_and(|l| Some(l.trim_end_matches('?')) == referer.as_deref());
        if res.status().is_redirection() && to_referer {
            if let Ok(location) = HeaderValue::from_str(&back_to) {
                res.headers_mut().insert(header::LOCATION, location);
                *res.status_mut() = StatusCode::SEE_OTHER;
            }
        }
        return res;
    }
    let error = read_error(res).await;
    let Some(session) = session else {
        return api_error_response(&error);
    };
    let fields: Vec<(String, String)> = form_urlencoded::parse(&bytes).into_owned().collect();
    let flash = Flash::new(
        action,
        error.clone(),
        fields.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );
    if let Err(err) = session::set_flash(&session, &flash).await {
        return api_error_response(&err);
    }
    // 303: the browser follows with a GET of the page, whatever the form's method was.
    let location = HeaderValue::from_str(&back_to).unwrap_or(HeaderValue::from_static("/"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// The refusals the transport would make itself under `/api/`, answered as JSON `{kind,
/// message}` like every other refusal: 404 for no such endpoint, 405 for the wrong method (with
/// `Allow`), the body limit's 413, and 415 for a POST whose body is not a form in UTF-8, checked
/// before a server function tries to read it. A POST with no body and no type (`curl -X POST`)
/// is an empty form. A POST's body is read here, whole, before any server function runs: one
/// that ends early (a dropped connection, a lying chunk) is a 400 and one sent in chunks past
/// the limit a 413, where a server function reading it would have failed with a 500.
pub async fn transport_refusals(mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if !path.starts_with("/api/") {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let Some(allowed) = ENDPOINTS.get(path.as_str()) else {
        return refusal(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("there is no endpoint {path}; the API is listed in the README"),
        );
    };
    if !allowed.contains(&method) {
        let allow: Vec<&str> = allowed.iter().map(Method::as_str).collect();
        let allow = allow.join(", ");
        let mut refused = refusal(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{path} takes {allow}, not {method}"),
        );
        if let Ok(value) = HeaderValue::from_str(&allow) {
            refused.headers_mut().insert(header::ALLOW, value);
        }
        return refused;
    }
    if method == Method::POST {
        match form_body(req.headers()) {
            FormBody::Form => {}
            FormBody::Empty => {
                req.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
            }
            FormBody::Refused(message) => {
                return refusal(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    message,
                )
            }
        }
        let (parts, body) = req.into_parts();
        let bytes = match to_bytes(body, MAX_BODY_BYTES).await {
            Ok(bytes) => bytes,
            Err(err) if over_the_limit(&err) => return too_large(),
            Err(err) => {
                return refusal(
                    StatusCode::BAD_REQUEST,
                    "validation",
                    format!("the request body ended before it was complete ({err}); send it again"),
                )
            }
        };
        if std::str::from_utf8(&bytes).is_err() {
            return refusal(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body is not UTF-8; send the fields as a form: Content-Type application/x-www-form-urlencoded, in UTF-8",
            );
        }
        req = Request::from_parts(parts, Body::from(bytes));
    }
    let res = next.run(req).await;
    match res.status() {
        StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        _ => res,
    }
}

fn too_large() -> Response {
    refusal(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the request body is over {} KiB", MAX_BODY_BYTES / 1024),
    )
}

/// Whether reading a body failed because it passed the limit (and not because it broke off).
fn over_the_limit(err: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(err) = cause {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = err.source();
    }
    false
}

/// Every endpoint under /api/ is a server function, registered with its method before the
/// first request: read once, not on every request.
static ENDPOINTS: LazyLock<HashMap<&'static str, Vec<Method>>> = LazyLock::new(|| {
    let mut endpoints: HashMap<&'static str, Vec<Method>> = HashMap::new();
    for (path, method) in leptos::server_fn::axum::server_fn_paths() {
        endpoints.entry(path).or_default().push(method);
    }
    endpoints
});

enum FormBody {
    Form,
    /// No body and no type: an empty form.
    Empty,
    Refused(String),
}

/// Whether a POST's body is what server functions read: `application/x-www-form-urlencoded`,
/// in UTF-8 if a charset is named.
fn form_body(headers: &HeaderMap) -> FormBody {
    const HOW: &str =
        "send the fields as a form: Content-Type application/x-www-form-urlencoded, in UTF-8";
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        let empty = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v.trim() == "0")
            && !headers.contains_key(header::TRANSFER_ENCODING);
        return if empty {
            FormBody::Empty
        } else {
            FormBody::Refused(format!("the body has no Content-Type; {HOW}"))
        };
    };
    let Ok(content_type) = content_type.to_str() else {
        return FormBody::Refused(format!("the Content-Type is unreadable; {HOW}"));
    };
    let mut parts = content_type.split(';').map(str::trim);
    let essence = parts.next().unwrap_or_default();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return FormBody::Refused(format!("{essence} is not read here; {HOW}"));
    }
    for param in parts {
        if let Some((name, value)) = param.split_once('=') {
            let value = value.trim().trim_matches('"');
            if name.trim().eq_ignore_ascii_case("charset") && !value.eq_ignore_ascii_case("utf-8") {
                return FormBody::Refused(format!("charset {value} is not read here; {HOW}"));
            }
        }
    }
    FormBody::Form
}

/// A refusal of the transport's own, in the shape of `AppError`'s JSON.
fn refusal(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "kind": kind, "message": message.into() }).to_string();
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// A form posted by the browser itself: it asks for HTML and sends url-encoded fields.
fn is_plain_form_post(method: &Method, headers: &HeaderMap) -> bool {
    let accepts_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    method == Method::POST && accepts_html && form
}

/// The path (and query) of the Referer when it is this site; "/" otherwise. Never an open
/// redirect: only a path of ours is ever put in Location.
fn same_origin_referer(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let referer = headers.get(header::REFERER).and_then(|v| v.to_str().ok());
    let (Some(host), Some(referer)) = (host, referer) else {
        return "/".into();
    };
    let Some(rest) = referer
        .strip_prefix("http://")
        .or_else(|| referer.strip_prefix("https://"))
    else {
        return "/".into();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    if authority.eq_ignore_ascii_case(host) && !path.starts_with("//") {
        path.to_owned()
    } else {
        "/".into()
    }
}

async fn read_error(res: Response) -> AppError {
    match to_bytes(res.into_body(), MAX_ERROR_BYTES).await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|err| {
            tracing::error!(error = %err, "a server function error is not an AppError");
            AppError::internal()
        }),
        Err(err) => {
            tracing::error!(error = %err, "could not read a server function error");
            AppError::internal()
        }
    }
}

fn api_error_response(error: &AppError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_string(error).unwrap_or_else(|_| {
        r#"{"kind":"internal","message":"something went wrong on our side"}"#.into()
    });
    let mut res = (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            // Leptos's client reads the error from the body when it sees this header.
            (
                header::HeaderName::from_static(SERVER_FN_ERROR_HEADER),
                HeaderValue::from_static("1"),
            ),
        ],
        body,
    )
        .into_response();
    if let AppError::TooManyRequests {
        retry_after_secs, ..
    } = error
    {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn only_this_sites_referer_is_followed_back() {
        let same = headers(&[
            ("host", "127.0.0.1:3000"),
            ("referer", "http://127.0.0.1:3000/login?x=1"),
        ]);
        assert_eq!(same_origin_referer(&same), "/login?x=1");
        let other = headers(&[
            ("host", "127.0.0.1:3000"),
            ("referer", "http://evil.example/login"),
        ]);
        assert_eq!(same_origin_referer(&other), "/");
        let sneaky = headers(&[("host", "a"), ("referer", "http://a//evil.example")]);
        assert_eq!(same_origin_referer(&sneaky), "/");
        assert_eq!(same_origin_referer(&headers(&[])), "/");
    }

    #[test]
    fn a_browser_form_is_told_apart_from_an_api_client() {
        let browser = headers(&[
            ("accept", "text/html,application/xhtml+xml"),
            ("content-type", "application/x-www-form-urlencoded"),
        ]);
        assert!(is_plain_form_post(&Method::POST, &browser));
        let fetch = headers(&[("content-type", "application/x-www-form-urlencoded")]);
        assert!(!is_plain_form_post(&Method::POST, &fetch));
    }

    #[test]
    fn only_utf_8_forms_are_read() {
        let with_type = |t: &'static str| headers(&[("content-type", t), ("content-length", "3")]);
        for good in [
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=UTF-8",
            "Application/X-WWW-Form-Urlencoded;charset=\"utf-8\"",
        ] {
            assert!(
                matches!(form_body(&with_type(good)), FormBody::Form),
                "{good}"
            );
        }
        for bad in [
            "text/plain",
            "multipart/form-data; boundary=x",
            "application/json",
            "application/x-www-form-urlencoded; charset=utf-16",
        ] {
            assert!(
                matches!(form_body(&with_type(bad)), FormBody::Refused(_)),
                "{bad}"
            );
        }
        assert!(matches!(form_body(&headers(&[])), FormBody::Empty));
        assert!(matches!(
            form_body(&headers(&[("content-length", "0")])),
            FormBody::Empty
        ));
        assert!(matches!(
            form_body(&headers(&[("content-length", "12")])),
            FormBody::Refused(_)
        ));
    }

    #[tokio::test]
    async fn too_many_requests_carries_retry_after() {
        let res = api_error_response(&AppError::TooManyRequests {
            message: "slow down".into(),
            retry_after_secs: 42,
        });
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()[header::RETRY_AFTER], "42");
        let body = to_bytes(res.into_body(), 1024).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["message"], "slow down");
    }
}
