//! Completions are acknowledged in batches. A finished handler leaves its completion in
//! [`Pending`]; the fetch driver takes whatever waits there with its next grab (one round trip
//! completes them and grabs more), and the ack task sends what waits longer than a short linger
//! on its own: when the driver is blocked waiting for work, and at shutdown.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use crate::{Ack, Backend, Completion};

/// The most completions one call carries.
pub(crate) const BATCH: usize = 200;
/// How long the ack task leaves completions for the driver's next grab.
const LINGER: Duration = Duration::from_millis(1);

/// Completions waiting to be sent.
#[derive(Default)]
pub(crate) struct Pending {
    items: Mutex<Vec<Completion>>,
    ready: Notify,
    closed: AtomicBool,
}

impl Pending {
    /// Queues a completion; gives it back once shutdown has closed the queue.
    pub(crate) fn push(&self, completion: Completion) -> Result<(), Completion> {
        if self.closed.load(Ordering::Acquire) {
            return Err(completion);
        }
        match self.items.lock() {
            Ok(mut items) => items.push(completion),
            Err(_) => return Err(completion),
        }
        self.ready.notify_one();
        Ok(())
    }

    /// Takes up to `max` waiting completions, oldest first.
    pub(crate) fn take(&self, max: usize) -> Vec<Completion> {
        let Ok(mut items) = self.items.lock() else {
            return Vec::new();
        };
        let n = items.len().min(max);
        items.drain(..n).collect()
    }

    /// Puts back completions whose call failed, ahead of the others, for the ack task to retry.
    pub(crate) fn put_back(&self, mut completions: Vec<Completion>) {
        if let Ok(mut items) = self.items.lock() {
            completions.append(&mut items);
            *items = completions;
        }
        self.ready.notify_one();
    }

    /// Stops taking new completions; the ack task sends what waits, then ends.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.ready.notify_one();
    }

    fn is_empty(&self) -> bool {
        self.items.lock().map_or(true, |items| items.is_empty())
    }
}

/// Sends waiting completions until the queue is closed and empty.
pub(crate) async fn run<B: Backend>(backend: B, pending: std::sync::Arc<Pending>) {
    loop {
        if pending.is_empty() {
            if pending.closed.load(Ordering::Acquire) {
                return;
            }
            pending.ready.notified().await;
            continue;
        }
        if !pending.closed.load(Ordering::Acquire) {
            // The driver's next grab usually takes them first, saving a round trip.
            tokio::time::sleep(LINGER).await;
        }
        let batch = pending.take(BATCH);
        if !batch.is_empty() {
            let acks = super::persist("complete", || backend.complete(&batch)).await;
            report(&batch, &acks.unwrap_or_default());
        }
    }
}

/// Logs completions refused because their lease was lost.
pub(crate) fn report(batch: &[Completion], acks: &[Ack]) {
    for (completion, ack) in batch.iter().zip(acks) {
        if *ack == Ack::Lost {
            tracing::warn!(job.id = %completion.lease.id, "completion refused: the lease was lost");
        }
    }
}
