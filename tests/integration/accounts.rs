//! Accounts and sessions across instances.

use futures::future::join_all;
use reqwest::StatusCode;

use crate::harness::{unique_email, Browser, Cluster, TestApp, COOKIE_NAME};

#[tokio::test]
async fn signing_up_on_one_instance_logs_you_in_on_the_other() {
    let cluster = Cluster::start().await;
    let mut browser = Browser::new();
    let email = unique_email("ada");

    let signed_up = browser.sign_up(&cluster.a, "Ada", &email, "rider").await;

    assert_eq!(signed_up.status, StatusCode::OK, "{}", signed_up.body);
    assert_eq!(signed_up.json()["role"], "rider");
    let me = browser.me(&cluster.b).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["name"], "Ada");
    assert_eq!(me.json()["email"], email);
    assert_eq!(me.json()["role"], "rider");
}

#[tokio::test]
async fn logging_out_on_one_instance_logs_you_out_on_the_other() {
    let cluster = Cluster::start().await;
    let mut browser = Browser::new();
    browser
        .sign_up(&cluster.a, "Ada", &unique_email("ada"), "rider")
        .await;
    let cookie = browser.cookie.clone().expect("signing up sets a cookie");

    let out = browser.post(&cluster.b, "/api/logout", &[]).await;

    assert_eq!(out.status, StatusCode::OK);
    assert!(browser.cookie.is_none(), "logout removes the cookie");
    // Even the old cookie, replayed, is dead: the session was deleted from Redis.
    browser.cookie = Some(cookie);
    assert_eq!(
        browser.me(&cluster.a).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_session_id_changes_at_login_and_the_old_one_is_dead() {
    let cluster = Cluster::start().await;
    let email = unique_email("ada");
    Browser::new()
        .sign_up(&cluster.a, "Ada", &email, "rider")
        .await;
    // A session that exists before login: a form refused without JavaScript leaves one.
    let mut browser = Browser::new();
    let refused = browser
        .send(
            reqwest::Method::POST,
            cluster.a.url("/api/login"),
            &[("email", email.as_str()), ("password", "wrong password")],
            &[("accept", "text/html")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER);
    let before = browser.cookie.clone().expect("a session before login");

    let logged_in = browser.log_in(&cluster.b, &email, "correct horse").await;

    assert_eq!(logged_in.status, StatusCode::OK, "{}", logged_in.body);
    let after = browser.cookie.clone().expect("a session after login");
    assert_ne!(before, after, "login rotates the session id");
    assert_eq!(browser.me(&cluster.a).await.status, StatusCode::OK);
    let mut attacker = Browser::new();
    attacker.cookie = Some(before);
    assert_eq!(
        attacker.me(&cluster.a).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn logging_in_again_rotates_the_id_of_a_logged_in_session() {
    let cluster = Cluster::start().await;
    let email = unique_email("ada");
    let mut browser = Browser::new();
    browser.sign_up(&cluster.a, "Ada", &email, "driver").await;
    let first = browser.cookie.clone().unwrap();

    browser.log_in(&cluster.b, &email, "correct horse").await;

    let second = browser.cookie.clone().unwrap();
    assert_ne!(first, second);
    assert_eq!(browser.me(&cluster.a).await.json()["role"], "driver");
}

#[tokio::test]
async fn the_session_cookie_is_hails_own_http_only_and_same_site_lax() {
    let cluster = Cluster::start().await;
    let answer = Browser::new()
        .sign_up(&cluster.a, "Ada", &unique_email("ada"), "rider")
        .await;

    let cookie = answer.session_cookie().expect("a session cookie");
    assert!(cookie.starts_with(&format!("{COOKIE_NAME}=")), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "Secure is off unless configured: {cookie}"
    );
}

#[tokio::test]
async fn the_cookie_is_secure_when_configured_for_tls() {
    let cluster = Cluster::start_with(|c| c.cookie_secure = true).await;
    let answer = Browser::new()
        .sign_up(&cluster.a, "Ada", &unique_email("ada"), "rider")
        .await;

    assert!(answer.session_cookie().unwrap().contains("Secure"));
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_401() {
    let cluster = Cluster::start().await;
    let email = unique_email("ada");
    Browser::new()
        .sign_up(&cluster.a, "Ada", &email, "rider")
        .await;

    let wrong = Browser::new()
        .log_in(&cluster.b, &email, "wrong password")
        .await;
    let unknown = Browser::new()
        .log_in(&cluster.b, &unique_email("nobody"), "wrong password")
        .await;

    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.message(), "email or password is wrong");
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.message(), wrong.message());
}

#[tokio::test]
async fn a_duplicate_email_is_409_whatever_its_case() {
    let cluster = Cluster::start().await;
    let email = unique_email("ada");
    Browser::new()
        .sign_up(&cluster.a, "Ada", &email, "rider")
        .await;

    let again = Browser::new()
        .sign_up(&cluster.b, "Other Ada", &email.to_uppercase(), "driver")
        .await;

    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.message(), "that email is already registered");
    assert_eq!(again.json()["field"], "email");
}

#[tokio::test]
async fn concurrent_duplicate_sign_ups_on_two_instances_yield_one_account() {
    let cluster = Cluster::start().await;
    let email = unique_email("race");

    let attempts = (0..12u32).map(|i| {
        let app: &TestApp = if i.is_multiple_of(2) {
            &cluster.a
        } else {
            &cluster.b
        };
        let email = email.clone();
        async move {
            Browser::new()
                .sign_up(app, &format!("Racer {i}"), &email, "rider")
                .await
                .status
        }
    });
    let statuses = join_all(attempts).await;

    let won = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((won, refused), (1, 11), "{statuses:?}");
    let users = cluster
        .redis
        .keys()
        .await
        .into_iter()
        .filter(|k| k.starts_with("t:{accounts}:user:"))
        .count();
    assert_eq!(users, 1);
}

#[tokio::test]
async fn sign_up_input_is_checked_with_messages_a_person_can_act_on() {
    let cluster = Cluster::start().await;
    let mut browser = Browser::new();
    type Form<'a> = &'a [(&'a str, &'a str)];
    let cases: &[(Form, &str, &str)] = &[
        (
            &[
                ("name", "Ada"),
                ("email", "ada@example.com"),
                ("password", "short"),
                ("role", "rider"),
            ],
            "password",
            "password must be at least 8 characters",
        ),
        (
            &[
                ("name", "Ada"),
                ("email", "not-an-email"),
                ("password", "long enough"),
                ("role", "rider"),
            ],
            "email",
            "an email address needs an @, like name@example.com",
        ),
        (
            &[
                ("name", "Ada"),
                ("email", "ada@example.com"),
                ("password", "long enough"),
                ("role", "admin"),
            ],
            "role",
            "role must be rider or driver",
        ),
        (
            &[
                ("name", "  "),
                ("email", "ada@example.com"),
                ("password", "long enough"),
                ("role", "rider"),
            ],
            "name",
            "enter your name",
        ),
    ];
    for (form, field, message) in cases {
        let answer = browser.post(&cluster.a, "/api/signup", form).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{form:?}");
        assert_eq!(answer.json()["field"], *field);
        assert_eq!(answer.message(), *message);
    }
    let missing = browser
        .post(&cluster.a, "/api/signup", &[("name", "Ada")])
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(
        missing.message().contains("missing field"),
        "{}",
        missing.body
    );
    assert!(browser.cookie.is_none(), "a refused sign-up logs nobody in");
}

#[tokio::test]
async fn failed_logins_are_limited_per_email_with_retry_after() {
    let cluster = Cluster::start_with(|c| {
        c.login_max_failures_per_email = 3;
        c.login_window_secs = 60;
    })
    .await;
    let email = unique_email("ada");
    Browser::new()
        .sign_up(&cluster.a, "Ada", &email, "rider")
        .await;

    for i in 0..3u32 {
        let app = if i.is_multiple_of(2) {
            &cluster.a
        } else {
            &cluster.b
        };
        let answer = Browser::new().log_in(app, &email, "wrong password").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let limited = Browser::new()
        .log_in(&cluster.b, &email, "correct horse")
        .await;

    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(limited.message().starts_with("too many failed logins"));
}

#[tokio::test]
async fn failed_logins_are_limited_per_client_address_behind_a_trusted_proxy() {
    let cluster = Cluster::start_with(|c| {
        c.login_max_failures_per_ip = 2;
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let email = unique_email("ada");
    Browser::new()
        .sign_up(&cluster.a, "Ada", &email, "rider")
        .await;
    let mut attacker = Browser::new();
    attacker.forwarded_for = Some("198.51.100.7".into());

    for _ in 0..2 {
        let other = unique_email("victim");
        assert_eq!(
            attacker
                .log_in(&cluster.a, &other, "wrong password")
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = attacker.log_in(&cluster.b, &email, "correct horse").await;
    let mut neighbour = Browser::new();
    neighbour.forwarded_for = Some("198.51.100.8".into());
    let allowed = neighbour.log_in(&cluster.b, &email, "correct horse").await;

    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.body);
}

#[tokio::test]
async fn sign_ups_are_limited_per_client_address_across_instances() {
    let cluster = Cluster::start_with(|c| {
        c.signups_per_ip = 3;
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let from = |address: &str| {
        let mut browser = Browser::new();
        browser.forwarded_for = Some(address.to_owned());
        browser
    };
    let taken = unique_email("taken");
    let first = from("198.51.100.7")
        .sign_up(&cluster.a, "Ada", &taken, "rider")
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    // A refused sign-up (the email is taken) costs a hash too, and counts.
    let duplicate = from("198.51.100.7")
        .sign_up(&cluster.b, "Ada", &taken, "rider")
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT, "{}", duplicate.body);
    // Input refused at the edge costs nothing, and does not count.
    let invalid = from("198.51.100.7")
        .sign_up(&cluster.a, "Ada", "not an email", "rider")
        .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST, "{}", invalid.body);
    let third = from("198.51.100.7")
        .sign_up(&cluster.b, "Bo", &unique_email("bo"), "driver")
        .await;
    assert_eq!(third.status, StatusCode::OK, "{}", third.body);

    let email = unique_email("cy");
    let limited = from("198.51.100.7")
        .sign_up(&cluster.a, "Cy", &email, "rider")
        .await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    assert_eq!(limited.json()["kind"], "too_many_requests");
    assert_eq!(
        limited.message(),
        "too many sign-ups from your address; try again in 60 minutes"
    );
    let wait: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3590..=3600).contains(&wait), "{wait}");
    // Nothing was created, and another address signs up as before.
    assert_eq!(
        Browser::new()
            .log_in(&cluster.b, &email, "correct horse")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let neighbour = from("198.51.100.8")
        .sign_up(&cluster.b, "Cy", &email, "rider")
        .await;
    assert_eq!(neighbour.status, StatusCode::OK, "{}", neighbour.body);
}

#[tokio::test]
async fn x_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let cluster = Cluster::start_with(|c| c.login_max_failures_per_ip = 2).await;
    let email = unique_email("ada");
    Browser::new()
        .sign_up(&cluster.a, "Ada", &email, "rider")
        .await;

    // Each attempt claims another address; without a trusted proxy they all count for the peer.
    for i in 0..2 {
        let mut spoofer = Browser::new();
        spoofer.forwarded_for = Some(format!("203.0.113.{i}"));
        spoofer
            .log_in(&cluster.a, &unique_email("x"), "wrong password")
            .await;
    }
    let mut spoofer = Browser::new();
    spoofer.forwarded_for = Some("203.0.113.99".into());
    let limited = spoofer.log_in(&cluster.a, &email, "correct horse").await;

    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn every_key_hail_writes_is_under_its_prefix() {
    let cluster = Cluster::start().await;
    let email = unique_email("ada");
    let mut browser = Browser::new();
    browser.sign_up(&cluster.a, "Ada", &email, "rider").await;
    browser
        .log_in(&cluster.b, &unique_email("nobody"), "wrong password")
        .await;
    browser
        .post(
            &cluster.a,
            "/api/save_location",
            &[("lat", "1"), ("lng", "2")],
        )
        .await;

    let keys = cluster.redis.keys().await;
    let (ours, others): (Vec<_>, Vec<_>) = keys.iter().partition(|k| k.starts_with("t:"));
    assert!(ours.len() >= 4, "{keys:?}");
    // What remains is the session store's own keys: one per live session.
    assert_eq!(others.len(), 1, "{keys:?}");
}

#[tokio::test]
async fn an_active_session_rolls_on_and_an_idle_one_expires() {
    let cluster = Cluster::start_with(|c| c.session_idle_secs = 4).await;
    let mut active = Browser::new();
    active
        .sign_up(&cluster.a, "Ada", &unique_email("ada"), "rider")
        .await;
    let mut idle = Browser::new();
    idle.sign_up(&cluster.b, "Bo", &unique_email("bo"), "rider")
        .await;

    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(active.me(&cluster.b).await.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;

    // Five seconds after login: the active one was renewed on the way, the idle one is gone.
    assert_eq!(active.me(&cluster.a).await.status, StatusCode::OK);
    assert_eq!(idle.me(&cluster.a).await.status, StatusCode::UNAUTHORIZED);
}
