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

/// A handle on the instance's publisher; cheap to clone.
#[derive(Clone)]
pub struct Publisher {
    queue: mpsc::Sender<Item>,
}

impl Publisher {
    /// Starts the publisher's task; it ends when the last handle is dropped.
    pub fn start(redis: Redis) -> Self {
        let (queue, items) = mpsc::channel(QUEUE);
        tokio::spawn(run(redis, items));
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

async fn run(mut redis: Redis, mut items: mpsc::Receiver<Item>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut barriers = Vec::new();
    let mut last_warning: Option<Instant> = None;
    let mut failed = 0u64;
    while items.recv_many(&mut batch, MAX_BATCH).await > 0 {
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
                    pipe.cmd("PUBLISH").arg(&*channel).arg(json).ignore();
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
    fn a_stopped_publisher_refuses_positions() {
        let (publisher, items) = publisher_with_room_for(8);
        drop(items);
        let refused = publisher
            .publish("t:ride:x".into(), "1".into(), None)
            .unwrap_err();
        assert_eq!(refused.code, LiveErrorCode::Unavailable);
    }
}
