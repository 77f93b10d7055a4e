use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use job_core::{
    Ack, Backend, Completion, Details, FailureNote, FailureRecord, Grab, Grabbed, Inserted, Job,
    JobId, Lease, NameKind, NewJob, Release, ResourceState, check_name,
};
use redis::aio::ConnectionManagerConfig;
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

mod outbox;
mod wait;

use self::outbox::OUTBOX_SWEEP;
use self::wait::Waiter;

use crate::batch::Batcher;
use crate::conn::{Conn, seeds};
use crate::error::{chain, redact, shown};
use crate::keys::{Shards, group_by_shard};
use crate::reply::Reply;
use crate::scripts::{self, Changed, MAX_REPLACE_WEIGHT, MAX_ROWS, Site, by_weight, weight};
use crate::{Config, Error, Result};

/// The most jobs one GRAB script call leases; a larger grab takes several calls.
const GRAB_CHUNK: usize = 200;
/// The most completions one COMPLETE script call carries.
const COMPLETE_CHUNK: usize = 200;
/// The most leases one HEARTBEAT script call renews.
const HEARTBEAT_CHUNK: usize = 300;
/// A connection to one namespace of a Redis: web apps enqueue through it, workers run jobs
/// through it (it implements [`Backend`]). Cheap to clone; clones share connections.
///
/// ```no_run
/// # extern crate job_core as job;
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use serde::{Deserialize, Serialize};
/// use job_core::Job;
///
/// #[derive(Job, Serialize, Deserialize)]
/// struct SendEmail { to: String }
///
/// let client = job_redis::Client::connect("redis://127.0.0.1:6379").await?;
/// let id = client.enqueue(SendEmail { to: "ada@example.com".into() }).await?;
/// println!("enqueued {id}");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Conn,
    /// Opens the dedicated connections of blocking waits.
    opener: Opener,
    url: String,
    config: Config,
    shards: Arc<Shards>,
    /// Where the next grab starts, so shards take turns.
    next_shard: AtomicUsize,
    /// Idle dedicated connections for blocking waits (never the shared command connection),
    /// per shard on a Cluster (each goes to its shard's master), all under 0 on one Redis.
    waiters: Mutex<HashMap<usize, Vec<Waiter>>>,
    /// On a Cluster, the master each shard's slot was last found on.
    masters: Mutex<HashMap<usize, ConnectionAddr>>,
    batcher: Batcher,
    /// ARGV[1] of every script that writes (see `Config::script_settings`).
    settings: Arc<str>,
    /// When this client last swept the outboxes.
    outbox_sweep: Mutex<std::time::Instant>,
}

