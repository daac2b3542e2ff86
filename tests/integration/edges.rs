//! The API's edges, tried as an outside client would: the transport's own refusals (a wrong
//! method, an unknown path, a body too large or of a type server functions do not read) are
//! JSON `{kind, message}` like every other refusal, and a full Redis is a 503, not a 500.

use reqwest::header::{ALLOW, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::*;

/// A raw request: method, path, content type and body exactly as given.
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = reqwest::Client::new().request(method, app.url(path));
    if let Some(content_type) = content_type {
        request = request.header(CONTENT_TYPE, content_type);
    }
    let res = request
        .body(body)
        .send()
        .await
        .expect("the instance answers");
    let (status, headers) = (res.status(), res.headers().clone());
    let text = res.text().await.unwrap();
    let json =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {status} {text:?}"));
    (status, headers, json)
}

const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

#[tokio::test]
async fn the_transport_s_own_refusals_are_json_like_every_other() {
    let cluster = Cluster::start().await;
    let a = &cluster.a;

    let (status, headers, json) = raw(a, Method::GET, "/api/accept", None, vec![]).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(json["kind"], "method_not_allowed");
    assert!(
        headers[ALLOW].to_str().unwrap().contains("POST"),
        "{headers:?}"
    );
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .contains("/api/accept takes POST"),
        "{json}"
    );
    let (status, headers, json) = raw(a, Method::POST, "/api/me", FORM, vec![]).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{json}");
    assert!(
        headers[ALLOW].to_str().unwrap().contains("GET"),
        "{headers:?}"
    );

    for method in [Method::GET, Method::POST] {
        let (status, _, json) = raw(a, method, "/api/teleport", FORM, vec![]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(json["kind"], "not_found");
    }

    let huge = format!("email=a%40b.c&password={}", "x".repeat(70 * 1024));
    let (status, _, json) = raw(a, Method::POST, "/api/login", FORM, huge.into_bytes()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json["kind"], "too_large");
    assert!(
        json["message"].as_str().unwrap().contains("64 KiB"),
        "{json}"
    );

    let fields = b"email=a%40b.c&password=whatever1".to_vec();
    for content_type in [
        Some("text/plain"),
        Some("multipart/form-data; boundary=x"),
        Some("application/json"),
        Some("application/x-www-form-urlencoded; charset=utf-16"),
        None,
    ] {
        let (status, _, json) =
            raw(a, Method::POST, "/api/login", content_type, fields.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}: {json}"
        );
        assert_eq!(json["kind"], "unsupported_media_type");
        assert!(json["message"]
            .as_str()
            .unwrap()
            .contains("application/x-www-form-urlencoded"));
    }

    // A POST without a body or a type is an empty form: logging out needs no fields.
    let (status, _, _) = raw(a, Method::POST, "/api/logout", None, vec![]).await;
    assert_eq!(status, StatusCode::OK);
    // And a form in UTF-8 is read as before.
    let (status, _, json) = raw(
        a,
        Method::POST,
        "/api/login",
        Some("application/x-www-form-urlencoded; charset=UTF-8"),
        fields,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{json}");
}

/// Writes `head` and `body` as they are, stops writing, and reads the answer's status and JSON.
async fn over_tcp(app: &TestApp, head: &str, body: &[u8]) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.addr()).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    let status = answer[9..12].parse().unwrap();
    let json = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_body_cut_short_too_long_in_chunks_or_not_utf8_is_refused_never_a_500() {
    let cluster = Cluster::start().await;
    let a = &cluster.a;
    let head = |framing: &str| {
        format!(
            "POST /api/signup HTTP/1.1\r\nhost: {}\r\ncontent-type: application/x-www-form-urlencoded\r\n{framing}\r\n\r\n",
            a.addr()
        )
    };
    // The client promised more than it sent, by length or by chunk.
    for (framing, body) in [
        ("content-length: 100", &b"name=Rita"[..]),
        ("transfer-encoding: chunked", &b"7\r\n\r\nzz\r\n"[..]),
    ] {
        let (status, json) = over_tcp(a, &head(framing), body).await;
        assert_eq!(status, 400, "{framing}: {json}");
        assert_eq!(json["kind"], "validation");
        assert!(
            json["message"]
                .as_str()
                .unwrap()
                .contains("ended before it was complete"),
            "{json}"
        );
    }
    // Past the limit in chunks, where no length said so up front.
    let chunk = "x".repeat(8 * 1024);
    let mut chunked = String::new();
    for _ in 0..10 {
        chunked.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    chunked.push_str("0\r\n\r\n");
    let (status, json) = over_tcp(a, &head("transfer-encoding: chunked"), chunked.as_bytes()).await;
    assert_eq!(status, 413, "{json}");
    assert_eq!(json["kind"], "too_large");
    // Not UTF-8.
    let (status, json) = over_tcp(a, &head("content-length: 6"), b"name=\xff").await;
    assert_eq!(status, 415, "{json}");
    assert!(
        json["message"].as_str().unwrap().contains("not UTF-8"),
        "{json}"
    );
}

#[tokio::test]
async fn with_redis_full_writes_are_refused_503_and_reads_still_work() {
    let cluster = Cluster::start().await;
    let a = &cluster.a;
    let mut rider = Browser::rider(a, "Rita").await;
    let mut redis = cluster.redis.connection().await;
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut redis)
        .await
        .unwrap();
    let used: u64 = info
        .lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("noeviction")
        .query_async(&mut redis)
        .await
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(used)
        .query_async(&mut redis)
        .await
        .unwrap();

    let mut newcomer = Browser::new();
    let refused = newcomer
        .sign_up(a, "Nia", &unique_email("nia"), "rider")
        .await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.body
    );
    assert_eq!(refused.json()["kind"], "unavailable");
    assert!(refused.message().contains("full"), "{}", refused.body);

    let me = rider.me(a).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    let page = rider.get(a, "/rider").await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "the rider page renders: {}",
        page.body
    );
    let saved = rider
        .post(a, "/api/save_location", &[("lat", "52.5"), ("lng", "13.4")])
        .await;
    assert_eq!(
        saved.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        saved.body
    );

    // Room again: writes work again, nothing was lost.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(0)
        .query_async(&mut redis)
        .await
        .unwrap();
    let saved = rider
        .post(a, "/api/save_location", &[("lat", "52.5"), ("lng", "13.4")])
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!(rider.me(a).await.status, StatusCode::OK);
}

