//! Rides in Redis: every change is one Lua script (src/server/lua) that checks the current
//! state against the domain's transition table, bumps the ride's sequence number and publishes
//! it on the ride's channel. Deadlines live in Redis and are measured by Redis's clock; every
//! instance runs `tick` so an offer lapses even when the instance that made it is gone.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use super::metrics::{Metrics, Offer};
use super::redis_errors::Redis;
use redis::{Script, ScriptInvocation};

use super::keys::Keys;
use super::redis_errors::RedisResultExt;
use super::Config;
use crate::domain::cells::Cell;
use crate::domain::fare::{Cents, Driving, FareSchedule};
use crate::domain::live::{LiveError, LiveErrorCode};
use crate::domain::ride::{
    allowed_from, refused, target_of, AssignedDriver, Car, DriverState, Pin, Quote, RideAction,
    RideId, RideStatus, RideView, Stars,
};
use crate::domain::{AppError, GeoPoint, Identity, UserId};

const LIB: &str = include_str!("lua/dispatch_lib.lua");

fn script(body: &str) -> Script {
    Script::new(&format!("{LIB}\n{body}"))
}

static REQUEST: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/request.lua")));
static ACCEPT: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/accept.lua")));
static DECLINE: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/decline.lua")));
static STEP: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/step.lua")));
static TICK: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/tick.lua")));
static DRIVER: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/driver.lua")));
static NEAREST: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/nearest.lua")));
static NEARBY: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/nearby.lua")));

/// Distance a position may jump on top of the speed limit: GPS jitter, a fix after a tunnel.
pub const POSITION_SLACK_M: f64 = 100.0;
/// The window of the per-driver position rate.
pub const POSITION_WINDOW: Duration = Duration::from_secs(1);

/// What makes a driver's position believable.
#[derive(Debug, Clone, Copy)]
pub struct PositionLimits {
    pub max_speed_mps: f64,
    /// Positions allowed per `POSITION_WINDOW`.
    pub per_window: u32,
}

impl PositionLimits {
    /// Whether moving `metres` in `secs` is believable.
    pub fn plausible(&self, metres: f64, secs: f64) -> bool {
        metres <= POSITION_SLACK_M + self.max_speed_mps * secs.max(0.0)
    }

    pub fn rate_limited(&self, retry_in_ms: u64) -> LiveError {
        LiveError::new(
            LiveErrorCode::RateLimited,
            format!(
                "at most {} positions a second; this one was dropped, send the next in {} ms",
                self.per_window, retry_in_ms
            ),
        )
    }

    pub fn implausible(&self, metres: &str, secs: &str) -> LiveError {
        LiveError::new(
            LiveErrorCode::Implausible,
            format!(
                "that position is {metres} m from your last one, sent {secs} s before: \
                 faster than {:.0} km/h, so it was refused. Go offline and online again \
                 to start from a new place",
                self.max_speed_mps * 3.6
            ),
        )
    }
}

/// Where a position's rate is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateCounted {
    /// In Redis, per driver across every instance (`POST /api/position`, demo drivers).
    InRedis,
    /// By the caller: a live socket counts every position it reads (`server::tracker`), and
    /// checks in Redis at most once a second, where counting would only count the checks.
    ByCaller,
}

/// What the full position check in Redis answered for an accepted position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionReceipt {
    /// The ride it was published to: the driver's ride, if they have one.
    pub ride: Option<RideId>,
    /// Redis's clock when it was stored (unix ms).
    pub redis_now_ms: u64,
}

/// How long a ride request's client key is remembered for retries.
const CLIENT_KEY_TTL: Duration = Duration::from_secs(24 * 3600);
/// At most this many due rides per tick; the rest wait for the next one.
const TICK_BATCH: usize = 100;

/// A rider's request, parsed at the edge.
#[derive(Debug, Clone)]
pub struct RideRequest {
    pub pickup: GeoPoint,
    pub pickup_name: String,
    pub dropoff: GeoPoint,
    pub dropoff_name: String,
    /// Chosen by the client once per request; a retry with the same key gets the same ride.
    pub client_key: String,
}

