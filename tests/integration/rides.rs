//! Rides across two instances: matching, offers and their deadlines, the atomic lifecycle.

use std::time::Duration;

use futures::future::join;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::{
    client_key, fast_dispatch, teleporting_drivers, unique_email, Browser, Cluster, PICKUP,
};

/// A position `metres` north of the pickup (about).
fn north_of_pickup(metres: f64) -> (f64, f64) {
    (PICKUP.0 + metres / 111_195.0, PICKUP.1)
}

/// The rider requests (on A), the driver accepts and arrives (on B); returns the ride's id and
/// the PIN the rider sees.
async fn driver_waits_at_pickup(
    cluster: &Cluster,
    rider: &mut Browser,
    driver: &mut Browser,
) -> (String, String) {
    let id = id_of(&rider.request_ride(&cluster.a, &client_key()).await.json());
    driver
        .wait_for_current(&cluster.b, 5, |c| c["id"].as_str() == Some(&id))
        .await;
    let accepted = driver.ride_step(&cluster.b, "/api/accept", &id, &[]).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    let arrived = driver.ride_step(&cluster.b, "/api/arrive", &id, &[]).await;
    assert_eq!(
        arrived.json()["status"],
        "driver_arrived",
        "{}",
        arrived.body
    );
    let pin = rider.ride(&cluster.a, &id).await.json()["pin"]
        .as_str()
        .expect("the rider sees the PIN")
        .to_owned();
    (id, pin)
}

fn id_of(ride: &Value) -> String {
    ride["id"].as_str().expect("a ride id").to_owned()
}

#[tokio::test]
async fn a_full_ride_from_request_to_rating_across_two_instances() {
    let cluster = Cluster::start_with(|c| {
        fast_dispatch(c);
        teleporting_drivers(c);
    })
    .await;
    let mut driver = Browser::driver_online(&cluster.b, "Dan", north_of_pickup(800.0)).await;
    let mut rider = Browser::rider(&cluster.a, "Rita").await;

    // The upfront quote knows the nearest driver.
    let quote = rider.quote(&cluster.a).await;
    assert_eq!(quote.status, StatusCode::OK, "{}", quote.body);
    let eta = quote.json()["pickup_eta_s"]
        .as_u64()
        .expect("a driver is near");
    assert!((60..=300).contains(&eta), "{eta}");
    assert!(quote.json()["fare"].as_u64().unwrap() >= 600);

    // Every change is published on the ride's channel with a rising sequence number.
    let requested = rider.request_ride(&cluster.a, &client_key()).await;
    assert_eq!(requested.status, StatusCode::OK, "{}", requested.body);
    let ride = requested.json();
    let id = id_of(&ride);
    assert_eq!(ride["status"], "searching");
    assert_eq!(ride["fare"], quote.json()["fare"]);
    let pin = ride["pin"].as_str().unwrap().to_owned();
    let mut events = cluster
        .redis
        .subscribe(&format!("t:{{r:demo}}:ride:{id}"))
        .await;

    let offer = driver
        .wait_for_current(&cluster.b, 5, |c| c["id"].as_str() == Some(&id))
        .await;
    assert!(
        rider.ride(&cluster.a, &id).await.json()["driver_position"].is_null(),
        "no driver position before assignment"
    );
    assert!(offer["pin"].is_null(), "the driver never sees the PIN");
    assert!(
        offer["offer_expires_at_ms"].as_u64().unwrap() > offer["server_now_ms"].as_u64().unwrap()
    );

    let accepted = driver.ride_step(&cluster.b, "/api/accept", &id, &[]).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    // A retried accept (say, on the other instance after a timeout) answers the same.
    let retried = driver.ride_step(&cluster.a, "/api/accept", &id, &[]).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    assert_eq!(
        retried.json()["seq"],
        accepted.json()["seq"],
        "and changes nothing"
    );
    let seen = rider.ride(&cluster.a, &id).await.json();
    assert_eq!(seen["status"], "driver_assigned");
    // From assignment on, the rider sees where the driver is, and follows them.
    let (lat, _) = north_of_pickup(800.0);
    assert!((seen["driver_position"]["lat"].as_f64().unwrap() - lat).abs() < 1e-9);
    driver
        .send_position(&cluster.a, north_of_pickup(400.0))
        .await;
    let moved = rider.ride(&cluster.b, &id).await.json();
    let (lat, _) = north_of_pickup(400.0);
    assert!((moved["driver_position"]["lat"].as_f64().unwrap() - lat).abs() < 1e-9);
    assert_eq!(seen["driver"]["name"], "Dan");
    assert_eq!(seen["driver"]["car"]["plate"], "B-HX 123");

    assert_eq!(
        driver
            .ride_step(&cluster.a, "/api/arrive", &id, &[])
            .await
            .status,
        StatusCode::OK
    );
    let wrong_pin = if pin == "0000" { "1111" } else { "0000" };
    let wrong = driver
        .ride_step(&cluster.b, "/api/start_trip", &id, &[("pin", wrong_pin)])
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.message().contains("2 tries left"), "{}", wrong.body);
    let started = driver
        .ride_step(&cluster.b, "/api/start_trip", &id, &[("pin", &pin)])
        .await;
    assert_eq!(started.json()["status"], "in_progress", "{}", started.body);
    let completed = driver
        .ride_step(&cluster.a, "/api/complete", &id, &[])
        .await;
    assert_eq!(completed.json()["status"], "completed");
    let rated = rider
        .ride_step(&cluster.b, "/api/rate_ride", &id, &[("stars", "5")])
        .await;
    assert_eq!(rated.json()["rating"], 5, "{}", rated.body);

    let (mut seqs, mut positions) = (Vec::new(), 0);
    while let Ok(Some(message)) =
        tokio::time::timeout(Duration::from_millis(300), events.next()).await
    {
        let event: Value = serde_json::from_str(&message).unwrap();
        assert_eq!(event["ride_id"], id.as_str());
        match event["type"].as_str() {
            Some("status") => seqs.push(event["seq"].as_u64().unwrap()),
            Some("position") => positions += 1,
            other => panic!("unexpected event type {other:?}"),
        }
    }
    assert!(seqs.len() >= 5, "{seqs:?}");
    assert_eq!(
        positions, 1,
        "the driver's position during the ride went to its channel"
    );
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");

    let history = rider.get(&cluster.b, "/api/rides").await.json();
    assert_eq!(history[0]["id"], id.as_str());
    assert!(
        history[0]["driver_position"].is_null(),
        "nor after the trip"
    );
    let state = driver.get(&cluster.a, "/api/driver").await.json();
    assert_eq!(state["rides_today"], 1);
    assert_eq!(state["earnings_today"], completed.json()["fare"]);
    assert!(
        rider.current_ride(&cluster.a).await.is_null(),
        "the rider is free again"
    );
}

