//! Positions go to Redis in batches: the instance's one publisher task takes every position its
//! drivers' sockets queued since its last write and sends them as one pipeline of `PUBLISH`es
//! (with, once a second per driver on a ride, an `HSET` of the position in the driver's hash;
//! see `server::tracker`).
//!
//! A socket does not wait for Redis to answer its position, so the driver's next frame is read
//! at once, and under load Redis reads, answers and delivers many positions per wake-up instead
//! of one (its subscribers then receive them in one write too). Batches form by themselves:
//! while one pipeline is on its way, the next positions queue behind it, so a quiet instance
//! publishes each position at once and a busy one in larger pipelines, with no timer. Before
//! sending, the publisher also lets the sockets that are ready run once more (one yield: tokio
//! runs it again after its other ready tasks and the next poll of the I/O driver), so the frames
//! that arrived together leave together. On an instance with one worker thread that makes
//! pipelines about a third larger at 10,000 positions a second, and costs Redis a sixth less per
//! position (BENCHMARKS.md); on a quiet instance a position waits that one scheduler round more.
//!
//! Under load the publisher also lingers ([`Batching`]): once this instance published more than
//! `linger_above` positions in the last second, it waits `linger` after the first position of a
//! pipeline before sending it. Every pipeline costs Redis a read and two writes (the answer, and
//! the delivery to each subscribing instance) and wakes both instances, whatever its size, so
//! fewer, larger pipelines cost a position less everywhere (BENCHMARKS.md, session 8: in paired
//! runs a fifth less CPU per position at 5,000/s and Redis's share nearly halved, a few percent
//! less in all at 10,000/s, at 1 to 2 ms more latency). Below the threshold nothing
//! waits, so a quiet instance keeps its sub-millisecond latency.
//!
//! Order is kept: positions leave in the order they were queued, and a socket that is about to
//! run the full check in Redis (which may publish too) first waits for what it queued before
//! ([`Publisher::flushed`]). The queue is bounded: when Redis cannot keep up, positions are
//! refused as `unavailable` instead of piling up in memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::redis_errors::Redis;
use tokio::sync::{mpsc, oneshot};

use super::tracker::Stored;
use crate::domain::live::{LiveError, LiveErrorCode};

/// Positions waiting to be published, at most; beyond that they are refused.
const QUEUE: usize = 16 * 1024;
/// Commands in one pipeline, at most.
const MAX_BATCH: usize = 512;
/// A failed pipeline is reported at most this often (Redis being away fails every one).
const WARN_EVERY: Duration = Duration::from_secs(5);

enum Item {
    Publish {
        channel: Arc<str>,
        json: String,
        store: Option<Box<Stored>>,
    },
    /// Answered once everything queued before it was published (or failed).
    Barrier(oneshot::Sender<()>),
}

/// When the publisher waits to gather a larger pipeline (`HAIL_PUBLISH_LINGER_MS`,
/// `HAIL_PUBLISH_LINGER_ABOVE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    /// How long a pipeline gathers positions under load (zero: never). tokio's timer counts whole
    /// milliseconds, so a position waits between this and a millisecond more.
    pub linger: Duration,
    /// Positions published in the last second above which the publisher lingers.
    pub linger_above: u32,
}

impl Batching {
    /// Every pipeline leaves as soon as the one before it was answered.
    pub const NEVER: Self = Self {
        linger: Duration::ZERO,
        linger_above: 0,
    };
}

/// Positions published in whole seconds: the last complete second decides whether to linger.
#[derive(Debug)]
struct Load {
    since: Instant,
    in_second: u64,
    last_second: u64,
}

impl Load {
    fn new(now: Instant) -> Self {
        Self {
            since: now,
            in_second: 0,
            last_second: 0,
        }
    }

    fn published(&mut self, count: usize, now: Instant) {
        let elapsed = now.saturating_duration_since(self.since);
        if elapsed >= Duration::from_secs(2) {
            // A whole second or more went by without a pipeline: nothing was published in it.
            self.last_second = 0;
            self.in_second = 0;
            self.since = now;
        } else if elapsed >= Duration::from_secs(1) {
            self.last_second = self.in_second;
            self.in_second = 0;
            self.since += Duration::from_secs(1);
        }
        self.in_second += count as u64;
    }

    /// Whether more than `per_sec` were published in the last whole second before `now`.
    fn above(&self, per_sec: u32, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.since);
        let last = if elapsed < Duration::from_secs(1) {
            self.last_second
        } else if elapsed < Duration::from_secs(2) {
            self.in_second
        } else {
            0
        };
        last > u64::from(per_sec)
    }
}

/// A handle on the instance's publisher; cheap to clone.
#[derive(Clone)]
pub struct Publisher {
    queue: mpsc::Sender<Item>,
}

impl Publisher {
    /// Starts the publisher's task; it ends when the last handle is dropped.
    pub fn start(redis: Redis, batching: Batching) -> Self {
        let (queue, items) = mpsc::channel(QUEUE);
        tokio::spawn(run(redis, items, batching));
        Self { queue }
    }

