use std::fmt;
use std::future::Future;
use std::sync::Arc;

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::worker::Leases;
use crate::{Backend, Error, Failure, FailureRecord, Job, JobId, Lease, Outcome};

/// A typed handler: how a job of this type runs, with shared state `State`.
///
/// ```
/// # extern crate job_core as job;
/// use serde::{Deserialize, Serialize};
/// use job_core::{Context, Failure, Job, Outcome, Run};
///
/// #[derive(Job, Serialize, Deserialize)]
/// struct Add { a: i64, b: i64 }
///
/// struct App;
///
/// impl Run<App> for Add {
///     async fn run(self, _cx: &Context<App>) -> Result<Outcome, Failure> {
///         Ok(Outcome::complete_with(&(self.a + self.b)))
///     }
/// }
/// ```
pub trait Run<State>: Job {
    /// Runs the job. `Ok` completes, replaces or defers it; `Err` retries or fails it.
    fn run(self, cx: &Context<State>) -> impl Future<Output = Result<Outcome, Failure>> + Send;
}

/// What a handler knows about its job and the worker running it.
pub struct Context<State> {
    lease: Lease,
    attempt: u32,
    state: Arc<State>,
    cancel: CancellationToken,
    ops: Arc<dyn LeaseOps>,
    leases: Arc<Leases>,
}

impl<State> Context<State> {
    pub(crate) fn new(
        lease: Lease,
        attempt: u32,
        state: Arc<State>,
        cancel: CancellationToken,
        ops: Arc<dyn LeaseOps>,
        leases: Arc<Leases>,
    ) -> Self {
        Self {
            lease,
            attempt,
            state,
            cancel,
            ops,
            leases,
        }
    }

    /// Returns the job's id.
    pub fn id(&self) -> JobId {
        self.lease.id
    }

    /// Returns this attempt's number, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Returns the fencing token of this attempt: it grows with every grab, so a side effect
    /// stamped with it can refuse a write from an older, lost attempt.
    pub fn token(&self) -> u64 {
        self.lease.token
    }

    /// Returns the job's lease (id, token, duration and shard), for a handler that calls the
    /// backend about its own job.
    pub fn lease(&self) -> Lease {
        self.lease
    }

    /// Returns the worker's shared state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Whether the job should stop: its lease was lost or is running out unrenewed, its timeout
    /// passed, or the worker is shutting down past its grace period. A handler that does not
    /// stop is aborted at its next `.await` shortly after (never later than its lease's local
    /// deadline).
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Resolves when the job should stop (see [`Context::is_cancelled`]).
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.cancel.cancelled()
    }

    /// Renews the lease now, beyond the worker's own renewals every lease/4.
    ///
    /// # Errors
    ///
    /// [`Error::LeaseLost`] when another worker holds the job now (the handler should stop);
    /// [`Error::Backend`] when the backend cannot be reached.
    pub async fn heartbeat(&self) -> Result<(), Error> {
        let sent = tokio::time::Instant::now();
        if self.ops.heartbeat(self.lease).await? {
            self.leases.renewed(sent, &[self.lease], &[true]);
            Ok(())
        } else {
            self.cancel.cancel();
            Err(Error::LeaseLost { id: self.lease.id })
        }
    }

    /// Reports the job's progress, a small JSON value (`{"done": 40, "of": 100}`), which
    /// `details()` shows while the job runs and after. Fenced by the lease: a handler whose
    /// lease is gone reports nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Progress`] when the value does not encode or is over
    /// [`MAX_PROGRESS`](crate::limits::MAX_PROGRESS) bytes; [`Error::LeaseLost`] when another
    /// worker holds the job now; [`Error::Backend`] when the backend cannot be reached.
    pub async fn progress(&self, value: &impl serde::Serialize) -> Result<(), Error> {
        let id = self.lease.id;
        let value = serde_json::to_vec(value).map_err(|error| Error::Progress {
            id,
            reason: error.to_string(),
        })?;
        let limit = crate::limits::MAX_PROGRESS;
        if value.len() > limit {
            return Err(Error::Progress {
                id,
                reason: format!("{} bytes, over the limit of {limit} bytes", value.len()),
            });
        }
        if self.ops.progress(self.lease, &value).await? {
            Ok(())
        } else {
            self.cancel.cancel();
            Err(Error::LeaseLost { id })
        }
    }

    /// Returns the job's failure history, oldest first.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] when the backend cannot be reached.
    pub async fn failures(&self) -> Result<Vec<FailureRecord>, Error> {
        self.ops.failures(self.lease.id).await
    }
}

impl<State> fmt::Debug for Context<State> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("id", &self.lease.id)
            .field("attempt", &self.attempt)
            .field("token", &self.lease.token)
            .finish_non_exhaustive()
    }
}

/// The backend calls a [`Context`] makes, with the backend's type erased.
#[async_trait::async_trait]
pub(crate) trait LeaseOps: Send + Sync {
    async fn heartbeat(&self, lease: Lease) -> Result<bool, Error>;
    async fn failures(&self, id: JobId) -> Result<Vec<FailureRecord>, Error>;
    async fn progress(&self, lease: Lease, value: &[u8]) -> Result<bool, Error>;
}

#[async_trait::async_trait]
impl<B: Backend> LeaseOps for B {
    async fn heartbeat(&self, lease: Lease) -> Result<bool, Error> {
        let held = Backend::heartbeat(self, &[lease])
            .await
            .map_err(|e| Error::Backend(Box::new(e)))?;
        Ok(held.first().copied().unwrap_or(false))
    }

    async fn failures(&self, id: JobId) -> Result<Vec<FailureRecord>, Error> {
        Backend::failures(self, id)
            .await
            .map_err(|e| Error::Backend(Box::new(e)))
    }

    async fn progress(&self, lease: Lease, value: &[u8]) -> Result<bool, Error> {
        Backend::progress(self, &lease, value)
            .await
            .map_err(|e| Error::Backend(Box::new(e)))
    }
}
