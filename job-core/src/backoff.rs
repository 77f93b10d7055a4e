use std::time::Duration;

use crate::limits;

/// How long a job waits before its next attempt after a temporary failure.
///
/// ```
/// use std::time::Duration;
/// use job_core::Backoff;
///
/// assert_eq!(Backoff::Fixed(Duration::from_secs(30)).delay(7), Duration::from_secs(30));
/// // The smtp schedule retries after 1 minute, then less and less often for about five days.
/// assert_eq!(Backoff::Smtp.delay(1), Duration::from_secs(60));
/// assert!(Backoff::Smtp.total(Backoff::SMTP_ATTEMPTS) > Duration::from_secs(5 * 86_400));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backoff {
    /// `base * 2^(attempt - 1)`, capped at `max`, with up to 25% random jitter either way.
    Exponential {
        /// The delay after the first attempt.
        base: Duration,
        /// The longest delay.
        max: Duration,
    },
    /// The same delay after every attempt.
    Fixed(Duration),
    /// A mail-server schedule: 1m, 5m, 15m, 30m, 1h, 2h, 4h, 8h, 16h, then daily; about
    /// five days over [`Backoff::SMTP_ATTEMPTS`] attempts.
    Smtp,
    /// A delay per attempt: `table[n - 1]` after attempt `n`, the last step repeating for
    /// later attempts; an empty table means no delay. The general form of the named schedules.
    ///
    /// ```
    /// use std::time::Duration;
    /// use job_core::Backoff;
    ///
    /// // After attempt 1: 2 s; after attempt 2: at once; after attempt 3 and later: 1 minute.
    /// const STEPS: &[Duration] = &[
    ///     Duration::from_secs(2),
    ///     Duration::ZERO,
    ///     Duration::from_secs(60),
    /// ];
    /// let backoff = Backoff::Table(STEPS);
    /// assert_eq!(backoff.delay(1), Duration::from_secs(2));
    /// assert_eq!(backoff.delay(2), Duration::ZERO);
    /// assert_eq!(backoff.delay(3), Duration::from_secs(60));
    /// assert_eq!(backoff.delay(9), Duration::from_secs(60));
    /// assert_eq!(Backoff::Table(&[]).delay(1), Duration::ZERO);
    /// ```
    Table(&'static [Duration]),
}

const SMTP_SCHEDULE_SECS: [u64; 9] = [60, 300, 900, 1_800, 3_600, 7_200, 14_400, 28_800, 57_600];
const DAY_SECS: u64 = 86_400;

impl Backoff {
    /// The default: exponential from 1 second, capped at 1 hour.
    pub const DEFAULT: Self = Self::Exponential {
        base: Duration::from_secs(1),
        max: Duration::from_secs(3_600),
    };

    /// The attempts that make the smtp schedule span about five days.
    pub const SMTP_ATTEMPTS: u32 = 14;

    /// Returns the delay after attempt `attempt` (1-based) failed, at most
    /// [`limits::MAX_DELAY`].
    #[must_use]
    pub fn delay(&self, attempt: u32) -> Duration {
        let attempt = attempt.max(1);
        let delay = match *self {
            Self::Fixed(delay) => delay,
            Self::Smtp => {
                let index = (attempt - 1) as usize;
                let secs = SMTP_SCHEDULE_SECS.get(index).copied().unwrap_or(DAY_SECS);
                Duration::from_secs(secs)
            }
            Self::Exponential { base, max } => {
                // Capped before the jitter, which would overflow near `Duration::MAX`.
                let max = limits::clamp_delay(max);
                let factor = 1u32.checked_shl(attempt - 1).unwrap_or(u32::MAX);
                let raw = base.saturating_mul(factor).min(max);
                // Jitter in [-25%, +25%), so retries of many jobs failing together spread out.
                let jitter = 0.75 + fastrand::f64() * 0.5;
                raw.mul_f64(jitter).min(max)
            }
            Self::Table(steps) => {
                let index = usize::try_from(attempt - 1).unwrap_or(usize::MAX);
                steps
                    .get(index)
                    .or(steps.last())
                    .copied()
                    .unwrap_or(Duration::ZERO)
            }
        };
        limits::clamp_delay(delay)
    }

