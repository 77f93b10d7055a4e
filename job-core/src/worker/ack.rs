//! Completions are acknowledged in batches: the ack task takes every completion that is queued
//! when it wakes and sends them in one COMPLETE_MANY call, with a few calls in flight at once so
//! a round trip never idles the worker.

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::{Ack, Backend, Completion};

/// The most completions one call carries.
const BATCH: usize = 200;
/// The most COMPLETE_MANY calls in flight at once.
const IN_FLIGHT: usize = 1;

/// Sends completions until every sender is dropped and every call is answered, then returns.
pub(crate) async fn run<B: Backend>(backend: B, mut queue: mpsc::UnboundedReceiver<Completion>) {
    let mut calls = JoinSet::new();
    let mut batch = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut batch, BATCH).await > 0 {
        // Let the handlers that are finishing right now add their completions to this batch.
        tokio::task::yield_now().await;
        while batch.len() < BATCH {
            match queue.try_recv() {
                Ok(completion) => batch.push(completion),
                Err(_) => break,
            }
        }
        while calls.len() >= IN_FLIGHT {
            let _ = calls.join_next().await;
        }
        let (backend, batch) = (
            backend.clone(),
            std::mem::replace(&mut batch, Vec::with_capacity(BATCH)),
        );
        calls.spawn(async move { send(&backend, &batch).await });
    }
    while calls.join_next().await.is_some() {}
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
    for (completion, ack) in batch.iter().zip(answers) {
        if ack == Ack::Lost {
            tracing::warn!(job.id = %completion.lease.id, "completion refused: the lease was lost");
        }
    }
}
