//! Health, readiness and Redis faults.

use std::time::Duration;

use reqwest::StatusCode;

use crate::harness::{config, unique_email, Browser, TestApp, TestRedis};

#[tokio::test]
async fn readiness_follows_redis_and_the_app_recovers_when_it_returns() {
    let mut redis = TestRedis::start().await;
    let app = TestApp::spawn(config(&redis)).await;
    let mut browser = Browser::new();
    assert_eq!(browser.get(&app, "/readyz").await.status, StatusCode::OK);

    redis.stop();
    let down = browser.get(&app, "/readyz").await;
    let alive = browser.get(&app, "/healthz").await;
    let refused = browser
        .sign_up(&app, "Ada", &unique_email("ada"), "rider")
        .await;

    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(alive.status, StatusCode::OK);
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.body
    );
    assert!(refused.message().contains("try again"));

    redis.restart().await;
    let mut ready = false;
    for _ in 0..50 {
        if browser.get(&app, "/readyz").await.status == StatusCode::OK {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ready, "ready again once Redis is back");
    let mut signed_up = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..50 {
        signed_up = Browser::new()
            .sign_up(&app, "Ada", &unique_email("ada"), "rider")
            .await
            .status;
        if signed_up == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(signed_up, StatusCode::OK);
}

#[tokio::test]
async fn an_instance_started_before_redis_waits_for_it() {
    let mut redis = TestRedis::start().await;
    let cfg = config(&redis);
    redis.stop();

    let starting = tokio::spawn(async move { TestApp::spawn(cfg).await });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!starting.is_finished(), "it waits instead of failing");
    redis.restart().await;
    let app = tokio::time::timeout(Duration::from_secs(20), starting)
        .await
        .expect("it starts once Redis answers")
        .unwrap();

    assert_eq!(
        Browser::new().get(&app, "/readyz").await.status,
        StatusCode::OK
    );
}
