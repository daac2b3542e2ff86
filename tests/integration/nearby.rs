//! Free cars on idle riders' maps, pushed per map cell: a driver on one instance, riders on
//! both, one Redis subscription per cell per instance.

use std::time::Duration;

use hail::domain::cells::Cell;
use hail::domain::live::{ClientMessage, LiveErrorCode, ServerMessage};
use reqwest::StatusCode;

use crate::harness::*;
use crate::live::{Live, PATIENCE};

/// In cell r2c2 (the city's middle) and r1c1 (south-west of it).
const MIDDLE: (f64, f64) = (52.5250, 13.4050);
const SOUTH_WEST: (f64, f64) = (52.5080, 13.3780);

fn cell(name: &str) -> Cell {
    Cell::parse(name).unwrap()
}

async fn watch_everything(live: &mut Live) {
    let all: Vec<Cell> = Cell::all().collect();
    live.send(&ClientMessage::Watch { cells: all.clone() })
        .await;
    let answer = live
        .wait_for("watching", |m| matches!(m, ServerMessage::Watching { .. }))
        .await;
    assert_eq!(answer, ServerMessage::Watching { cells: all });
}

/// The next `nearby` or `nearby_gone`, skipping nothing else (a watching socket hears no more).
async fn next_car_news(live: &mut Live) -> ServerMessage {
    let message = live.next().await;
    assert!(
        matches!(
            message,
            ServerMessage::Nearby { .. } | ServerMessage::NearbyGone { .. }
        ),
        "{message:?}"
    );
    message
}

fn near(message: &ServerMessage, at: (f64, f64)) -> bool {
    matches!(message, ServerMessage::Nearby { lat, lng, .. }
        if (lat - at.0).abs() < 1e-6 && (lng - at.1).abs() < 1e-6)
}

