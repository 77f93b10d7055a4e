//! One job's run: decode, call the handler in its own task (a panic is caught there), bound it
//! by the timeout and the lease, then turn its result into the backend transition.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::outcome::OutcomeKind;
use crate::run::LeaseOps;
use crate::{
    Ack, Backend, Completion, Context, Dispatch, Failure, FailureKind, FailureNote, GrabbedJob,
    JobOptions, Release,
};

use super::heartbeat::Leases;
use super::persist;
use crate::error::chain;

/// How long a cancelled handler may take to return before it is aborted (less when its lease
/// runs out sooner).
const CANCEL_GRACE: Duration = Duration::from_secs(1);

/// Everything one job's task needs.
pub(crate) struct Run<S, State, B> {
    pub(crate) job: GrabbedJob,
    /// When the grab that leased the job was sent: the lease counts from then.
    pub(crate) sent: Instant,
    pub(crate) backend: B,
    pub(crate) state: Arc<State>,
    pub(crate) ops: Arc<dyn LeaseOps>,
    pub(crate) leases: Arc<Leases>,
    /// The ack task's queue; `None` completes at once (a drain must see every completion
    /// written before it decides that nothing is left).
    pub(crate) acks: Option<mpsc::UnboundedSender<Completion>>,
    pub(crate) abort: CancellationToken,
    pub(crate) worker_id: String,
    pub(crate) set: PhantomData<fn() -> S>,
}

/// How a handler's run ended, before it is written back.
enum Ended {
    Outcome(OutcomeKind),
    Failed(Failure),
    Panicked(String),
    TimedOut(Duration),
    /// The lease was lost: another worker owns the job now; write nothing.
    LeaseLost,
    /// The lease ran out unrenewed (Redis unreachable or the connection stalled): another
    /// worker may own the job now; write nothing.
    LeaseRanOut,
    /// Shutdown's grace period ran out: hand the job back.
    Aborted,
}