#[tokio::test]
async fn the_quote_measures_the_trip_and_the_pickup_along_the_streets() {
    use hail::domain::city::place;
    use hail::domain::fare::Driving;
    use hail::domain::streets::StreetGraph;

    let driving = Driving {
        detour_factor: 1.3,
        speed_kmh: 36.0,
    };
    let cluster = Cluster::start_with(|c| {
        c.detour_factor = driving.detour_factor;
        c.driving_speed_kmh = driving.speed_kmh;
    })
    .await;
    let (station, harbour, university) = (
        place("central-station").unwrap().at(),
        place("harbour").unwrap().at(),
        place("university").unwrap().at(),
    );
    let _driver =
        Browser::driver_online(&cluster.b, "Dan", (university.lat(), university.lng())).await;
    let mut rider = Browser::rider(&cluster.a, "Rita").await;
    let quote = |from: hail::domain::GeoPoint, to: hail::domain::GeoPoint| {
        [
            ("pickup_lat", from.lat().to_string()),
            ("pickup_lng", from.lng().to_string()),
            ("dropoff_lat", to.lat().to_string()),
            ("dropoff_lng", to.lng().to_string()),
        ]
    };
    let form = quote(station, harbour);
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = rider.post(&cluster.a, "/api/quote", &fields).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let json = answer.json();

    let route = StreetGraph::of_the_city().along(station, harbour).unwrap();
    let road_m = route.remaining_m();
    assert!(
        road_m > station.distance_m(&harbour) * 1.05,
        "the streets wind"
    );
    assert_eq!(json["distance_m"], road_m.round() as u64, "{json}");
    assert_eq!(json["duration_s"], (road_m.round() / 10.0).round() as u64);
    // The driver's way to the pickup, along the streets from where Redis has them (its GEO
    // index keeps positions to about a centimetre, so allow a second).
    let approach_m = StreetGraph::of_the_city()
        .along(university, station)
        .unwrap()
        .remaining_m();
    let eta = json["pickup_eta_s"].as_u64().expect("a driver is near");
    assert!(
        eta.abs_diff((approach_m / 10.0).round() as u64) <= 1,
        "{eta} for {approach_m} m"
    );

    // Off the street map the detour factor measures the trip.
    let (far_a, far_b) = (
        hail::domain::GeoPoint::new(52.60, 13.20).unwrap(),
        hail::domain::GeoPoint::new(52.61, 13.20).unwrap(),
    );
    let form = quote(far_a, far_b);
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = rider.post(&cluster.a, "/api/quote", &fields).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let expected = (far_a.distance_m(&far_b) * 1.3).round() as u64;
    assert_eq!(answer.json()["distance_m"], expected, "{}", answer.body);
}

