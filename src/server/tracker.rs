//! What a driver's live socket remembers between positions, so that most positions cost Redis
//! one `PUBLISH` instead of a script.
//!
//! Every position is checked in the instance first: the driver's rate (counted per socket, in
//! one-second windows) and a plausible speed from the last position this socket accepted. The
//! first position, and any after Redis may have changed what the socket knows, goes through the
//! full check in Redis instead (`Dispatch::position_checked`): online, speed from the stored
//! position (the rate is this socket's, not counted again there); it stores the position and
//! the GEO entry and tells which ride the driver has and Redis's clock.
//!
//! Between two full checks:
//! - a free driver's position needs no Redis at all; the full check comes back once a second
//!   (`SYNC_EVERY`), which moves the GEO index that offers are matched on;
//! - a driver on a ride publishes from here, dated by Redis's clock as last seen (plus the time
//!   since), and once a second the same pipeline stores the position in the driver's hash (a
//!   plain `HSET`, no script: a driver on a ride is not in the GEO index). The full check comes
//!   back every `RECHECK_EVERY` as a safety net (the speed against the stored position, which
//!   another socket of the same driver may have moved; the clock).
//!
//! What Redis said is forgotten as soon as it may have changed: a `driver_changed` event on the
//! driver's channel (a ride accepted or ended, online, offline), a resync after the instance's
//! pub/sub connection came back, and any refused or failed check make the next position take
//! the full check again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::dispatch::{PositionLimits, PositionReceipt, POSITION_WINDOW};
use crate::domain::live::{LiveError, ServerMessage};
use crate::domain::ride::RideId;
use crate::domain::GeoPoint;

/// How often a driver's stored position moves, at most: through the full check for a free
/// driver (the GEO index moves with it), by a plain `HSET` for a driver on a ride.
pub const SYNC_EVERY: Duration = Duration::from_secs(1);

/// How often a driver on a ride goes through the full check even when nothing changed.
pub const RECHECK_EVERY: Duration = Duration::from_secs(10);

/// What to do with a position.
#[derive(Debug, PartialEq)]
pub enum Plan {
    /// Refused here; nothing reaches Redis.
    Refuse(LiveError),
    /// Run the full check in Redis, then report with [`PositionTracker::checked`].
    Check,
    /// Accepted: publish this text on this channel (shared: no copy of the name per position),
    /// and store the position too when `store` says so.
    Publish {
        channel: Arc<str>,
        json: String,
        store: Option<Box<Stored>>,
    },
    /// Accepted: a free driver's position, stored at the next check.
    Keep,
}

/// A position to store in the driver's hash (`lat`, `lng`, `at_ms` on Redis's clock).
#[derive(Debug, PartialEq)]
pub struct Stored {
    pub key: Arc<str>,
    pub at: GeoPoint,
    pub at_ms: u64,
}

#[derive(Debug)]
struct Synced {
    /// The last full check.
    at: Instant,
    /// The last time the position was stored (by that check or since).
    stored_at: Instant,
    /// The driver's ride and its channel, as Redis said.
    ride: Option<(RideId, Arc<str>)>,
    /// Redis's clock minus this instance's, in ms.
    clock_offset_ms: i64,
}

#[derive(Debug)]
pub struct PositionTracker {
    limits: PositionLimits,
    /// The driver's hash, where a ride's positions are stored between full checks.
    driver_key: Arc<str>,
    window_start: Instant,
    in_window: u32,
    last: Option<(GeoPoint, Instant)>,
    synced: Option<Synced>,
}

impl PositionTracker {
    pub fn new(limits: PositionLimits, driver_key: Arc<str>, now: Instant) -> Self {
        Self {
            limits,
            driver_key,
            window_start: now,
            in_window: 0,
            last: None,
            synced: None,
        }
    }