/// How to open a dedicated connection.
enum Opener {
    /// One Redis: every connection goes to it.
    Single(redis::Client),
    /// A Cluster: a connection goes to the master that holds a shard's slot, with the first
    /// seed's credentials and TLS settings.
    Cluster(ConnectionInfo),
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.inner.url)
            .field("namespace", &self.inner.config.namespace)
            .field("shards", &self.inner.shards.len())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to the Redis at `url` with the default [`Config`] (namespace `job`). A URL
    /// that lists several nodes, `redis://10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000`, connects
    /// to a Redis Cluster through them (later nodes may leave out the scheme and credentials).
    ///
    /// # Errors
    ///
    /// [`Error::Connect`], naming the URL (password hidden), when Redis cannot be reached or
    /// refuses the connection.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, Config::new()).await
    }

    /// Connects with explicit settings.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] as for [`Client::connect`].
    pub async fn connect_with(url: &str, config: Config) -> Result<Self> {
        check_name(NameKind::Namespace, &config.namespace)?;
        let redacted = redact(url);
        let connect_error = |source| Error::Connect {
            url: redacted.clone(),
            source,
        };
        let seeds = seeds(url);
        if !cfg!(feature = "tls") && seeds.iter().any(|seed| seed.starts_with("rediss://")) {
            return Err(connect_error(redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "a rediss:// (TLS) URL needs the `tls` feature: job = { features = [\"tls\"] }",
            ))));
        }
        let (conn, opener) = if seeds.len() > 1 || config.cluster {
            let cluster = redis::cluster::ClusterClient::builder(seeds.clone())
                .connection_timeout(config.connection_timeout)
                .response_timeout(config.response_timeout)
                .retries(3)
                .build()
                .map_err(connect_error)?;
            let conn = cluster
                .get_async_connection()
                .await
                .map_err(connect_error)?;
            let seed = seeds[0]
                .as_str()
                .into_connection_info()
                .map_err(connect_error)?;
            (Conn::Cluster(conn), Opener::Cluster(seed))
        } else {
            let redis = redis::Client::open(url).map_err(connect_error)?;
            let manager_config = ConnectionManagerConfig::new()
                .set_response_timeout(Some(config.response_timeout))
                .set_connection_timeout(Some(config.connection_timeout))
                .set_number_of_retries(2)
                .set_max_delay(Duration::from_secs(2));
            let conn = redis
                .get_connection_manager_with_config(manager_config)
                .await
                .map_err(connect_error)?;
            (Conn::Single(conn), Opener::Single(redis))
        };
        let count = config
            .shards
            .unwrap_or(if conn.is_cluster() { 16 } else { 1 });
        let shards = Arc::new(Shards::new(&config.namespace, count));
        let settings: Arc<str> = config.script_settings(shards.len()).into();
        let batcher = Batcher::start(
            conn.clone(),
            Arc::clone(&shards),
            Arc::clone(&settings),
            redacted.clone(),
            config.inline_args_max,
        );
        Ok(Self {
            inner: Arc::new(Inner {
                conn,
                opener,
                url: redacted,
                config,
                shards,
                next_shard: AtomicUsize::new(0),
                waiters: Mutex::new(HashMap::new()),
                masters: Mutex::new(HashMap::new()),
                batcher,
                settings,
                // The first grab sweeps: children a crashed worker left behind go out at once.
                outbox_sweep: Mutex::new(
                    std::time::Instant::now()
                        .checked_sub(OUTBOX_SWEEP)
                        .unwrap_or_else(std::time::Instant::now),
                ),
            }),
        })
    }

    /// Returns the namespace.
    #[must_use]
    pub fn namespace(&self) -> &str {
        &self.inner.config.namespace
    }

    /// Enqueues a job to run as soon as a worker is free.
    ///
    /// # Errors
    ///
    /// [`Error::PayloadTooLarge`] for arguments over the limit, [`Error::Job`] when they do not
    /// serialize, and connection errors; nothing is stored on any error.
    pub async fn enqueue<J: Job>(&self, job: J) -> Result<JobId> {
        Ok(self.insert(NewJob::new(&job)?).await?.id())
    }

    /// Enqueues a job to run after `delay` (by the Redis clock).
    ///
    /// # Errors
    ///
    /// As [`Client::enqueue`].
    pub async fn enqueue_in<J: Job>(&self, delay: Duration, job: J) -> Result<JobId> {
        Ok(self
            .insert(NewJob::new(&job)?.with_delay(delay))
            .await?
            .id())
    }

    /// Enqueues a job to run at `at`.
    ///
    /// # Errors
    ///
    /// As [`Client::enqueue`].
    pub async fn enqueue_at<J: Job>(&self, at: SystemTime, job: J) -> Result<JobId> {
        Ok(self
            .insert(NewJob::new(&job)?.with_start_at(at))
            .await?
            .id())
    }

    /// Inserts one prepared job. A job whose id is already stored answers
    /// [`Inserted::Exists`] and changes nothing, so a retried insert is never doubled.
    ///
    /// # Errors
    ///
    /// As [`Client::enqueue`].
    pub async fn insert(&self, job: NewJob) -> Result<Inserted> {
        self.check_job(&job)?;
        // Concurrent single inserts share one script call per shard (see `batch.rs`).
        let shard = self.home(&job);
        let answer = self
            .until_known(&[job.id()], || async {
                Ok(vec![self.inner.batcher.insert(shard, job.clone()).await?])
            })
            .await?;
        answer
            .into_iter()
            .next()
            .ok_or_else(|| Reply::of("insert").error("the job went unanswered"))
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
        answers
            .into_iter()
            .map(|answer| answer.ok_or_else(|| Reply::of("insert").error("a job went unanswered")))
            .collect()
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

    /// The shard a job lives in: its resource's, else its unique key's, else its id's. Jobs
    /// that share a resource or a unique key meet in one shard, where one script sees them all.
    fn home(&self, job: &NewJob) -> usize {
        let shards = &self.inner.shards;
        if shards.len() == 1 {
            0
        } else if let Some(resource) = job.resource() {
            shards.owner(resource)
        } else if let Some(key) = job.unique_key() {
            shards.owner(&format!("{}\0{key}", job.name()))
        } else {
            shards.owner(&job.id().to_string())
        }
    }

    /// The shards to look for a job in: its id's own first (where every job not bound to a
    /// resource or a unique key, nor a REPLACE child, lives), then the others.
    fn lookup_order(&self, id: JobId) -> impl Iterator<Item = usize> {
        let count = self.inner.shards.len();
        let first = self.inner.shards.owner(&id.to_string());
        (0..count).map(move |i| (first + i) % count)
    }

    /// Returns everything stored about a job, or `None` when no such job is stored (never
    /// inserted, or deleted after its retention).
    ///
    /// # Errors
    ///
    /// Connection errors, and [`Error::Protocol`] for a job hash that is not ours.
    pub async fn details(&self, id: JobId) -> Result<Option<Details>> {
        for shard in self.lookup_order(id) {
            if let Some(details) = scripts::details(self.site(shard), id).await? {
                return Ok(Some(details));
            }
        }
        Ok(None)
    }

    /// Cancels a job that has not started (ready or delayed).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for an unknown job, [`Error::WrongState`] for one that is running
    /// or has ended.
    pub async fn cancel(&self, id: JobId) -> Result<()> {
        for shard in self.lookup_order(id) {
            match scripts::cancel(self.site(shard), id).await? {
                Changed::Missing => {}
                changed => return Self::changed("cancel", id, changed),
            }
        }
        Err(Error::NotFound { id })
    }

    /// Puts a failed or cancelled job back in line with fresh attempts (its failure history
    /// stays).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for an unknown job, [`Error::WrongState`] for one that has not
    /// failed.
    pub async fn retry(&self, id: JobId) -> Result<()> {
        for shard in self.lookup_order(id) {
            match scripts::retry(self.site(shard), id).await? {
                Changed::Missing => {}
                changed => return Self::changed("retry", id, changed),
            }
        }
        Err(Error::NotFound { id })
    }

    /// Returns a resource's state: whether it exists, the running job, and the queued jobs in
    /// order (at most the first 1,000).
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn resource(&self, key: &str) -> Result<ResourceState> {
        const LIMIT: usize = 1000;
        scripts::resource(self.site(self.inner.shards.owner(key)), key, LIMIT).await
    }

    /// What a change of one job by id answers, once a shard has the job.
    fn changed(operation: &'static str, id: JobId, changed: Changed) -> Result<()> {
        match changed {
            Changed::Done => Ok(()),
            Changed::Missing => Err(Error::NotFound { id }),
            Changed::WrongState(state) => Err(Error::WrongState {
                id,
                operation,
                state,
            }),
            Changed::Refused { job_type, resource } => Err(Error::ResourceNotFound {
                id,
                job_type,
                resource,
            }),
        }
    }

    /// Every shard of the namespace.
    pub(crate) fn shards(&self) -> &Shards {
        &self.inner.shards
    }

    pub(crate) fn connection(&self) -> Conn {
        self.inner.conn.clone()
    }

    /// Refuses a job before anything of it is sent: arguments over the payload limit, or a
    /// name that breaks the rules (a type with `|` would share another type's queue).
    fn check_job(&self, job: &NewJob) -> Result<()> {
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

    /// A failure, naming this client's server when it is a command's that names none yet.
    pub(crate) fn at_server(&self, error: impl Into<Error>) -> Error {
        error.into().at(Some(&self.inner.url))
    }

    /// Where a script for shard `shard` goes.
    pub(crate) fn site(&self, shard: usize) -> Site<'_> {
        let inner = &*self.inner;
        Site {
            conn: &inner.conn,
            prefix: inner.shards.get(shard).prefix(),
            settings: &inner.settings,
            server: &inner.url,
        }
    }

    /// Where a script for a leased job goes: the shard that holds it.
    fn held(&self, lease: &Lease) -> Site<'_> {
        self.site(usize::from(lease.shard))
    }
}

