//! One job's run: decode, call the handler in its own task (a panic is caught there), bound it
//! by the timeout and the lease, then turn its result into the backend transition.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::run::LeaseOps;
use crate::{
    Ack, Backend, Completion, Context, Dispatch, FailureKind, FailureNote, GrabbedJob, JobOptions,
};

use super::ack::Acks;
use super::decide::{Ended, Transition, decide, limit_result};
use super::heartbeat::Leases;
use super::measure::Meters;
use super::{Written, persist};
use crate::error::chain;

/// How long a cancelled handler may take to return before it is aborted (less when its lease
/// runs out sooner).
const CANCEL_GRACE: Duration = Duration::from_secs(1);

/// Everything one job's task needs.
pub(crate) struct Execution<S, State, B> {
    pub(crate) job: GrabbedJob,
    /// When the grab that leased the job was sent: the lease counts from then.
    pub(crate) sent: Instant,
    pub(crate) backend: B,
    pub(crate) state: Arc<State>,
    pub(crate) ops: Arc<dyn LeaseOps>,
    pub(crate) leases: Arc<Leases>,
    /// The worker's metric handles.
    pub(crate) meters: Arc<Meters>,
    /// Where completions wait for the next grab (or the ack task); `None` completes at once
    /// (a drain must see every completion written before it decides that nothing is left).
    pub(crate) acks: Option<Arc<Acks>>,
    pub(crate) abort: CancellationToken,
    pub(crate) worker_id: String,
    pub(crate) set: PhantomData<fn() -> S>,
}

impl<S, State, B> Execution<S, State, B>
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
            let started = Instant::now();
            // The set's own name for the type (a `'static` label); a type it does not know
            // (undecodable) is counted under "unknown".
            let job_type = S::NAMES
                .iter()
                .copied()
                .find(|name| *name == self.job.name)
                .unwrap_or("unknown");
            let ended = match S::decode(&self.job.name, &self.job.payload) {
                Ok(job) => {
                    let cancel = CancellationToken::new();
                    self.leases.insert(lease, cancel.clone(), self.sent);
                    tracing::debug!("job started");
                    self.meters.started(job_type, self.job.ready_since);
                    let ended = self.run_handler(job, &options, cancel).await;
                    self.leases.remove(&lease);
                    ended
                }
                Err(error) => Ended::Undecodable(error),
            };
            let ran = started.elapsed();
            let transition = decide(ended, &options, self.job.attempt);
            let outcome = self
                .write(limit_result(transition, self.backend.result_limit()))
                .await;
            self.meters.finished(job_type, outcome, ran);
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

    /// Writes a decided transition, retrying while the backend is away; returns the outcome,
    /// for the metrics (see `measure`).
    async fn write(&self, transition: Transition) -> &'static str {
        let lease = self.job.lease;
        let backend = &self.backend;
        let (outcome, written) = match transition {
            Transition::Complete { result } => {
                tracing::debug!("job completed");
                // Carried by the next grab, or batched by the ack task; closed means shutdown is
                // flushing.
                let completion = Completion::new(lease, result);
                let unsent = match &self.acks {
                    Some(acks) => acks.push(completion).err(),
                    None => Some(completion),
                };
                if let Some(completion) = unsent {
                    let done = [completion];
                    let _ = persist::<B, _, _, _>("complete", || backend.complete(&done)).await;
                }
                return "completed";
            }
            Transition::Replace(children) => {
                tracing::debug!(children = children.len(), "job replaced");
                // A retry after a REPLACE that did happen answers `lost`, so the children are
                // inserted once; a child that cannot be stored (too large, refused) will not
                // fit on a retry either: the parent fails for good, saying why.
                let replaced =
                    persist::<B, _, _, _>("replace", || backend.replace(&lease, &children)).await;
                match replaced {
                    Written::Done((ack, answers)) => {
                        report_duplicates(&children, &answers);
                        ("replaced", Written::Done(ack))
                    }
                    Written::Refused(error) => {
                        let note = FailureNote::new(
                            FailureKind::Fatal,
                            format!("replace failed: {}", chain(&error)),
                        );
                        tracing::error!(error = %note.message, "job failed for good");
                        let written =
                            persist::<B, _, _, _>("perm_fail", || backend.perm_fail(&lease, &note))
                                .await;
                        ("failed", written)
                    }
                    Written::GaveUp => ("replaced", Written::GaveUp),
                }
            }
            Transition::Release(release) => {
                let outcome = if release.defer_limit.is_none() {
                    tracing::info!("handing the job back");
                    "released"
                } else {
                    "deferred"
                };
                let written =
                    persist::<B, _, _, _>("release", || backend.release(&lease, &release)).await;
                (outcome, written)
            }
            Transition::TempFail { retry_in, note } => {
                tracing::warn!(error = %note.message, kind = note.kind.as_str(), retry_in = ?retry_in, "job failed; will retry");
                let written = persist::<B, _, _, _>("temp_fail", || {
                    backend.temp_fail(&lease, retry_in, &note)
                })
                .await;
                ("retried", written)
            }
            Transition::PermFail(note) => {
                tracing::error!(error = %note.message, kind = note.kind.as_str(), "job failed for good");
                let written =
                    persist::<B, _, _, _>("perm_fail", || backend.perm_fail(&lease, &note)).await;
                ("failed", written)
            }
            Transition::Nothing(reason) => {
                tracing::warn!("{reason}");
                return "lease_lost";
            }
        };
        match written {
            Written::Done(Ack::Lost) => {
                tracing::warn!("the lease was lost before the outcome was written");
                "lease_lost"
            }
            Written::Done(Ack::Failed) => {
                tracing::error!("job failed for good: attempts or defers spent");
                "failed"
            }
            Written::Refused(error) => {
                tracing::error!(error = %chain(&error), "the backend refused the outcome");
                outcome
            }
            _ => outcome,
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