#[tokio::test]
async fn a_declined_offer_goes_to_the_next_nearest_driver() {
    let cluster = Cluster::start_with(fast_dispatch).await;
    let mut near = Browser::driver_online(&cluster.a, "Near", north_of_pickup(300.0)).await;
    let mut far = Browser::driver_online(&cluster.b, "Far", north_of_pickup(1500.0)).await;
    let mut rider = Browser::rider(&cluster.a, "Rita").await;
    let id = id_of(&rider.request_ride(&cluster.a, &client_key()).await.json());

    near.wait_for_current(&cluster.b, 5, |c| c["id"].as_str() == Some(&id))
        .await;
    assert!(
        far.current_ride(&cluster.a).await.is_null(),
        "one offer at a time"
    );
    let declined = near.ride_step(&cluster.b, "/api/decline", &id, &[]).await;

    assert_eq!(declined.status, StatusCode::OK, "{}", declined.body);
    far.wait_for_current(&cluster.a, 5, |c| c["id"].as_str() == Some(&id))
        .await;
    assert!(near.current_ride(&cluster.b).await.is_null());
    let late = near.ride_step(&cluster.a, "/api/accept", &id, &[]).await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.body);
    assert!(late
        .message()
        .starts_with("this offer is no longer available"));
}

#[tokio::test]
async fn an_unanswered_offer_times_out_and_moves_on_even_when_its_instance_is_stopped() {
    let mut cluster = Cluster::start_with(fast_dispatch).await;
    let mut near = Browser::driver_online(&cluster.b, "Near", north_of_pickup(300.0)).await;
    let mut far = Browser::driver_online(&cluster.b, "Far", north_of_pickup(1500.0)).await;
    let mut rider = Browser::rider(&cluster.a, "Rita").await;
    let id = id_of(&rider.request_ride(&cluster.a, &client_key()).await.json());
    near.wait_for_current(&cluster.b, 5, |c| c["id"].as_str() == Some(&id))
        .await;

    // The instance that made the offer goes away; the other one's dispatcher takes over.
    cluster.a.stop().await;

    far.wait_for_current(&cluster.b, 6, |c| c["id"].as_str() == Some(&id))
        .await;
    assert!(near.current_ride(&cluster.b).await.is_null());
}

#[tokio::test]
async fn two_drivers_accepting_at_once_leave_exactly_one_winner_every_round() {
    let cluster = Cluster::start_with(|c| {
        fast_dispatch(c);
        teleporting_drivers(c);
    })
    .await;
    let mut first = Browser::driver_online(&cluster.a, "First", north_of_pickup(300.0)).await;
    let mut second = Browser::driver_online(&cluster.b, "Second", north_of_pickup(400.0)).await;
    let mut rider = Browser::rider(&cluster.a, "Rita").await;

    for round in 0..200u32 {
        // Each round the offer goes to the nearer driver: alternate who that is.
        let first_is_near = round.is_multiple_of(2);
        let (near_first, near_second) = if first_is_near {
            (300.0, 900.0)
        } else {
            (900.0, 300.0)
        };
        first
            .send_position(&cluster.b, north_of_pickup(near_first))
            .await;
        second
            .send_position(&cluster.a, north_of_pickup(near_second))
            .await;
        let id = id_of(&rider.request_ride(&cluster.a, &client_key()).await.json());
        let (a, b) = join(
            first.ride_step(&cluster.a, "/api/accept", &id, &[]),
            second.ride_step(&cluster.b, "/api/accept", &id, &[]),
        )
        .await;
        let (winner, loser, name) = if first_is_near {
            (&a, &b, "First")
        } else {
            (&b, &a, "Second")
        };
        assert_eq!(
            winner.status,
            StatusCode::OK,
            "round {round}: {}",
            winner.body
        );
        assert_eq!(
            loser.status,
            StatusCode::NOT_FOUND,
            "round {round}: {}",
            loser.body
        );
        let ride = rider.ride(&cluster.b, &id).await.json();
        assert_eq!(ride["driver"]["name"], name, "round {round}");
        let cancelled = rider
            .ride_step(&cluster.b, "/api/cancel_ride", &id, &[])
            .await;
        assert_eq!(cancelled.json()["status"], "cancelled", "round {round}");
    }
}

