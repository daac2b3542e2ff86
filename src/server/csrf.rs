//! Cross-site request forgery. SameSite=Lax keeps the session cookie off cross-site POSTs, but
//! not off those of a sibling subdomain (same site), and a forged *login* needs no cookie at all.
//! So every state-changing request (any method but GET, HEAD and OPTIONS: the server functions'
//! POSTs and the forms posted without JavaScript) is judged by what the browser says of where
//! it comes from, the way Go 1.25's `net/http` does it (Filippo Valsorda's write-up), plus the
//! Referer for browsers that send neither of the newer headers:
//!
//! 1. an `Origin` in `HAIL_ALLOWED_ORIGINS` passes;
//! 2. `Sec-Fetch-Site`, when sent, decides: `same-origin` or `none` (the user typed it) pass,
//!    `same-site` and `cross-site` do not;
//! 3. else an `Origin` must be this site (the request's own `Host`), and `null` never is;
//! 4. else a `Referer` must be this site or an allowed origin;
//! 5. a request with none of them is not a browser's: its credentials alone decide.
//!
//! (`tower-csrf` implements 1 to 3 and 5 but not 4, answers with an error instead of a
//! response, and calls itself experimental; the rules are short enough to keep here, tested.)

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::domain::AppError;

/// Why a request was refused, for the person who sent it.
const REFUSED: &str =
    "this request came from another site, so Hail did not act on it; open Hail itself and try again";

/// Whether a request with these headers may change state.
pub fn allowed(method: &Method, headers: &HeaderMap, origins: &[String]) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    let text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_ascii_lowercase())
    };
    let origin = text(header::ORIGIN);
    let host = text(header::HOST);
    let this_site = |candidate: &str| {
        origins.iter().any(|allowed| allowed == candidate)
            || host.as_ref().is_some_and(|host| {
                candidate == format!("http://{host}") || candidate == format!("https://{host}")
            })
    };
    if origin
        .as_deref()
        .is_some_and(|o| origins.iter().any(|a| a == o))
    {
        return true;
    }
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        return matches!(site.as_str(), "same-origin" | "none");
    }
    if let Some(origin) = origin {
        return origin != "null" && this_site(&origin);
    }
    if let Some(referer) = text(header::REFERER) {
        return origin_of(&referer).is_some_and(|o| this_site(&o));
    }
    true
}

/// `scheme://authority` of a URL, lowercased.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    (!authority.is_empty()).then(|| format!("{scheme}://{authority}"))
}

/// The layer: refuses with 403, as JSON for API clients and as a page that says why for a
/// form a browser posted without JavaScript.
pub async fn refuse_cross_site(origins: Arc<Vec<String>>, req: Request, next: Next) -> Response {
    if allowed(req.method(), req.headers(), &origins) {
        return next.run(req).await;
    }
    tracing::info!(
        path = %req.uri().path(),
        origin = ?req.headers().get(header::ORIGIN),
        site = ?req.headers().get("sec-fetch-site"),
        "refused a cross-site request"
    );
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html {
        let page = format!(
            "<!doctype html><meta charset=utf-8><title>Hail: not sent from Hail</title><h1>Not sent from Hail</h1><p>Hail refused this because {REFUSED}.</p><p><a href=\"/\">Open Hail</a></p>"
        );
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            page,
        )
            .into_response();
    }
    let body = serde_json::to_string(&AppError::forbidden(REFUSED)).unwrap_or_default();
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn judged(method: Method, pairs: &[(&'static str, &str)], origins: &[&str]) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("hail.example:8080"));
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        let origins: Vec<String> = origins.iter().map(|o| o.to_string()).collect();
        allowed(&method, &headers, &origins)
    }

    #[test]
    fn reads_never_need_a_site() {
        for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert!(judged(method, &[("sec-fetch-site", "cross-site")], &[]));
        }
    }

    #[test]
    fn fetch_metadata_decides_when_sent() {
        let post = |site| judged(Method::POST, &[("sec-fetch-site", site)], &[]);
        assert!(post("same-origin"));
        assert!(post("none"));
        assert!(
            !post("same-site"),
            "a sibling subdomain is another site here"
        );
        assert!(!post("cross-site"));
        // Even with an Origin that looks like ours.
        assert!(!judged(
            Method::POST,
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "http://hail.example:8080")
            ],
            &[]
        ));
    }

    #[test]
    fn an_allowed_origin_passes_whatever_the_metadata() {
        let pairs = [
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://app.hail.example"),
        ];
        assert!(judged(Method::POST, &pairs, &["https://app.hail.example"]));
        assert!(!judged(Method::POST, &pairs, &["https://other.example"]));
    }

    #[test]
    fn without_metadata_the_origin_then_the_referer_must_be_this_site() {
        let post = |pairs: &[(&'static str, &str)]| judged(Method::POST, pairs, &[]);
        assert!(post(&[("origin", "http://hail.example:8080")]));
        assert!(post(&[("origin", "HTTPS://Hail.Example:8080")]));
        assert!(!post(&[("origin", "http://evil.example")]));
        assert!(!post(&[("origin", "http://hail.example")]), "another port");
        assert!(!post(&[("origin", "null")]));
        assert!(post(&[("referer", "http://hail.example:8080/login?x=1")]));
        assert!(!post(&[(
            "referer",
            "http://evil.example/hail.example:8080"
        )]));
        assert!(judged(
            Method::POST,
            &[("referer", "https://app.hail.example/rider")],
            &["https://app.hail.example"]
        ));
    }

    #[test]
    fn a_client_that_says_nothing_is_judged_by_its_credentials() {
        assert!(judged(Method::POST, &[], &[]));
        assert!(judged(Method::DELETE, &[], &[]));
    }
}
