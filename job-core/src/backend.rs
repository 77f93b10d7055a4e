use std::future::Future;
use std::time::Duration;

use crate::{FailureKind, FailureRecord, Holder, JobId, NewJob};

/// A storage engine for jobs: one method per atomic state transition.
///
/// job-redis implements it; the worker runtime drives it. Users who write their own loop call
/// the same methods. Every method is safe to retry after a timeout: inserts carry client ids
/// (a repeat answers [`Inserted::Exists`]) and transitions carry fencing tokens (a stale one
/// answers [`Ack::Lost`] and changes nothing).
pub trait Backend: Clone + Send + Sync + 'static {
    /// The backend's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Inserts jobs, all or each as one atomic step per batch.
    fn insert_many(
        &self,
        jobs: &[NewJob],
    ) -> impl Future<Output = Result<Vec<Inserted>, Self::Error>> + Send;

    /// Leases up to `grab.limit` ready jobs of `grab.types`, highest priority first, then FIFO.
    fn grab(&self, grab: &Grab<'_>) -> impl Future<Output = Result<Grabbed, Self::Error>> + Send;

    /// Completes jobs, storing each one's result if it has one.
    fn complete(
        &self,
        done: &[Completion],
    ) -> impl Future<Output = Result<Vec<Ack>, Self::Error>> + Send;

    /// Completes `done`, then grabs: the worker sends the jobs it finished with its next grab.
    /// A backend that can do both in one round trip overrides this; the default completes,
    /// then grabs. An error may come after the completions were written: sent again, they
    /// answer [`Ack::Lost`] and change nothing.
    fn complete_and_grab(
        &self,
        done: &[Completion],
        grab: &Grab<'_>,
    ) -> impl Future<Output = Result<(Vec<Ack>, Grabbed), Self::Error>> + Send {
        async move {
            let acks = if done.is_empty() {
                Vec::new()
            } else {
                self.complete(done).await?
            };
            Ok((acks, self.grab(grab).await?))
        }
    }

    /// Records a temporary failure and schedules the next attempt in `retry_in`; past the job's
    /// attempt limit the job fails for good instead ([`Ack::Failed`]).
    fn temp_fail(
        &self,
        lease: &Lease,
        retry_in: Duration,
        failure: &FailureNote,
    ) -> impl Future<Output = Result<Ack, Self::Error>> + Send;

    /// Records a permanent failure.
    fn perm_fail(
        &self,
        lease: &Lease,
        failure: &FailureNote,
    ) -> impl Future<Output = Result<Ack, Self::Error>> + Send;

    /// Completes the job and inserts `children`, in one atomic step; answers each child as
    /// an insert does (a child whose unique key is live is a [`Inserted::Duplicate`]).
    fn replace(
        &self,
        lease: &Lease,
        children: &[NewJob],
    ) -> impl Future<Output = Result<(Ack, Vec<Inserted>), Self::Error>> + Send;

    /// Hands a job back to waiting after `delay` without spending an attempt: a defer
    /// (counted against `max_defers`) or a shutdown (not counted).
    fn release(
        &self,
        lease: &Lease,
        release: &Release,
    ) -> impl Future<Output = Result<Ack, Self::Error>> + Send;

    /// Renews leases; answers, per lease, whether it is still held.
    fn heartbeat(
        &self,
        leases: &[Lease],
    ) -> impl Future<Output = Result<Vec<bool>, Self::Error>> + Send;

    /// Blocks until a job that `grab` could take may be ready, or `timeout` passes.
    fn wait(
        &self,
        grab: &Grab<'_>,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Records a running worker and the options of the types it runs (again every
    /// [`REGISTER_EVERY`](crate::REGISTER_EVERY) while it runs), for tools. None by default.
    fn register(
        &self,
        worker: &crate::WorkerInfo,
        types: &[crate::TypeInfo],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let _ = (worker, types);
        async { Ok(()) }
    }

    /// Forgets a worker that stopped. None by default.
    fn unregister(&self, worker: &str) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let _ = worker;
        async { Ok(()) }
    }

    /// Stores a held job's progress (JSON, at most
    /// [`MAX_PROGRESS`](crate::limits::MAX_PROGRESS) bytes), fenced by the lease's token: false
    /// when the lease is no longer the job's (nothing stored). The default stores nothing and
    /// answers true.
    fn progress(
        &self,
        lease: &Lease,
        value: &[u8],
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        let _ = (lease, value);
        async { Ok(true) }
    }

    /// Returns a job's failure history, oldest first.
    fn failures(
        &self,
        id: JobId,
    ) -> impl Future<Output = Result<Vec<FailureRecord>, Self::Error>> + Send;

    /// Returns warnings about the storage's settings that put jobs at risk (for Redis: an
    /// eviction policy that may delete jobs), each a sentence for the log. The worker logs them
    /// once when it starts. None by default.
    fn warnings(&self) -> impl Future<Output = Result<Vec<String>, Self::Error>> + Send {
        async { Ok(Vec::new()) }
    }

    /// The largest result a job may complete with, in bytes, if the storage sets one: the
    /// worker fails a job whose handler returns a larger one for good, saying both sizes.
    fn result_limit(&self) -> Option<usize> {
        None
    }

    /// Runs the scheduler of the backend's schedules until `stop` fires (see
    /// [`Schedule`](crate::Schedule)); a worker runs one unless told not to. Errors it can
    /// recover from are its own to log and retry. None by default: returns at once.
    fn run_scheduler(
        &self,
        stop: tokio_util::sync::CancellationToken,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let _ = stop;
        async { Ok(()) }
    }

    /// Whether an error says the call itself is wrong (a child too large, a resource that will
    /// not exist), so repeating it cannot succeed. Others (the storage unreachable, restarting)
    /// are retried. None is by default.
    fn is_permanent(error: &Self::Error) -> bool {
        let _ = error;
        false
    }
}

