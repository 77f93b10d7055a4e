//! The documented ranges of durations and sizes.
//!
//! Durations outside their range are clamped into it rather than refused, except where
//! `#[derive(Job)]` sees a literal: there a value outside its range is a compile error.
//!
//! ```
//! use std::time::Duration;
//! use job_core::limits::{self, MAX_DELAY, MIN_LEASE};
//!
//! assert_eq!(limits::clamp_lease(Duration::ZERO), MIN_LEASE);
//! // `Duration::MAX` as a delay would store a run-at that cannot be read back.
//! assert_eq!(limits::clamp_delay(Duration::MAX), MAX_DELAY);
//! ```

use std::time::Duration;

const DAY_SECS: u64 = 86_400;

/// The shortest lease: a shorter one is raised to it.
pub const MIN_LEASE: Duration = Duration::from_millis(30);

/// The longest lease, 24 hours: a longer one is lowered to it.
pub const MAX_LEASE: Duration = Duration::from_secs(DAY_SECS);

/// The longest delay, 3650 days: any start delay, retry delay, defer or backoff step is
/// lowered to it.
pub const MAX_DELAY: Duration = Duration::from_secs(3_650 * DAY_SECS);

/// The longest timeout of one attempt, 365 days.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(365 * DAY_SECS);

/// The most failure records kept per job; 0 keeps none.
pub const MAX_HISTORY: u32 = 1_000;

/// The most jobs one worker runs at a time.
pub const MAX_CONCURRENCY: usize = 10_000;

/// The largest progress value a handler may report, in bytes of JSON.
pub const MAX_PROGRESS: usize = 4_096;

/// The derive's compile error for a `lease` outside [`MIN_LEASE`]`..=`[`MAX_LEASE`].
pub(crate) const LEASE_OUT_OF_RANGE: &str = "`lease` must be from 30ms to 24h";
/// The derive's compile error for a `timeout` above [`MAX_TIMEOUT`].
pub(crate) const TIMEOUT_TOO_LONG: &str = "`timeout` must be at most 365d";
/// The derive's compile error for a `backoff` delay above [`MAX_DELAY`].
pub(crate) const DELAY_TOO_LONG: &str = "a `backoff` delay must be at most 3650d";

/// Returns `lease` clamped into [`MIN_LEASE`]`..=`[`MAX_LEASE`].
///
/// ```
/// use std::time::Duration;
/// use job_core::limits::{clamp_lease, MAX_LEASE};
///
/// assert_eq!(clamp_lease(Duration::from_secs(60)), Duration::from_secs(60));
/// assert_eq!(clamp_lease(Duration::from_secs(7 * 86_400)), MAX_LEASE);
/// ```
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

/// Returns `delay` lowered to [`MAX_DELAY`] if it is longer.
///
/// ```
/// use std::time::Duration;
/// use job_core::limits::{clamp_delay, MAX_DELAY};
///
/// assert_eq!(clamp_delay(Duration::ZERO), Duration::ZERO);
/// assert_eq!(clamp_delay(Duration::from_secs(u64::MAX)), MAX_DELAY);
/// ```
#[must_use]
pub const fn clamp_delay(delay: Duration) -> Duration {
    if delay.as_nanos() > MAX_DELAY.as_nanos() {
        MAX_DELAY
    } else {
        delay
    }
}

/// Returns `timeout` lowered to [`MAX_TIMEOUT`] if it is longer.
///
/// ```
/// use std::time::Duration;
/// use job_core::limits::{clamp_timeout, MAX_TIMEOUT};
///
/// assert_eq!(clamp_timeout(Duration::from_secs(30)), Duration::from_secs(30));
/// assert_eq!(clamp_timeout(Duration::MAX), MAX_TIMEOUT);
/// ```
#[must_use]
pub const fn clamp_timeout(timeout: Duration) -> Duration {
    if timeout.as_nanos() > MAX_TIMEOUT.as_nanos() {
        MAX_TIMEOUT
    } else {
        timeout
    }
}