#[tokio::test]
async fn idle_riders_see_free_cars_move_in_watched_cells_without_learning_who_drives_them() {
    let cluster = Cluster::start_with(|c| {
        fast_dispatch(c);
        teleporting_drivers(c);
    })
    .await;
    let rita = Browser::rider(&cluster.a, "Rita").await;
    let mut rob = Browser::rider(&cluster.b, "Rob").await;
    let mut tabs = vec![
        Live::open(&cluster.a, &rita).await,
        Live::open(&cluster.a, &rita).await,
    ];
    for tab in &mut tabs {
        watch_everything(tab).await;
    }
    let channel = "t:{r:demo}:cell:r2c2";
    assert_eq!(
        cluster.redis.subscribers(channel).await,
        1,
        "one subscription per cell for the instance, however many sockets watch"
    );
    let mut other = Live::open(&cluster.b, &rob).await;
    other
        .send(&ClientMessage::Watch {
            cells: vec![cell("r1c1")],
        })
        .await;
    other
        .wait_for("watching", |m| matches!(m, ServerMessage::Watching { .. }))
        .await;
    assert_eq!(
        cluster.redis.subscribers(channel).await,
        1,
        "B does not watch r2c2"
    );

    // A driver on B comes online and moves: the first position is shown at once, the next
    // ones within the same second are not, the one after it is.
    let mut dora = Browser::driver_online(&cluster.b, "Dora", MIDDLE).await;
    let dora_id = dora.me(&cluster.b).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let steps: Vec<(f64, f64)> = (1..=4)
        .map(|n| (MIDDLE.0 + f64::from(n) * 1e-4, MIDDLE.1))
        .collect();
    for &at in &steps[..3] {
        dora.send_position(&cluster.a, at).await;
    }
    let first = next_car_news(&mut tabs[0]).await;
    assert!(near(&first, steps[0]), "{first:?}");
    let ServerMessage::Nearby {
        cell: shown, car, ..
    } = first.clone()
    else {
        unreachable!()
    };
    assert_eq!(shown, cell("r2c2"));
    assert_eq!(car.len(), 16);
    assert!(car.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(car, dora_id, "the car is not named by its driver's id");
    assert!(!car.contains(&dora_id[..8]));
    assert_eq!(
        next_car_news(&mut tabs[1]).await,
        first,
        "every tab is told"
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    dora.send_position(&cluster.b, steps[3]).await;
    let moved = next_car_news(&mut tabs[0]).await;
    assert!(
        near(&moved, steps[3]),
        "the same second's positions were skipped: {moved:?}"
    );

    // On into another cell: the old one is told the car left, the new one sees it.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    dora.send_position(&cluster.a, SOUTH_WEST).await;
    let mut news = vec![
        next_car_news(&mut tabs[0]).await,
        next_car_news(&mut tabs[0]).await,
    ];
    news.sort_by_key(|m| m.kind());
    assert!(near(&news[0], SOUTH_WEST), "{news:?}");
    assert!(matches!(&news[0], ServerMessage::Nearby { cell: c, .. } if *c == cell("r1c1")));
    assert_eq!(
        news[1],
        ServerMessage::NearbyGone {
            cell: cell("r2c2"),
            car: car.clone()
        }
    );
    let seen_on_b = next_car_news(&mut other).await;
    assert!(near(&seen_on_b, SOUTH_WEST), "{seen_on_b:?}");

    // Taken by a ride, the car leaves the map.
    let requested = rob.request_ride(&cluster.b, &client_key()).await;
    assert_eq!(requested.status, StatusCode::OK, "{}", requested.body);
    let id = requested.json()["id"].as_str().unwrap().to_owned();
    dora.wait_for_current(&cluster.a, 5, |c| c["id"].as_str() == Some(&id))
        .await;
    let accepted = dora.ride_step(&cluster.a, "/api/accept", &id, &[]).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    let gone = ServerMessage::NearbyGone {
        cell: cell("r1c1"),
        car,
    };
    assert_eq!(next_car_news(&mut tabs[0]).await, gone);
    assert_eq!(next_car_news(&mut other).await, gone);
    // A driver on a ride is not a free car: their positions go to the ride only.
    dora.send_position(&cluster.a, (SOUTH_WEST.0 + 1e-4, SOUTH_WEST.1))
        .await;
    if let Ok(message) = tabs[0].next_or_close(Duration::from_millis(1_500)).await {
        panic!("a busy car was shown: {message:?}");
    }

    // Watching nothing lets go of the cells; the last socket's leaving releases them.
    tabs[1].send(&ClientMessage::Watch { cells: vec![] }).await;
    tabs[1]
        .wait_for("watching", |m| {
            *m == ServerMessage::Watching { cells: vec![] }
        })
        .await;
    assert_eq!(
        cluster.redis.subscribers(channel).await,
        1,
        "tab 0 still watches"
    );
    drop(tabs);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while cluster.redis.subscribers(channel).await != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cell was never released"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn only_riders_watch_and_a_bad_watch_is_refused_with_a_reason() {
    let cluster = Cluster::start().await;
    let driver = Browser::driver_online(&cluster.a, "Dora", MIDDLE).await;
    let mut live = Live::open(&cluster.a, &driver).await;
    live.send(&ClientMessage::Watch {
        cells: vec![cell("r0c0")],
    })
    .await;
    match live.next().await {
        ServerMessage::Error { code, message } => {
            assert_eq!(code, LiveErrorCode::Forbidden);
            assert!(message.contains("only riders"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let rider = Browser::rider(&cluster.b, "Rita").await;
    let mut live = Live::open(&cluster.b, &rider).await;
    live.send_text(r#"{"type":"watch","cells":["r0c0","north"]}"#)
        .await;
    match live.next().await {
        ServerMessage::Error { code, message } => {
            assert_eq!(code, LiveErrorCode::BadMessage);
            assert!(message.contains("\"north\" is not a map cell"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}
