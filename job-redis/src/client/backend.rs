//! The worker's side of the client: [`Backend`], each transition routed to the shard that
//! holds its job, with batched calls cut so no script runs long.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use job_core::{
    Ack, Backend, Completion, FailureNote, FailureRecord, Grab, Grabbed, Inserted, JobId, Lease,
    NameKind, NewJob, Release, check_name,
};

use super::Client;
use crate::error::chain;
use crate::keys::group_by_shard;
use crate::scripts::admin;
use crate::scripts::{self, MAX_REPLACE_WEIGHT, MAX_ROWS, Site, weight};
use crate::{Error, Result};

/// The most jobs one GRAB script call leases; a larger grab takes several calls.
const GRAB_CHUNK: usize = 200;
/// The most completions one COMPLETE script call carries.
const COMPLETE_CHUNK: usize = 200;
/// The most leases one HEARTBEAT script call renews.
const HEARTBEAT_CHUNK: usize = 300;

impl Backend for Client {
    type Error = Error;

    async fn insert_many(&self, jobs: &[NewJob]) -> Result<Vec<Inserted>> {
        Client::insert_many(self, jobs).await
    }

    /// Grabs from the shards in turn, starting at a different one each call, until `limit`
    /// jobs are held or every shard was asked: a busy namespace costs one call per grab, an
    /// idle one a call per shard before the worker waits.
    async fn grab(&self, grab: &Grab<'_>) -> Result<Grabbed> {
        check_grab(grab)?;
        self.inner.outbox.sweep_now_and_then().await;
        let shards = self.inner.sites.shards().len();
        let start = self.inner.next_shard.fetch_add(1, Ordering::Relaxed);
        let mut jobs = Vec::new();
        let mut next_wake: Option<Duration> = None;
        for i in 0..shards {
            if grab.limit > 0 && jobs.len() >= grab.limit {
                break;
            }
            let shard = (start + i) % shards;
            match self.grab_from(shard, grab, grab.limit - jobs.len()).await {
                Ok(grabbed) => {
                    next_wake = match (next_wake, grabbed.next_wake) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    jobs.extend(grabbed.jobs);
                }
                // Jobs already leased are worth running; the failing shard is asked next time.
                Err(error) if !jobs.is_empty() => {
                    tracing::warn!(error = %chain(&error), shard, "grab failed on one shard");
                    break;
                }
                Err(error) => return Err(error),
            }
        }
        Ok(Grabbed::new(jobs, next_wake))
    }

    /// On one Redis the completions ride with the grab, in one script call, when they fit one
    /// (at most 200 of each); otherwise they are written first.
    async fn complete_and_grab(
        &self,
        done: &[Completion],
        grab: &Grab<'_>,
    ) -> Result<(Vec<Ack>, Grabbed)> {
        if done.is_empty() {
            return Ok((Vec::new(), self.grab(grab).await?));
        }
        let one_call = self.inner.sites.shards().len() == 1
            && done.len() <= COMPLETE_CHUNK
            && grab.limit <= GRAB_CHUNK;
        if !one_call {
            let acks = self.complete(done).await?;
            return Ok((acks, self.grab(grab).await?));
        }
        check_grab(grab)?;
        let rows: Vec<&Completion> = done.iter().collect();
        let (flags, grabbed) = scripts::grab(self.site(0), 0, grab, grab.limit, &rows).await?;
        Ok((acks(flags), grabbed))
    }

    async fn complete(&self, done: &[Completion]) -> Result<Vec<Ack>> {
        let limit = self.config().max_result;
        if let Some(big) = done
            .iter()
            .find(|c| c.result.as_ref().is_some_and(|r| r.len() > limit))
        {
            return Err(Error::ResultTooLarge {
                id: big.lease.id,
                size: big.result.as_ref().map_or(0, Vec::len),
                limit,
            });
        }
        let flags = self
            .flags_by_shard(
                done,
                COMPLETE_CHUNK,
                |c| c.lease.shard,
                |site, rows| async move { scripts::complete(site, &rows).await },
            )
            .await?;
        Ok(acks(flags))
    }