    /// Queues `json` for `channel`, and the driver's position to store in the same pipeline when
    /// `store` is given. Fails only when the queue is full (Redis is not keeping up) or the
    /// publisher has stopped.
    pub fn publish(
        &self,
        channel: Arc<str>,
        json: String,
        store: Option<Box<Stored>>,
    ) -> Result<(), LiveError> {
        self.queue
            .try_send(Item::Publish {
                channel,
                json,
                store,
            })
            .map_err(|_| {
                LiveError::new(
                    LiveErrorCode::Unavailable,
                    "the server is too busy to pass your position on; send the next one",
                )
            })
    }

    /// Returns once every position queued before this call has been published (or failed).
    pub async fn flushed(&self) {
        let (done, flushed) = oneshot::channel();
        if self.queue.send(Item::Barrier(done)).await.is_ok() {
            let _ = flushed.await;
        }
    }
}

async fn run(mut redis: Redis, mut items: mpsc::Receiver<Item>, batching: Batching) {
    let publish = redis.publish_command();
    let mut load = Load::new(Instant::now());
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut barriers = Vec::new();
    let mut last_warning: Option<Instant> = None;
    let mut failed = 0u64;
    loop {
        let queued = items.recv_many(&mut batch, MAX_BATCH).await;
        if queued == 0 {
            break;
        }
        // A full batch means a backlog: it leaves at once, or a long linger would cap the rate
        // at a batch per linger.
        if queued < MAX_BATCH
            && !batching.linger.is_zero()
            && load.above(batching.linger_above, Instant::now())
        {
            tokio::time::sleep(batching.linger).await;
        }
        tokio::task::yield_now().await;
        while batch.len() < MAX_BATCH {
            let Ok(item) = items.try_recv() else { break };
            batch.push(item);
        }
        let mut pipe = redis::pipe();
        let mut published = 0usize;
        for item in batch.drain(..) {
            match item {
                Item::Publish {
                    channel,
                    json,
                    store,
                } => {
                    pipe.cmd(publish).arg(&*channel).arg(json).ignore();
                    if let Some(stored) = store {
                        pipe.cmd("HSET")
                            .arg(&*stored.key)
                            .arg("lat")
                            .arg(stored.at.lat())
                            .arg("lng")
                            .arg(stored.at.lng())
                            .arg("at_ms")
                            .arg(stored.at_ms)
                            .ignore();
                    }
                    published += 1;
                }
                Item::Barrier(done) => barriers.push(done),
            }
        }
        load.published(published, Instant::now());
        if published > 0 {
            if let Err(err) = pipe.query_async::<()>(&mut redis).await {
                failed += published as u64;
                if last_warning.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
                    tracing::warn!(error = %err, lost = failed, "positions could not be published");
                    last_warning = Some(Instant::now());
                    failed = 0;
                }
            }
        }
        for done in barriers.drain(..) {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publisher_with_room_for(n: usize) -> (Publisher, mpsc::Receiver<Item>) {
        let (queue, items) = mpsc::channel(n);
        (Publisher { queue }, items)
    }

    #[test]
    fn a_full_queue_refuses_positions_as_unavailable() {
        let (publisher, _items) = publisher_with_room_for(2);
        let channel: Arc<str> = "t:ride:x".into();
        assert!(publisher.publish(channel.clone(), "1".into(), None).is_ok());
        assert!(publisher.publish(channel.clone(), "2".into(), None).is_ok());
        let refused = publisher.publish(channel, "3".into(), None).unwrap_err();
        assert_eq!(refused.code, LiveErrorCode::Unavailable);
    }

    #[test]
    fn the_publisher_lingers_only_after_a_busy_second() {
        let start = Instant::now();
        let mut load = Load::new(start);
        load.published(1500, start);
        assert!(!load.above(1000, start), "the first second is not over yet");
        let later = start + Duration::from_millis(1500);
        assert!(load.above(1000, later), "read as soon as it is over");
        let second = start + Duration::from_millis(1000);
        load.published(10, second);
        assert!(load.above(1000, second), "1,500 in the last second");
        assert!(!load.above(2000, second), "but not above 2,000");
    }

    #[test]
    fn a_quiet_second_ends_the_lingering() {
        let start = Instant::now();
        let mut load = Load::new(start);
        load.published(5000, start);
        load.published(5, start + Duration::from_millis(1100));
        assert!(load.above(1000, start + Duration::from_millis(1100)));
        // The second after that carried 5 positions.
        let third = start + Duration::from_millis(2100);
        load.published(1, third);
        assert!(!load.above(1000, third));
        // And nothing at all for a long while counts as nothing.
        let mut busy = Load::new(start);
        busy.published(5000, start);
        busy.published(1, start + Duration::from_millis(1001));
        assert!(!busy.above(1000, start + Duration::from_secs(60)));
        busy.published(1, start + Duration::from_secs(60));
        assert!(!busy.above(1000, start + Duration::from_secs(60)));
    }

    #[test]
    fn a_stopped_publisher_refuses_positions() {
        let (publisher, items) = publisher_with_room_for(8);
        drop(items);
        let refused = publisher
            .publish("t:ride:x".into(), "1".into(), None)
            .unwrap_err();
        assert_eq!(refused.code, LiveErrorCode::Unavailable);
    }
}
