//! The ride state machine, as the Lua scripts run it, under random sequences of actions by any
//! party (proptest): whatever anyone does, in whatever order, on either instance, the ride is
//! always in a state of `TRANSITIONS`, moves only along it (a refused step moves nothing), its
//! `seq` never goes back and rises with every new status, and it never has two drivers. `PROPTEST_CASES` sets how many sequences
//! (48 by default).

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use reqwest::StatusCode;
use serde_json::Value;

use hail::domain::ride::{Actor, RideAction, RideStatus, TRANSITIONS};

use crate::harness::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Driver {
    /// Nearer the pickup: offered the ride first.
    Near,
    Far,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rider {
    /// The ride's own.
    Own,
    Other,
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Accept(Driver),
    Decline(Driver),
    Arrive(Driver),
    /// Start with the PIN the rider sees now.
    Start(Driver),
    StartWithAWrongPin(Driver),
    Complete(Driver),
    Cancel(Rider),
    Reconfirm(Rider),
    Rate(Rider, u8),
}

impl Step {
    fn action(self) -> RideAction {
        match self {
            Self::Accept(_) => RideAction::Accept,
            Self::Decline(_) => RideAction::Decline,
            Self::Arrive(_) => RideAction::Arrive,
            Self::Start(_) | Self::StartWithAWrongPin(_) => RideAction::Start,
            Self::Complete(_) => RideAction::Complete,
            Self::Cancel(_) => RideAction::Cancel,
            Self::Reconfirm(_) => RideAction::Reconfirm,
            Self::Rate(..) => RideAction::Rate,
        }
    }

    fn actor(self) -> Actor {
        match self {
            Self::Cancel(_) | Self::Reconfirm(_) | Self::Rate(..) => Actor::Rider,
            _ => Actor::Driver,
        }
    }
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let driver = prop_oneof![Just(Driver::Near), Just(Driver::Far)];
    let rider = prop_oneof![3 => Just(Rider::Own), 1 => Just(Rider::Other)];
    let step = prop_oneof![
        3 => driver.clone().prop_map(Step::Accept),
        2 => driver.clone().prop_map(Step::Decline),
        3 => driver.clone().prop_map(Step::Arrive),
        3 => driver.clone().prop_map(Step::Start),
        2 => driver.clone().prop_map(Step::StartWithAWrongPin),
        3 => driver.prop_map(Step::Complete),
        1 => rider.clone().prop_map(Step::Cancel),
        1 => rider.clone().prop_map(Step::Reconfirm),
        2 => (rider, 1u8..=5).prop_map(|(rider, stars)| Step::Rate(rider, stars)),
    ];
    // Each sequence first follows the happy path some way (so that every state is reached
    // often, not only by luck), then anything goes.
    let happy = [
        Step::Accept(Driver::Near),
        Step::Arrive(Driver::Near),
        Step::Start(Driver::Near),
        Step::Complete(Driver::Near),
    ];
    (0..=happy.len(), proptest::collection::vec(step, 1..16)).prop_map(move |(n, rest)| {
        let mut steps = happy[..n].to_vec();
        steps.extend(rest);
        steps
    })
}

/// What the ride's rider sees of it.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    status: RideStatus,
    seq: u64,
    driver: Option<String>,
    pin: String,
}

struct World {
    /// How often each status was seen after a step, over all sequences.
    reached: std::collections::BTreeMap<String, u32>,
    cluster: Cluster,
    rider: Browser,
    other: Browser,
    /// In the order of `Driver`: near, far.
    drivers: [Browser; 2],
}

impl World {
    async fn seen(&mut self, id: &str) -> Seen {
        let answer = self.rider.ride(&self.cluster.b, id).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let ride = answer.json();
        Seen {
            status: ride["status"].as_str().unwrap().parse().unwrap(),
            seq: ride["seq"].as_u64().unwrap(),
            driver: ride["driver"]["name"].as_str().map(str::to_owned),
            pin: ride["pin"].as_str().unwrap_or_default().to_owned(),
        }
    }

    /// Takes `step` on one instance or the other; its answer's status.
    async fn take(&mut self, step: Step, id: &str, pin: &str, n: usize) -> StatusCode {
        let Self {
            cluster,
            rider,
            other,
            drivers,
            ..
        } = self;
        let app = if n.is_multiple_of(2) {
            &cluster.a
        } else {
            &cluster.b
        };
        let wrong = if pin == "0000" { "1111" } else { "0000" };
        let stars;
        let (browser, path, more): (&mut Browser, &str, Vec<(&str, &str)>) = match step {
            Step::Accept(d) => (&mut drivers[d as usize], "/api/accept", vec![]),
            Step::Decline(d) => (&mut drivers[d as usize], "/api/decline", vec![]),
            Step::Arrive(d) => (&mut drivers[d as usize], "/api/arrive", vec![]),
            Step::Start(d) => (
                &mut drivers[d as usize],
                "/api/start_trip",
                vec![("pin", pin)],
            ),
            Step::StartWithAWrongPin(d) => (
                &mut drivers[d as usize],
                "/api/start_trip",
                vec![("pin", wrong)],
            ),
            Step::Complete(d) => (&mut drivers[d as usize], "/api/complete", vec![]),
            Step::Cancel(r) | Step::Reconfirm(r) | Step::Rate(r, _) => {
                let browser = match r {
                    Rider::Own => &mut *rider,
                    Rider::Other => &mut *other,
                };
                match step {
                    Step::Cancel(_) => (browser, "/api/cancel_ride", vec![]),
                    Step::Reconfirm(_) => (browser, "/api/reconfirm_ride", vec![]),
                    Step::Rate(_, s) => {
                        stars = s.to_string();
                        (browser, "/api/rate_ride", vec![("stars", stars.as_str())])
                    }
                    _ => unreachable!(),
                }
            }
        };
        let answer = browser.ride_step(app, path, id, &more).await;
        assert!(
            !answer.status.is_server_error(),
            "{step:?}: {} {}",
            answer.status,
            answer.body
        );
        answer.status
    }

