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

use std::time::{Duration, SystemTime};

/// A job of `job_type` starts, ready since `since` (by the backend's clock).
pub(crate) fn started(job_type: &str, since: Option<SystemTime>) {
    if let Some(waited) = since.and_then(|since| SystemTime::now().duration_since(since).ok()) {
        metrics::histogram!("job_wait_seconds", "type" => job_type.to_owned())
            .record(waited.as_secs_f64());
    }
}

/// A job of `job_type` ended with `outcome` after its handler ran `ran`.
pub(crate) fn finished(job_type: &str, outcome: &'static str, ran: Duration) {
    let labels = [
        ("type", job_type.to_owned()),
        ("outcome", outcome.to_owned()),
    ];
    metrics::counter!("job_finished_total", &labels).increment(1);
    metrics::histogram!("job_duration_seconds", &labels).record(ran.as_secs_f64());
}