/// The answer for one inserted job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Inserted {
    /// The job was stored under this id.
    New(JobId),
    /// A job with this id was already stored (a retried insert); nothing changed.
    Exists(JobId),
    /// A live job of the same type holds the unique key: this is its id; nothing was stored.
    Duplicate(JobId),
}

impl Inserted {
    /// Returns the id of the job that stands for the insert: the new one, the stored one, or
    /// the live duplicate.
    #[must_use]
    pub fn id(&self) -> JobId {
        match *self {
            Self::New(id) | Self::Exists(id) | Self::Duplicate(id) => id,
        }
    }

    /// Whether the insert was answered by a live job holding the same unique key.
    #[must_use]
    pub fn is_duplicate(&self) -> bool {
        matches!(self, Self::Duplicate(_))
    }
}

/// A request to lease ready jobs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Grab<'a> {
    /// The wire names of the types to take.
    pub types: &'a [&'a str],
    /// The most jobs to take.
    pub limit: usize,
    /// The lease for jobs whose type sets none.
    pub lease: Duration,
    /// Who takes them (recorded on each job as its holder).
    pub holder: &'a Holder,
    /// What the taker can do: jobs that require more are left for others.
    pub capabilities: &'a [String],
    /// Only jobs whose attributes (set at enqueue) equal these; see [`Grab::with_filter`].
    pub filter: &'a [(String, String)],
}

impl<'a> Grab<'a> {
    /// Builds a grab of up to `limit` jobs of `types`, held by `holder` for `lease`.
    #[must_use]
    pub fn new(types: &'a [&'a str], limit: usize, lease: Duration, holder: &'a Holder) -> Self {
        Self {
            types,
            limit,
            lease,
            holder,
            capabilities: &[],
            filter: &[],
        }
    }

    /// Takes jobs that require these capabilities (or fewer), like `"gpu"` or `"region=eu"`.
    #[must_use]
    pub fn with_capabilities(mut self, capabilities: &'a [String]) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// Takes only jobs whose attributes equal all of `filter`. A filtered grab looks at the
    /// first 1,000 ready jobs over all its queues only (an equal share of each; a script must
    /// stay short): a matching job further back is not found until those ahead of it are gone.
    #[must_use]
    pub fn with_filter(mut self, filter: &'a [(String, String)]) -> Self {
        self.filter = filter;
        self
    }
}

