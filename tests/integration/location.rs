//! The session-stored location of the seed article, across instances.

use reqwest::StatusCode;

use crate::harness::{unique_email, Browser, Cluster};

#[tokio::test]
async fn a_location_saved_on_one_instance_is_read_back_on_the_other() {
    let cluster = Cluster::start().await;
    let mut browser = Browser::new();
    browser
        .sign_up(&cluster.a, "Ada", &unique_email("ada"), "rider")
        .await;

    let saved = browser
        .post(
            &cluster.a,
            "/api/save_location",
            &[("lat", "52.52"), ("lng", "13.405")],
        )
        .await;
    let read = browser.get(&cluster.b, "/api/location").await;

    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(
        read.json(),
        serde_json::json!({"lat": 52.52, "lng": 13.405})
    );
}

#[tokio::test]
async fn no_saved_location_is_404() {
    let cluster = Cluster::start().await;
    let mut browser = Browser::new();
    browser
        .sign_up(&cluster.a, "Ada", &unique_email("ada"), "driver")
        .await;

    let read = browser.get(&cluster.b, "/api/location").await;

    assert_eq!(read.status, StatusCode::NOT_FOUND);
    assert_eq!(read.message(), "no location saved yet");
}

#[tokio::test]
async fn bad_coordinates_are_a_400_that_names_the_field() {
    let cluster = Cluster::start().await;
    let mut browser = Browser::new();
    browser
        .sign_up(&cluster.a, "Ada", &unique_email("ada"), "rider")
        .await;

    for (lat, lng, field) in [
        ("NaN", "13.4", "lat"),
        ("52.5", "inf", "lng"),
        ("91", "0", "lat"),
        ("0", "-180.5", "lng"),
        ("north", "0", "lat"),
        ("", "0", "lat"),
    ] {
        let answer = browser
            .post(
                &cluster.b,
                "/api/save_location",
                &[("lat", lat), ("lng", lng)],
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "({lat}, {lng})");
        assert_eq!(answer.json()["field"], field, "({lat}, {lng})");
    }
    let missing = browser
        .post(&cluster.b, "/api/save_location", &[("lat", "1")])
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    // Nothing bad was kept.
    assert_eq!(
        browser.get(&cluster.a, "/api/location").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn saving_a_location_needs_a_login() {
    let cluster = Cluster::start().await;

    let answer = Browser::new()
        .post(
            &cluster.a,
            "/api/save_location",
            &[("lat", "1"), ("lng", "2")],
        )
        .await;

    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        Browser::new().get(&cluster.a, "/api/location").await.status,
        StatusCode::UNAUTHORIZED
    );
}