    /// Decides what to do with a position sent at `now` (`wall_ms`: this instance's clock).
    pub fn plan(&mut self, at: GeoPoint, now: Instant, wall_ms: u64) -> Plan {
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= POSITION_WINDOW {
            self.window_start = now;
            self.in_window = 0;
        }
        self.in_window += 1;
        if self.in_window > self.limits.per_window {
            let left =
                POSITION_WINDOW.saturating_sub(now.saturating_duration_since(self.window_start));
            return Plan::Refuse(self.limits.rate_limited(left.as_millis().max(1) as u64));
        }
        if let Some((last, when)) = self.last {
            let metres = last.distance_m(&at);
            let secs = now.saturating_duration_since(when).as_secs_f64();
            if !self.limits.plausible(metres, secs) {
                return Plan::Refuse(
                    self.limits
                        .implausible(&format!("{}", metres.floor()), &format!("{secs:.1}")),
                );
            }
        }
        let Some(synced) = self.synced.as_mut() else {
            return Plan::Check;
        };
        let since_check = now.saturating_duration_since(synced.at);
        let recheck = if synced.ride.is_some() {
            RECHECK_EVERY
        } else {
            SYNC_EVERY
        };
        if since_check >= recheck {
            return Plan::Check;
        }
        self.last = Some((at, now));
        match &synced.ride {
            Some((ride_id, channel)) => {
                let at_ms = (wall_ms as i64)
                    .saturating_add(synced.clock_offset_ms)
                    .max(0) as u64;
                let message = ServerMessage::Position {
                    ride_id: ride_id.clone(),
                    lat: at.lat(),
                    lng: at.lng(),
                    at_ms,
                };
                let store =
                    (now.saturating_duration_since(synced.stored_at) >= SYNC_EVERY).then(|| {
                        synced.stored_at = now;
                        Box::new(Stored {
                            key: self.driver_key.clone(),
                            at,
                            at_ms,
                        })
                    });
                Plan::Publish {
                    channel: channel.clone(),
                    json: message.to_json(),
                    store,
                }
            }
            None => Plan::Keep,
        }
    }

    /// The full check accepted the position planned at `now`.
    pub fn checked(
        &mut self,
        at: GeoPoint,
        now: Instant,
        wall_ms: u64,
        receipt: PositionReceipt,
        channel_of: impl FnOnce(&RideId) -> String,
    ) {
        self.last = Some((at, now));
        self.synced = Some(Synced {
            at: now,
            stored_at: now,
            ride: receipt.ride.map(|ride| {
                let channel = channel_of(&ride).into();
                (ride, channel)
            }),
            clock_offset_ms: receipt.redis_now_ms as i64 - wall_ms as i64,
        });
    }

    /// Forgets what Redis said: the next position takes the full check.
    pub fn forget(&mut self) {
        self.synced = None;
    }
}