#[tokio::test]
async fn a_retried_request_makes_one_ride() {
    let cluster = Cluster::start_with(fast_dispatch).await;
    let mut rider = Browser::rider(&cluster.a, "Rita").await;
    let key = client_key();
    let mut twin = Browser::new();
    twin.cookie = rider.cookie.clone();

    let (first, retry) = join(
        rider.request_ride(&cluster.a, &key),
        twin.request_ride(&cluster.b, &key),
    )
    .await;

    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.body);
    assert_eq!(first.json()["id"], retry.json()["id"]);
    let history = rider.get(&cluster.b, "/api/rides").await.json();
    assert_eq!(history.as_array().unwrap().len(), 1);
    // A new request (new key) while the ride is under way is refused.
    let another = rider.request_ride(&cluster.b, &client_key()).await;
    assert_eq!(another.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn nobody_learns_of_a_ride_that_is_not_theirs() {
    let cluster = Cluster::start_with(fast_dispatch).await;
    let mut rider = Browser::rider(&cluster.a, "Rita").await;
    let mut other = Browser::rider(&cluster.b, "Olga").await;
    let mut bystander = Browser::driver_online(&cluster.b, "Bo", north_of_pickup(50_000.0)).await;
    let id = id_of(&rider.request_ride(&cluster.a, &client_key()).await.json());

    assert_eq!(
        other.ride(&cluster.b, &id).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        other
            .ride_step(&cluster.a, "/api/cancel_ride", &id, &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        bystander.ride(&cluster.a, &id).await.status,
        StatusCode::NOT_FOUND
    );
    for path in [
        "/api/accept",
        "/api/decline",
        "/api/arrive",
        "/api/complete",
    ] {
        let answer = bystander.ride_step(&cluster.b, path, &id, &[]).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            answer.body
        );
    }
    // The wrong role is refused outright, and a malformed id is a 400.
    assert_eq!(
        bystander
            .request_ride(&cluster.a, &client_key())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        other.ride(&cluster.a, "../../etc").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(rider.ride(&cluster.b, &id).await.status, StatusCode::OK);
}

#[tokio::test]
async fn with_no_driver_nearby_the_rider_is_told_none_was_found() {
    let cluster = Cluster::start_with(|c| {
        fast_dispatch(c);
        c.search_timeout_secs = 1;
    })
    .await;
    Browser::driver_online(&cluster.b, "Far away", north_of_pickup(50_000.0)).await;
    let mut rider = Browser::rider(&cluster.a, "Rita").await;

    let quote = rider.quote(&cluster.a).await;
    let id = id_of(&rider.request_ride(&cluster.a, &client_key()).await.json());

    assert!(quote.json()["pickup_eta_s"].is_null(), "{}", quote.body);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let ride = rider.ride(&cluster.b, &id).await.json();
        if ride["status"] == "no_driver_found" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{ride}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(rider.current_ride(&cluster.a).await.is_null());
}

#[tokio::test]
async fn a_driver_whose_position_is_stale_is_never_offered_a_ride() {
    let cluster = Cluster::start_with(|c| {
        fast_dispatch(c);
        c.driver_stale_secs = 1;
    })
    .await;
    let mut driver = Browser::driver_online(&cluster.b, "Dan", north_of_pickup(300.0)).await;
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let mut rider = Browser::rider(&cluster.a, "Rita").await;
    let id = id_of(&rider.request_ride(&cluster.a, &client_key()).await.json());

    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        driver.current_ride(&cluster.b).await.is_null(),
        "no offer to a stale driver"
    );
    let (lat, lng) = north_of_pickup(300.0);
    let fresh = driver
        .post(
            &cluster.a,
            "/api/position",
            &[("lat", &lat.to_string()), ("lng", &lng.to_string())],
        )
        .await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
    driver
        .wait_for_current(&cluster.b, 5, |c| c["id"].as_str() == Some(&id))
        .await;
}

#[tokio::test]
async fn a_cancelled_ride_cannot_be_started_and_wrong_pins_lock_it_until_reconfirmed() {
    let cluster = Cluster::start_with(fast_dispatch).await;
    let mut driver = Browser::driver_online(&cluster.b, "Dan", north_of_pickup(300.0)).await;
    let mut rider = Browser::rider(&cluster.a, "Rita").await;

    // Locked by wrong PINs, re-confirmed with a new one.
    let (id, pin) = driver_waits_at_pickup(&cluster, &mut rider, &mut driver).await;
    let wrong = if pin == "0000" { "1111" } else { "0000" };
    for _ in 0..2 {
        let answer = driver
            .ride_step(&cluster.b, "/api/start_trip", &id, &[("pin", wrong)])
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    }
    let locked = driver
        .ride_step(&cluster.b, "/api/start_trip", &id, &[("pin", wrong)])
        .await;
    assert_eq!(locked.status, StatusCode::CONFLICT, "{}", locked.body);
    let still_locked = driver
        .ride_step(&cluster.b, "/api/start_trip", &id, &[("pin", &pin)])
        .await;
    assert_eq!(
        still_locked.status,
        StatusCode::CONFLICT,
        "even the right PIN waits for the rider"
    );
    assert_eq!(rider.ride(&cluster.a, &id).await.json()["pin_locked"], true);
    let reconfirmed = rider
        .ride_step(&cluster.a, "/api/reconfirm_ride", &id, &[])
        .await
        .json();
    let new_pin = reconfirmed["pin"].as_str().unwrap();
    let started = driver
        .ride_step(&cluster.b, "/api/start_trip", &id, &[("pin", new_pin)])
        .await;
    assert_eq!(started.json()["status"], "in_progress", "{}", started.body);
    let too_late = rider
        .ride_step(&cluster.a, "/api/cancel_ride", &id, &[])
        .await;
    assert_eq!(too_late.status, StatusCode::CONFLICT);
    driver
        .ride_step(&cluster.b, "/api/complete", &id, &[])
        .await;

    // Cancelled while the driver waits: the trip can no longer start.
    let (id, pin) = driver_waits_at_pickup(&cluster, &mut rider, &mut driver).await;
    rider
        .ride_step(&cluster.a, "/api/cancel_ride", &id, &[])
        .await;
    let refused = driver
        .ride_step(&cluster.b, "/api/start_trip", &id, &[("pin", &pin)])
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused.message().starts_with("this ride was cancelled"),
        "{}",
        refused.body
    );
    assert!(
        driver.current_ride(&cluster.a).await.is_null(),
        "the driver is free again"
    );
}

