//! Leases held by one worker: a heartbeat task renews them all every quarter lease in one call,
//! apart from the handlers (a busy handler never starves its renewals), and each job's task
//! stops its handler by a local deadline that no stalled connection can move.
//!
//! The rule: a lease is valid locally until `sent + duration`, where `sent` is the moment the
//! grab (or the last renewal that Redis confirmed) was *sent*. Redis starts its own deadline
//! when the script runs, which is later, so the local one never outlasts it. A renewal still in
//! flight extends nothing. The handler is cancelled [`grace`] before `valid_until - margin`
//! and its task aborted at `valid_until - margin` (see [`margin`]), whatever happens to the
//! connection meanwhile.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::{Backend, JobId, Lease};

/// How long before the lease's local deadline its handler's task is aborted: a twentieth of
/// the lease, between 5 ms and 1 s. It absorbs a late timer and the time an abort takes to
/// reach the task.
pub(crate) fn margin(lease: Duration) -> Duration {
    (lease / 20).clamp(Duration::from_millis(5), Duration::from_secs(1))
}

/// How long a cancelled handler may take to return before its task is aborted: a tenth of the
/// lease, at most 1 s.
pub(crate) fn grace(lease: Duration) -> Duration {
    (lease / 10).min(Duration::from_secs(1))
}

/// The leases a worker holds, shared by its job tasks, their contexts and the heartbeat task.
#[derive(Debug, Default)]
pub(crate) struct Leases {
    held: Mutex<HashMap<JobId, Held>>,
    /// The shortest lease the heartbeat's schedule counts with (`None`: none computed yet).
    /// Always locked after `held`.
    scheduled: Mutex<Option<Duration>>,
    /// Wakes the heartbeat when a lease shorter than `scheduled` comes.
    changed: Notify,
}

#[derive(Debug)]
struct Held {
    lease: Lease,
    cancel: CancellationToken,
    /// Redis cannot hand the job to another worker before this moment.
    valid_until: Instant,
}

impl Leases {
    /// Tracks a new lease whose grab was sent at `sent`. An older lease on the same job (its
    /// lease ran out and this worker grabbed it again) is lost for sure: its handler is
    /// cancelled.
    pub(crate) fn insert(&self, lease: Lease, cancel: CancellationToken, sent: Instant) {
        let held = Held {
            lease,
            cancel,
            valid_until: sent + lease.duration,
        };
        let (old, sooner) = match self.held.lock() {
            Ok(mut map) => {
                let old = map.insert(lease.id, held);
                // Only a lease shorter than the schedule counts with makes the heartbeat come
                // sooner: waking it for every job would cost a thread wake-up per job.
                let sooner = self.scheduled.lock().map_or(true, |scheduled| {
                    scheduled.is_none_or(|shortest| lease.duration < shortest)
                });
                (old, sooner)
            }
            Err(_) => (None, true),
        };
        if let Some(old) = old {
            tracing::warn!(job.id = %lease.id, "lease lost and the job taken again; cancelling the old handler");
            old.cancel.cancel();
        }
        if sooner {
            self.changed.notify_one();
        }
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

    /// The next renewal is due a quarter of the shortest lease from now: a renewal then has
    /// more than half the lease to come back before the handler is stopped.
    fn interval(&self) -> Duration {
        let shortest = match self.held.lock() {
            Ok(map) => {
                let shortest = map
                    .values()
                    .map(|h| h.lease.duration)
                    .min()
                    .unwrap_or(Duration::from_secs(60));
                if let Ok(mut scheduled) = self.scheduled.lock() {
                    *scheduled = Some(shortest);
                }
                shortest
            }
            Err(_) => Duration::from_secs(60),
        };
        (shortest / 4).max(Duration::from_millis(5))
    }

    /// Applies a renewal's answers: a renewed lease is valid until `sent` plus its duration, a
    /// lost one has its handler cancelled.
    pub(crate) fn renewed(&self, sent: Instant, leases: &[Lease], held: &[bool]) {
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
                entry.valid_until = entry.valid_until.max(sent + lease.duration);
            } else {
                tracing::warn!(job.id = %lease.id, "lease lost; cancelling the handler");
                entry.cancel.cancel();
            }
        }
    }

    /// When the holder of `lease` must have stopped: its local deadline minus the margin;
    /// `None` when the lease is no longer tracked.
    pub(crate) fn stop_by(&self, lease: &Lease) -> Option<Instant> {
        let map = self.held.lock().ok()?;
        let held = map
            .get(&lease.id)
            .filter(|h| h.lease.token == lease.token)?;
        Some(held.valid_until - margin(lease.duration))
    }

    /// Resolves when the handler of `lease` must be cancelled because its lease is running out
    /// unrenewed: [`grace`] before [`Leases::stop_by`]. Renewals that land meanwhile push it
    /// back. Never resolves for a lease that is not tracked.
    pub(crate) async fn running_out(&self, lease: &Lease) {
        loop {
            let Some(stop_by) = self.stop_by(lease) else {
                return std::future::pending().await;
            };
            let cancel_at = stop_by - grace(lease.duration);
            if Instant::now() >= cancel_at {
                return;
            }
            tokio::time::sleep_until(cancel_at).await;
        }
    }
}