async fn rider_email(rider: &mut Browser, app: &TestApp) -> String {
    rider.me(app).await.json()["email"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A login attempt with these headers; the status it got and the answer's text.
async fn login_with(app: &TestApp, headers: &[(&str, &str)]) -> (StatusCode, String, String) {
    // A new unknown email each time, so that the failed-login limit never answers instead.
    let email = unique_email("nobody");
    let mut request = reqwest::Client::new()
        .post(app.url("/api/login"))
        .form(&[("email", email.as_str()), ("password", "whatever1")]);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let res = request.send().await.expect("the instance answers");
    let status = res.status();
    let content_type = res.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
    (status, content_type, res.text().await.unwrap())
}

#[tokio::test]
async fn state_changes_sent_from_another_site_are_refused() {
    let cluster = Cluster::start_with(|c| {
        c.allowed_origins = vec!["https://app.hail.example".into()];
    })
    .await;
    let a = &cluster.a;
    let this_site = format!("http://{}", a.addr);

    for forged in [
        vec![("sec-fetch-site", "cross-site")],
        vec![
            ("sec-fetch-site", "same-site"),
            ("origin", "https://evil.hail.example"),
        ],
        vec![("origin", "http://evil.example")],
        vec![("origin", "null")],
        vec![("referer", "http://evil.example/looks-like-hail")],
    ] {
        let (status, content_type, body) = login_with(a, &forged).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{forged:?}: {body}");
        assert!(content_type.starts_with("application/json"), "{forged:?}");
        let json: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["kind"], "forbidden");
        assert!(
            json["message"].as_str().unwrap().contains("another site"),
            "{body}"
        );
    }
    // A form posted without JavaScript from another site gets a page that says why.
    let (status, content_type, body) = login_with(
        a,
        &[("sec-fetch-site", "cross-site"), ("accept", "text/html")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(body.contains("another site"), "{body}");

    // This site, an allowed origin, the user's own navigation and non-browser clients get
    // through to the login itself (which refuses the unknown email: 401).
    let referer = format!("{this_site}/login");
    for genuine in [
        vec![("sec-fetch-site", "same-origin")],
        vec![("sec-fetch-site", "none")],
        vec![("origin", this_site.as_str())],
        vec![("referer", referer.as_str())],
        vec![
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://app.hail.example"),
        ],
        vec![],
    ] {
        let (status, _, body) = login_with(a, &genuine).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{genuine:?}: {body}");
    }

    // A forged sign-up creates nothing.
    let email = unique_email("forged");
    let forged_signup = reqwest::Client::new()
        .post(a.url("/api/signup"))
        .header("sec-fetch-site", "cross-site")
        .form(&[
            ("name", "Eve"),
            ("email", email.as_str()),
            ("password", "correct horse"),
            ("role", "rider"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged_signup.status(), StatusCode::FORBIDDEN);
    let mut eve = Browser::new();
    assert_eq!(
        eve.log_in(a, &email, "correct horse").await.status,
        StatusCode::UNAUTHORIZED
    );

    // Reads are judged by their credentials alone.
    let read = reqwest::Client::new()
        .get(a.url("/api/me"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::UNAUTHORIZED);
}