    async fn temp_fail(
        &self,
        lease: &Lease,
        retry_in: Duration,
        failure: &FailureNote,
    ) -> Result<Ack> {
        scripts::temp_fail(self.held(lease), lease, retry_in, failure).await
    }

    async fn perm_fail(&self, lease: &Lease, failure: &FailureNote) -> Result<Ack> {
        scripts::perm_fail(self.held(lease), lease, failure).await
    }

    /// Children that live in the parent's shard are inserted by the same script that completes
    /// the parent. Others (bound to a resource or a unique key of another shard) go to the
    /// parent shard's outbox in that script, and are forwarded to their shards right after.
    async fn replace(&self, lease: &Lease, children: &[NewJob]) -> Result<(Ack, Vec<Inserted>)> {
        let inline_max = self.inner.config.inline_args_max;
        let work: usize = children.iter().map(|child| weight(child, inline_max)).sum();
        if children.len() > MAX_ROWS || work > MAX_REPLACE_WEIGHT {
            let (count, max) = if children.len() > MAX_ROWS {
                (children.len(), MAX_ROWS)
            } else {
                (work, MAX_REPLACE_WEIGHT)
            };
            return Err(Error::TooMany {
                what: format!(
                    "children in the REPLACE of job {} ({} children, {work} units of work)",
                    lease.id,
                    children.len()
                ),
                count,
                max,
            });
        }
        for child in children {
            self.check_job(child)?;
        }
        let parent = usize::from(lease.shard);
        let rows: Vec<(&NewJob, Option<&str>)> = children
            .iter()
            .map(|child| {
                let home = self.child_home(child, parent);
                let outbox = (home != parent).then(|| self.inner.sites.shards().get(home).prefix());
                (child, outbox)
            })
            .collect();
        let forwarded = rows.iter().any(|(_, outbox)| outbox.is_some());
        let answer = scripts::replace(self.held(lease), lease, &rows).await?;
        if forwarded && answer.0 == Ack::Ok {
            // Best effort now; a failure leaves the children in the outbox for the next sweep.
            self.inner.outbox.forward_or_warn(parent).await;
        }
        Ok(answer)
    }

    async fn release(&self, lease: &Lease, release: &Release) -> Result<Ack> {
        scripts::release(self.held(lease), lease, release).await
    }

    async fn heartbeat(&self, leases: &[Lease]) -> Result<Vec<bool>> {
        self.flags_by_shard(
            leases,
            HEARTBEAT_CHUNK,
            |lease| lease.shard,
            |site, rows| async move { scripts::heartbeat(site, &rows).await },
        )
        .await
    }

    async fn wait(&self, grab: &Grab<'_>, timeout: Duration) -> Result<()> {
        self.inner
            .waits
            .wait_for_work(grab, timeout)
            .await
            .map_err(|error| self.at_server(error))
    }

    fn is_permanent(error: &Error) -> bool {
        matches!(
            error,
            Error::PayloadTooLarge { .. }
                | Error::ResultTooLarge { .. }
                | Error::InvalidJob { .. }
                | Error::InvalidName(_)
                | Error::TooMany { .. }
                | Error::ResourceNotFound { .. }
                | Error::Refused { .. }
                | Error::Job(_)
        )
    }

    async fn failures(&self, id: JobId) -> Result<Vec<FailureRecord>> {
        Ok(self
            .details(id)
            .await?
            .map(|details| details.failures)
            .unwrap_or_default())
    }

    async fn warnings(&self) -> Result<Vec<String>> {
        self.server_warnings().await
    }

    async fn register(
        &self,
        worker: &job_core::WorkerInfo,
        types: &[job_core::TypeInfo],
    ) -> Result<()> {
        admin::register(self.site(0), worker, types, job_core::WORKER_EXPIRY)
            .await
            .map_err(|error| self.at_server(error))
    }

    async fn unregister(&self, worker: &str) -> Result<()> {
        admin::unregister(self.site(0), worker)
            .await
            .map_err(|error| self.at_server(error))
    }

