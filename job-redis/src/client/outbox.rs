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

#[cfg(all(test, feature = "testing"))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use job_core::{JobId, JobState};
    use redis::AsyncCommands;

    use crate::Config;
    use crate::testing::TestQueue;

    /// An outbox entry is inserted into its home shard and taken off; the same entry forwarded
    /// again (a crash between the insert and the removal) inserts nothing a second time.
    #[tokio::test]
    async fn forwarding_moves_each_child_once() {
        let q = TestQueue::with_config("unit_outbox", Config::new().shards(2))
            .await
            .unwrap();
        let client = q.client();
        let sites = &client.inner.sites;
        let home = sites.shards().get(1).prefix().to_owned();
        let id = JobId::new();
        let extras = serde_json::json!({ "home": home, "parent": JobId::new().to_string() });
        let row = [
            id.to_string(),
            "unit.child".to_owned(),
            "0".to_owned(),
            "1".to_owned(),
            "0".to_owned(),
            "0".to_owned(),
            "0".to_owned(),
            "null".to_owned(),
            extras.to_string(),
        ];
        let entry = serde_json::to_string(&(home.as_str(), row)).unwrap();
        let outbox = sites.shards().get(0).outbox();
        let mut conn = sites.conn();
        for _ in 0..2 {
            let _: i64 = conn.rpush(&outbox, &entry).await.unwrap();
            client.inner.outbox.forward(0).await.unwrap();
            let left: i64 = conn.llen(&outbox).await.unwrap();
            assert_eq!(left, 0);
        }
        let details = client.details(id).await.unwrap().unwrap();
        assert_eq!(details.state, JobState::Ready);
        let in_home: bool = conn
            .exists(sites.shards().get(1).job(&id.to_string()))
            .await
            .unwrap();
        assert!(in_home, "the child lives in its home shard");
        let ready: Vec<String> = conn
            .lrange(sites.shards().get(1).ready_list("unit.child"), 0, -1)
            .await
            .unwrap();
        assert_eq!(ready, [id.to_string()], "inserted once");
        q.cleanup().await.unwrap();
    }
}
