//! Demo mode (`HAIL_DEMO_DRIVERS` > 0): simulated drivers who drive the demo city's streets, go
//! online, take offers and complete rides, so one person who runs `./scripts/run.sh` sees a
//! living city and can take a ride alone.
//!
//! The simulated drivers use the same dispatch calls a driver's device makes, so a ride with
//! one runs through the same scripts as any other. However many instances run, one simulates
//! at a time: whichever holds a lease in Redis. The drivers' state lives in Redis too, so when
//! the leader stops or dies another instance picks up the same drivers where they are.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use super::redis_errors::Redis;
use redis::Script;

use super::dispatch::Step;
use super::redis_errors::RedisResultExt;
use super::AppState;
use crate::domain::city;
use crate::domain::ride::{Car, Pin, RideId, RideStatus, RideView};
use crate::domain::streets::{Route, StreetGraph};
use crate::domain::{AppError, Email, GeoPoint, Identity, Name, Password, Role};

/// One simulation step. One position per step keeps every driver far below the rate limit on
/// positions.
const TICK: Duration = Duration::from_secs(1);
/// How long the leader's lease lasts unless renewed (every tick): how soon another instance
/// takes over from a leader that died without releasing it.
const LEASE_TTL: Duration = Duration::from_secs(5);
/// Drivers come online one after another, as people start their shifts.
const STAGGER: Duration = Duration::from_secs(1);
/// The most time one step may cover. After a pause (a slow Redis, a lapsed lease) a driver
/// moves on from where it was rather than leaping to where it would be by now.
const MAX_STEP: Duration = Duration::from_secs(3);
/// Time given to creating missing demo accounts in one tick (each costs an Argon2 hash).
const GROW_BUDGET: Duration = Duration::from_millis(500);
/// How long a simulated driver takes to accept an offer, or to start at the pickup.
const HUMAN_PAUSE_MS: std::ops::RangeInclusive<u64> = 2_000..=4_000;

/// Runs demo mode until `stop` becomes true: takes the leader lease when it is free, and while
/// holding it moves every simulated driver once a tick. Errors are logged and retried on the
/// next tick; a Redis outage is waited out, one log line when it starts and one when it ends.
pub async fn run(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let wanted = state.config.demo_drivers as usize;
    // Faster than the plausible speed, every position would be refused and the cars would stand
    // still: they drive just under it instead.
    let limit_kmh = state.config.max_speed_kmh * 0.9;
    let speed_kmh = state.config.demo_speed_kmh.min(limit_kmh);
    if speed_kmh < state.config.demo_speed_kmh {
        tracing::warn!(
            asked = state.config.demo_speed_kmh,
            driving = speed_kmh,
            "HAIL_DEMO_SPEED_KMH is above HAIL_MAX_SPEED_KMH: the demo drivers keep under it"
        );
    }
    tracing::info!(drivers = wanted, speed_kmh, "demo mode: simulated drivers");
    let mut redis = state.redis.clone();
    let mut lease = Lease::new(state.keys.demo_leader());
    let ctx = Ctx {
        graph: StreetGraph::city(),
        speed_mps: speed_kmh / 3.6,
        state,
    };
    let mut fleet: Option<Fleet> = None;
    let mut failing = false;
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !*stop.borrow() {
        tokio::select! {
            _ = interval.tick() => {}
            // A dropped sender means the instance is going away too.
            _ = stop.changed() => break,
        }
        let result = match lease.hold(&mut redis).await {
            Ok(Held::No) => {
                fleet = None;
                Ok(())
            }
            Ok(held) => {
                if held == Held::Taken || fleet.is_none() {
                    tracing::info!("demo mode: this instance now simulates the demo drivers");
                    // Whatever happened while another instance led (or Redis was away) is in
                    // Redis: start from it, accounts included.
                    fleet = Some(Fleet::new(wanted));
                }
                match fleet.as_mut() {
                    Some(fleet) => fleet.tick(&ctx, &lease).await,
                    None => Ok(()),
                }
            }
            Err(err) => Err(err),
        };
        match result {
            Ok(()) if failing => {
                tracing::info!("demo mode: Redis answers again");
                failing = false;
            }
            Ok(()) => {}
            Err(_) if failing => {}
            Err(err) => {
                tracing::warn!(error = %err, "demo mode: a tick failed; retrying");
                failing = true;
            }
        }
    }
    if let Err(err) = lease.release(&mut redis).await {
        tracing::warn!(error = %err, "demo mode: could not release the lease; it expires by itself");
    }
}

/// What every simulated driver shares.
struct Ctx {
    state: AppState,
    graph: StreetGraph,
    speed_mps: f64,
}