    async fn progress(&self, lease: &Lease, value: &[u8]) -> Result<bool> {
        let limit = job_core::limits::MAX_PROGRESS;
        if value.len() > limit {
            return Err(Error::TooMany {
                what: format!("bytes of progress for job {}", lease.id),
                count: value.len(),
                max: limit,
            });
        }
        admin::progress(self.held(lease), lease, value)
            .await
            .map_err(|error| self.at_server(error))
    }

    fn result_limit(&self) -> Option<usize> {
        Some(self.config().max_result)
    }

    async fn run_scheduler(&self, stop: tokio_util::sync::CancellationToken) -> Result<()> {
        self.run_schedules(stop.cancelled_owned()).await
    }
}

impl Client {
    /// Runs `call` per shard that holds some of `items`, in calls of at most `chunk` items, all
    /// at once, each answering one flag per item; returns the flags in the items' order.
    async fn flags_by_shard<'a, T, F>(
        &'a self,
        items: &'a [T],
        chunk: usize,
        shard_of: impl Fn(&T) -> u16,
        call: impl Fn(Site<'a>, Vec<&'a T>) -> F,
    ) -> Result<Vec<bool>>
    where
        F: Future<Output = Result<Vec<bool>>>,
    {
        let groups = group_by_shard(items.iter().enumerate(), |(_, item)| {
            usize::from(shard_of(item))
        });
        let calls: Vec<(usize, &[(usize, &'a T)])> = groups
            .iter()
            .flat_map(|(shard, rows)| rows.chunks(chunk).map(move |rows| (*shard, rows)))
            .collect();
        let answers = futures_util::future::try_join_all(calls.iter().map(|(shard, rows)| {
            call(
                self.site(*shard),
                rows.iter().map(|(_, item)| *item).collect(),
            )
        }))
        .await?;
        let mut flags = vec![false; items.len()];
        for ((_, rows), answer) in calls.iter().zip(answers) {
            for ((row, _), ok) in rows.iter().zip(answer) {
                flags[*row] = ok;
            }
        }
        Ok(flags)
    }

    /// Up to `limit` jobs from one shard, in script calls of at most `GRAB_CHUNK` jobs each
    /// (a script must stay short), until the shard has no more.
    async fn grab_from(&self, shard: usize, grab: &Grab<'_>, limit: usize) -> Result<Grabbed> {
        let mut grabbed = Grabbed::default();
        loop {
            let want = (limit - grabbed.jobs.len()).min(GRAB_CHUNK);
            let (_, more) =
                scripts::grab(self.site(shard), shard_number(shard), grab, want, &[]).await?;
            let full = more.jobs.len() == want;
            grabbed.jobs.extend(more.jobs);
            grabbed.next_wake = more.next_wake;
            if !full || grabbed.jobs.len() >= limit {
                return Ok(grabbed);
            }
        }
    }

    /// A REPLACE child's shard: its resource's or unique key's when it has one, else its
    /// parent's (so it is inserted atomically with the parent's completion).
    fn child_home(&self, child: &NewJob, parent: usize) -> usize {
        if child.resource().is_some() || child.unique_key().is_some() {
            self.home(child)
        } else {
            parent
        }
    }
}

/// The answers to completions: each written, or its lease lost.
fn acks(flags: Vec<bool>) -> Vec<Ack> {
    flags
        .into_iter()
        .map(|ok| if ok { Ack::Ok } else { Ack::Lost })
        .collect()
}

/// A shard's number as a lease carries it.
fn shard_number(shard: usize) -> u16 {
    u16::try_from(shard).unwrap_or(u16::MAX)
}

/// The most types one grab may ask for: each costs the script a few commands.
const MAX_GRAB_TYPES: usize = 1000;

/// Refuses a grab of too many types, or of a type or capability that breaks the name rules.
fn check_grab(grab: &Grab<'_>) -> Result<()> {
    if grab.types.len() > MAX_GRAB_TYPES {
        return Err(Error::TooMany {
            what: "job types in one grab".to_owned(),
            count: grab.types.len(),
            max: MAX_GRAB_TYPES,
        });
    }
    for job_type in grab.types {
        check_name(NameKind::JobType, job_type)?;
    }
    for capability in grab.capabilities {
        check_name(NameKind::Capability, capability)?;
    }
    Ok(())
}
