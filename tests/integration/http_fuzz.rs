//! The HTTP edge fuzzed as a hostile client would try it: random methods, paths, queries,
//! headers (cookies, origins, content types, upgrades, values that are not UTF-8) and bodies
//! (random bytes, over the size limit, shorter than they claim), written raw on a TCP socket to
//! the `hail` binary in a process of its own. Whatever it is sent, an instance answers below
//! 500 (or drops a request it cannot read), never panics (its log says so), and keeps serving.
//! `PROPTEST_CASES` sets how many requests (400 by default).

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::*;

#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    cookie: Who,
    body: Body,
}

#[derive(Debug, Clone, Copy)]
enum Who {
    Nobody,
    Rider,
    Driver,
    Forged,
}

#[derive(Debug, Clone)]
enum Body {
    /// With a `Content-Length` that matches.
    Exact(Vec<u8>),
    /// Claims more than it sends, then the client stops writing.
    Truncated(Vec<u8>),
    /// Over the 64 KiB cap.
    Huge(usize),
    /// Chunked, with a chunk header that lies or is garbage.
    BadChunks(Vec<u8>),
}

const PATHS: &[&str] = &[
    "/",
    "/login",
    "/signup",
    "/rider",
    "/driver",
    "/ws",
    "/healthz",
    "/readyz",
    "/metrics",
    "/pkg/hail.js",
    "/pkg/hail.css",
    "/api/signup",
    "/api/login",
    "/api/logout",
    "/api/me",
    "/api/flash",
    "/api/driver",
    "/api/car",
    "/api/go_online",
    "/api/go_offline",
    "/api/position",
    "/api/accept",
    "/api/decline",
    "/api/arrive",
    "/api/start_trip",
    "/api/complete",
    "/api/save_location",
    "/api/location",
    "/api/map",
    "/api/quote",
    "/api/nearby",
    "/api/request_ride",
    "/api/ride",
    "/api/current_ride",
    "/api/rides",
    "/api/cancel_ride",
    "/api/reconfirm_ride",
    "/api/rate_ride",
    "/api/nope",
    "/api/",
    "/api",
];

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("GET".to_owned()),
        Just("POST".to_owned()),
        Just("PUT".to_owned()),
        Just("DELETE".to_owned()),
        Just("PATCH".to_owned()),
        Just("HEAD".to_owned()),
        Just("OPTIONS".to_owned()),
        "[A-Z]{1,12}",
    ]
}

fn path() -> impl Strategy<Value = String> {
    let known = proptest::sample::select(PATHS);
    let tail = prop_oneof![
        Just(String::new()),
        "/[a-z0-9%./]{0,40}",
        "\\?[a-z_]{1,12}=[ -~]{0,60}",
        "\\?id=[0-9a-f]{32}",
        "\\?lat=[0-9.e+-]{0,12}&lng=[0-9.e+-]{0,12}",
        Just("/../../etc/passwd".to_owned()),
        Just("?%ff%fe%00=%zz".to_owned()),
        "[/a]{300,3000}",
    ];
    (known, tail).prop_map(|(known, tail)| format!("{known}{tail}").replace(' ', "%20"))
}

fn header() -> impl Strategy<Value = (String, Vec<u8>)> {
    let content_type = prop_oneof![
        Just(b"application/x-www-form-urlencoded".to_vec()),
        Just(b"application/x-www-form-urlencoded; charset=utf-16".to_vec()),
        Just(b"application/json".to_vec()),
        Just(b"multipart/form-data; boundary=x".to_vec()),
        Just(b"text/plain".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..40),
    ];
    prop_oneof![
        content_type.prop_map(|v| ("content-type".to_owned(), v)),
        proptest::sample::select(vec!["https://evil.example", "null", "http://127.0.0.1", "",])
            .prop_map(|v| ("origin".to_owned(), v.as_bytes().to_vec())),
        proptest::sample::select(vec!["cross-site", "same-site", "same-origin", "none", "?"])
            .prop_map(|v| ("sec-fetch-site".to_owned(), v.as_bytes().to_vec())),
        Just(("upgrade".to_owned(), b"websocket".to_vec())),
        Just(("connection".to_owned(), b"Upgrade".to_vec())),
        Just(("sec-websocket-version".to_owned(), b"13".to_vec())),
        Just(("accept".to_owned(), b"text/html".to_vec())),
        Just(("accept-encoding".to_owned(), b"br, gzip".to_vec())),
        (
            "x-[a-z]{1,10}",
            proptest::collection::vec(32u8..=255, 0..200)
        ),
        proptest::collection::vec(32u8..=255, 0..100).prop_map(|v| ("referer".to_owned(), v)),
        proptest::collection::vec(33u8..=126, 0..80)
            .prop_map(|v| ("x-forwarded-for".to_owned(), v)),
    ]
}

