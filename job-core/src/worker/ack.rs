//! Completions. A worker that runs one job at a time sends each with its next grab (one round
//! trip for both, see [`Backend::complete_and_grab`]): the job that finishes frees the slot, so
//! that grab follows at once, unless the loop is waiting for work or pausing after a failure;
//! then the ack task writes it. With more slots, the ack task writes every completion, in
//! batches, in parallel with the grabs: carried by the grabs they would wait for each other
//! (measured: 13% fewer jobs/s at concurrency 10, 27% at 100; BENCHMARKS.md).

use std::sync::Mutex;

use tokio::sync::Notify;

use crate::{Ack, Backend, Completion};

/// The most completions one call carries.
const BATCH: usize = 200;

/// The completions waiting to be written.
pub(crate) struct Acks {
    state: Mutex<State>,
    wake: Notify,
    /// Grabs carry completions (a worker of concurrency 1); else the ack task writes them all.
    carried: bool,
}

struct State {
    pending: Vec<Completion>,
    /// No grab comes soon to carry completions: the fetch loop waits for work or pauses, or
    /// grabs never carry them.
    idle: bool,
    /// Shutdown is flushing: no more completions are taken in.
    closed: bool,
}

impl Acks {
    /// Completions of a worker with `concurrency` slots.
    pub(crate) fn new(concurrency: usize) -> Self {
        let carried = concurrency == 1;
        Self {
            state: Mutex::new(State {
                pending: Vec::new(),
                idle: !carried,
                closed: false,
            }),
            wake: Notify::new(),
            carried,
        }
    }

    /// The completions the next grab carries: those waiting, at concurrency 1; none otherwise.
    pub(crate) fn for_grab(&self) -> Vec<Completion> {
        if self.carried {
            self.take(BATCH)
        } else {
            Vec::new()
        }
    }

    /// Queues a completion; gives it back once closed (the caller writes it itself).
    pub(crate) fn push(&self, completion: Completion) -> Result<(), Completion> {
        let Ok(mut state) = self.state.lock() else {
            return Err(completion);
        };
        if state.closed {
            return Err(completion);
        }
        state.pending.push(completion);
        let idle = state.idle;
        drop(state);
        if idle {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Says whether the fetch loop is idle (waiting for work, or pausing after a failure): the
    /// ack task writes what waits, and what comes, while it is.
    pub(crate) fn set_idle(&self, idle: bool) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.idle = idle || !self.carried;
        let waiting = !state.pending.is_empty();
        drop(state);
        if idle && waiting {
            self.wake.notify_one();
        }
    }

    /// Takes up to `max` waiting completions, the oldest first.
    pub(crate) fn take(&self, max: usize) -> Vec<Completion> {
        self.state.lock().map_or_else(
            |_| Vec::new(),
            |mut state| {
                let n = state.pending.len().min(max);
                state.pending.drain(..n).collect()
            },
        )
    }

    /// Puts back completions a failed call took, ahead of the others, for the ack task.
    pub(crate) fn put_back(&self, batch: Vec<Completion>) {
        if batch.is_empty() {
            return;
        }
        if let Ok(mut state) = self.state.lock() {
            state.pending.splice(0..0, batch);
        }
        self.wake.notify_one();
    }

    /// Takes no more completions; the ack task writes those left and ends.
    pub(crate) fn close(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.closed = true;
        }
        self.wake.notify_one();
    }

    /// Whether closed with nothing left to write.
    fn finished(&self) -> bool {
        self.state
            .lock()
            .map_or(true, |state| state.closed && state.pending.is_empty())
    }
}

/// Writes the completions no grab carried, until [`Acks::close`] and every one is written.
pub(crate) async fn run<B: Backend>(backend: B, acks: std::sync::Arc<Acks>) {
    loop {
        acks.wake.notified().await;
        // Let the handlers that are finishing right now add theirs to this batch.
        tokio::task::yield_now().await;
        loop {
            let batch = acks.take(BATCH);
            if batch.is_empty() {
                break;
            }
            send(&backend, &batch).await;
        }
        if acks.finished() {
            return;
        }
    }
}

async fn send<B: Backend>(backend: &B, batch: &[Completion]) {
    let answers = match super::persist::<B, _, _, _>("complete", || backend.complete(batch)).await {
        super::Written::Done(answers) => answers,
        super::Written::Refused(error) => {
            tracing::error!(error = %crate::error::chain(&error), "completions refused");
            Vec::new()
        }
        super::Written::GaveUp => Vec::new(),
    };
    report(batch, &answers);
}

/// Logs the completions that came too late: their leases were lost.
pub(crate) fn report(batch: &[Completion], answers: &[Ack]) {
    for (completion, ack) in batch.iter().zip(answers) {
        if *ack == Ack::Lost {
            tracing::warn!(job.id = %completion.lease.id, "completion refused: the lease was lost");
        }
    }
}