/// The answer to a grab.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Grabbed {
    /// The leased jobs, in (priority, FIFO) order.
    pub jobs: Vec<GrabbedJob>,
    /// When the grab leased nothing: how long until a delayed job or an expiring lease may
    /// need attention, if any (a caller that got jobs grabs again before it waits).
    pub next_wake: Option<Duration>,
}

impl Grabbed {
    /// Builds a grab's answer.
    #[must_use]
    pub fn new(jobs: Vec<GrabbedJob>, next_wake: Option<Duration>) -> Self {
        Self { jobs, next_wake }
    }
}

/// A leased job, as the grab returned it.
#[derive(Debug)]
#[non_exhaustive]
pub struct GrabbedJob {
    /// The lease to present on every later transition.
    pub lease: Lease,
    /// The wire name of the job's type.
    pub name: String,
    /// The encoded arguments.
    pub payload: Vec<u8>,
    /// This attempt's number, from 1.
    pub attempt: u32,
    /// The attempt limit.
    pub max_attempts: u32,
    /// Since when it could run (it was inserted, or its delay or retry came due), by the
    /// backend's clock, when the backend knows: the worker reports the wait until it started.
    pub ready_since: Option<std::time::SystemTime>,
}

impl GrabbedJob {
    /// Builds a leased job.
    #[must_use]
    pub fn new(
        lease: Lease,
        name: String,
        payload: Vec<u8>,
        attempt: u32,
        max_attempts: u32,
    ) -> Self {
        Self {
            lease,
            name,
            payload,
            attempt,
            max_attempts,
            ready_since: None,
        }
    }

    /// Sets since when the job could run.
    #[must_use]
    pub fn ready_since(mut self, at: std::time::SystemTime) -> Self {
        self.ready_since = Some(at);
        self
    }
}

/// A held lease: the job and the fencing token its grab issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Lease {
    /// The job.
    pub id: JobId,
    /// The fencing token; transitions with an older token answer [`Ack::Lost`].
    pub token: u64,
    /// How long each renewal holds the job.
    pub duration: Duration,
    /// Which shard of the backend holds the job (0 on a backend with one).
    pub shard: u16,
}

impl Lease {
    /// Builds a lease on shard 0.
    #[must_use]
    pub fn new(id: JobId, token: u64, duration: Duration) -> Self {
        Self {
            id,
            token,
            duration,
            shard: 0,
        }
    }

    /// Sets the shard that holds the job.
    #[must_use]
    pub fn on_shard(mut self, shard: u16) -> Self {
        self.shard = shard;
        self
    }
}

/// A completion to acknowledge.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Completion {
    /// The lease.
    pub lease: Lease,
    /// The result to store on the job (JSON), if any.
    pub result: Option<Vec<u8>>,
}

impl Completion {
    /// Builds a completion.
    #[must_use]
    pub fn new(lease: Lease, result: Option<Vec<u8>>) -> Self {
        Self { lease, result }
    }
}

/// A failure to record in a job's history.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FailureNote {
    /// What kind of failure.
    pub kind: FailureKind,
    /// The message, with its cause chain.
    pub message: String,
}

impl FailureNote {
    /// Builds a note.
    #[must_use]
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// A hand-back of a held job without spending an attempt.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Release {
    /// How long before it may run again.
    pub delay: Duration,
    /// `Some(limit)` for a defer, counted against `limit`; `None` for a shutdown hand-back.
    pub defer_limit: Option<u32>,
}

impl Release {
    /// A shutdown hand-back: ready again at once, at its old place.
    #[must_use]
    pub fn shutdown() -> Self {
        Self {
            delay: Duration::ZERO,
            defer_limit: None,
        }
    }

    /// A defer: ready again after `delay`; past `limit` defers the job fails for good.
    #[must_use]
    pub fn defer(delay: Duration, limit: u32) -> Self {
        Self {
            delay,
            defer_limit: Some(limit),
        }
    }
}

/// The answer to a transition on a held job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ack {
    /// Done as asked.
    Ok,
    /// Retry asked, but the attempts are spent: the job failed for good.
    Failed,
    /// The lease is gone (expired and re-leased, or the job ended): nothing changed.
    Lost,
}