// ---------------------------------------------------------------------------------------------
// Leadership

/// KEYS[1] the lease; ARGV token, ttl (ms). Extends the lease only while it is still ours, so a
/// leader that paused past its expiry cannot extend a lease another instance took meanwhile.
static RENEW: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/lease_renew.lua")));

/// KEYS[1] the lease; ARGV token. Deletes the lease only while it is still ours.
static RELEASE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/lease_release.lua")));

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    /// Another instance leads.
    No,
    /// This instance led already and still does.
    Kept,
    /// This instance has just become the leader.
    Taken,
}

/// The leader lease: a Redis key holding this instance's random token, with an expiry.
struct Lease {
    key: String,
    token: String,
    held: bool,
    /// When Redis last confirmed the lease: acting long after that risks overlapping a leader
    /// who took over when it expired.
    confirmed_at: Instant,
}

impl Lease {
    fn new(key: String) -> Self {
        Self {
            key,
            token: hex::encode(rand::random::<[u8; 16]>()),
            held: false,
            confirmed_at: Instant::now(),
        }
    }

    /// Keeps the lease, or takes it when it is free.
    async fn hold(&mut self, redis: &mut Redis) -> Result<Held, AppError> {
        let ttl_ms = LEASE_TTL.as_millis() as u64;
        let asked_at = Instant::now();
        if self.held {
            let renewed: i64 = RENEW
                .key(&self.key)
                .arg(&self.token)
                .arg(ttl_ms)
                .invoke_async(redis)
                .await
                .or_unavailable()?;
            if renewed == 1 {
                self.confirmed_at = asked_at;
                return Ok(Held::Kept);
            }
            tracing::warn!("demo mode: the lease lapsed; another instance may simulate now");
            self.held = false;
        }
        let taken: Option<String> = redis::cmd("SET")
            .arg(&self.key)
            .arg(&self.token)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(redis)
            .await
            .or_unavailable()?;
        if taken.is_some() {
            self.held = true;
            self.confirmed_at = asked_at;
            Ok(Held::Taken)
        } else {
            Ok(Held::No)
        }
    }

    /// Whether it is still safe to act: well within the lease Redis last confirmed.
    fn fresh(&self) -> bool {
        self.held && self.confirmed_at.elapsed() < LEASE_TTL / 2
    }