fn body() -> impl Strategy<Value = Body> {
    let bytes = proptest::collection::vec(any::<u8>(), 0..600);
    let form = "[a-z_]{1,10}=[ -~]{0,40}(&[a-z_]{1,10}=[ -~]{0,40}){0,6}"
        .prop_map(|f: String| f.into_bytes());
    prop_oneof![
        4 => form.prop_map(Body::Exact),
        3 => bytes.clone().prop_map(Body::Exact),
        1 => bytes.clone().prop_map(Body::Truncated),
        1 => (65_000usize..200_000).prop_map(Body::Huge),
        1 => bytes.prop_map(Body::BadChunks),
    ]
}

fn requests() -> impl Strategy<Value = Request> {
    let who = prop_oneof![
        Just(Who::Nobody),
        Just(Who::Rider),
        Just(Who::Driver),
        Just(Who::Forged)
    ];
    (
        token(),
        path(),
        proptest::collection::vec(header(), 0..6),
        who,
        body(),
    )
        .prop_map(|(method, path, headers, cookie, body)| Request {
            method,
            path,
            headers,
            cookie,
            body,
        })
}

/// The request's bytes on the wire, and whether the client stops writing after them.
fn wire(request: &Request, host: &str, cookies: &[Option<String>; 4]) -> (Vec<u8>, bool) {
    let mut out = format!(
        "{} {} HTTP/1.1\r\nhost: {host}\r\n",
        request.method, request.path
    )
    .into_bytes();
    for (name, value) in &request.headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend(
            value
                .iter()
                .copied()
                .filter(|b| !matches!(b, b'\r' | b'\n')),
        );
        out.extend_from_slice(b"\r\n");
    }
    if let Some(cookie) = &cookies[request.cookie as usize] {
        out.extend_from_slice(format!("cookie: {COOKIE_NAME}={cookie}\r\n").as_bytes());
    }
    let mut stop_writing = false;
    match &request.body {
        Body::Exact(bytes) => {
            out.extend_from_slice(format!("content-length: {}\r\n\r\n", bytes.len()).as_bytes());
            out.extend_from_slice(bytes);
        }
        Body::Truncated(bytes) => {
            let claimed = bytes.len() + 1 + bytes.len() / 2;
            out.extend_from_slice(format!("content-length: {claimed}\r\n\r\n").as_bytes());
            out.extend_from_slice(bytes);
            stop_writing = true;
        }
        Body::Huge(size) => {
            out.extend_from_slice(format!("content-length: {size}\r\n\r\n").as_bytes());
            out.extend(std::iter::repeat_n(b'a', *size));
        }
        Body::BadChunks(bytes) => {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
            out.extend_from_slice(format!("{:x}\r\n", bytes.len() + 7).as_bytes());
            out.extend_from_slice(bytes);
            out.extend_from_slice(b"\r\nzz\r\n");
            stop_writing = true;
        }
    }
    (out, stop_writing)
}

/// Sends one request; its status, or `None` when the instance dropped it unanswered.
async fn send(addr: std::net::SocketAddr, bytes: &[u8], stop_writing: bool) -> Option<u16> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    // A refusal may come (and the connection close) before the whole body is written.
    let _ = stream.write_all(bytes).await;
    if stop_writing {
        let _ = stream.shutdown().await;
    }
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        while !head.windows(2).any(|w| w == b"\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the instance neither answered nor closed within 10 s"
    );
    let line = String::from_utf8_lossy(&head);
    line.strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
}

#[test]
fn whatever_a_client_sends_the_instance_answers_below_500_and_carries_on() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (redis, instance, cookies) = runtime.block_on(async {
        let redis = TestRedis::start().await;
        let instance = TestProcess::spawn(&redis.url(), &[]).await;
        let rider = Browser::rider(&instance, "Rita").await;
        let driver = Browser::driver_with_car(&instance, "Dan").await;
        let cookies = [
            None,
            rider.cookie.clone(),
            driver.cookie.clone(),
            Some("forged-session-id".to_owned()),
        ];
        (redis, instance, cookies)
    });
    let host = instance.addr.to_string();
    let mut runner = proptest_runner(400);
    let cases = runner.config().cases;
    let answered = std::cell::Cell::new(0u32);
    let outcome = runner.run(&requests(), |request| {
        let (bytes, stop_writing) = wire(&request, &host, &cookies);
        let status = runtime.block_on(send(instance.addr, &bytes, stop_writing));
        if let Some(status) = status {
            answered.set(answered.get() + 1);
            prop_assert!(status < 500, "{status} for {request:?}");
        }
        Ok::<(), TestCaseError>(())
    });
    if let Err(err) = outcome {
        panic!("{err}\nthe instance's log:\n{}", instance.log());
    }
    runtime.block_on(async {
        let health = reqwest::get(instance.url("/healthz")).await.unwrap();
        assert_eq!(health.status(), StatusCode::OK, "it still serves");
        let mut rider = Browser::new();
        rider.cookie = cookies[1].clone();
        assert_eq!(rider.me(&instance).await.status, StatusCode::OK);
    });
    let log = instance.log();
    assert!(!log.contains("panicked"), "a panic in the log:\n{log}");
    assert!(answered.get() > cases / 2, "most requests were answered");
    eprintln!("{cases} requests, {} answered", answered.get());
    drop((instance, redis));
}
