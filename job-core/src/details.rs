use std::time::SystemTime;

use crate::{Holder, JobId};

/// Everything stored about one job: DETAILS.
#[derive(Clone, Debug)]
pub struct Details {
    /// The id.
    pub id: JobId,
    /// The wire name of the type.
    pub name: String,
    /// Where the job is now.
    pub state: JobState,
    /// The encoded arguments.
    pub payload: Vec<u8>,
    /// The priority.
    pub priority: i8,
    /// Attempts started and not handed back.
    pub attempts: u32,
    /// The attempt limit.
    pub max_attempts: u32,
    /// Times its lease ran out (counted apart from attempts).
    pub lease_expiries: u32,
    /// Times it deferred itself.
    pub defers: u32,
    /// When it was inserted.
    pub created: SystemTime,
    /// When it may run next (for waiting jobs).
    pub run_at: Option<SystemTime>,
    /// When its latest attempt started.
    pub started: Option<SystemTime>,
    /// When it ended.
    pub finished: Option<SystemTime>,
    /// Who holds it now, while it runs.
    pub holder: Option<Holder>,
    /// The result stored on completion (JSON).
    pub result: Option<Vec<u8>>,
    /// The failure history, oldest first, capped.
    pub failures: Vec<FailureRecord>,
}

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobState {
    /// Ready to run.
    Ready,
    /// Waiting for its start time or its next attempt.
    Delayed,
    /// Leased by a worker.
    Running,
    /// Completed (or replaced by its children).
    Completed,
    /// Failed for good.
    Failed,
    /// Cancelled before it ran.
    Cancelled,
}

impl FailureRecord {
    /// Builds a record.
    #[must_use]
    pub fn new(
        at: SystemTime,
        attempt: u32,
        kind: FailureKind,
        message: String,
        holder: Option<Holder>,
    ) -> Self {
        Self {
            at,
            attempt,
            kind,
            message,
            holder,
        }
    }
}

impl JobState {
    /// Returns the name stored in Redis.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Delayed => "delayed",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses the name stored in Redis.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "ready" => Self::Ready,
            "delayed" => Self::Delayed,
            "running" => Self::Running,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }

    /// Whether the job has ended.
    #[must_use]
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

/// One entry of a job's failure history.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailureRecord {
    /// When it happened.
    pub at: SystemTime,
    /// The attempt that failed.
    pub attempt: u32,
    /// What kind of failure.
    pub kind: FailureKind,
    /// The message.
    pub message: String,
    /// Who held the job then.
    pub holder: Option<Holder>,
}

/// The kinds of failure a history records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// The handler returned [`Failure::Retry`](crate::Failure::Retry).
    Retry,
    /// The handler returned [`Failure::Fatal`](crate::Failure::Fatal).
    Fatal,
    /// The handler panicked.
    Panic,
    /// The handler ran past its timeout.
    Timeout,
    /// The payload did not decode, or no handler knows the type.
    Decode,
    /// The lease ran out before the job finished.
    LeaseExpired,
    /// The job deferred itself more times than allowed.
    DeferLimit,
}

impl FailureKind {
    /// Returns the name stored in Redis.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Retry => "retry",
            Self::Fatal => "fatal",
            Self::Panic => "panic",
            Self::Timeout => "timeout",
            Self::Decode => "decode",
            Self::LeaseExpired => "lease_expired",
            Self::DeferLimit => "defer_limit",
        }
    }

    /// Parses the name stored in Redis.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "retry" => Self::Retry,
            "fatal" => Self::Fatal,
            "panic" => Self::Panic,
            "timeout" => Self::Timeout,
            "decode" => Self::Decode,
            "lease_expired" => Self::LeaseExpired,
            "defer_limit" => Self::DeferLimit,
            _ => return None,
        })
    }
}
