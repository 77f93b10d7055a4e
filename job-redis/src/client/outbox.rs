//! REPLACE children that live in another shard than their parent: the REPLACE script leaves
//! them in the parent shard's `outbox`; the client forwards them to their shards right after,
//! and sweeps every outbox now and then for forwards that failed.

use std::time::Duration;

use super::Client;
use crate::Result;
use crate::reply::Reply;
use crate::scripts::{self, Site};

/// How often a client that grabs sweeps every shard's outbox for REPLACE children to forward.
pub(super) const OUTBOX_SWEEP: Duration = Duration::from_secs(5);

impl Client {
    /// Forwards the REPLACE children waiting in every shard's outbox, at most every few
    /// seconds per client (a sweep for children whose first forward failed).
    pub(super) async fn forward_outboxes_now_and_then(&self) {
        if self.inner.shards.len() == 1 {
            return;
        }
        let due = self.inner.outbox_sweep.lock().is_ok_and(|mut last| {
            let due = last.elapsed() >= OUTBOX_SWEEP;
            if due {
                *last = std::time::Instant::now();
            }
            due
        });
        if !due {
            return;
        }
        for shard in 0..self.inner.shards.len() {
            if let Err(error) = self.forward_outbox(shard).await {
                tracing::warn!(error = %crate::error::chain(&error), shard, "forwarding REPLACE children failed; will retry");
            }
        }
    }

    /// Moves shard `shard`'s outbox to the children's own shards: each is inserted there
    /// (an id already forwarded answers `exists`, even after the child ended and was deleted,
    /// so a forward repeated after a crash inserts nothing twice), then taken off the outbox.
    pub(super) async fn forward_outbox(&self, shard: usize) -> Result<()> {
        const BATCH: isize = 100;
        let outbox = self.inner.shards.get(shard).outbox();
        let mut conn = self.connection();
        loop {
            let entries: Vec<String> = redis::cmd("LRANGE")
                .arg(&outbox)
                .arg(0)
                .arg(BATCH - 1)
                .query_async(&mut conn)
                .await
                .map_err(|e| self.at_server(e))?;
            if entries.is_empty() {
                return Ok(());
            }
            for entry in &entries {
                let reply = Reply::of("forward");
                let (home, args): (String, Vec<String>) = serde_json::from_str(entry)
                    .map_err(|e| reply.error(format!("bad outbox entry: {e}")))?;
                let site = Site {
                    prefix: &home,
                    ..self.site(shard)
                };
                scripts::forward(site, &args).await?;
                let _: i64 = redis::cmd("LREM")
                    .arg(&outbox)
                    .arg(1)
                    .arg(entry)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| self.at_server(e))?;
            }
        }
    }
}