/// Renews leases until `stop` fires. A renewal that gets no answer within the interval is not
/// waited for: the next one goes out (on a stalled connection both wait, and the handlers stop
/// by their local deadlines).
pub(crate) async fn run<B: Backend>(backend: B, leases: Arc<Leases>, stop: CancellationToken) {
    let mut next = Instant::now() + leases.interval();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep_until(next) => {}
            // A new lease may be shorter than the current interval: recompute it.
            () = leases.changed.notified() => {
                next = next.min(Instant::now() + leases.interval());
                continue;
            }
        }
        let interval = leases.interval();
        let held = leases.snapshot();
        let sent = Instant::now();
        next = sent + interval;
        if held.is_empty() {
            continue;
        }
        let answer = tokio::select! {
            () = stop.cancelled() => return,
            answer = tokio::time::timeout(interval, backend.heartbeat(&held)) => answer,
        };
        match answer {
            Ok(Ok(answers)) => leases.renewed(sent, &held, &answers),
            Ok(Err(error)) => {
                tracing::warn!(error = %crate::error::chain(&error), "heartbeat failed; handlers stop when their leases run out");
            }
            Err(_) => {
                tracing::warn!(
                    waited = ?interval,
                    "heartbeat got no answer; handlers stop when their leases run out"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(token: u64, ms: u64) -> Lease {
        Lease::new(JobId::new(), token, Duration::from_millis(ms))
    }

    #[test]
    fn margin_and_grace_scale_with_the_lease_within_bounds() {
        assert_eq!(margin(Duration::from_secs(2)), Duration::from_millis(100));
        assert_eq!(margin(Duration::from_millis(30)), Duration::from_millis(5));
        assert_eq!(margin(Duration::from_secs(3600)), Duration::from_secs(1));
        assert_eq!(grace(Duration::from_secs(2)), Duration::from_millis(200));
        assert_eq!(grace(Duration::from_secs(3600)), Duration::from_secs(1));
    }

    /// Whether the heartbeat was woken since the last look (a stored permit).
    async fn woken(leases: &Leases) -> bool {
        tokio::time::timeout(Duration::from_millis(5), leases.changed.notified())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn only_a_lease_shorter_than_the_schedule_wakes_the_heartbeat() {
        let leases = Leases::default();
        let now = Instant::now();
        leases.insert(lease(1, 1_000), CancellationToken::new(), now);
        assert!(woken(&leases).await, "no schedule yet");
        assert_eq!(leases.interval(), Duration::from_millis(250));
        leases.insert(lease(2, 1_000), CancellationToken::new(), now);
        assert!(
            !woken(&leases).await,
            "as long as the schedule's: no wake-up per job"
        );
        leases.insert(lease(3, 200), CancellationToken::new(), now);
        assert!(
            woken(&leases).await,
            "shorter: the heartbeat must come sooner"
        );
        assert_eq!(leases.interval(), Duration::from_millis(50));
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_runs_out_from_when_its_grab_was_sent() {
        let leases = Leases::default();
        let held = lease(1, 2_000);
        let sent = Instant::now();
        tokio::time::advance(Duration::from_millis(300)).await; // the grab's answer took 300 ms
        leases.insert(held, CancellationToken::new(), sent);
        assert_eq!(
            leases.stop_by(&held),
            Some(sent + Duration::from_millis(1_900))
        );
        leases.running_out(&held).await;
        assert_eq!(Instant::now(), sent + Duration::from_millis(1_700));
    }

    #[tokio::test(start_paused = true)]
    async fn a_confirmed_renewal_extends_from_its_sending_and_a_lost_one_cancels() {
        let leases = Leases::default();
        let (held, other) = (lease(1, 2_000), lease(2, 2_000));
        let (cancel, other_cancel) = (CancellationToken::new(), CancellationToken::new());
        let start = Instant::now();
        leases.insert(held, cancel.clone(), start);
        leases.insert(other, other_cancel.clone(), start);
        tokio::time::advance(Duration::from_millis(500)).await;
        let sent = Instant::now();
        tokio::time::advance(Duration::from_millis(400)).await; // a slow answer
        leases.renewed(sent, &[held, other], &[true, false]);
        assert_eq!(
            leases.stop_by(&held),
            Some(sent + Duration::from_millis(1_900))
        );
        assert!(!cancel.is_cancelled());
        assert!(other_cancel.is_cancelled());
        // An answer about an older renewal never moves the deadline back.
        leases.renewed(start, &[held], &[true]);
        assert_eq!(
            leases.stop_by(&held),
            Some(sent + Duration::from_millis(1_900))
        );
        leases.remove(&held);
        assert_eq!(leases.stop_by(&held), None);
    }
}
