use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::{BoxError, Error, Job, NewJob};

/// What a handler did with its job, when it did not fail.
///
/// ```
/// use std::time::Duration;
/// use job_core::Outcome;
///
/// let done = Outcome::complete();
/// let with_result = Outcome::complete_with(&42);
/// let later = Outcome::defer(Duration::from_secs(30)); // not now: no attempt spent
/// # let _ = (done, with_result, later);
/// ```
#[derive(Debug)]
pub struct Outcome(pub(crate) OutcomeKind);

#[derive(Debug)]
pub(crate) enum OutcomeKind {
    Complete { result: Option<Vec<u8>> },
    Replace(Vec<NewJob>),
    Defer(Duration),
    Invalid(Error),
}

impl Outcome {
    /// The job is done.
    #[must_use]
    pub fn complete() -> Self {
        Self(OutcomeKind::Complete { result: None })
    }

    /// The job is done, and `result` is stored on it (JSON), readable through its details.
    #[must_use]
    pub fn complete_with<T: Serialize + ?Sized>(result: &T) -> Self {
        match serde_json::to_vec(result) {
            Ok(bytes) => Self(OutcomeKind::Complete {
                result: Some(bytes),
            }),
            Err(source) => Self(OutcomeKind::Invalid(Error::Encode {
                job_type: "result".to_owned(),
                source,
            })),
        }
    }

    /// The job is done and these jobs take its place, atomically: either the job completes and
    /// every child is inserted, or nothing changes. (On a sharded backend such as a Redis
    /// Cluster, children that live in another shard are queued atomically with the completion
    /// and inserted in their shard right after, exactly once.)
    #[must_use]
    pub fn replace<J: Job>(children: impl IntoIterator<Item = J>) -> Self {
        let children: Result<Vec<_>, _> =
            children.into_iter().map(|job| NewJob::new(&job)).collect();
        match children {
            Ok(children) => Self(OutcomeKind::Replace(children)),
            Err(error) => Self(OutcomeKind::Invalid(error)),
        }
    }

    /// Like [`Outcome::replace`], with children of mixed types built by [`NewJob::new`].
    #[must_use]
    pub fn replace_with(children: Vec<NewJob>) -> Self {
        Self(OutcomeKind::Replace(children))
    }

    /// Not now: the job goes back to waiting for `after`, without spending an attempt or
    /// writing a failure. A job that defers more than its type's `max_defers` fails for good.
    #[must_use]
    pub fn defer(after: Duration) -> Self {
        Self(OutcomeKind::Defer(after))
    }
}

/// Why a handler did not finish its job. `?` on any error gives [`Failure::Retry`].
///
/// ```
/// use job_core::Failure;
///
/// fn parse(input: &str) -> Result<u32, Failure> {
///     if input.is_empty() {
///         return Err(Failure::fatal("empty input")); // retrying cannot help
///     }
///     Ok(input.parse::<u32>()?) // a parse error is retried with the type's backoff
/// }
/// assert!(matches!(parse(""), Err(Failure::Fatal { .. })));
/// assert!(matches!(parse("x"), Err(Failure::Retry { after: None, .. })));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Failure {
    /// Try again: after `after`, or after the type's backoff when `None`.
    Retry {
        /// An explicit delay, overriding the backoff.
        after: Option<Duration>,
        /// The cause, recorded in the job's failure history.
        source: BoxError,
    },
    /// Fail for good: no more attempts.
    Fatal {
        /// The cause, recorded in the job's failure history.
        source: BoxError,
    },
}

impl Failure {
    /// A temporary failure, retried after the type's backoff.
    pub fn retry(source: impl Into<BoxError>) -> Self {
        Self::Retry {
            after: None,
            source: source.into(),
        }
    }

    /// A temporary failure, retried after `after`.
    pub fn retry_after(after: Duration, source: impl Into<BoxError>) -> Self {
        Self::Retry {
            after: Some(after),
            source: source.into(),
        }
    }

    /// A permanent failure.
    pub fn fatal(source: impl Into<BoxError>) -> Self {
        Self::Fatal {
            source: source.into(),
        }
    }

    /// Returns the cause.
    #[must_use]
    pub fn source(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        match self {
            Self::Retry { source, .. } | Self::Fatal { source } => source.as_ref(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The whole chain, so the failure history says everything.
        f.write_str(&crate::error::chain(self.source()))
    }
}

impl<E> From<E> for Failure
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        Self::retry(error)
    }
}