/// This instance's clock, in unix ms.
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::live::LiveErrorCode;

    const LIMITS: PositionLimits = PositionLimits {
        max_speed_mps: 200.0 / 3.6,
        per_window: 5,
    };

    fn ride() -> RideId {
        RideId::parse("0123456789abcdef0123456789abcdef").unwrap()
    }

    fn driver_key() -> Arc<str> {
        "hail:{r:demo}:driver:d".into()
    }

    fn point(lng: f64) -> GeoPoint {
        GeoPoint::new(52.52, lng).unwrap()
    }

    fn on_a_ride(tracker: &mut PositionTracker, now: Instant) {
        assert_eq!(tracker.plan(point(13.4), now, 1_000), Plan::Check);
        let receipt = PositionReceipt {
            ride: Some(ride()),
            redis_now_ms: 5_000,
        };
        tracker.checked(point(13.4), now, 1_000, receipt, |id| {
            format!("hail:ride:{id}")
        });
    }

    /// A full check that found the driver free (no ride).
    fn free(tracker: &mut PositionTracker, now: Instant) {
        assert_eq!(tracker.plan(point(13.4), now, 0), Plan::Check);
        let receipt = PositionReceipt {
            ride: None,
            redis_now_ms: 0,
        };
        tracker.checked(point(13.4), now, 0, receipt, |_| unreachable!());
    }

    #[test]
    fn the_first_position_is_checked_in_redis() {
        let now = Instant::now();
        let mut tracker = PositionTracker::new(LIMITS, driver_key(), now);
        assert_eq!(tracker.plan(point(13.4), now, 0), Plan::Check);
    }

    #[test]
    fn after_a_check_a_ride_s_positions_are_published_on_redis_s_clock() {
        let start = Instant::now();
        let mut tracker = PositionTracker::new(LIMITS, driver_key(), start);
        on_a_ride(&mut tracker, start);
        let later = start + Duration::from_millis(200);
        let Plan::Publish { channel, json, .. } = tracker.plan(point(13.4001), later, 1_200) else {
            panic!("published");
        };
        assert_eq!(&*channel, format!("hail:ride:{}", ride()));
        let message = ServerMessage::parse(&json).unwrap();
        assert_eq!(
            message,
            ServerMessage::Position {
                ride_id: ride(),
                lat: 52.52,
                lng: 13.4001,
                at_ms: 5_200,
            }
        );
    }

    #[test]
    fn a_free_driver_s_positions_need_no_redis_between_checks() {
        let start = Instant::now();
        let mut tracker = PositionTracker::new(LIMITS, driver_key(), start);
        free(&mut tracker, start);
        let soon = start + Duration::from_millis(300);
        assert_eq!(tracker.plan(point(13.4001), soon, 300), Plan::Keep);
    }

    #[test]
    fn a_free_driver_s_full_check_comes_back_every_second() {
        let start = Instant::now();
        let mut tracker = PositionTracker::new(LIMITS, driver_key(), start);
        free(&mut tracker, start);
        let next = start + SYNC_EVERY;
        assert_eq!(tracker.plan(point(13.4), next, 1_000), Plan::Check);
    }

    #[test]
    fn a_ride_s_position_is_stored_once_a_second_without_a_full_check() {
        let start = Instant::now();
        let mut tracker = PositionTracker::new(LIMITS, driver_key(), start);
        on_a_ride(&mut tracker, start);
        let mut stored = Vec::new();
        // Five positions a second for three seconds, each 2 m east of the last.
        for n in 1..=15u32 {
            let now = start + Duration::from_millis(u64::from(n) * 200);
            let wall_ms = 1_000 + u64::from(n) * 200;
            let at = point(13.4 + f64::from(n) * 3e-5);
            let Plan::Publish { store, .. } = tracker.plan(at, now, wall_ms) else {
                panic!("published without a full check at {n}");
            };
            if let Some(store) = store {
                assert_eq!(&*store.key, "hail:{r:demo}:driver:d");
                assert_eq!(store.at, at);
                // On Redis's clock: it was 5,000 when this instance's said 1,000.
                assert_eq!(store.at_ms, wall_ms + 4_000);
                stored.push(n);
            }
        }
        assert_eq!(stored, vec![5, 10, 15]);
    }

    #[test]
    fn a_ride_s_full_check_comes_back_every_ten_seconds_and_after_a_change() {
        let start = Instant::now();
        let mut tracker = PositionTracker::new(LIMITS, driver_key(), start);
        on_a_ride(&mut tracker, start);
        let before = start + RECHECK_EVERY - Duration::from_millis(1);
        assert!(matches!(
            tracker.plan(point(13.4), before, 10_999),
            Plan::Publish { .. }
        ));
        let next = start + RECHECK_EVERY;
        assert_eq!(tracker.plan(point(13.4), next, 11_000), Plan::Check);

        let mut tracker = PositionTracker::new(LIMITS, driver_key(), start);
        on_a_ride(&mut tracker, start);
        tracker.forget();
        let soon = start + Duration::from_millis(10);
        assert_eq!(tracker.plan(point(13.4), soon, 1_010), Plan::Check);
    }

    #[test]
    fn positions_beyond_the_rate_are_refused_until_the_window_ends() {
        let start = Instant::now();
        let mut tracker = PositionTracker::new(LIMITS, driver_key(), start);
        on_a_ride(&mut tracker, start);
        for n in 1..LIMITS.per_window {
            let now = start + Duration::from_millis(u64::from(n) * 10);
            assert!(matches!(
                tracker.plan(point(13.4), now, 0),
                Plan::Publish { .. }
            ));
        }
        let now = start + Duration::from_millis(100);
        let Plan::Refuse(err) = tracker.plan(point(13.4), now, 0) else {
            panic!("refused");
        };
        assert_eq!(err.code, LiveErrorCode::RateLimited);
        assert!(err.message.contains("900 ms"), "{}", err.message);
        let next_window = start + POSITION_WINDOW;
        assert!(!matches!(
            tracker.plan(point(13.4), next_window, 0),
            Plan::Refuse(_)
        ));
    }

    #[test]
    fn a_jump_faster_than_the_limit_is_refused_and_not_remembered() {
        let start = Instant::now();
        let mut tracker = PositionTracker::new(LIMITS, driver_key(), start);
        on_a_ride(&mut tracker, start);
        // About 6.8 km east in half a second.
        let soon = start + Duration::from_millis(500);
        let Plan::Refuse(err) = tracker.plan(point(13.5), soon, 0) else {
            panic!("refused");
        };
        assert_eq!(err.code, LiveErrorCode::Implausible);
        // The next plausible position is measured from the last accepted one.
        let later = start + Duration::from_millis(600);
        assert!(matches!(
            tracker.plan(point(13.4005), later, 0),
            Plan::Publish { .. }
        ));
    }
}