#[tokio::test]
async fn a_rider_sees_where_free_drivers_are_but_not_who_or_the_busy_ones() {
    let cluster = Cluster::start_with(fast_dispatch).await;
    let free = Browser::driver_online(&cluster.b, "Fay", north_of_pickup(300.0)).await;
    let _other = Browser::driver_online(&cluster.b, "Flo", north_of_pickup(600.0)).await;
    let mut rider = Browser::rider(&cluster.a, "Rita").await;
    let near = format!("/api/nearby?lat={}&lng={}", PICKUP.0, PICKUP.1);

    let seen = rider.get(&cluster.a, &near).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    let cars = seen.json();
    assert_eq!(cars.as_array().map(Vec::len), Some(2), "{cars}");
    for car in cars.as_array().unwrap() {
        let fields: Vec<&String> = car.as_object().unwrap().keys().collect();
        assert_eq!(fields, ["lat", "lng"], "positions only, no names or ids");
    }

    // The nearer driver takes a ride: busy drivers are not shown.
    let id = id_of(&rider.request_ride(&cluster.a, &client_key()).await.json());
    let mut busy = free;
    busy.wait_for_current(&cluster.b, 10, |c| c["id"] == id.as_str())
        .await;
    let accepted = busy.ride_step(&cluster.b, "/api/accept", &id, &[]).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    let cars = rider.get(&cluster.a, &near).await.json();
    let (lat, _) = north_of_pickup(600.0);
    assert_eq!(cars.as_array().map(Vec::len), Some(1), "{cars}");
    assert!(
        (cars[0]["lat"].as_f64().unwrap() - lat).abs() < 1e-4,
        "{cars}"
    );

    let refused = busy.get(&cluster.b, &near).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let bad = rider.get(&cluster.a, "/api/nearby?lat=north&lng=1").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

/// The offer a driver holds for ride `id`, once they hold one that expires after `after_ms`:
/// its expiry.
async fn offered_again(
    driver: &mut Browser,
    app: &impl crate::harness::Instance,
    id: &str,
    after_ms: u64,
) -> u64 {
    let offer = driver
        .wait_for_current(app, 6, |c| {
            c["id"].as_str() == Some(id) && c["offer_expires_at_ms"].as_u64() > Some(after_ms)
        })
        .await;
    offer["offer_expires_at_ms"].as_u64().unwrap()
}

#[tokio::test]
async fn a_lone_driver_who_let_an_offer_lapse_is_offered_the_ride_again_in_the_next_round() {
    let cluster = Cluster::start_with(fast_dispatch).await;
    let mut driver = Browser::driver_online(&cluster.b, "Dan", north_of_pickup(300.0)).await;
    let mut rider = Browser::rider(&cluster.a, "Rita").await;
    let id = id_of(&rider.request_ride(&cluster.a, &client_key()).await.json());

    let first = offered_again(&mut driver, &cluster.b, &id, 0).await;
    // Unanswered, the offer lapses (2 s); with nobody else near, the next round (200 ms on)
    // offers it to the same driver, who can take it this time.
    let second = offered_again(&mut driver, &cluster.a, &id, first).await;
    assert!(second > first);
    assert_eq!(
        rider.ride(&cluster.a, &id).await.json()["status"],
        "searching"
    );
    let accepted = driver.ride_step(&cluster.a, "/api/accept", &id, &[]).await;
    assert_eq!(
        accepted.json()["status"],
        "driver_assigned",
        "{}",
        accepted.body
    );
}

#[tokio::test]
async fn a_driver_who_declined_a_ride_twice_is_not_asked_a_third_time() {
    let cluster = Cluster::start_with(fast_dispatch).await;
    let mut dan = Browser::driver_online(&cluster.b, "Dan", north_of_pickup(300.0)).await;
    let mut rider = Browser::rider(&cluster.a, "Rita").await;
    let id = id_of(&rider.request_ride(&cluster.a, &client_key()).await.json());

    let mut expiry = 0;
    for round in 1..=2 {
        expiry = offered_again(&mut dan, &cluster.b, &id, expiry).await;
        let declined = dan.ride_step(&cluster.a, "/api/decline", &id, &[]).await;
        assert_eq!(
            declined.status,
            StatusCode::OK,
            "round {round}: {}",
            declined.body
        );
    }
    // Rounds come every 200 ms here; over several of them Dan is left alone...
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            dan.current_ride(&cluster.b).await.is_null(),
            "asked a third time"
        );
    }
    // ...while the search goes on: the next driver to come near is asked.
    assert_eq!(
        rider.ride(&cluster.b, &id).await.json()["status"],
        "searching"
    );
    let mut eve = Browser::driver_online(&cluster.a, "Eve", north_of_pickup(900.0)).await;
    offered_again(&mut eve, &cluster.b, &id, 0).await;
    let late = dan.ride_step(&cluster.b, "/api/accept", &id, &[]).await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.body);
}

