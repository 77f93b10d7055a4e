use std::time::Duration;

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

    /// Returns the delay after attempt `attempt` (1-based) failed.
    #[must_use]
    pub fn delay(&self, attempt: u32) -> Duration {
        let attempt = attempt.max(1);
        match *self {
            Self::Fixed(delay) => delay,
            Self::Smtp => {
                let index = (attempt - 1) as usize;
                let secs = SMTP_SCHEDULE_SECS.get(index).copied().unwrap_or(DAY_SECS);
                Duration::from_secs(secs)
            }
            Self::Exponential { base, max } => {
                let factor = 1u32.checked_shl(attempt - 1).unwrap_or(u32::MAX);
                let raw = base.saturating_mul(factor).min(max);
                // Jitter in [-25%, +25%), so retries of many jobs failing together spread out.
                let jitter = 0.75 + fastrand::f64() * 0.5;
                raw.mul_f64(jitter).min(max)
            }
        }
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
}
