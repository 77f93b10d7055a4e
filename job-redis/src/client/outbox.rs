//! REPLACE children that live in another shard than their parent: the REPLACE script leaves
//! them in the parent shard's `outbox`; the client forwards them to their shards right after,
//! and sweeps every outbox now and then for forwards that failed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Result;
use crate::error::chain;
use crate::reply::Reply;
use crate::scripts::{self, Site, Sites};

/// How often a client that grabs sweeps every shard's outbox for REPLACE children to forward.
const SWEEP: Duration = Duration::from_secs(5);
/// Outbox entries read per round trip.
const BATCH: isize = 100;

/// The forwarder of one client's namespace.
pub(super) struct Outbox {
    sites: Arc<Sites>,
    /// When this client last swept the outboxes.
    swept: Mutex<Instant>,
}

impl Outbox {
    pub(super) fn new(sites: Arc<Sites>) -> Self {
        // The first grab sweeps: children a crashed worker left behind go out at once.
        let long_ago = Instant::now()
            .checked_sub(SWEEP)
            .unwrap_or_else(Instant::now);
        Self {
            sites,
            swept: Mutex::new(long_ago),
        }
    }

    /// Forwards the REPLACE children waiting in every shard's outbox, at most every few
    /// seconds per client (a sweep for children whose first forward failed).
    pub(super) async fn sweep_now_and_then(&self) {
        if self.sites.shards().len() == 1 {
            return;
        }
        let due = self.swept.lock().is_ok_and(|mut last| {
            let due = last.elapsed() >= SWEEP;
            if due {
                *last = Instant::now();
            }
            due
        });
        if !due {
            return;
        }
        for shard in 0..self.sites.shards().len() {
            self.forward_or_warn(shard).await;
        }
    }

    /// [`Outbox::forward`], logging a failure: the children stay for the next sweep.
    pub(super) async fn forward_or_warn(&self, shard: usize) {
        if let Err(error) = self.forward(shard).await {
            tracing::warn!(error = %chain(&error), shard, "forwarding REPLACE children failed; will retry");
        }
    }

    /// Moves shard `shard`'s outbox to the children's own shards: each is inserted there
    /// (an id already forwarded answers `exists`, even after the child ended and was deleted,
    /// so a forward repeated after a crash inserts nothing twice), then taken off the outbox.
    pub(super) async fn forward(&self, shard: usize) -> Result<()> {
        let outbox = self.sites.shards().get(shard).outbox();
        let mut conn = self.sites.conn();
        loop {
            let entries: Vec<String> = redis::cmd("LRANGE")
                .arg(&outbox)
                .arg(0)
                .arg(BATCH - 1)
                .query_async(&mut conn)
                .await
                .map_err(|e| self.sites.at_server(e))?;
            if entries.is_empty() {
                return Ok(());
            }
            for entry in &entries {
                let (home, row): (String, Vec<String>) = serde_json::from_str(entry)
                    .map_err(|e| Reply::of("forward").error(format!("bad outbox entry: {e}")))?;
                let site = Site {
                    prefix: &home,
                    ..self.sites.site(shard)
                };
                scripts::forward(site, &row).await?;
                let _: i64 = redis::cmd("LREM")
                    .arg(&outbox)
                    .arg(1)
                    .arg(entry)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| self.sites.at_server(e))?;
            }
        }
    }
}