    /// Hands the lease on at once instead of letting it expire.
    async fn release(&mut self, redis: &mut Redis) -> Result<(), AppError> {
        if !self.held {
            return Ok(());
        }
        self.held = false;
        let _: i64 = RELEASE
            .key(&self.key)
            .arg(&self.token)
            .invoke_async(redis)
            .await
            .or_unavailable()?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The fleet

/// The simulated drivers, while this instance leads.
struct Fleet {
    wanted: usize,
    /// Demo driver numbers looked at so far (1-based); an unusable one is skipped, not retried.
    next: usize,
    drivers: Vec<SimDriver>,
    started: Instant,
}

impl Fleet {
    fn new(wanted: usize) -> Self {
        Self {
            wanted,
            next: 0,
            drivers: Vec::with_capacity(wanted),
            started: Instant::now(),
        }
    }

    /// Brings in missing drivers (a few per tick: each new account costs a password hash), then
    /// moves every driver once.
    async fn tick(&mut self, ctx: &Ctx, lease: &Lease) -> Result<(), AppError> {
        let growing = Instant::now();
        while self.next < self.wanted && growing.elapsed() < GROW_BUDGET && lease.fresh() {
            let n = self.next + 1;
            match demo_account(ctx, n).await {
                Ok(Some((identity, car))) => {
                    let online_at = self.started + STAGGER * self.drivers.len() as u32;
                    self.drivers
                        .push(SimDriver::new(identity, car, online_at, &ctx.graph));
                }
                Ok(None) => {}
                Err(err @ AppError::Unavailable { .. }) => return Err(err),
                // Anything else would fail again the same way: skip this one, keep the rest.
                Err(err) => {
                    tracing::warn!(n, error = %err, "demo mode: a demo driver is skipped");
                }
            }
            self.next = n;
        }
        for driver in &mut self.drivers {
            if !lease.fresh() {
                break;
            }
            match driver.tick(ctx).await {
                Ok(()) => {}
                // Redis is away: the other drivers would only wait out the same timeouts.
                Err(err @ AppError::Unavailable { .. }) => return Err(err),
                Err(err) => {
                    tracing::warn!(driver = %driver.identity.name, error = %err,
                        "demo mode: a driver's step failed; retrying from Redis's state");
                    driver.synced = false;
                }
            }
        }
        Ok(())
    }
}

/// Names and cars of the demo drivers; numbers past the list reuse it with the number added.
const PROFILES: &[(&str, &str, &str)] = &[
    ("Ada", "Toyota", "Prius"),
    ("Bram", "Skoda", "Octavia"),
    ("Chen", "Kia", "Niro"),
    ("Dara", "Volkswagen", "ID.3"),
    ("Emil", "Hyundai", "Ioniq 5"),
    ("Femi", "Tesla", "Model 3"),
    ("Greta", "Renault", "Zoe"),
    ("Hugo", "Nissan", "Leaf"),
    ("Ines", "Ford", "Focus"),
    ("Jonas", "Opel", "Astra"),
];

/// Demo driver `n`'s email, name and car (`n` from 1).
fn demo_profile(n: usize) -> (String, String, Car) {
    let (first, make, model) = PROFILES[(n - 1) % PROFILES.len()];
    let name = if n <= PROFILES.len() {
        format!("{first} (demo)")
    } else {
        format!("{first} {n} (demo)")
    };
    let car = Car {
        make: make.to_owned(),
        model: model.to_owned(),
        plate: format!("HL-D {n}"),
    };
    (format!("demo-driver-{n}@demo.hail"), name, car)
}

/// Demo driver `n`'s account with its car, created on first use. `None` when the email belongs
/// to an account that is not a driver's: it is left alone.
async fn demo_account(ctx: &Ctx, n: usize) -> Result<Option<(Identity, Car)>, AppError> {
    let accounts = &ctx.state.accounts;
    let (email, name, car) = demo_profile(n);
    let email = Email::parse(&email)?;
    let identity = match accounts.find_by_email(&email).await? {
        Some(stored) => stored.identity,
        None => {
            // Nobody knows this password, so nobody can log in as a demo driver.
            let password = Password::parse_new(&hex::encode(rand::random::<[u8; 32]>()))?;
            let hash = ctx.state.passwords.hash(password).await?;
            match accounts
                .create(&Name::parse(&name)?, &email, Role::Driver, &hash)
                .await
            {
                Ok(identity) => identity,
                // Created in the meantime, by a leader whose lease has just lapsed.
                Err(AppError::Conflict { .. }) => {
                    accounts
                        .find_by_email(&email)
                        .await?
                        .ok_or_else(AppError::internal)?
                        .identity
                }
                Err(err) => return Err(err),
            }
        }
    };
    if identity.role != Role::Driver {
        tracing::warn!(email = %email, "demo mode: this demo email is a rider's account; skipped");
        return Ok(None);
    }
    accounts.set_car(&identity.id, &car).await?;
    Ok(Some((identity, car)))
}

/// What a simulated driver is driving to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Goal {
    /// Free, or holding an offer: driving around.
    Cruise,
    Pickup(RideId),
    /// At the pickup, waiting for the rider to get in.
    Wait(RideId),
    Dropoff(RideId),
}

impl Goal {
    /// What the ride a driver is busy with (from Redis) asks of them now.
    fn of(ride: Option<&RideView>) -> Self {
        match ride {
            Some(r) if r.status == RideStatus::DriverAssigned => Goal::Pickup(r.id.clone()),
            Some(r) if r.status == RideStatus::DriverArrived => Goal::Wait(r.id.clone()),
            Some(r) if r.status == RideStatus::InProgress => Goal::Dropoff(r.id.clone()),
            _ => Goal::Cruise,
        }
    }
}

struct SimDriver {
    identity: Identity,
    car: Car,
    /// Not before this does the driver go online.
    online_at: Instant,
    /// Whether `online` and the position were read from Redis since taking over (or since a
    /// refused step).
    synced: bool,
    online: bool,
    route: Route,
    goal: Goal,
    moved_at: Instant,
    /// When the driver will answer the offer it holds, or start the trip it waits for.
    pause: Option<(RideId, Instant)>,
}

impl SimDriver {
    fn new(identity: Identity, car: Car, online_at: Instant, graph: &StreetGraph) -> Self {
        let start = random_node(graph).unwrap_or_else(|| city::BOUNDS.center());
        Self {
            identity,
            car,
            online_at,
            synced: false,
            online: false,
            route: Route::stay(start),
            goal: Goal::Cruise,
            moved_at: Instant::now(),
            pause: None,
        }
    }

    /// Reads where Redis says the driver is: the ground truth after a takeover.
    async fn sync(&mut self, ctx: &Ctx) -> Result<(), AppError> {
        let state = ctx
            .state
            .dispatch
            .driver_state(&self.identity, None, Default::default())
            .await?;
        self.online = state.online;
        let at = state.position.unwrap_or_else(|| self.route.position());
        self.route = Route::stay(at);
        self.goal = Goal::Cruise;
        self.pause = None;
        self.moved_at = Instant::now();
        self.synced = true;
        Ok(())
    }