#[tokio::test]
async fn a_finished_ride_expires_after_the_retention_time_and_leaves_the_histories() {
    let cluster = Cluster::start_with(|c| {
        fast_dispatch(c);
        c.ride_retention_days = 30;
    })
    .await;
    let mut driver = Browser::driver_online(&cluster.b, "Dan", north_of_pickup(300.0)).await;
    let mut rider = Browser::rider(&cluster.a, "Rita").await;
    let (id, pin) = driver_waits_at_pickup(&cluster, &mut rider, &mut driver).await;
    let started = driver
        .ride_step(&cluster.b, "/api/start_trip", &id, &[("pin", &pin)])
        .await;
    assert_eq!(started.json()["status"], "in_progress", "{}", started.body);
    let mut redis = cluster.redis.connection().await;
    let ride_key = format!("t:{{r:demo}}:ride:{id}");
    let ttl = {
        let redis = redis.clone();
        move |key: String| {
            let mut redis = redis.clone();
            async move {
                redis::cmd("PTTL")
                    .arg(key)
                    .query_async::<i64>(&mut redis)
                    .await
                    .unwrap()
            }
        }
    };
    assert_eq!(ttl(ride_key.clone()).await, -1, "a ride under way is kept");

    let completed = driver
        .ride_step(&cluster.a, "/api/complete", &id, &[])
        .await;
    assert_eq!(
        completed.json()["status"],
        "completed",
        "{}",
        completed.body
    );
    let day_ms = 24 * 3600 * 1000;
    let kept = ttl(ride_key.clone()).await;
    assert!((29 * day_ms..=30 * day_ms).contains(&kept), "{kept}");
    let histories: Vec<String> = cluster
        .redis
        .keys()
        .await
        .into_iter()
        .filter(|k| k.contains(":rides:rider:") || k.contains(":rides:driver:"))
        .collect();
    assert_eq!(histories.len(), 2, "{histories:?}");
    for history in &histories {
        let kept = ttl(history.clone()).await;
        assert!(
            (30 * day_ms..=31 * day_ms).contains(&kept),
            "{history}: {kept}"
        );
        // A ride from long ago that already expired is listed here still...
        redis::cmd("ZADD")
            .arg(history)
            .arg(1_000)
            .arg("0123456789abcdef0123456789abcdef")
            .query_async::<i64>(&mut redis)
            .await
            .unwrap();
    }
    // ...and a late rating still lands: the ride is there for the retention time.
    let rated = rider
        .ride_step(&cluster.b, "/api/rate_ride", &id, &[("stars", "4")])
        .await;
    assert_eq!(rated.json()["rating"], 4, "{}", rated.body);

    // The retention time passes for this ride (Redis drops it): no history lists it.
    redis::cmd("PEXPIRE")
        .arg(&ride_key)
        .arg(1)
        .query_async::<i64>(&mut redis)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let history = rider.get(&cluster.a, "/api/rides").await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.body);
    assert_eq!(history.json(), serde_json::json!([]), "{}", history.body);
    let history = driver.get(&cluster.b, "/api/rides").await;
    assert_eq!(history.json(), serde_json::json!([]), "{}", history.body);
    assert!(rider.ride(&cluster.a, &id).await.status == StatusCode::NOT_FOUND);

    // The next ride to finish trims both histories of what expired long ago.
    let next = id_of(&rider.request_ride(&cluster.a, &client_key()).await.json());
    driver
        .wait_for_current(&cluster.b, 5, |c| c["id"].as_str() == Some(&next))
        .await;
    assert_eq!(
        driver
            .ride_step(&cluster.b, "/api/accept", &next, &[])
            .await
            .status,
        StatusCode::OK
    );
    let cancelled = rider
        .ride_step(&cluster.a, "/api/cancel_ride", &next, &[])
        .await;
    assert_eq!(
        cancelled.json()["status"],
        "cancelled",
        "{}",
        cancelled.body
    );
    for history in &histories {
        let listed: Vec<String> = redis::cmd("ZRANGE")
            .arg(history)
            .arg(0)
            .arg(-1)
            .query_async(&mut redis)
            .await
            .unwrap();
        assert_eq!(listed.len(), 2, "{history}: {listed:?}");
        assert!(
            !listed.contains(&"0123456789abcdef0123456789abcdef".to_owned()),
            "{history}"
        );
    }
    let history = rider.get(&cluster.b, "/api/rides").await.json();
    assert_eq!(history.as_array().map(Vec::len), Some(1), "{history}");
    assert_eq!(history[0]["id"], next.as_str());
}