impl<S, State, B> Run<S, State, B>
where
    S: Dispatch<State>,
    State: Send + Sync + 'static,
    B: Backend,
{
    pub(crate) async fn execute(self) {
        let span = tracing::info_span!(
            "job",
            job.id = %self.job.lease.id,
            job.r#type = %self.job.name,
            job.attempt = self.job.attempt,
            worker.id = %self.worker_id,
        );
        async move {
            let lease = self.job.lease;
            let options = S::options(&self.job.name).unwrap_or_default();
            let job = match S::decode(&self.job.name, &self.job.payload) {
                Ok(job) => job,
                Err(error) => {
                    // Retrying cannot make a payload decode: fail it for good, with the reason.
                    tracing::error!(error = %chain(&error), "job does not decode; failing it");
                    let note = FailureNote::new(FailureKind::Decode, chain(&error));
                    persist("perm_fail", || self.backend.perm_fail(&lease, &note)).await;
                    return;
                }
            };
            let cancel = CancellationToken::new();
            self.leases.insert(lease, cancel.clone(), self.sent);
            tracing::debug!("job started");
            let ended = self.run_handler(job, &options, cancel).await;
            self.leases.remove(&lease);
            self.finish(ended, &options).await;
        }
        .instrument(span)
        .await;
    }

    async fn run_handler(&self, job: S, options: &JobOptions, cancel: CancellationToken) -> Ended {
        let lease = self.job.lease;
        let cx = Context::new(
            lease,
            self.job.attempt,
            self.state.clone(),
            cancel.clone(),
            self.ops.clone(),
            self.leases.clone(),
        );
        let mut handle = tokio::spawn(async move { job.dispatch(&cx).await }.in_current_span());
        let timeout = async {
            match options.timeout() {
                Some(limit) => {
                    tokio::time::sleep(limit).await;
                    limit
                }
                None => std::future::pending().await,
            }
        };
        let ended = tokio::select! {
            joined = &mut handle => match joined {
                Ok(Ok(outcome)) => return Ended::Outcome(outcome.0),
                Ok(Err(failure)) => return Ended::Failed(failure),
                Err(error) if error.is_panic() => return Ended::Panicked(panic_message(error.into_panic())),
                Err(_) => Ended::Aborted,
            },
            limit = timeout => Ended::TimedOut(limit),
            () = cancel.cancelled() => Ended::LeaseLost,
            () = self.leases.running_out(&lease) => Ended::LeaseRanOut,
            () = self.abort.cancelled() => Ended::Aborted,
        };
        // Cooperative first: the handler sees `cx.cancelled()` and may stop cleanly; past the
        // grace, and never later than the lease's local deadline, its task is aborted, and
        // waited for, so it has stopped before Redis may hand the job to another worker. What
        // it returns then is not written: the decision is made.
        cancel.cancel();
        let now = Instant::now();
        let abort_at = match self.leases.stop_by(&lease) {
            Some(stop_by) => stop_by.min(now + CANCEL_GRACE),
            None => now + CANCEL_GRACE,
        };
        if tokio::time::timeout_at(abort_at, &mut handle)
            .await
            .is_err()
        {
            handle.abort();
            let _ = handle.await;
        }
        ended
    }

    async fn finish(&self, ended: Ended, options: &JobOptions) {
        let lease = self.job.lease;
        let backend = &self.backend;
        let retry_in = |after: Option<Duration>| {
            after.unwrap_or_else(|| options.backoff().delay(self.job.attempt))
        };
        let ack = match ended {
            Ended::Outcome(OutcomeKind::Complete { result }) => {
                tracing::debug!("job completed");
                // Batched by the ack task; a closed channel means shutdown is flushing.
                let completion = Completion::new(lease, result);
                let unsent = match &self.acks {
                    Some(acks) => acks.send(completion).err().map(|unsent| unsent.0),
                    None => Some(completion),
                };
                if let Some(completion) = unsent {
                    let done = [completion];
                    persist("complete", || backend.complete(&done)).await;
                }
                return;
            }
            Ended::Outcome(OutcomeKind::Replace(children)) => {
                tracing::debug!(children = children.len(), "job replaced");
                // Retried while the storage is away (a retry after a REPLACE that did happen
                // answers `lost`, so the children are inserted once); a child that cannot be
                // stored (too large, refused) will not fit on a retry either.
                let replaced = persist("replace", || async {
                    match backend.replace(&lease, &children).await {
                        Ok((ack, answers)) => {
                            report_duplicates(&children, &answers);
                            Ok(Ok(ack))
                        }
                        Err(error) if B::is_permanent(&error) => Ok(Err(error)),
                        Err(error) => Err(error),
                    }
                })
                .await;
                match replaced {
                    Some(Ok(ack)) => Some(ack),
                    Some(Err(error)) => {
                        let note = FailureNote::new(
                            FailureKind::Fatal,
                            format!("replace failed: {}", chain(&error)),
                        );
                        persist("perm_fail", || backend.perm_fail(&lease, &note)).await
                    }
                    None => None,
                }
            }
            Ended::Outcome(OutcomeKind::Defer(delay)) => {
                let release = Release::defer(delay, options.max_defers());
                persist("defer", || backend.release(&lease, &release)).await
            }
            Ended::Outcome(OutcomeKind::Invalid(error)) => {
                let note = FailureNote::new(FailureKind::Fatal, chain(&error));
                persist("perm_fail", || backend.perm_fail(&lease, &note)).await
            }
            Ended::Failed(Failure::Retry { after, source }) => {
                let note = FailureNote::new(FailureKind::Retry, chain(source.as_ref()));
                let delay = retry_in(after);
                tracing::warn!(error = %note.message, retry_in = ?delay, "job failed; will retry");
                persist("temp_fail", || backend.temp_fail(&lease, delay, &note)).await
            }
            Ended::Failed(Failure::Fatal { source }) => {
                let note = FailureNote::new(FailureKind::Fatal, chain(source.as_ref()));
                tracing::error!(error = %note.message, "job failed for good");
                persist("perm_fail", || backend.perm_fail(&lease, &note)).await
            }
            Ended::Panicked(message) => {
                let note =
                    FailureNote::new(FailureKind::Panic, format!("handler panicked: {message}"));
                tracing::warn!(error = %note.message, "job panicked; will retry");
                persist("temp_fail", || {
                    backend.temp_fail(&lease, retry_in(None), &note)
                })
                .await
            }
            Ended::TimedOut(limit) => {
                let note = FailureNote::new(
                    FailureKind::Timeout,
                    format!("handler ran past its {limit:?} timeout"),
                );
                tracing::warn!(error = %note.message, "job timed out; will retry");
                persist("temp_fail", || {
                    backend.temp_fail(&lease, retry_in(None), &note)
                })
                .await
            }
            Ended::LeaseLost => {
                tracing::warn!("lease lost; the job is another worker's now");
                return;
            }
            Ended::LeaseRanOut => {
                tracing::warn!(
                    "lease ran out unrenewed; handler stopped, the job may be another worker's now"
                );
                return;
            }
            Ended::Aborted => {
                tracing::info!("handing the job back");
                let release = Release::shutdown();
                persist("release", || backend.release(&lease, &release)).await
            }
        };
        match ack {
            Some(Ack::Lost) => tracing::warn!("the lease was lost before the outcome was written"),
            Some(Ack::Failed) => tracing::error!("job failed for good: attempts or defers spent"),
            _ => {}
        }
    }
}

/// Logs the REPLACE children that were not stored because another live job holds their unique
/// key (the backend records them on the parent too).
fn report_duplicates(children: &[crate::NewJob], answers: &[crate::Inserted]) {
    for (child, answer) in children.iter().zip(answers) {
        if let crate::Inserted::Duplicate(live) = answer {
            tracing::warn!(
                child.id = %child.id(),
                child.r#type = child.name(),
                live.id = %live,
                "REPLACE child not stored: a live job holds its unique key"
            );
        }
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(message) => (*message).to_owned(),
            Err(_) => "a panic with a non-text payload".to_owned(),
        },
    }
}
