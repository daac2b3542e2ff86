//! The position publisher against a real Redis: batches keep the order positions were queued
//! in, a position to store lands in the driver's hash, `flushed` waits for them, and publishing
//! goes on after Redis comes back.

use std::time::Duration;

use futures_util::StreamExt as _;
use hail::server::publisher::{Batching, Publisher};
use hail::server::tracker::Stored;

use crate::harness::TestRedis;

const PATIENCE: Duration = Duration::from_secs(10);

async fn publisher(redis: &TestRedis) -> Publisher {
    publisher_batching(redis, Batching::NEVER).await
}

async fn publisher_batching(redis: &TestRedis, batching: Batching) -> Publisher {
    let manager = redis::Client::open(redis.url())
        .unwrap()
        .get_connection_manager()
        .await
        .unwrap();
    Publisher::start(
        hail::server::redis_errors::Redis::new(
            hail::server::redis_errors::Connection::Node(manager),
            Default::default(),
        ),
        batching,
    )
}

async fn listener(redis: &TestRedis, channel: &str) -> redis::aio::PubSub {
    let mut pubsub = redis::Client::open(redis.url())
        .unwrap()
        .get_async_pubsub()
        .await
        .unwrap();
    pubsub.subscribe(channel).await.unwrap();
    pubsub
}

async fn received(pubsub: &mut redis::aio::PubSub, count: usize) -> Vec<String> {
    let mut stream = pubsub.on_message();
    let mut got = Vec::new();
    while got.len() < count {
        let message = tokio::time::timeout(PATIENCE, stream.next())
            .await
            .expect("every queued position arrives")
            .expect("the subscription stays open");
        got.push(message.get_payload::<String>().unwrap());
    }
    got
}

#[tokio::test]
async fn positions_are_published_in_the_order_they_were_queued() {
    let redis = TestRedis::start().await;
    let publisher = publisher(&redis).await;
    let channel: std::sync::Arc<str> = "t:ride:order".into();
    let mut pubsub = listener(&redis, &channel).await;

    // Queued faster than one round trip each, so they leave in pipelines of many.
    let sent: Vec<String> = (0..2000).map(|i| format!("{{\"n\":{i}}}")).collect();
    for json in &sent {
        publisher
            .publish(channel.clone(), json.clone(), None)
            .unwrap();
    }
    tokio::time::timeout(PATIENCE, publisher.flushed())
        .await
        .expect("flushed returns once the queue is published");

    assert_eq!(received(&mut pubsub, sent.len()).await, sent);
}

#[tokio::test]
async fn a_position_to_store_lands_in_the_driver_s_hash_with_its_publish() {
    let redis = TestRedis::start().await;
    let publisher = publisher(&redis).await;
    let mut conn = redis.connection().await;
    let key: std::sync::Arc<str> = "t:{r:demo}:driver:d1".into();
    let _: () = redis::cmd("HSET")
        .arg(&*key)
        .arg("online")
        .arg(1)
        .arg("ride")
        .arg("r1")
        .query_async(&mut conn)
        .await
        .unwrap();
    let channel: std::sync::Arc<str> = "t:ride:r1".into();
    let mut pubsub = listener(&redis, &channel).await;
    let at = hail::domain::GeoPoint::new(52.5201, 13.4049).unwrap();
    let stored = Stored {
        key: key.clone(),
        at,
        at_ms: 1_795_000_000_123,
    };
    publisher
        .publish(channel.clone(), "{\"n\":1}".into(), Some(Box::new(stored)))
        .unwrap();
    publisher.flushed().await;

    assert_eq!(received(&mut pubsub, 1).await, vec!["{\"n\":1}".to_owned()]);
    let fields: Vec<Option<String>> = redis::cmd("HMGET")
        .arg(&*key)
        .arg(&["online", "ride", "lat", "lng", "at_ms"])
        .query_async(&mut conn)
        .await
        .unwrap();
    let fields: Vec<String> = fields.into_iter().map(Option::unwrap_or_default).collect();
    assert_eq!(
        fields[..2],
        ["1", "r1"],
        "the rest of the hash is untouched"
    );
    assert_eq!(fields[2].parse::<f64>().unwrap(), 52.5201);
    assert_eq!(fields[3].parse::<f64>().unwrap(), 13.4049);
    assert_eq!(fields[4], "1795000000123");
}

#[tokio::test]
async fn after_a_busy_second_positions_wait_to_leave_together_and_keep_their_order() {
    let redis = TestRedis::start().await;
    let linger = Duration::from_millis(40);
    let publisher = publisher_batching(
        &redis,
        Batching {
            linger,
            linger_above: 100,
        },
    )
    .await;
    let channel: std::sync::Arc<str> = "t:ride:linger".into();
    let mut pubsub = listener(&redis, &channel).await;
    let mut sent = Vec::new();
    let mut publish = |n: usize| {
        let json = format!("{{\"n\":{n}}}");
        publisher
            .publish(channel.clone(), json.clone(), None)
            .unwrap();
        sent.push(json);
    };

    // A second with 500 positions, more than the 100 the publisher lingers above.
    for n in 0..500 {
        publish(n);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for n in 500..700 {
        publish(n);
    }
    publisher.flushed().await;
    let before = received(&mut pubsub, 700).await;
    let queued = std::time::Instant::now();
    publish(700);
    let last = received(&mut pubsub, 1).await;

    assert!(
        queued.elapsed() >= linger,
        "a position after a busy second waits for the pipeline to fill ({:?})",
        queued.elapsed()
    );
    assert_eq!(
        [before, last].concat(),
        sent,
        "nothing lost, nothing reordered"
    );
}

#[tokio::test]
async fn flushed_waits_for_what_was_queued_before_it() {
    let redis = TestRedis::start().await;
    let publisher = publisher(&redis).await;
    let mut other = redis.connection().await;
    // Each round: a position queued, `flushed`, then a PUBLISH on another connection. If
    // `flushed` returned before Redis had the position, the two would arrive swapped.
    let channel: std::sync::Arc<str> = "t:ride:flush".into();
    let mut pubsub = listener(&redis, &channel).await;
    for round in 0..20 {
        publisher
            .publish(channel.clone(), format!("{{\"round\":{round}}}"), None)
            .unwrap();
        publisher.flushed().await;
        let _: () = redis::cmd("PUBLISH")
            .arg(&*channel)
            .arg(format!("{{\"after\":{round}}}"))
            .query_async(&mut other)
            .await
            .unwrap();
    }
    let got = received(&mut pubsub, 40).await;
    let expected: Vec<String> = (0..20)
        .flat_map(|r| [format!("{{\"round\":{r}}}"), format!("{{\"after\":{r}}}")])
        .collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn publishing_resumes_after_redis_comes_back() {
    let mut redis = TestRedis::start().await;
    let publisher = publisher(&redis).await;
    let channel: std::sync::Arc<str> = "t:ride:restart".into();

    redis.restart().await;
    // Positions queued while the connection is re-established may be lost (riders resync);
    // the publisher itself must keep going.
    let mut pubsub = listener(&redis, &channel).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut stream = pubsub.on_message();
    loop {
        publisher
            .publish(channel.clone(), "{\"alive\":true}".to_owned(), None)
            .unwrap();
        publisher.flushed().await;
        if let Ok(Some(message)) =
            tokio::time::timeout(Duration::from_millis(200), stream.next()).await
        {
            assert_eq!(message.get_payload::<String>().unwrap(), "{\"alive\":true}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the publisher never published again"
        );
    }
}
