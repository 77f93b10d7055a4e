//! Operating a namespace: pausing and resuming job types; the registry of running workers and
//! their types; enqueueing a type by name.

use job_core::{JobId, NameKind, NewJob, TypeInfo, WORKER_EXPIRY, WorkerInfo, check_name};

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

    /// The workers running now (registered within the last 30 s), each with what it runs and
    /// when it was last seen; at most 10,000.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn workers(&self) -> Result<Vec<WorkerInfo>> {
        admin::workers(self.site(0), WORKER_EXPIRY, 10_000)
            .await
            .map_err(|error| self.at_server(error))
    }

    /// The job types workers have registered, with their options, in name order.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn job_types(&self) -> Result<Vec<TypeInfo>> {
        let mut conn = self.connection();
        let stored: std::collections::BTreeMap<String, String> = redis::cmd("HGETALL")
            .arg(self.shards().get(0).types())
            .query_async(&mut conn)
            .await
            .map_err(|error| self.at_server(error))?;
        Ok(stored
            .values()
            .filter_map(|json| serde_json::from_str(json).ok())
            .collect())
    }

    /// Enqueues a job of type `job_type` with JSON arguments, for tools and other languages:
    /// with the options the type's workers registered (attempts, priority, lease, retention).
    /// To insert a type no worker has registered, build it with [`NewJob::from_json`] and
    /// [`Client::insert`] it.
    ///
    /// # Errors
    ///
    /// [`job_core::Error::UnknownType`] (as [`Error::Job`](crate::Error::Job)) when no worker
    /// registered the type; as [`Client::enqueue`] otherwise.
    pub async fn enqueue_json(&self, job_type: &str, args: &serde_json::Value) -> Result<JobId> {
        check_name(NameKind::JobType, job_type)?;
        let mut conn = self.connection();
        let stored: Option<String> = redis::cmd("HGET")
            .arg(self.shards().get(0).types())
            .arg(job_type)
            .query_async(&mut conn)
            .await
            .map_err(|error| self.at_server(error))?;
        let info: TypeInfo = stored
            .and_then(|json| serde_json::from_str(&json).ok())
            .ok_or_else(|| job_core::Error::UnknownType {
                job_type: job_type.to_owned(),
            })?;
        let mut job = NewJob::from_json(job_type, args)?.with_options(info.options());
        for capability in &info.requires {
            job = job.with_requirement(capability.clone());
        }
        Ok(self.insert(job).await?.id())
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