#[derive(Clone)]
pub struct Dispatch {
    redis: Redis,
    keys: Arc<Keys>,
    /// PUBLISH on one node, SPUBLISH on a cluster: the scripts' ARGV[1].
    publish: &'static str,
    radius_m: u64,
    stale_ms: u64,
    offer_ms: u64,
    retry_ms: u64,
    search_ms: u64,
    retention_ms: u64,
    pin_max_attempts: u32,
    fares: FareSchedule,
    driving: Driving,
    positions: PositionLimits,
    metrics: Arc<Metrics>,
}

impl Dispatch {
    pub fn new(redis: Redis, keys: Keys, config: &Config, metrics: Arc<Metrics>) -> Self {
        Self {
            metrics,
            publish: redis.publish_command(),
            keys: Arc::new(keys),
            radius_m: config.search_radius_m,
            stale_ms: config.driver_stale_secs * 1000,
            offer_ms: config.offer_timeout_secs * 1000,
            retry_ms: config.search_retry_ms.max(1),
            search_ms: config.search_timeout_secs * 1000,
            retention_ms: u64::from(config.ride_retention_days.max(1)) * 24 * 3600 * 1000,
            pin_max_attempts: config.pin_max_attempts.max(1),
            redis,
            fares: config.fares(),
            driving: config.driving(),
            positions: PositionLimits {
                max_speed_mps: config.max_speed_kmh.max(1.0) / 3.6,
                per_window: config.positions_per_sec.max(1),
            },
        }
    }