    async fn tick(&mut self, ctx: &Ctx) -> Result<(), AppError> {
        if !self.synced {
            self.sync(ctx).await?;
        }
        let now = Instant::now();
        if !self.online {
            if now < self.online_at {
                return Ok(());
            }
            let at = self.route.position();
            ctx.state
                .dispatch
                .go_online(&self.identity, &self.car, at)
                .await?;
            tracing::info!(driver = %self.identity.name, "demo mode: a driver is online");
            self.online = true;
            self.moved_at = now;
            return Ok(());
        }

        let ride = ctx.state.dispatch.current(&self.identity).await?;
        let goal = Goal::of(ride.as_ref());
        if goal != self.goal || (goal == Goal::Cruise && self.route.is_done()) {
            self.route = self.plan(ctx, &goal, ride.as_ref());
            self.goal = goal;
        }
        let elapsed = now.saturating_duration_since(self.moved_at).min(MAX_STEP);
        self.moved_at = now;
        // Never further than the speed allows in the time since the last position: the server
        // refuses implausible jumps.
        let at = self.route.advance(ctx.speed_mps * elapsed.as_secs_f64());
        if let Err(err) = ctx.state.dispatch.position(&self.identity, at).await {
            tracing::warn!(driver = %self.identity.name, error = %err,
                "demo mode: a position was refused; re-reading the driver from Redis");
            self.synced = false;
            return Ok(());
        }

        match (&self.goal, ride) {
            (Goal::Cruise, Some(offer)) if offer.status == RideStatus::Searching => {
                if self.paused_for(&offer.id, now, || human_pause(&offer)) {
                    let accepted = ctx.state.dispatch.accept(&self.identity, &offer.id).await;
                    self.pause = None;
                    self.settle(accepted, "accept")?;
                }
            }
            (Goal::Pickup(id), _) if self.route.is_done() => {
                let arrived = ctx
                    .state
                    .dispatch
                    .step(&self.identity, id, Step::Arrive)
                    .await;
                self.settle(arrived, "arrive")?;
            }
            (Goal::Wait(id), _) => {
                let id = id.clone();
                if self.paused_for(&id, now, random_pause) {
                    let pin = ride_pin(ctx, &id).await?;
                    let started = ctx
                        .state
                        .dispatch
                        .step(&self.identity, &id, Step::Start(pin))
                        .await;
                    self.pause = None;
                    self.settle(started, "start")?;
                }
            }
            (Goal::Dropoff(id), _) if self.route.is_done() => {
                let completed = ctx
                    .state
                    .dispatch
                    .step(&self.identity, id, Step::Complete)
                    .await;
                self.settle(completed, "complete")?;
            }
            _ => self.pause = None,
        }
        Ok(())
    }

    fn plan(&self, ctx: &Ctx, goal: &Goal, ride: Option<&RideView>) -> Route {
        let here = self.route.position();
        match (goal, ride) {
            (Goal::Pickup(_), Some(ride)) => ctx.graph.plan(here, ride.pickup),
            (Goal::Dropoff(_), Some(ride)) => ctx.graph.plan(here, ride.dropoff),
            (Goal::Cruise, _) => match random_node(&ctx.graph) {
                Some(there) => ctx.graph.plan(here, there),
                None => Route::stay(here),
            },
            _ => Route::stay(here),
        }
    }

    /// Starts a pause for `ride` the first time it is seen; true once the pause is over.
    fn paused_for(
        &mut self,
        ride: &RideId,
        now: Instant,
        pause: impl FnOnce() -> Duration,
    ) -> bool {
        match &self.pause {
            Some((id, until)) if id == ride => now >= *until,
            _ => {
                self.pause = Some((ride.clone(), now + pause()));
                false
            }
        }
    }