    /// Drivers for whom this ride is theirs (not merely offered).
    async fn drivers_of(&mut self, id: &str) -> usize {
        let mut holding = 0;
        for driver in &mut self.drivers {
            let current = driver.current_ride(&self.cluster.a).await;
            if current["id"] == id && current["status"] != "searching" {
                holding += 1;
            }
        }
        holding
    }

    /// Ends the ride however far it got, so that everyone is free for the next sequence.
    async fn finish(&mut self, id: &str, seen: &Seen) {
        let a = &self.cluster.a;
        match seen.status {
            RideStatus::InProgress => {
                for driver in &mut self.drivers {
                    driver.ride_step(a, "/api/complete", id, &[]).await;
                }
            }
            status if status.is_final() => {}
            _ => {
                let cancelled = self.rider.ride_step(a, "/api/cancel_ride", id, &[]).await;
                assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
            }
        }
        for driver in &mut self.drivers {
            driver
                .wait_for_current(a, 5, |c| c.is_null() || c["status"] != "searching")
                .await;
        }
    }
}

/// One sequence: a new ride, offered to the near driver, then `steps`; the ride is ended
/// afterwards whatever happened, so that a failing sequence leaves the next one (proptest's
/// smaller tries) a clean start.
async fn run(world: &mut World, steps: &[Step]) -> Result<(), TestCaseError> {
    let requested = world
        .rider
        .request_ride(&world.cluster.a, &client_key())
        .await;
    prop_assert_eq!(requested.status, StatusCode::OK, "{}", requested.body);
    let id = requested.json()["id"].as_str().unwrap().to_owned();
    let b = &world.cluster.b;
    world.drivers[Driver::Near as usize]
        .wait_for_current(b, 5, |c: &Value| c["id"].as_str() == Some(&id))
        .await;
    let mut seen = world.seen(&id).await;
    let outcome = take_all(world, &id, steps, &mut seen).await;
    world.finish(&id, &seen).await;
    outcome
}

async fn take_all(
    world: &mut World,
    id: &str,
    steps: &[Step],
    before: &mut Seen,
) -> Result<(), TestCaseError> {
    let mut first_driver: Option<String> = None;
    for (n, &step) in steps.iter().enumerate() {
        let answer = world.take(step, id, &before.pin, n).await;
        let after = world.seen(id).await;
        *world.reached.entry(after.status.to_string()).or_default() += 1;
        let was = std::mem::replace(before, after.clone());
        prop_assert!(
            after.seq >= was.seq,
            "{step:?}: seq went back: {was:?} {after:?}"
        );
        if answer == StatusCode::OK {
            let moved = TRANSITIONS.iter().any(|&(from, action, to, who)| {
                from == was.status
                    && action == step.action()
                    && to == after.status
                    && who == step.actor()
            });
            // A retried step (an accept the driver already made) answers the same, and changes
            // nothing.
            let replayed = after.status == was.status
                && after.seq == was.seq
                && step.action() == RideAction::Accept;
            prop_assert!(
                moved || replayed,
                "{step:?} answered 200 but {:?} -> {:?} is not in the table",
                was.status,
                after.status
            );
            // A new status is a change everyone following the ride is told of. (A decline
            // leaves the ride searching: it counts only when it made a new offer.)
            if moved && after.status != was.status {
                prop_assert!(after.seq > was.seq, "{step:?} was not counted: {after:?}");
            }
        } else {
            prop_assert_eq!(after.status, was.status, "{:?} was refused", step);
        }
        if let Some(first) = &first_driver {
            prop_assert_eq!(after.driver.as_ref(), Some(first), "the driver changed");
        }
        first_driver = first_driver.or(after.driver.clone());
        prop_assert!(world.drivers_of(id).await <= 1, "two drivers hold the ride");
    }
    Ok(())
}

#[test]
fn no_sequence_of_actions_by_anyone_leaves_the_ride_machine() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let world = runtime.block_on(async {
        let cluster = Cluster::start_with(|c| {
            fast_dispatch(c);
            teleporting_drivers(c);
            // Only the parties move the ride: no offer lapses and no search ends by itself.
            c.offer_timeout_secs = 600;
            c.search_timeout_secs = 600;
            c.driver_stale_secs = 600;
        })
        .await;
        let rider = Browser::rider(&cluster.a, "Rita").await;
        let other = Browser::rider(&cluster.b, "Olga").await;
        let near = Browser::driver_online(&cluster.b, "Nina", (PICKUP.0 + 0.0027, PICKUP.1)).await;
        let far = Browser::driver_online(&cluster.a, "Fred", (PICKUP.0 + 0.0072, PICKUP.1)).await;
        World {
            reached: Default::default(),
            cluster,
            rider,
            other,
            drivers: [near, far],
        }
    });
    let mut runner = proptest_runner(48);
    let cases = runner.config().cases;
    let world = std::cell::RefCell::new(world);
    let outcome = runner.run(&steps(), |steps| {
        runtime.block_on(run(&mut world.borrow_mut(), &steps))
    });
    if let Err(err) = outcome {
        panic!("{err}");
    }
    let reached = world.into_inner().reached;
    eprintln!("{cases} sequences; statuses after each step: {reached:?}");
    for status in [
        "searching",
        "driver_assigned",
        "driver_arrived",
        "in_progress",
        "completed",
    ] {
        assert!(
            reached.contains_key(status),
            "no sequence reached {status}: {reached:?}"
        );
    }
}
