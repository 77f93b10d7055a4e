//! What a handler's end means for its job, decided in pure code: one function from how the run
//! ended, the job's options and its attempt to the transition to write. Tested below over every
//! row of README's "Outcomes and failures" table, without a backend.

use std::time::Duration;

use crate::error::chain;
use crate::outcome::OutcomeKind;
use crate::{Failure, FailureKind, FailureNote, JobOptions, NewJob, Release};

/// How a job's run ended, before anything is written back.
#[derive(Debug)]
pub(crate) enum Ended {
    /// The handler returned `Ok`.
    Outcome(OutcomeKind),
    /// The handler returned `Err`.
    Failed(Failure),
    /// The handler panicked, with this message.
    Panicked(String),
    /// The handler ran past its timeout, this long.
    TimedOut(Duration),
    /// The payload did not decode into its type (or no handler knows the type).
    Undecodable(crate::Error),
    /// The lease was lost: another worker owns the job now.
    LeaseLost,
    /// The lease ran out unrenewed (Redis unreachable or the connection stalled): another
    /// worker may own the job now.
    LeaseRanOut,
    /// Shutdown's grace period ran out before the handler returned.
    Aborted,
}

/// The transition to write for a job.
#[derive(Debug)]
pub(crate) enum Transition {
    /// COMPLETE, storing the result if any.
    Complete { result: Option<Vec<u8>> },
    /// REPLACE with these children.
    Replace(Vec<NewJob>),
    /// RELEASE: a defer (counted) or a shutdown hand-back.
    Release(Release),
    /// TEMP_FAIL: record the failure, retry after `retry_in` (or fail for good when the
    /// attempts are spent: the backend decides, it knows the count).
    TempFail {
        retry_in: Duration,
        note: FailureNote,
    },
    /// PERM_FAIL.
    PermFail(FailureNote),
    /// Write nothing (the job may be another worker's now); the reason, for the log.
    Nothing(&'static str),
}

/// A completion whose result is over `limit` bytes (the storage's, see
/// `Backend::result_limit`) fails its job for good instead, saying both sizes; anything else
/// stays as it is.
pub(crate) fn limit_result(transition: Transition, limit: Option<usize>) -> Transition {
    match (&transition, limit) {
        (
            Transition::Complete {
                result: Some(result),
            },
            Some(limit),
        ) if result.len() > limit => Transition::PermFail(FailureNote::new(
            FailureKind::Fatal,
            format!(
                "the result is {} bytes, over the limit of {limit} bytes (Config::max_result)",
                result.len()
            ),
        )),
        _ => transition,
    }
}

/// Decides the transition for a job whose run `ended` so, at `attempt` (from 1), under
/// `options` (the retry delay comes from its backoff unless the failure names one).
pub(crate) fn decide(ended: Ended, options: &JobOptions, attempt: u32) -> Transition {
    let backoff = || options.backoff().delay(attempt);
    match ended {
        Ended::Outcome(OutcomeKind::Complete { result }) => Transition::Complete { result },
        Ended::Outcome(OutcomeKind::Replace(children)) => Transition::Replace(children),
        Ended::Outcome(OutcomeKind::Defer(delay)) => {
            Transition::Release(Release::defer(delay, options.max_defers()))
        }
        Ended::Outcome(OutcomeKind::Invalid(error)) => {
            Transition::PermFail(FailureNote::new(FailureKind::Fatal, chain(&error)))
        }
        Ended::Failed(Failure::Retry { after, source }) => Transition::TempFail {
            retry_in: after.unwrap_or_else(backoff),
            note: FailureNote::new(FailureKind::Retry, chain(source.as_ref())),
        },
        Ended::Failed(Failure::Fatal { source }) => {
            Transition::PermFail(FailureNote::new(FailureKind::Fatal, chain(source.as_ref())))
        }
        Ended::Panicked(message) => Transition::TempFail {
            retry_in: backoff(),
            note: FailureNote::new(FailureKind::Panic, format!("handler panicked: {message}")),
        },
        Ended::TimedOut(limit) => Transition::TempFail {
            retry_in: backoff(),
            note: FailureNote::new(
                FailureKind::Timeout,
                format!("handler ran past its {limit:?} timeout"),
            ),
        },
        // Retrying cannot make a payload decode: fail it for good, with the reason.
        Ended::Undecodable(error) => {
            Transition::PermFail(FailureNote::new(FailureKind::Decode, chain(&error)))
        }
        Ended::LeaseLost => Transition::Nothing("lease lost; the job is another worker's now"),
        Ended::LeaseRanOut => Transition::Nothing(
            "lease ran out unrenewed; handler stopped, the job may be another worker's now",
        ),
        Ended::Aborted => Transition::Release(Release::shutdown()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Backoff, Outcome};

    const OPTIONS: JobOptions = JobOptions::new()
        .with_backoff(Backoff::Fixed(Duration::from_secs(7)))
        .with_max_defers(3);

    fn outcome(outcome: Outcome) -> Transition {
        decide(Ended::Outcome(outcome.0), &OPTIONS, 2)
    }

    fn failed(failure: Failure) -> Transition {
        decide(Ended::Failed(failure), &OPTIONS, 2)
    }

    fn note(transition: &Transition) -> (FailureKind, &str) {
        match transition {
            Transition::TempFail { note, .. } | Transition::PermFail(note) => {
                (note.kind, note.message.as_str())
            }
            other => panic!("no failure note in {other:?}"),
        }
    }

    #[test]
    fn decide_complete_stores_the_result() {
        assert!(matches!(
            outcome(Outcome::complete()),
            Transition::Complete { result: None }
        ));
        match outcome(Outcome::complete_with(&42)) {
            Transition::Complete { result } => assert_eq!(result.as_deref(), Some(&b"42"[..])),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_result_over_the_limit_fails_for_good_naming_both_sizes() {
        let complete = |bytes: usize| Transition::Complete {
            result: Some(vec![b'x'; bytes]),
        };
        match limit_result(complete(101), Some(100)) {
            Transition::PermFail(note) => {
                assert_eq!(note.kind, FailureKind::Fatal);
                assert!(
                    note.message.contains("101 bytes") && note.message.contains("100 bytes"),
                    "{}",
                    note.message
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            limit_result(complete(100), Some(100)),
            Transition::Complete { .. }
        ));
        assert!(matches!(
            limit_result(complete(101), None),
            Transition::Complete { .. }
        ));
        assert!(matches!(
            limit_result(Transition::Complete { result: None }, Some(0)),
            Transition::Complete { result: None }
        ));
    }

    #[test]
    fn decide_a_result_that_does_not_encode_fails_for_good() {
        struct Unencodable;
        impl serde::Serialize for Unencodable {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no"))
            }
        }
        let transition = outcome(Outcome::complete_with(&Unencodable));
        assert!(
            matches!(transition, Transition::PermFail(_)),
            "{transition:?}"
        );
        assert_eq!(note(&transition).0, FailureKind::Fatal);
    }

    #[test]
    fn decide_replace_carries_the_children() {
        let child = NewJob::from_parts("child", b"{}".to_vec(), JobOptions::new());
        match outcome(Outcome::replace_with(vec![child.clone()])) {
            Transition::Replace(children) => assert_eq!(children[0].id(), child.id()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn decide_defer_releases_against_the_defer_limit() {
        match outcome(Outcome::defer(Duration::from_secs(30))) {
            Transition::Release(release) => {
                assert_eq!(release.delay, Duration::from_secs(30));
                assert_eq!(release.defer_limit, Some(3));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn decide_retry_waits_the_backoff_or_the_given_delay() {
        let transition = failed(Failure::retry("flaky"));
        match &transition {
            Transition::TempFail { retry_in, .. } => assert_eq!(*retry_in, Duration::from_secs(7)),
            other => panic!("{other:?}"),
        }
        assert_eq!(note(&transition), (FailureKind::Retry, "flaky"));
        match failed(Failure::retry_after(Duration::from_secs(90), "later")) {
            Transition::TempFail { retry_in, .. } => assert_eq!(retry_in, Duration::from_secs(90)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn decide_fatal_fails_for_good_with_the_cause_chain() {
        let cause = std::io::Error::other("disk full");
        let transition = failed(Failure::fatal(cause));
        assert!(matches!(transition, Transition::PermFail(_)));
        assert_eq!(note(&transition), (FailureKind::Fatal, "disk full"));
    }

    #[test]
    fn decide_panic_and_timeout_retry_after_the_backoff() {
        let panicked = decide(Ended::Panicked("boom".into()), &OPTIONS, 1);
        assert_eq!(
            note(&panicked),
            (FailureKind::Panic, "handler panicked: boom")
        );
        let timed_out = decide(Ended::TimedOut(Duration::from_secs(5)), &OPTIONS, 1);
        assert_eq!(
            note(&timed_out),
            (FailureKind::Timeout, "handler ran past its 5s timeout")
        );
        for transition in [panicked, timed_out] {
            assert!(
                matches!(transition, Transition::TempFail { retry_in, .. } if retry_in == Duration::from_secs(7))
            );
        }
    }

    #[test]
    fn decide_an_undecodable_payload_fails_for_good_at_once() {
        let error = crate::Error::UnknownType {
            job_type: "gone".into(),
        };
        let transition = decide(Ended::Undecodable(error), &OPTIONS, 1);
        assert!(matches!(transition, Transition::PermFail(_)));
        assert_eq!(
            note(&transition),
            (FailureKind::Decode, "unknown job type `gone`")
        );
    }

    #[test]
    fn decide_a_lost_or_expired_lease_writes_nothing_and_shutdown_hands_back() {
        assert!(matches!(
            decide(Ended::LeaseLost, &OPTIONS, 1),
            Transition::Nothing(_)
        ));
        assert!(matches!(
            decide(Ended::LeaseRanOut, &OPTIONS, 1),
            Transition::Nothing(_)
        ));
        match decide(Ended::Aborted, &OPTIONS, 1) {
            Transition::Release(release) => {
                assert_eq!(release.delay, Duration::ZERO);
                assert_eq!(release.defer_limit, None, "not counted as a defer");
            }
            other => panic!("{other:?}"),
        }
    }
}