/// Whether `lease` is within [`MIN_LEASE`]`..=`[`MAX_LEASE`].
pub(crate) const fn lease_in_range(lease: Duration) -> bool {
    clamp_lease(lease).as_nanos() == lease.as_nanos()
}

/// Whether `delay` is at most [`MAX_DELAY`].
pub(crate) const fn delay_in_range(delay: Duration) -> bool {
    delay.as_nanos() <= MAX_DELAY.as_nanos()
}

/// Whether `timeout` is at most [`MAX_TIMEOUT`].
pub(crate) const fn timeout_in_range(timeout: Duration) -> bool {
    clamp_timeout(timeout).as_nanos() == timeout.as_nanos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_spelled_ranges_match_the_consts() {
        // Whole units, so the spelling loses nothing.
        assert_eq!(MAX_LEASE.as_secs() % 3_600, 0);
        assert_eq!(MAX_DELAY.as_secs() % DAY_SECS, 0);
        assert_eq!(MAX_TIMEOUT.as_secs() % DAY_SECS, 0);
        let lease = format!(
            " from {}ms to {}h",
            MIN_LEASE.as_millis(),
            MAX_LEASE.as_secs() / 3_600
        );
        assert!(LEASE_OUT_OF_RANGE.ends_with(&lease), "{LEASE_OUT_OF_RANGE}");
        let delay = format!(" {}d", MAX_DELAY.as_secs() / DAY_SECS);
        assert!(DELAY_TOO_LONG.ends_with(&delay), "{DELAY_TOO_LONG}");
        let timeout = format!(" {}d", MAX_TIMEOUT.as_secs() / DAY_SECS);
        assert!(TIMEOUT_TOO_LONG.ends_with(&timeout), "{TIMEOUT_TOO_LONG}");
    }

    #[test]
    fn limits_clamp_lease_into_range() {
        assert_eq!(clamp_lease(Duration::ZERO), MIN_LEASE);
        assert_eq!(clamp_lease(Duration::from_millis(29)), MIN_LEASE);
        assert_eq!(clamp_lease(MIN_LEASE), MIN_LEASE);
        assert_eq!(
            clamp_lease(Duration::from_secs(30)),
            Duration::from_secs(30)
        );
        assert_eq!(clamp_lease(MAX_LEASE), MAX_LEASE);
        assert_eq!(clamp_lease(MAX_LEASE + Duration::from_nanos(1)), MAX_LEASE);
        assert_eq!(clamp_lease(Duration::MAX), MAX_LEASE);
        assert!(lease_in_range(MIN_LEASE) && lease_in_range(MAX_LEASE));
        assert!(!lease_in_range(Duration::from_millis(29)));
        assert!(!lease_in_range(MAX_LEASE + Duration::from_millis(1)));
    }

    #[test]
    fn limits_clamp_delay_to_the_max() {
        assert_eq!(clamp_delay(Duration::ZERO), Duration::ZERO);
        assert_eq!(clamp_delay(MAX_DELAY), MAX_DELAY);
        assert_eq!(clamp_delay(MAX_DELAY + Duration::from_nanos(1)), MAX_DELAY);
        assert_eq!(clamp_delay(Duration::MAX), MAX_DELAY);
        assert!(delay_in_range(MAX_DELAY) && !delay_in_range(Duration::MAX));
        assert!(timeout_in_range(MAX_TIMEOUT));
        assert!(!timeout_in_range(MAX_TIMEOUT + Duration::from_millis(1)));
    }

    #[test]
    fn limits_clamp_in_const() {
        const LEASE: Duration = clamp_lease(Duration::from_millis(1));
        const DELAY: Duration = clamp_delay(Duration::MAX);
        assert_eq!((LEASE, DELAY), (MIN_LEASE, MAX_DELAY));
    }
}
