//! Server-rendered pages, and forms posted without JavaScript.

use reqwest::{Method, StatusCode};

use crate::harness::{unique_email, Browser, Cluster};

#[tokio::test]
async fn the_home_page_says_what_hail_is_and_links_the_way_in() {
    let cluster = Cluster::start().await;

    let home = Browser::new().get(&cluster.a, "/").await;

    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("<h1 id=\"hero-title\">Hail</h1>"));
    assert!(home.body.contains("href=\"/signup\""));
    assert!(home.body.contains("href=\"/login\""));
}

#[tokio::test]
async fn every_page_shows_who_is_logged_in_on_any_instance() {
    let cluster = Cluster::start().await;
    let mut browser = Browser::new();
    browser
        .sign_up(&cluster.a, "Grace", &unique_email("grace"), "driver")
        .await;

    let page = browser.get(&cluster.b, "/").await;

    assert!(
        page.body.contains("Logged in as <strong>Grace</strong>"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn each_screen_refuses_the_other_role_with_a_clear_message() {
    let cluster = Cluster::start().await;
    let mut rider = Browser::new();
    rider
        .sign_up(&cluster.a, "Ada", &unique_email("ada"), "rider")
        .await;
    let mut driver = Browser::new();
    driver
        .sign_up(&cluster.b, "Grace", &unique_email("grace"), "driver")
        .await;

    let rider_on_driver = rider.get(&cluster.b, "/driver").await.body;
    let driver_on_rider = driver.get(&cluster.a, "/rider").await.body;
    let rider_on_rider = rider.get(&cluster.b, "/rider").await.body;
    let nobody = Browser::new().get(&cluster.a, "/rider").await.body;

    assert!(rider_on_driver.contains("This screen is for drivers"));
    assert!(driver_on_rider.contains("This screen is for riders"));
    assert!(rider_on_rider.contains("<h1 id=\"rider-title\">Rider</h1>"));
    assert!(nobody.contains("log in"));
}

#[tokio::test]
async fn a_refused_form_without_javascript_comes_back_with_the_error_and_the_email() {
    let cluster = Cluster::start().await;
    let email = unique_email("ada");
    Browser::new()
        .sign_up(&cluster.a, "Ada", &email, "rider")
        .await;
    let mut browser = Browser::new();
    let referer = cluster.b.url("/signup");
    let host = cluster.b.addr.to_string();

    let posted = browser
        .send(
            Method::POST,
            cluster.b.url("/api/signup"),
            &[
                ("name", "Bob"),
                ("email", &email),
                ("password", "secret123"),
                ("role", "driver"),
            ],
            &[
                ("accept", "text/html"),
                ("referer", &referer),
                ("host", &host),
            ],
        )
        .await;
    let page = browser.get(&cluster.a, "/signup").await;
    let again = browser.get(&cluster.a, "/signup").await;

    assert_eq!(posted.status, StatusCode::SEE_OTHER);
    assert_eq!(posted.headers["location"], "/signup");
    assert!(page.body.contains("that email is already registered"));
    assert!(
        page.body.contains(&format!("value=\"{email}\"")),
        "the email is kept"
    );
    assert!(page.body.contains("value=\"Bob\""), "the name is kept");
    assert!(
        !page.body.contains("secret123"),
        "the password is never kept"
    );
    assert!(
        !again.body.contains("already registered"),
        "the error is shown once"
    );
}

#[tokio::test]
async fn a_form_without_javascript_never_redirects_to_another_site() {
    let cluster = Cluster::start().await;
    let mut browser = Browser::new();

    let posted = browser
        .send(
            Method::POST,
            cluster.a.url("/api/login"),
            &[("email", "ada@example.com"), ("password", "wrong password")],
            // A Referer from elsewhere alone is refused as cross-site (edges.rs); here the
            // browser says same-origin, and the redirect must still stay on this site.
            &[
                ("accept", "text/html"),
                ("sec-fetch-site", "same-origin"),
                ("referer", "http://evil.example/phish"),
            ],
        )
        .await;

    assert_eq!(posted.status, StatusCode::SEE_OTHER);
    assert_eq!(posted.headers["location"], "/");
}

#[tokio::test]
async fn a_successful_sign_up_without_javascript_lands_on_the_role_screen() {
    let cluster = Cluster::start().await;
    let mut browser = Browser::new();

    let posted = browser
        .send(
            Method::POST,
            cluster.a.url("/api/signup"),
            &[
                ("name", "Grace"),
                ("email", &unique_email("grace")),
                ("password", "secret123"),
                ("role", "driver"),
            ],
            &[
                ("accept", "text/html"),
                ("referer", &cluster.a.url("/signup")),
            ],
        )
        .await;

    assert_eq!(posted.status, StatusCode::FOUND);
    assert_eq!(posted.headers["location"], "/driver");
    assert_eq!(browser.me(&cluster.b).await.json()["role"], "driver");
}

#[tokio::test]
async fn pages_carry_security_headers() {
    let cluster = Cluster::start().await;

    let home = Browser::new().get(&cluster.a, "/").await;

    assert_eq!(home.headers["x-content-type-options"], "nosniff");
    assert_eq!(home.headers["x-frame-options"], "DENY");
    assert_eq!(home.headers["referrer-policy"], "same-origin");
}

#[tokio::test]
async fn every_page_runs_only_the_scripts_it_names_by_a_fresh_nonce() {
    let cluster = Cluster::start_with(|c| {
        c.map_tile_url = Some("https://tiles.test/{z}/{x}/{y}.png".into());
    })
    .await;
    let mut rider = Browser::rider(&cluster.a, "Rita").await;
    let mut nonces = Vec::new();
    for (path, app) in [
        ("/", &cluster.a),
        ("/login", &cluster.b),
        ("/rider", &cluster.a),
        ("/rider", &cluster.b),
        ("/no-such-page", &cluster.a),
    ] {
        let page = rider.get(app, path).await;
        let policy = page.headers["content-security-policy"].to_str().unwrap();
        let nonce = policy
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap_or_else(|| panic!("{path}: no nonce in {policy}"));
        assert!(nonce.len() >= 16, "{path}: {nonce}");
        for directive in [
            "default-src 'none'",
            "'strict-dynamic' 'wasm-unsafe-eval'",
            "img-src 'self' https://tiles.test;",
            "connect-src 'self';",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ] {
            assert!(
                policy.contains(directive),
                "{path}: {directive} in {policy}"
            );
        }
        let tags: Vec<&str> = page
            .body
            .split("<script")
            .skip(1)
            .map(|rest| rest.split('>').next().unwrap_or_default())
            .collect();
        assert!(!tags.is_empty(), "{path}: the page hydrates");
        for tag in tags {
            assert!(
                tag.contains(&format!("nonce=\"{nonce}\"")),
                "{path}: a script without the nonce: <script{tag}>"
            );
        }
        nonces.push(nonce.to_owned());
    }
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), 5, "a new nonce for every page");

    // Whatever is not a page allows nothing at all.
    let json = rider.get(&cluster.b, "/api/me").await;
    assert_eq!(
        json.headers["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    );
}

#[tokio::test]
async fn the_map_draws_raster_tiles_only_when_a_tile_url_is_configured() {
    let cluster = Cluster::start_with(|c| {
        c.map_tile_url = Some("https://tiles.test/{z}/{x}/{y}.png".into());
        c.map_attribution = Some("© Test Tiles".into());
    })
    .await;
    let plain = Cluster::start().await;
    let mut rider = Browser::new();
    rider
        .sign_up(&cluster.a, "Ada", &unique_email("ada"), "rider")
        .await;
    let mut other = Browser::new();
    other
        .sign_up(&plain.a, "Bo", &unique_email("bo"), "rider")
        .await;

    let with_tiles = rider.get(&cluster.b, "/rider").await.body;
    let without = other.get(&plain.b, "/rider").await.body;

    assert!(
        with_tiles.contains("href=\"https://tiles.test/14/8802/5373.png\""),
        "a tile over the centre"
    );
    assert!(with_tiles.contains("© Test Tiles"));
    assert!(without.contains("city-map__land"), "the map is drawn");
    assert!(!without.contains("<image"), "and needs no tiles");
}
