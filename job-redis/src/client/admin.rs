//! Operating a namespace: pausing and resuming job types.

use job_core::{NameKind, check_name};

use super::Client;
use crate::Result;
use crate::scripts::admin;

impl Client {
    /// Pauses a job type: no worker takes its jobs until [`Client::resume_type`], not even one
    /// already blocked waiting for work (the grab script checks it). Jobs running now finish;
    /// inserts and schedules go on adding jobs, which wait. Returns whether it was running (not
    /// paused yet). On a Cluster every shard is paused, one after another: run it again after an
    /// error (it is idempotent).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`](crate::Error::InvalidName) for a name no job type may have;
    /// connection errors.
    pub async fn pause_type(&self, job_type: &str) -> Result<bool> {
        self.set_paused(job_type, true).await
    }

    /// Resumes a paused job type: workers take its jobs again, and those blocked waiting for
    /// work wake at once. Returns whether it was paused.
    ///
    /// # Errors
    ///
    /// As [`Client::pause_type`].
    pub async fn resume_type(&self, job_type: &str) -> Result<bool> {
        self.set_paused(job_type, false).await
    }

    /// The paused job types, in name order.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn paused_types(&self) -> Result<Vec<String>> {
        let mut conn = self.connection();
        let mut paused = std::collections::BTreeSet::new();
        for (_, shard) in self.shards().iter() {
            let types: Vec<String> = redis::cmd("SMEMBERS")
                .arg(shard.paused())
                .query_async(&mut conn)
                .await
                .map_err(|error| self.at_server(error))?;
            paused.extend(types);
        }
        Ok(paused.into_iter().collect())
    }

    async fn set_paused(&self, job_type: &str, pause: bool) -> Result<bool> {
        check_name(NameKind::JobType, job_type)?;
        let mut changed = false;
        for (shard, _) in self.shards().iter() {
            let count = admin::pause(self.site(shard), pause, &[job_type])
                .await
                .map_err(|error| self.at_server(error))?;
            changed |= count > 0;
        }
        Ok(changed)
    }
}