    /// A script invocation with the arguments every dispatch script shares (see
    /// dispatch_lib.lua). KEYS[1] is the region's deadline set: it routes the call to the
    /// region's Cluster slot, and the script names everything else from its prefix. `declared`
    /// are the other keys the script will touch that are known before it runs.
    fn invoke<'a>(&self, script: &'a Script, declared: &[String]) -> ScriptInvocation<'a> {
        let mut invocation = script.prepare_invoke();
        invocation.key(self.keys.deadlines());
        for key in declared {
            invocation.key(key);
        }
        invocation
            .arg(self.publish)
            .arg(self.radius_m)
            .arg(self.stale_ms)
            .arg(self.offer_ms)
            .arg(self.retry_ms)
            .arg(self.retention_ms);
        invocation
    }

    pub fn quote_trip(&self, pickup: &GeoPoint, dropoff: &GeoPoint) -> (u64, u64, Cents) {
        let trip = self.driving.trip(pickup, dropoff);
        (trip.distance_m, trip.duration_s, self.fares.quote(trip))
    }

    pub async fn quote(&self, pickup: GeoPoint, dropoff: GeoPoint) -> Result<Quote, AppError> {
        let (distance_m, duration_s, fare) = self.quote_trip(&pickup, &dropoff);
        // The nearest free driver's position, as Redis stored it: the pickup ETA is their
        // drive to the pickup along the streets.
        let nearest: Vec<String> = self
            .invoke(&NEAREST, &self.drivers_index())
            .arg(pickup.lat())
            .arg(pickup.lng())
            .invoke_async(&mut self.redis.clone())
            .await
            .or_unavailable()?;
        let pickup_eta_s = match nearest.as_slice() {
            [lng, lat] => GeoPoint::parse(lat, lng)
                .ok()
                .map(|driver| self.driving.trip(&driver, &pickup).duration_s),
            _ => None,
        };
        Ok(Quote {
            distance_m,
            duration_s,
            fare,
            pickup_eta_s,
        })
    }

    /// Where up to `limit` free drivers near `at` are: no names, no ids, just cars on the map.
    pub async fn nearby(&self, at: GeoPoint, limit: usize) -> Result<Vec<GeoPoint>, AppError> {
        // GEO coordinates come back as strings (Redis's own rounding of the stored position).
        let flat: Vec<String> = self
            .invoke(&NEARBY, &self.drivers_index())
            .arg(at.lat())
            .arg(at.lng())
            .arg(limit)
            .invoke_async(&mut self.redis.clone())
            .await
            .or_unavailable()?;
        Ok(flat
            .chunks_exact(2)
            .filter_map(|pair| {
                let (lat, lng) = (pair[0].parse().ok()?, pair[1].parse().ok()?);
                GeoPoint::new(lat, lng).ok()
            })
            .collect())
    }

    pub async fn request(&self, rider: &Identity, req: RideRequest) -> Result<RideView, AppError> {
        let id = RideId::from_trusted(hex::encode(rand::random::<[u8; 16]>()));
        let (distance_m, duration_s, fare) = self.quote_trip(&req.pickup, &req.dropoff);
        let (outcome, ride, offered): (String, String, u64) = self
            .invoke(&REQUEST, &[self.keys.ride(&id), self.keys.rider(&rider.id)])
            .arg(id.as_str())
            .arg(rider.id.as_str())
            .arg(&rider.name)
            .arg(&req.client_key)
            .arg(req.pickup.lat())
            .arg(req.pickup.lng())
            .arg(&req.pickup_name)
            .arg(req.dropoff.lat())
            .arg(req.dropoff.lng())
            .arg(&req.dropoff_name)
            .arg(distance_m)
            .arg(duration_s)
            .arg(fare.0)
            .arg(new_pin())
            .arg(self.search_ms)
            .arg(CLIENT_KEY_TTL.as_millis() as u64)
            .invoke_async(&mut self.redis.clone())
            .await
            .or_unavailable()?;
        self.metrics.offers(Offer::Made, offered);
        let ride = RideId::from_trusted(ride);
        match outcome.as_str() {
            "created" | "existing" => self.view(&ride, rider).await,
            _ => Err(AppError::conflict(
                None,
                "you already have a ride under way; finish or cancel it first",
            )),
        }
    }

    pub async fn accept(&self, driver: &Identity, ride: &RideId) -> Result<RideView, AppError> {
        let (outcome, status): (String, String) = self
            .invoke(
                &ACCEPT,
                &[self.keys.ride(ride), self.keys.driver(&driver.id)],
            )
            .arg(driver.id.as_str())
            .arg(ride.as_str())
            .arg(allowed(RideAction::Accept))
            .invoke_async(&mut self.redis.clone())
            .await
            .or_unavailable()?;
        match outcome.as_str() {
            "ok" => {
                self.metrics.offers(Offer::Accepted, 1);
                self.view(ride, driver).await
            }
            "driver_busy" => Err(AppError::conflict(
                None,
                "you already have a ride; finish it before taking another",
            )),
            "not_found" => Err(no_such_ride()),
            _ => Err(refused(parse_status(&status)?, RideAction::Accept)),
        }
    }

    pub async fn decline(&self, driver: &Identity, ride: &RideId) -> Result<(), AppError> {
        let (outcome, status, offered): (String, String, u64) = self
            .invoke(
                &DECLINE,
                &[self.keys.ride(ride), self.keys.driver(&driver.id)],
            )
            .arg(driver.id.as_str())
            .arg(ride.as_str())
            .arg(allowed(RideAction::Decline))
            .invoke_async(&mut self.redis.clone())
            .await
            .or_unavailable()?;
        self.metrics.offers(Offer::Made, offered);
        match outcome.as_str() {
            "ok" => {
                self.metrics.offers(Offer::Declined, 1);
                Ok(())
            }
            "not_found" => Err(no_such_ride()),
            "not_offered" if status == RideStatus::Searching.as_str() => {
                Err(AppError::conflict(None, "this offer is no longer yours"))
            }
            _ => Err(refused(parse_status(&status)?, RideAction::Decline)),
        }
    }

    /// Moves a ride on for its rider or driver: arrive, start (with the PIN), complete,
    /// cancel, reconfirm, rate.
    pub async fn step(
        &self,
        user: &Identity,
        ride: &RideId,
        action: Step,
    ) -> Result<RideView, AppError> {
        let (actor, action_name, ride_action) = action.describe();
        let target = target_of(ride_action).ok_or_else(|| {
            tracing::error!(?ride_action, "a ride step has no transition");
            AppError::internal()
        })?;
        let party = match actor {
            "rider" => self.keys.rider(&user.id),
            _ => self.keys.driver(&user.id),
        };
        let mut invocation = self.invoke(&STEP, &[self.keys.ride(ride), party]);
        invocation
            .arg(actor)
            .arg(user.id.as_str())
            .arg(ride.as_str())
            .arg(action_name)
            .arg(allowed(ride_action))
            .arg(target.as_str());
        match &action {
            Step::Start(pin) => {
                invocation.arg(pin.as_str()).arg(self.pin_max_attempts);
            }
            Step::Reconfirm => {
                invocation.arg(new_pin());
            }
            Step::Rate(stars) => {
                invocation.arg(stars.get());
            }
            _ => {}
        }
        let (outcome, status, detail): (String, String, String) = invocation
            .invoke_async(&mut self.redis.clone())
            .await
            .or_unavailable()?;
        match outcome.as_str() {
            "ok" => self.view(ride, user).await,
            "not_found" => Err(no_such_ride()),
            "wrong_pin" => Err(AppError::invalid(
                "pin",
                match detail.as_str() {
                    "1" => "that PIN is wrong; 1 try left".to_owned(),
                    n => format!("that PIN is wrong; {n} tries left"),
                },
            )),
            "pin_locked" => Err(AppError::conflict(
                Some("pin"),
                "too many wrong PINs: the rider must re-confirm the ride in their app",
            )),
            "already_rated" => Err(AppError::conflict(None, "you have rated this ride already")),
            _ => Err(refused(parse_status(&status)?, ride_action)),
        }
    }

    /// Handles the deadlines that are due; returns how many rides it moved on.
    pub async fn tick(&self) -> Result<u64, AppError> {
        let (handled, offered, lapsed): (u64, u64, u64) = self
            .invoke(&TICK, &[self.keys.drivers_seen()])
            .arg(TICK_BATCH)
            .invoke_async(&mut self.redis.clone())
            .await
            .or_unavailable()?;
        self.metrics.dispatch_ticks.inc();
        self.metrics.offers(Offer::Made, offered);
        self.metrics.offers(Offer::Lapsed, lapsed);
        Ok(handled)
    }

    pub async fn go_online(
        &self,
        driver: &Identity,
        car: &Car,
        at: GeoPoint,
    ) -> Result<(), AppError> {
        let _: (String, String, String) = self
            .invoke(&DRIVER, &[self.driver_key(&driver.id)])
            .arg(driver.id.as_str())
            .arg("online")
            .arg(at.lat())
            .arg(at.lng())
            .arg(&driver.name)
            .arg(&car.make)
            .arg(&car.model)
            .arg(&car.plate)
            .invoke_async(&mut self.redis.clone())
            .await
            .or_unavailable()?;
        Ok(())
    }

    /// A position from the driver's device, checked against the last one (a plausible speed)
    /// and the driver's rate. Returns the ride it was published to, if any.
    pub async fn position(
        &self,
        driver: &Identity,
        at: GeoPoint,
    ) -> Result<Option<RideId>, LiveError> {
        Ok(self
            .position_checked(driver, at, RateCounted::InRedis)
            .await?
            .ride)
    }

    /// The driver's hash in this instance's region.
    pub fn driver_key(&self, driver: &UserId) -> String {
        self.keys.driver(driver)
    }

    /// What the searches read: the index of available drivers and when each was last seen.
    fn drivers_index(&self) -> [String; 2] {
        [self.keys.drivers_geo(), self.keys.drivers_seen()]
    }

    pub fn position_limits(&self) -> PositionLimits {
        self.positions
    }

    /// The full check of a position, in Redis: the driver is online, the position is plausible
    /// from the stored one and, when `rate` says so, within the driver's rate across every
    /// instance; then it is stored (the GEO index too, for a free driver) and published to the
    /// driver's ride, or for a free driver to its map cell (at most once a second).
    pub async fn position_checked(
        &self,
        driver: &Identity,
        at: GeoPoint,
        rate: RateCounted,
    ) -> Result<PositionReceipt, LiveError> {
        let per_window = match rate {
            RateCounted::InRedis => self.positions.per_window,
            RateCounted::ByCaller => 0,
        };
        let (outcome, detail, now): (String, String, String) = self
            .invoke(&DRIVER, &[self.driver_key(&driver.id)])
            .arg(driver.id.as_str())
            .arg("position")
            .arg(at.lat())
            .arg(at.lng())
            .arg(self.positions.max_speed_mps)
            .arg(POSITION_SLACK_M)
            .arg(per_window)
            .arg(POSITION_WINDOW.as_millis() as u64)
            .arg(Cell::of(at).map(|c| c.to_string()).unwrap_or_default())
            .invoke_async(&mut self.redis.clone())
            .await
            .or_unavailable()?;
        match outcome.as_str() {
            "ok" => Ok(PositionReceipt {
                ride: (!detail.is_empty()).then(|| RideId::from_trusted(detail)),
                redis_now_ms: now.parse().unwrap_or_default(),
            }),
            "offline" => Err(LiveError::new(
                LiveErrorCode::Conflict,
                "go online before sending your position",
            )),
            "rate_limited" => Err(self
                .positions
                .rate_limited(detail.parse::<u64>().unwrap_or(1000))),
            "implausible" => {
                let (metres, secs) = detail.split_once(',').unwrap_or((&detail, "0"));
                Err(self.positions.implausible(metres, secs))
            }
            other => {
                tracing::error!(outcome = other, "driver.lua answered an unknown outcome");
                Err(AppError::internal().into())
            }
        }
    }

    pub async fn go_offline(&self, driver: &Identity) -> Result<(), AppError> {
        let (outcome, _, _): (String, String, String) = self
            .invoke(&DRIVER, &[self.driver_key(&driver.id)])
            .arg(driver.id.as_str())
            .arg("offline")
            .invoke_async(&mut self.redis.clone())
            .await
            .or_unavailable()?;
        match outcome.as_str() {
            "busy" => Err(AppError::conflict(
                None,
                "finish your ride before going offline",
            )),
            _ => Ok(()),
        }
    }

    /// A ride as `viewer` may see it: its rider, its driver, or the driver it is offered to.
    /// Anyone else gets the same 404 as for a ride that does not exist.
    pub async fn view(&self, ride: &RideId, viewer: &Identity) -> Result<RideView, AppError> {
        // TIME goes with the ride's key, so a cluster answers it from the region's node, whose
        // clock the scripts' deadlines were set by.
        let (fields, time): (HashMap<String, String>, (u64, u64)) = redis::pipe()
            .hgetall(self.keys.ride(ride))
            .cmd("TIME")
            .query_async(&mut self.redis.clone())
            .await
            .or_unavailable()?;
        let now_ms = time.0 * 1000 + time.1 / 1000;
        let record = RideRecord(fields);
        let me = viewer.id.as_str();
        let is_rider = record.get("rider_id") == me;
        let is_driver = record.get("driver_id") == me;
        let is_offered = record.get("offered_to") == me;
        if record.0.is_empty() || !(is_rider || is_driver || is_offered) {
            return Err(no_such_ride());
        }
        let mut view = record.view(is_rider, is_offered, now_ms)?;
        if is_rider && view.status.shares_driver_position() {
            let driver = UserId::from_trusted(record.get("driver_id").to_owned());
            let (lat, lng): (Option<f64>, Option<f64>) = redis::cmd("HMGET")
                .arg(self.keys.driver(&driver))
                .arg(&["lat", "lng"])
                .query_async(&mut self.redis.clone())
                .await
                .or_unavailable()?;
            view.driver_position = lat
                .zip(lng)
                .and_then(|(lat, lng)| GeoPoint::new(lat, lng).ok());
        }
        Ok(view)
    }

    /// The ride a user is busy with: a rider's active ride; a driver's ride, else their offer.
    pub async fn current(&self, user: &Identity) -> Result<Option<RideView>, AppError> {
        let key = match user.role {
            crate::domain::Role::Rider => self.keys.rider(&user.id),
            crate::domain::Role::Driver => self.keys.driver(&user.id),
        };
        let (ride, offer): (Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(key)
            .arg(&["ride", "offer"])
            .query_async(&mut self.redis.clone())
            .await
            .or_unavailable()?;
        let Some(id) = ride
            .filter(|r| !r.is_empty())
            .or(offer.filter(|o| !o.is_empty()))
        else {
            return Ok(None);
        };
        match self.view(&RideId::from_trusted(id), user).await {
            Ok(view) => Ok(Some(view)),
            // An offer that lapsed between the two reads is no longer the driver's business.
            Err(AppError::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// The user's rides, newest first (at most `limit`).
    pub async fn history(&self, user: &Identity, limit: isize) -> Result<Vec<RideView>, AppError> {
        let ids: Vec<String> = redis::cmd("ZREVRANGE")
            .arg(self.history_key(user))
            .arg(0)
            .arg(limit.max(1) - 1)
            .query_async(&mut self.redis.clone())
            .await
            .or_unavailable()?;
        self.rides(user, ids).await
    }

    /// The user's rides created since `since_ms`, newest first.
    async fn history_since(
        &self,
        user: &Identity,
        since_ms: u64,
    ) -> Result<Vec<RideView>, AppError> {
        let ids: Vec<String> = redis::cmd("ZREVRANGEBYSCORE")
            .arg(self.history_key(user))
            .arg("+inf")
            .arg(since_ms)
            .query_async(&mut self.redis.clone())
            .await
            .or_unavailable()?;
        self.rides(user, ids).await
    }

    fn history_key(&self, user: &Identity) -> String {
        match user.role {
            crate::domain::Role::Rider => self.keys.rider_history(&user.id),
            crate::domain::Role::Driver => self.keys.driver_history(&user.id),
        }
    }

    /// Rides from the user's own history, by id.
    async fn rides(&self, user: &Identity, ids: Vec<String>) -> Result<Vec<RideView>, AppError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // One round trip for all of them, and the clock once: a cluster sends the pipeline to
        // the node of its keys, so TIME is that node's clock, the one the scripts read.
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hgetall(self.keys.ride(&RideId::from_trusted(id.clone())));
        }
        pipe.cmd("TIME");
        let mut replies: Vec<redis::Value> = pipe
            .query_async(&mut self.redis.clone())
            .await
            .or_unavailable()?;
        let time: (u64, u64) = match replies.pop() {
            Some(reply) => parse_reply(reply)?,
            None => (0, 0),
        };
        let now_ms = time.0 * 1000 + time.1 / 1000;
        let mut rides = Vec::with_capacity(ids.len());
        for reply in replies {
            let fields: HashMap<String, String> = parse_reply(reply)?;
            // A ride that expired out of Redis leaves its id in the history: skip it.
            if fields.is_empty() {
                continue;
            }
            let record = RideRecord(fields);
            let is_rider = record.get("rider_id") == user.id.as_str();
            rides.push(record.view(is_rider, false, now_ms)?);
        }
        Ok(rides)
    }

    pub async fn driver_state(
        &self,
        driver: &Identity,
        car: Option<Car>,
        offset: crate::domain::time::UtcOffset,
    ) -> Result<DriverState, AppError> {
        let (online, lat, lng): (Option<String>, Option<f64>, Option<f64>) = redis::cmd("HMGET")
            .arg(self.keys.driver(&driver.id))
            .arg(&["online", "lat", "lng"])
            .query_async(&mut self.redis.clone())
            .await
            .or_unavailable()?;
        let current = self.current(driver).await?;
        let (ride, offer) = match current {
            Some(view) if view.driver.is_some() && !view.status.is_final() => (Some(view), None),
            Some(view) if view.status == RideStatus::Searching => (None, Some(view)),
            _ => (None, None),
        };
        // Today is the driver's local day, by this instance's clock: only its rides are read.
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        let today: Vec<RideView> = self
            .history_since(driver, offset.start_of_day(now_ms))
            .await?
            .into_iter()
            .filter(|r| r.status == RideStatus::Completed)
            .collect();
        Ok(DriverState {
            online: online.as_deref() == Some("1"),
            car,
            position: lat
                .zip(lng)
                .and_then(|(lat, lng)| GeoPoint::new(lat, lng).ok()),
            offer,
            ride,
            earnings_today: Cents(today.iter().map(|r| r.fare.0).sum()),
            rides_today: today.len() as u32,
        })
    }
}

/// A ride step a rider or driver asks for.
#[derive(Debug, Clone)]
pub enum Step {
    Arrive,
    Start(Pin),
    Complete,
    Cancel,
    Reconfirm,
    Rate(Stars),
}

impl Step {
    fn describe(&self) -> (&'static str, &'static str, RideAction) {
        match self {
            Step::Arrive => ("driver", "arrive", RideAction::Arrive),
            Step::Start(_) => ("driver", "start", RideAction::Start),
            Step::Complete => ("driver", "complete", RideAction::Complete),
            Step::Cancel => ("rider", "cancel", RideAction::Cancel),
            Step::Reconfirm => ("rider", "reconfirm", RideAction::Reconfirm),
            Step::Rate(_) => ("rider", "rate", RideAction::Rate),
        }
    }
}

fn allowed(action: RideAction) -> String {
    allowed_from(action)
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_reply<T: redis::FromRedisValue>(reply: redis::Value) -> Result<T, AppError> {
    redis::from_redis_value(reply).map_err(|err| {
        tracing::error!(error = %err, "an unexpected reply from Redis");
        AppError::internal()
    })
}

fn no_such_ride() -> AppError {
    AppError::not_found("no such ride")
}

fn parse_status(raw: &str) -> Result<RideStatus, AppError> {
    raw.parse().map_err(|_| {
        tracing::error!(status = raw, "a ride has an unknown status");
        AppError::internal()
    })
}

fn new_pin() -> String {
    format!("{:04}", rand::random_range(0..10_000u32))
}

/// A ride hash as Redis holds it.
struct RideRecord(HashMap<String, String>);

impl RideRecord {
    fn get(&self, field: &str) -> &str {
        self.0.get(field).map(String::as_str).unwrap_or_default()
    }

    fn number(&self, field: &str) -> Result<u64, AppError> {
        self.get(field).parse().map_err(|_| corrupt(field))
    }

    fn point(&self, prefix: &str) -> Result<GeoPoint, AppError> {
        let lat = self.get(&format!("{prefix}_lat"));
        let lng = self.get(&format!("{prefix}_lng"));
        GeoPoint::parse(lat, lng).map_err(|_| corrupt(prefix))
    }

    fn view(
        &self,
        for_rider: bool,
        for_offered_driver: bool,
        now_ms: u64,
    ) -> Result<RideView, AppError> {
        let driver = (!self.get("driver_id").is_empty()).then(|| AssignedDriver {
            name: self.get("driver_name").to_owned(),
            car: Car {
                make: self.get("car_make").to_owned(),
                model: self.get("car_model").to_owned(),
                plate: self.get("car_plate").to_owned(),
            },
        });
        Ok(RideView {
            id: RideId::from_trusted(self.get("id").to_owned()),
            status: parse_status(self.get("status"))?,
            seq: self.number("seq")?,
            rider_name: self.get("rider_name").to_owned(),
            pickup: self.point("pickup")?,
            pickup_name: self.get("pickup_name").to_owned(),
            dropoff: self.point("dropoff")?,
            dropoff_name: self.get("dropoff_name").to_owned(),
            distance_m: self.number("distance_m")?,
            duration_s: self.number("duration_s")?,
            fare: Cents(self.number("fare_cents")?),
            driver,
            pin: for_rider.then(|| self.get("pin").to_owned()),
            pin_locked: self.get("pin_locked") == "1",
            rating: self.get("rating").parse().ok(),
            created_at_ms: self.number("created_ms")?,
            offer_expires_at_ms: if for_offered_driver {
                self.get("offer_expires_ms").parse().ok()
            } else {
                None
            },
            driver_position: None,
            server_now_ms: now_ms,
        })
    }
}

fn corrupt(field: &str) -> AppError {
    tracing::error!(field, "a ride hash has a missing or malformed field");
    AppError::internal()
}

/// Runs `tick` every `every` until `shutdown` fires. Every instance runs one; the scripts make
/// them safe to run side by side. A failed tick (Redis away) is logged and retried.
pub async fn run_dispatcher(
    dispatch: Dispatch,
    every: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = shutdown.changed() => break,
        }
        match dispatch.tick().await {
            Ok(n) => {
                if failing {
                    tracing::info!("dispatcher: Redis answers again");
                    failing = false;
                }
                if n > 0 {
                    tracing::debug!(handled = n, "dispatcher: deadlines handled");
                }
            }
            Err(_) if failing => {}
            Err(err) => {
                tracing::warn!(error = %err, "dispatcher: tick failed; retrying");
                failing = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_states_come_from_the_domain_table() {
        assert_eq!(allowed(RideAction::Accept), "searching");
        assert_eq!(
            allowed(RideAction::Cancel),
            "searching,driver_assigned,driver_arrived"
        );
    }

    #[test]
    fn pins_are_four_digits() {
        for _ in 0..100 {
            assert!(Pin::parse(&new_pin()).is_ok());
        }
    }
}