    /// A refused step (the rider cancelled, the offer lapsed) is logged and the driver carries
    /// on from Redis's state next tick; only an outage stops the tick.
    fn settle(&self, result: Result<RideView, AppError>, step: &str) -> Result<(), AppError> {
        match result {
            Ok(ride) => {
                tracing::info!(driver = %self.identity.name, ride = %ride.id, step,
                    status = %ride.status, "demo mode: a ride moved on");
                Ok(())
            }
            Err(err @ AppError::Unavailable { .. }) => Err(err),
            Err(err) => {
                tracing::info!(driver = %self.identity.name, step, error = %err,
                    "demo mode: a ride step was refused");
                Ok(())
            }
        }
    }
}

/// The ride's pickup PIN, read straight from the ride's hash.
///
/// A real driver hears the PIN from the rider at the car door; the check protects riders from
/// getting into the wrong car. A simulated driver has no door, and it runs inside the server,
/// which holds every PIN anyway (the start script checks it): reading it here reveals it to no
/// one, and no client path ever sees it.
async fn ride_pin(ctx: &Ctx, ride: &RideId) -> Result<Pin, AppError> {
    let state = &ctx.state;
    let pin: Option<String> = redis::cmd("HGET")
        .arg(state.keys.ride(ride))
        .arg("pin")
        .query_async(&mut state.redis.clone())
        .await
        .or_unavailable()?;
    Pin::parse(pin.as_deref().unwrap_or_default())
}

fn random_pause() -> Duration {
    Duration::from_millis(rand::random_range(HUMAN_PAUSE_MS))
}

/// A person's few seconds before accepting, but never so long that the offer lapses first.
fn human_pause(offer: &RideView) -> Duration {
    offer_pause(random_pause(), offer)
}

fn offer_pause(wanted: Duration, offer: &RideView) -> Duration {
    match offer.offer_expires_at_ms {
        Some(expires) => {
            let left = Duration::from_millis(expires.saturating_sub(offer.server_now_ms));
            wanted.min(left / 2)
        }
        None => wanted,
    }
}

/// Any street point, for a car to start at or cruise to.
fn random_node(graph: &StreetGraph) -> Option<GeoPoint> {
    match graph.node_count() {
        0 => None,
        n => graph.node(rand::random_range(0..n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(lat: f64, lng: f64) -> GeoPoint {
        GeoPoint::new(lat, lng).unwrap()
    }

    fn offer(expires_in_ms: Option<u64>) -> RideView {
        let at = point(52.52, 13.40);
        RideView {
            id: RideId::from_trusted("ab".repeat(16)),
            status: RideStatus::Searching,
            seq: 1,
            rider_name: "Rita".into(),
            pickup: at,
            pickup_name: "here".into(),
            dropoff: at,
            dropoff_name: "there".into(),
            distance_m: 0,
            duration_s: 0,
            fare: crate::domain::fare::Cents(600),
            driver: None,
            pin: None,
            pin_locked: false,
            rating: None,
            created_at_ms: 0,
            offer_expires_at_ms: expires_in_ms.map(|ms| 1_000_000 + ms),
            driver_position: None,
            server_now_ms: 1_000_000,
        }
    }

    #[test]
    fn an_offer_is_answered_after_a_human_pause_but_before_it_lapses() {
        let pause = Duration::from_secs(3);
        assert_eq!(offer_pause(pause, &offer(Some(15_000))), pause);
        assert_eq!(
            offer_pause(pause, &offer(Some(2_000))),
            Duration::from_secs(1)
        );
        assert_eq!(offer_pause(pause, &offer(None)), pause);
        for _ in 0..100 {
            let pause = human_pause(&offer(Some(15_000)));
            assert!((2..=4).contains(&pause.as_secs()), "{pause:?}");
        }
    }

    #[test]
    fn demo_drivers_have_valid_emails_names_and_cars() {
        for n in [1, 2, PROFILES.len(), PROFILES.len() + 1, 100] {
            let (email, name, car) = demo_profile(n);
            assert_eq!(email, format!("demo-driver-{n}@demo.hail"));
            assert!(Email::parse(&email).is_ok());
            assert!(Name::parse(&name).is_ok());
            assert_eq!(Car::parse(&car.make, &car.model, &car.plate).unwrap(), car);
        }
        assert_ne!(demo_profile(1).1, demo_profile(PROFILES.len() + 1).1);
    }

    #[test]
    fn the_goal_follows_the_rides_state() {
        let mut ride = offer(None);
        assert_eq!(Goal::of(None), Goal::Cruise);
        assert_eq!(Goal::of(Some(&ride)), Goal::Cruise);
        ride.status = RideStatus::DriverAssigned;
        assert_eq!(Goal::of(Some(&ride)), Goal::Pickup(ride.id.clone()));
        ride.status = RideStatus::DriverArrived;
        assert_eq!(Goal::of(Some(&ride)), Goal::Wait(ride.id.clone()));
        ride.status = RideStatus::InProgress;
        assert_eq!(Goal::of(Some(&ride)), Goal::Dropoff(ride.id.clone()));
        ride.status = RideStatus::Cancelled;
        assert_eq!(Goal::of(Some(&ride)), Goal::Cruise);
    }
}