#[tokio::test]
async fn todays_earnings_count_the_drivers_own_day_which_the_session_remembers() {
    use hail::domain::time::UtcOffset;

    let cluster = Cluster::start_with(fast_dispatch).await;
    let mut driver = Browser::driver_online(&cluster.b, "Dan", north_of_pickup(300.0)).await;
    let mut rider = Browser::rider(&cluster.a, "Rita").await;
    let (id, pin) = driver_waits_at_pickup(&cluster, &mut rider, &mut driver).await;
    driver
        .ride_step(&cluster.b, "/api/start_trip", &id, &[("pin", &pin)])
        .await;
    let done = driver
        .ride_step(&cluster.a, "/api/complete", &id, &[])
        .await;
    let fare = done.json()["fare"].clone();

    // The ride was taken six hours ago: today where the day began 12 or more hours ago, but
    // yesterday where it began at most two hours ago. Offsets span 26 hours, so both exist.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let hour = 3_600_000;
    let day_so_far = |o: &UtcOffset| now_ms - o.start_of_day(now_ms);
    let offsets: Vec<UtcOffset> = (-12..=14)
        .map(|h| UtcOffset::from_minutes(h * 60).unwrap())
        .collect();
    let late = *offsets.iter().find(|o| day_so_far(o) >= 12 * hour).unwrap();
    let early = *offsets.iter().find(|o| day_so_far(o) <= 2 * hour).unwrap();
    let history = cluster
        .redis
        .keys()
        .await
        .into_iter()
        .find(|k| k.contains(":rides:driver:"))
        .expect("the driver's history");
    let mut redis = cluster.redis.connection().await;
    redis::cmd("ZADD")
        .arg(&history)
        .arg(now_ms - 6 * hour)
        .arg(&id)
        .query_async::<i64>(&mut redis)
        .await
        .unwrap();

    let today = driver_state(&mut driver, &cluster.a, Some(late)).await;
    assert_eq!(today["rides_today"], 1, "{today}");
    assert_eq!(today["earnings_today"], fare);
    // Without an offset, the one this session sent last, on any instance.
    let remembered = driver_state(&mut driver, &cluster.b, None).await;
    assert_eq!(remembered["rides_today"], 1, "{remembered}");
    let yesterday = driver_state(&mut driver, &cluster.b, Some(early)).await;
    assert_eq!(yesterday["rides_today"], 0, "{yesterday}");
    assert_eq!(yesterday["earnings_today"], 0);
    let remembered = driver_state(&mut driver, &cluster.a, None).await;
    assert_eq!(remembered["rides_today"], 0, "{remembered}");

    let bad = driver
        .get(&cluster.a, "/api/driver?utc_offset_min=900")
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert!(
        bad.message().starts_with("utc_offset_min must"),
        "{}",
        bad.body
    );
}