impl Backend for Client {
    type Error = Error;

    async fn insert(&self, jobs: &[NewJob]) -> Result<Vec<Inserted>> {
        self.insert_many(jobs).await
    }

    /// Grabs from the shards in turn, starting at a different one each call, until `limit`
    /// jobs are held or every shard was asked: a busy namespace costs one call per grab, an
    /// idle one a call per shard before the worker waits.
    async fn grab(&self, grab: &Grab<'_>) -> Result<Grabbed> {
        check_grab(grab)?;
        self.forward_outboxes_now_and_then().await;
        let shards = self.inner.shards.len();
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

    async fn complete(&self, done: &[Completion]) -> Result<Vec<Ack>> {
        let flags = self
            .flags_by_shard(
                done,
                COMPLETE_CHUNK,
                |c| c.lease.shard,
                |site, rows| async move { scripts::complete(site, &rows).await },
            )
            .await?;
        Ok(flags
            .into_iter()
            .map(|ok| if ok { Ack::Ok } else { Ack::Lost })
            .collect())
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
                let outbox = (home != parent).then(|| self.inner.shards.get(home).prefix());
                (child, outbox)
            })
            .collect();
        let forwarded = rows.iter().any(|(_, outbox)| outbox.is_some());
        let answer = scripts::replace(self.held(lease), lease, &rows).await?;
        if forwarded && answer.0 == Ack::Ok {
            // Best effort now; a failure leaves the children in the outbox for the next sweep.
            if let Err(error) = self.forward_outbox(parent).await {
                tracing::warn!(error = %chain(&error), shard = parent, "forwarding REPLACE children failed; will retry");
            }
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
        self.wait_for_work(grab, timeout)
            .await
            .map_err(|error| self.at_server(error))
    }

    fn is_permanent(error: &Error) -> bool {
        matches!(
            error,
            Error::PayloadTooLarge { .. }
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
            let more = scripts::grab(self.site(shard), shard_number(shard), grab, want).await?;
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

impl Client {
    /// Returns warningsimpl Client {
    /// Returns warnings about the Redis server's settings that put jobs at risk: an eviction
    /// policy other than `noeviction` (Redis may then delete job keys when memory is full). The
    /// worker logs them when it starts. Reads `INFO memory`, never `CONFIG`.
    ///
    /// # Errors
    ///
    /// Connection errors, and [`Error::Permission`] when the user may not run `INFO`.
    pub async fn server_warnings(&self) -> Result<Vec<String>> {
        crate::server::warnings(&mut self.connection())
            .await
            .map_err(|error| self.at_server(error))
    }
}
