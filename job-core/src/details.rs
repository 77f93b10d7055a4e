use std::time::SystemTime;

use crate::JobId;

/// Everything stored about one job: DETAILS.
#[derive(Clone, Debug)]
#[non_exhaustive]
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
    /// The resource the job is bound to.
    pub resource: Option<String>,
    /// The unique key, as given (without its type).
    pub unique_key: Option<String>,
    /// The capabilities a worker needs to take it.
    pub requires: Vec<String>,
    /// The job that REPLACEd itself with this one.
    pub parent: Option<JobId>,
    /// This job's REPLACE children that were not stored because another live job held their
    /// unique key: `(child, live job)`, the first 100.
    pub duplicate_children: Vec<(JobId, JobId)>,
    /// When a worker last asked for jobs of this type (whatever its capabilities), by the
    /// backend's clock; `None` when no worker ever has. A ready job with `None` here waits for
    /// a worker that serves its type.
    pub served_at: Option<SystemTime>,
    /// The latest progress a handler reported (`Context::progress`, JSON), by any attempt.
    pub progress: Option<Vec<u8>>,
    /// When it was reported, by the backend's clock.
    pub progress_at: Option<SystemTime>,
}

impl Details {
    /// The details of job `id` of type `name` in `state` with arguments `payload`, the rest
    /// empty (no attempts, no times, no history); a backend sets the fields it knows.
    #[must_use]
    pub fn new(id: JobId, name: impl Into<String>, state: JobState, payload: Vec<u8>) -> Self {
        Self {
            id,
            name: name.into(),
            state,
            payload,
            priority: 0,
            attempts: 0,
            max_attempts: 0,
            lease_expiries: 0,
            defers: 0,
            created: SystemTime::UNIX_EPOCH,
            run_at: None,
            started: None,
            finished: None,
            holder: None,
            result: None,
            failures: Vec::new(),
            resource: None,
            unique_key: None,
            requires: Vec::new(),
            parent: None,
            duplicate_children: Vec::new(),
            served_at: None,
            progress: None,
            progress_at: None,
        }
    }
}

/// Who holds a job: machine, process and worker.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Holder {
    /// The host name.
    pub host: String,
    /// The process id.
    pub pid: u32,
    /// The worker's id, unique per worker instance.
    pub worker: String,
}

impl Holder {
    /// This process, with a fresh worker id.
    #[must_use]
    pub fn current() -> Self {
        Self {
            host: crate::host_name(),
            pid: std::process::id(),
            worker: JobId::new().to_string().to_lowercase(),
        }
    }
}

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobState {
    /// Ready to run.
    Ready,
    /// Waiting for its start time or its next attempt.
    Delayed,
    /// Waiting for its turn: an earlier job of its resource has not ended.
    Blocked,
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
            Self::Blocked => "blocked",
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
            "blocked" => Self::Blocked,
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
    /// The job needs a resource that a failed or cancelled create (or delete) leaves missing.
    Resource,
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
            Self::Resource => "resource",
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
            "resource" => Self::Resource,
            _ => return None,
        })
    }
}

/// A resource's state: whether it exists, the job running on it, and the jobs waiting for it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResourceState {
    /// The resource key.
    pub key: String,
    /// Whether it exists (recorded when its create and delete jobs complete).
    pub exists: bool,
    /// The job at the head of its FIFO, when that job is running.
    pub running: Option<JobId>,
    /// The jobs of its FIFO in order, the head first (at most the first 1,000).
    pub queued: Vec<JobId>,
    /// How many jobs its FIFO holds in all.
    pub total: usize,
}

impl ResourceState {
    /// Builds a resource state.
    #[must_use]
    pub fn new(
        key: String,
        exists: bool,
        running: Option<JobId>,
        queued: Vec<JobId>,
        total: usize,
    ) -> Self {
        Self {
            key,
            exists,
            running,
            queued,
            total,
        }
    }
}
