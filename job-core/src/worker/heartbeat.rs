//! One heartbeat task per worker: renews every held lease every lease/3 in one call, apart from
//! the handlers (a busy handler never starves its renewals), and cancels a handler whose lease is
//! lost or whose deadline passed while Redis could not be reached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::{Backend, JobId, Lease};

/// The leases a worker holds, shared by its job tasks and its heartbeat task.
#[derive(Debug, Default)]
pub(crate) struct Leases {
    held: Mutex<HashMap<JobId, Held>>,
    changed: Notify,
}

#[derive(Debug)]
struct Held {
    lease: Lease,
    cancel: CancellationToken,
    deadline: Instant,
}

impl Leases {
    /// Tracks a new lease. An older lease on the same job (its lease ran out and this worker
    /// grabbed it again) is lost for sure: its handler is cancelled.
    pub(crate) fn insert(&self, lease: Lease, cancel: CancellationToken) {
        let held = Held {
            lease,
            cancel,
            deadline: Instant::now() + lease.duration,
        };
        let old = self
            .held
            .lock()
            .ok()
            .and_then(|mut map| map.insert(lease.id, held));
        if let Some(old) = old {
            tracing::warn!(job.id = %lease.id, "lease lost and the job taken again; cancelling the old handler");
            old.cancel.cancel();
        }
        self.changed.notify_one();
    }

    /// Stops tracking a lease, unless a newer lease on the same job replaced it.
    pub(crate) fn remove(&self, lease: &Lease) {
        if let Ok(mut map) = self.held.lock()
            && map
                .get(&lease.id)
                .is_some_and(|held| held.lease.token == lease.token)
        {
            map.remove(&lease.id);
        }
    }

    fn snapshot(&self) -> Vec<Lease> {
        self.held
            .lock()
            .map(|map| map.values().map(|h| h.lease).collect())
            .unwrap_or_default()
    }

    /// The next renewal is due a third of the shortest lease from now.
    fn interval(&self) -> Duration {
        let shortest = self
            .held
            .lock()
            .ok()
            .and_then(|map| map.values().map(|h| h.lease.duration).min())
            .unwrap_or(Duration::from_secs(60));
        (shortest / 3).max(Duration::from_millis(10))
    }

    /// Applies a heartbeat's answers: renewed leases get a new local deadline, lost ones are
    /// cancelled.
    fn renewed(&self, sent_at: Instant, leases: &[Lease], held: &[bool]) {
        let Ok(mut map) = self.held.lock() else {
            return;
        };
        for (lease, still_held) in leases.iter().zip(held) {
            let Some(entry) = map.get_mut(&lease.id) else {
                continue;
            };
            if entry.lease.token != lease.token {
                continue;
            }
            if *still_held {
                entry.deadline = sent_at + lease.duration;
            } else {
                tracing::warn!(job.id = %lease.id, "lease lost; cancelling the handler");
                entry.cancel.cancel();
            }
        }
    }

    /// Cancels the handlers whose lease deadline passed without a renewal.
    fn expire(&self) {
        let now = Instant::now();
        if let Ok(map) = self.held.lock() {
            for held in map.values().filter(|held| held.deadline <= now) {
                if !held.cancel.is_cancelled() {
                    tracing::warn!(job.id = %held.lease.id, "lease ran out unrenewed; cancelling the handler");
                    held.cancel.cancel();
                }
            }
        }
    }
}

/// Renews leases until `stop` fires.
pub(crate) async fn run<B: Backend>(backend: B, leases: Arc<Leases>, stop: CancellationToken) {
    loop {
        let next = Instant::now() + leases.interval();
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep_until(next) => {}
            // A new lease may be shorter than the current interval: recompute it.
            () = leases.changed.notified() => continue,
        }
        let held = leases.snapshot();
        if held.is_empty() {
            continue;
        }
        let sent_at = Instant::now();
        match backend.heartbeat(&held).await {
            Ok(answers) => leases.renewed(sent_at, &held, &answers),
            Err(error) => {
                tracing::warn!(error = %crate::error::chain(&error), "heartbeat failed");
                leases.expire();
            }
        }
    }
}
