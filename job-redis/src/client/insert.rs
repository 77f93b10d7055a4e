//! Inserting: single inserts coalesced by the batcher, many inserts in chunks cut so no script
//! runs long, each checked before anything is sent, and repeated with the same ids while the
//! outcome is unknown.

use std::future::Future;
use std::time::Duration;

use job_core::{Inserted, JobId, NameKind, NewJob, check_name};

use super::Client;
use crate::error::{chain, shown};
use crate::keys::group_by_shard;
use crate::reply::Reply;
use crate::scripts::{self, by_weight, weight};
use crate::{Error, Result};

impl Client {
    /// Inserts one prepared job. A job whose id is already stored answers
    /// [`Inserted::Exists`] and changes nothing, so a retried insert is never doubled.
    ///
    /// # Errors
    ///
    /// As [`Client::enqueue`].
    pub async fn insert(&self, job: NewJob) -> Result<Inserted> {
        self.check_job(&job)?;
        let job_type = job.name().to_owned();
        // Concurrent single inserts share one script call per shard (see `batch.rs`).
        let shard = self.home(&job);
        let answer = self
            .until_known(&[job.id()], || async {
                Ok(vec![self.inner.batcher.insert(shard, job.clone()).await?])
            })
            .await?;
        let answer = answer
            .into_iter()
            .next()
            .ok_or_else(|| Reply::of("insert").error("the job went unanswered"))?;
        counted(job_type.as_str(), &answer);
        Ok(answer)
    }

    /// Runs an insert `attempt` again while its outcome is unknown: the call timed out or its
    /// connection broke after it may have reached Redis (or it never could, Redis being away).
    /// Ids are made here, so a repeat is safe: a job an earlier attempt stored answers
    /// [`Inserted::Exists`]. Gives up after `Config::insert_retry` with
    /// [`Error::Unconfirmed`], naming the ids, when an attempt may have stored them.
    async fn until_known<F, Fut>(&self, ids: &[JobId], mut attempt: F) -> Result<Vec<Inserted>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Vec<Inserted>>>,
    {
        let started = std::time::Instant::now();
        let patience = self.inner.config.insert_retry;
        let mut unknown = false;
        let mut tries = 0u32;
        loop {
            let error = match attempt().await {
                Err(error) if error.is_connection() => error,
                other => return other,
            };
            unknown |= error.may_have_run();
            tries += 1;
            let pause = Duration::from_millis(25u64 << tries.min(6));
            if started.elapsed() + pause > patience {
                if !unknown {
                    return Err(error);
                }
                return Err(Error::Unconfirmed {
                    ids: ids.to_vec(),
                    source: Box::new(error),
                });
            }
            tracing::debug!(error = %chain(&error), tries, "insert outcome unknown; trying again with the same ids");
            tokio::time::sleep(pause).await;
        }
    }

    /// Inserts many jobs in few round trips (one script per 500 jobs of a shard, each atomic).
    ///
    /// # Errors
    ///
    /// As [`Client::enqueue`]; every job is checked against the payload limit before any is
    /// stored.
    pub async fn insert_many(&self, jobs: &[NewJob]) -> Result<Vec<Inserted>> {
        for job in jobs {
            self.check_job(job)?;
        }
        // Each shard's jobs in their order; the answers go back to the callers' order.
        let mut answers: Vec<Option<Inserted>> = vec![None; jobs.len()];
        for (shard, rows) in group_by_shard(jobs.iter().enumerate(), |(_, job)| self.home(job)) {
            let group: Vec<&NewJob> = rows.iter().map(|(_, job)| *job).collect();
            for ((i, _), answer) in rows.iter().zip(self.insert_group(shard, &group).await?) {
                answers[*i] = Some(answer);
            }
        }
        let answers: Vec<Inserted> = answers
            .into_iter()
            .map(|answer| answer.ok_or_else(|| Reply::of("insert").error("a job went unanswered")))
            .collect::<Result<_>>()?;
        for (job, answer) in jobs.iter().zip(&answers) {
            counted(job.name(), answer);
        }
        Ok(answers)
    }

    /// Inserts the jobs of one shard, a chunk at a time: at most 500 jobs, fewer heavy ones
    /// (see `encode::weight`), so no script call runs long.
    async fn insert_group(&self, shard: usize, jobs: &[&NewJob]) -> Result<Vec<Inserted>> {
        let mut answers = Vec::with_capacity(jobs.len());
        // Two chunks in flight at once hide a round trip; they go out on the one connection in
        // order, so the second is stored after the first. A batch with resource-bound jobs goes
        // one chunk at a time, so a refused chunk stops the ones after it.
        let pipelined = jobs.iter().all(|job| job.resource().is_none());
        let inline_max = self.inner.config.inline_args_max;
        let chunks = by_weight(jobs, |job| weight(job, inline_max));
        for pair in chunks.chunks(if pipelined { 2 } else { 1 }) {
            let rows = match pair {
                [first, second] => {
                    let (first, second) = tokio::join!(
                        self.insert_chunk(shard, first),
                        self.insert_chunk(shard, second)
                    );
                    let mut rows = first?;
                    rows.extend(second?);
                    rows
                }
                [only] => self.insert_chunk(shard, only).await?,
                _ => Vec::new(),
            };
            answers.extend(rows);
        }
        Ok(answers)
    }

    /// Inserts one chunk, all or nothing.
    async fn insert_chunk(&self, shard: usize, chunk: &[&NewJob]) -> Result<Vec<Inserted>> {
        let ids: Vec<JobId> = chunk.iter().map(|job| job.id()).collect();
        self.until_known(&ids, || self.insert_chunk_once(shard, chunk))
            .await
    }

    /// One INSERT call for a chunk.
    async fn insert_chunk_once(&self, shard: usize, chunk: &[&NewJob]) -> Result<Vec<Inserted>> {
        scripts::insert(self.site(shard), true, chunk)
            .await?
            .into_iter()
            .collect()
    }

    /// Refuses a job before anything of it is sent: arguments over the payload limit, or a
    /// name that breaks the rules (a type with `|` would share another type's queue).
    pub(super) fn check_job(&self, job: &NewJob) -> Result<()> {
        let names = std::iter::once((NameKind::JobType, job.name()))
            .chain(job.resource().map(|r| (NameKind::Resource, r)))
            .chain(job.unique_key().map(|k| (NameKind::UniqueKey, k)))
            .chain(
                job.requires()
                    .into_iter()
                    .map(|c| (NameKind::Capability, c)),
            )
            .chain(job.attributes().iter().flat_map(|(name, value)| {
                [
                    (NameKind::AttributeName, name.as_str()),
                    (NameKind::AttributeValue, value.as_str()),
                ]
            }));
        for (kind, name) in names {
            check_name(kind, name).map_err(|source| Error::InvalidJob {
                id: job.id(),
                job_type: shown(job.name()),
                source,
            })?;
        }
        let limit = self.inner.config.max_payload;
        if job.payload().len() > limit {
            return Err(Error::PayloadTooLarge {
                id: job.id(),
                job_type: job.name().to_owned(),
                size: job.payload().len(),
                limit,
            });
        }
        Ok(())
    }
}

/// Counts a stored job in the `job_enqueued_total` metric, by type (see the worker's metrics).
fn counted(job_type: &str, answer: &Inserted) {
    if matches!(answer, Inserted::New(_)) {
        metrics::counter!("job_enqueued_total", "type" => job_type.to_owned()).increment(1);
    }
}
