//! The worker's metrics, through the `metrics` facade (free when no recorder is installed),
//! labelled by job type and outcome only, never by ids or arguments.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `job_finished_total` | counter | `type`, `outcome` |
//! | `job_duration_seconds` | histogram: the handler's run | `type`, `outcome` |
//! | `job_wait_seconds` | histogram: ready until started | `type` |
//!
//! Outcomes: `completed`, `replaced`, `retried`, `failed`, `deferred`, `released` (handed
//! back at shutdown), `lease_lost`. The client counts `job_enqueued_total` by `type`.
//!
//! Each label set's handles are registered once per worker and kept, so a job costs a map
//! lookup, not a registration; a recorder installed after the worker started sees nothing of it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use metrics::{Counter, Histogram};

/// The handles of one (type, outcome): the count and the duration.
type Ends = (Counter, Histogram);

/// A worker's metric handles, by label set.
#[derive(Default)]
pub(crate) struct Meters {
    waits: Mutex<HashMap<&'static str, Histogram>>,
    ends: Mutex<HashMap<(&'static str, &'static str), Ends>>,
}

impl Meters {
    /// A job of `job_type` starts, ready since `since` (by the backend's clock).
    pub(crate) fn started(&self, job_type: &'static str, since: Option<SystemTime>) {
        let Some(waited) = since.and_then(|since| SystemTime::now().duration_since(since).ok())
        else {
            return;
        };
        if let Ok(mut waits) = self.waits.lock() {
            waits
                .entry(job_type)
                .or_insert_with(|| metrics::histogram!("job_wait_seconds", "type" => job_type))
                .record(waited.as_secs_f64());
        }
    }

    /// A job of `job_type` ended with `outcome` after its handler ran `ran`.
    pub(crate) fn finished(&self, job_type: &'static str, outcome: &'static str, ran: Duration) {
        if let Ok(mut ends) = self.ends.lock() {
            let (count, duration) = ends.entry((job_type, outcome)).or_insert_with(|| {
                let labels = [("type", job_type), ("outcome", outcome)];
                (
                    metrics::counter!("job_finished_total", &labels),
                    metrics::histogram!("job_duration_seconds", &labels),
                )
            });
            count.increment(1);
            duration.record(ran.as_secs_f64());
        }
    }
}
