//! The documented ranges of durations and sizes: values outside are clamped into them.

use std::time::Duration;

/// The shortest lease.
pub const MIN_LEASE: Duration = Duration::from_millis(30);
/// The longest lease.
pub const MAX_LEASE: Duration = Duration::from_secs(24 * 3600);
/// The longest delay: a start delay, a retry delay, a defer or a backoff step.
pub const MAX_DELAY: Duration = Duration::from_secs(3650 * 86_400);
/// The longest handler timeout.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 86_400);
/// The most failure records kept per job (0 keeps none).
pub const MAX_HISTORY: u32 = 1000;
/// The most jobs a worker runs at once.
pub const MAX_CONCURRENCY: usize = 10_000;

/// Clamps a lease into [`MIN_LEASE`]..=[`MAX_LEASE`].
#[must_use]
pub const fn clamp_lease(lease: Duration) -> Duration {
    if lease.as_nanos() < MIN_LEASE.as_nanos() {
        MIN_LEASE
    } else if lease.as_nanos() > MAX_LEASE.as_nanos() {
        MAX_LEASE
    } else {
        lease
    }
}

/// Clamps a delay to at most [`MAX_DELAY`].
#[must_use]
pub const fn clamp_delay(delay: Duration) -> Duration {
    if delay.as_nanos() > MAX_DELAY.as_nanos() {
        MAX_DELAY
    } else {
        delay
    }
}
