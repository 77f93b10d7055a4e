//! Single inserts from concurrent callers, coalesced: a web app's requests each enqueue one job,
//! and one INSERT call carries every job queued meanwhile. Rows stay independent (one refused
//! job never refuses another caller's), and each caller gets its own answer.

use job_core::{Inserted, NewJob};
use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, oneshot};

use crate::client::{decode_inserted, insert_invocation};
use crate::reply::Reply;
use crate::{Error, Result};

/// The most jobs one coalesced call carries.
const BATCH: usize = 500;

struct Pending {
    job: NewJob,
    answer: oneshot::Sender<Result<Inserted>>,
}

/// The handle callers use; the task ends when the last handle is dropped.
pub(crate) struct Batcher {
    queue: mpsc::UnboundedSender<Pending>,
}

impl Batcher {
    pub(crate) fn start(conn: ConnectionManager, prefix: String, inline_max: usize) -> Self {
        let (queue, pending) = mpsc::unbounded_channel();
        tokio::spawn(run(conn, prefix, inline_max, pending));
        Self { queue }
    }

    pub(crate) async fn insert(&self, job: NewJob) -> Result<Inserted> {
        let (answer, answered) = oneshot::channel();
        let gone = || Reply::of("insert").error("the insert task has stopped");
        self.queue
            .send(Pending { job, answer })
            .map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }
}

async fn run(
    mut conn: ConnectionManager,
    prefix: String,
    inline_max: usize,
    mut queue: mpsc::UnboundedReceiver<Pending>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut batch, BATCH).await > 0 {
        let jobs = batch.iter().map(|pending: &Pending| &pending.job);
        let invocation = insert_invocation(&prefix, inline_max, false, jobs);
        let reply = Reply::of("insert");
        let answers = match invocation.invoke_async::<redis::Value>(&mut conn).await {
            Ok(value) => decode_inserted(&reply, value, batch.iter().map(|p| &p.job))
                .and_then(|rows| rows.ok_or_else(|| reply.error("unexpected `lost`"))),
            Err(error) => Err(Error::Redis(error)),
        };
        match answers {
            Ok(rows) => {
                for (pending, row) in batch.drain(..).zip(rows) {
                    let _ = pending.answer.send(row);
                }
            }
            Err(error) => {
                for pending in batch.drain(..) {
                    let _ = pending.answer.send(Err(error.for_another_caller()));
                }
            }
        }
    }
}