    /// Returns the sum of the delays between `attempts` attempts, without jitter for the fixed
    /// schedules (exponential figures vary by the jitter).
    #[must_use]
    pub fn total(&self, attempts: u32) -> Duration {
        (1..attempts).map(|attempt| self.delay(attempt)).sum()
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_doubles_within_jitter_and_caps() {
        let backoff = Backoff::Exponential {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        for attempt in 1..=5u32 {
            let expect = Duration::from_secs(1 << (attempt - 1));
            let got = backoff.delay(attempt);
            assert!(
                got >= expect.mul_f64(0.75) && got <= expect.mul_f64(1.25),
                "{attempt}: {got:?}"
            );
        }
        assert!(backoff.delay(40) <= Duration::from_secs(60));
        assert!(backoff.delay(u32::MAX) <= Duration::from_secs(60));
    }

    #[test]
    fn smtp_grows_then_goes_daily_for_about_five_days() {
        let delays: Vec<_> = (1..Backoff::SMTP_ATTEMPTS)
            .map(|a| Backoff::Smtp.delay(a))
            .collect();
        assert!(delays.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(Backoff::Smtp.delay(30), Duration::from_secs(DAY_SECS));
        let total = Backoff::Smtp.total(Backoff::SMTP_ATTEMPTS).as_secs_f64() / DAY_SECS as f64;
        assert!((5.0..6.0).contains(&total), "{total} days");
    }

    #[test]
    fn table_steps_per_attempt_then_repeats_the_last() {
        const STEPS: &[Duration] = &[
            Duration::from_secs(2),
            Duration::ZERO,
            Duration::from_secs(60),
        ];
        let backoff = Backoff::Table(STEPS);
        let delays: Vec<_> = (1..=5).map(|a| backoff.delay(a)).collect();
        assert_eq!(
            delays,
            [
                Duration::from_secs(2),
                Duration::ZERO,
                Duration::from_secs(60),
                Duration::from_secs(60),
                Duration::from_secs(60)
            ]
        );
        // Attempt 0 reads as attempt 1; the largest attempt repeats the last step.
        assert_eq!(backoff.delay(0), Duration::from_secs(2));
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(60));
        assert_eq!(backoff.total(4), Duration::from_secs(62));
    }

    #[test]
    fn table_empty_means_no_delay() {
        let backoff = Backoff::Table(&[]);
        assert_eq!(backoff.delay(1), Duration::ZERO);
        assert_eq!(backoff.delay(u32::MAX), Duration::ZERO);
    }

    #[test]
    fn table_clamps_each_step_to_the_max_delay() {
        const STEPS: &[Duration] = &[Duration::MAX, Duration::from_secs(1)];
        let backoff = Backoff::Table(STEPS);
        assert_eq!(backoff.delay(1), limits::MAX_DELAY);
        assert_eq!(backoff.delay(2), Duration::from_secs(1));
    }

    #[test]
    fn table_reproduces_the_named_schedules() {
        let smtp: Vec<_> = SMTP_SCHEDULE_SECS
            .iter()
            .chain([DAY_SECS].iter())
            .map(|&secs| Duration::from_secs(secs))
            .collect();
        let table = Backoff::Table(smtp.leak());
        for attempt in 1..40 {
            assert_eq!(
                table.delay(attempt),
                Backoff::Smtp.delay(attempt),
                "{attempt}"
            );
        }
        const STEP: &[Duration] = &[Duration::from_secs(30)];
        let fixed = Backoff::Table(STEP);
        for attempt in [1, 2, 100] {
            assert_eq!(
                fixed.delay(attempt),
                Backoff::Fixed(Duration::from_secs(30)).delay(attempt)
            );
        }
    }

    #[test]
    fn every_schedule_is_clamped_to_the_max_delay() {
        assert_eq!(Backoff::Fixed(Duration::MAX).delay(1), limits::MAX_DELAY);
        let exponential = Backoff::Exponential {
            base: Duration::MAX,
            max: Duration::MAX,
        };
        for attempt in [1, 3, u32::MAX] {
            // Jitter may take up to a quarter off, never add past the cap.
            let delay = exponential.delay(attempt);
            assert!(delay <= limits::MAX_DELAY, "{delay:?}");
            assert!(delay >= limits::MAX_DELAY.mul_f64(0.75), "{delay:?}");
        }
    }
}