async fn driver_state(
    driver: &mut Browser,
    app: &impl crate::harness::Instance,
    offset: Option<hail::domain::time::UtcOffset>,
) -> Value {
    let path = match offset {
        Some(o) => format!("/api/driver?utc_offset_min={}", o.minutes()),
        None => "/api/driver".to_owned(),
    };
    let answer = driver.get(app, &path).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.json()
}

#[tokio::test]
async fn a_ride_requested_by_place_ids_works_with_and_without_javascript() {
    let cluster = Cluster::start().await;
    let mut rider = Browser::new();
    rider
        .sign_up(&cluster.a, "Pia", &unique_email("pia"), "rider")
        .await;

    // Unknown ids and a form with neither an id nor coordinates are refused with the field.
    let unknown = rider
        .post(
            &cluster.a,
            "/api/request_ride",
            &[
                ("pickup_place", "atlantis"),
                ("dropoff_place", "market-hall"),
                ("client_key", &client_key()),
            ],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.body);
    assert_eq!(unknown.json()["field"], "pickup");
    let empty = rider
        .post(
            &cluster.a,
            "/api/request_ride",
            &[("client_key", &client_key())],
        )
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST, "{}", empty.body);
    assert_eq!(
        empty.json()["message"],
        "choose a pickup from the list or on the map"
    );

    // Posted as a browser without JavaScript posts the screen's form: the lists' ids, the
    // empty hidden fields, and back to the page with a 303.
    let referer = cluster.b.url("/rider");
    let key = client_key();
    let posted = rider
        .send(
            reqwest::Method::POST,
            cluster.b.url("/api/request_ride"),
            &[
                ("pickup_place", "central-station"),
                ("dropoff_place", "market-hall"),
                ("pickup_lat", ""),
                ("pickup_lng", ""),
                ("pickup_name", ""),
                ("dropoff_lat", ""),
                ("dropoff_lng", ""),
                ("dropoff_name", ""),
                ("client_key", &key),
            ],
            &[("accept", "text/html"), ("referer", &referer)],
        )
        .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
    assert_eq!(posted.headers["location"], "/rider");

    let current = rider.get(&cluster.a, "/api/current_ride").await.json();
    assert_eq!(current["pickup_name"], "Central Station");
    assert_eq!(current["dropoff_name"], "Market Hall");
    assert_eq!(current["status"], "searching");
}
