//! Single inserts from concurrent callers, coalesced: a web app's requests each enqueue one job,
//! and one INSERT call per shard carries every job queued meanwhile. Rows stay independent (one
//! refused job never refuses another caller's), and each caller gets its own answer.

use std::sync::Arc;

use job_core::{Inserted, NewJob};
use tokio::sync::{mpsc, oneshot};

use crate::Result;
use crate::keys::group_by_shard;
use crate::reply::Reply;
use crate::scripts::{self, Sites, run_lengths, weight};

/// The most jobs one coalesced call carries.
const BATCH: usize = 500;
/// The most coalesced calls in flight at once.
const IN_FLIGHT: usize = 4;

struct Pending {
    shard: usize,
    job: NewJob,
    answer: oneshot::Sender<Result<Inserted>>,
}

/// The handle callers use; the task ends when the last handle is dropped.
pub(crate) struct Batcher {
    queue: mpsc::UnboundedSender<Pending>,
}

impl Batcher {
    /// Starts the task that sends the batches; `inline_max` is `Config::inline_args_max`.
    pub(crate) fn start(sites: Arc<Sites>, inline_max: usize) -> Self {
        let (queue, pending) = mpsc::unbounded_channel();
        tokio::spawn(run(sites, inline_max, pending));
        Self { queue }
    }

    /// Inserts `job` into shard `shard`.
    pub(crate) async fn insert(&self, shard: usize, job: NewJob) -> Result<Inserted> {
        let (answer, answered) = oneshot::channel();
        let gone = || Reply::of("insert").error("the insert task has stopped");
        self.queue
            .send(Pending { shard, job, answer })
            .map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }
}

async fn run(sites: Arc<Sites>, inline_max: usize, mut queue: mpsc::UnboundedReceiver<Pending>) {
    let mut calls = tokio::task::JoinSet::new();
    let mut batch = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut batch, BATCH).await > 0 {
        // Let callers that are about to enqueue (woken by the last batch's answers) join this one.
        tokio::task::yield_now().await;
        while batch.len() < BATCH {
            match queue.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
        while calls.len() >= IN_FLIGHT {
            let _ = calls.join_next().await;
        }
        for (shard, group) in group_by_shard(batch.drain(..), |pending| pending.shard) {
            // Heavy rows (resources, unique keys) split a group, so no call runs long.
            for run in split_by_weight(group, inline_max) {
                calls.spawn(send(Arc::clone(&sites), shard, run));
            }
        }
    }
    while calls.join_next().await.is_some() {}
}

/// `group` in runs cut as `insert_many` cuts its chunks (see `scripts::run_lengths`).
fn split_by_weight(mut group: Vec<Pending>, inline_max: usize) -> Vec<Vec<Pending>> {
    let lengths = run_lengths(group.iter().map(|pending| weight(&pending.job, inline_max)));
    lengths
        .into_iter()
        .map(|len| group.drain(..len).collect())
        .collect()
}

/// Inserts one batch and answers each of its callers.
async fn send(sites: Arc<Sites>, shard: usize, batch: Vec<Pending>) {
    let jobs: Vec<&NewJob> = batch.iter().map(|pending| &pending.job).collect();
    let answers = scripts::insert(sites.site(shard), false, &jobs).await;
    drop(jobs);
    match answers {
        Ok(rows) => {
            for (pending, row) in batch.into_iter().zip(rows) {
                let _ = pending.answer.send(row);
            }
        }
        Err(error) => {
            for pending in batch {
                let _ = pending.answer.send(Err(error.for_another_caller()));
            }
        }
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use job_core::{Inserted, JobId, JobOptions, NewJob};

    use crate::Config;
    use crate::testing::TestQueue;

    /// Concurrent single inserts share calls, and each caller gets the answer for its own job.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_each_get_their_own_answer() {
        let q = TestQueue::with_config("unit_batch", Config::new())
            .await
            .unwrap();
        let jobs: Vec<NewJob> = (0..200)
            .map(|n| {
                NewJob::from_parts(
                    "unit.batch",
                    format!("{n}").into_bytes(),
                    JobOptions::default(),
                )
            })
            .collect();
        let calls = jobs.iter().map(|job| {
            let client = q.client().clone();
            let job = job.clone();
            tokio::spawn(async move { client.insert(job).await })
        });
        let answers = futures_util::future::join_all(calls).await;
        for (job, answer) in jobs.iter().zip(answers) {
            assert_eq!(answer.unwrap().unwrap(), Inserted::New(job.id()));
        }
        for job in &jobs {
            let details = q.client().details(job.id()).await.unwrap().unwrap();
            assert_eq!(details.payload, job.payload());
        }
        let unknown: JobId = JobId::new();
        assert!(q.client().details(unknown).await.unwrap().is_none());
        q.cleanup().await.unwrap();
    }
}
