use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use job_core::limits::{clamp_delay, clamp_lease};
use job_core::{
    Ack, Backend, Completion, Details, FailureNote, FailureRecord, Grab, Grabbed, GrabbedJob,
    Inserted, Job, JobId, JobState, Lease, NameKind, NewJob, Release, ResourceState, check_name,
};
use redis::aio::ConnectionManagerConfig;
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, Value};

mod encode;
mod outbox;
mod wait;

use self::encode::{MAX_REPLACE_WEIGHT, MAX_ROWS};
use self::encode::{by_weight, decode_details, filter_json, millis, push_row, truncate};
pub(crate) use self::encode::{decode_inserted, insert_invocation, run_lengths, weight};
use self::outbox::OUTBOX_SWEEP;
use self::wait::Waiter;

use crate::batch::Batcher;
use crate::conn::{Conn, seeds};
use crate::error::{chain, redact, shown};
use crate::keys::{Shard, Shards, group_by_shard};
use crate::reply::Reply;
use crate::{Config, Error, Result, scripts};

/// How many ready jobs a filtered grab looks at, over all its queues (an equal share each).
const FILTER_WINDOW: usize = 1000;
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
        let prefix = self.inner.shards.get(shard).prefix();
        let invocation =
            insert_invocation(prefix, &self.inner.settings, true, chunk.iter().copied());
        let reply = Reply::of("insert");
        decode_inserted(
            &reply,
            self.invoke(&invocation).await?,
            chunk.iter().copied(),
        )?
        .ok_or_else(|| reply.error("unexpected `lost`"))?
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
    fn lookup_order(&self, id: JobId) -> impl Iterator<Item = &Shard> {
        let shards = &self.inner.shards;
        let first = shards.owner(&id.to_string());
        (0..shards.len()).map(move |i| shards.get(first + i))
    }

    /// Returns everything stored about a job, or `None` when no such job is stored (never
    /// inserted, or deleted after its retention).
    ///
    /// # Errors
    ///
    /// Connection errors, and [`Error::Protocol`] for a job hash that is not ours.
    pub async fn details(&self, id: JobId) -> Result<Option<Details>> {
        let reply = Reply::of("details");
        let mut parts = Vec::new();
        for shard in self.lookup_order(id) {
            let mut invocation = scripts::DETAILS.prepare_invoke();
            invocation.key(shard.prefix()).arg(id.to_string());
            parts = reply.array(self.invoke(&invocation).await?)?;
            if !parts.is_empty() {
                break;
            }
        }
        if parts.is_empty() {
            return Ok(None);
        }
        if parts.len() != 4 {
            return Err(reply.error(format!("expected 4 parts, got {}", parts.len())));
        }
        let served = parts.pop().unwrap_or_default();
        let history = parts.pop().unwrap_or_default();
        let args = parts.pop().unwrap_or_default();
        let fields = parts.pop().unwrap_or_default();
        decode_details(id, fields, args, history, served).map(Some)
    }

    /// Cancels a job that has not started (ready or delayed).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for an unknown job, [`Error::WrongState`] for one that is running
    /// or has ended.
    pub async fn cancel(&self, id: JobId) -> Result<()> {
        self.state_change("cancel", id, "cancelled", |prefix| {
            let mut invocation = self.invocation(&scripts::CANCEL, prefix);
            invocation.arg(id.to_string());
            invocation
        })
        .await
    }

    /// Puts a failed or cancelled job back in line with fresh attempts (its failure history
    /// stays).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for an unknown job, [`Error::WrongState`] for one that has not
    /// failed.
    pub async fn retry(&self, id: JobId) -> Result<()> {
        self.state_change("retry", id, "ok", |prefix| {
            let mut invocation = self.invocation(&scripts::RETRY, prefix);
            invocation.arg(id.to_string());
            invocation
        })
        .await
    }

    /// Returns a resource's state: whether it exists, the running job, and the queued jobs in
    /// order (at most the first 1,000).
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn resource(&self, key: &str) -> Result<ResourceState> {
        const LIMIT: usize = 1000;
        let mut invocation = scripts::RESOURCE.prepare_invoke();
        let shard = self.inner.shards.get(self.inner.shards.owner(key));
        invocation.key(shard.prefix()).arg(key).arg(LIMIT);
        let reply = Reply::of("resource");
        let items = reply.array(self.invoke(&invocation).await?)?;
        if items.len() < 3 {
            return Err(reply.error(format!("expected at least 3 items, got {}", items.len())));
        }
        let mut items = items.into_iter();
        let exists = reply.int(&items.next().unwrap_or_default())? == 1;
        let total = usize::try_from(reply.int(&items.next().unwrap_or_default())?).unwrap_or(0);
        let head_state = reply.string(items.next().unwrap_or_default())?;
        let queued = items
            .map(|item| {
                let text = reply.string(item)?;
                text.parse()
                    .map_err(|_| reply.error(format!("bad job id `{text}`")))
            })
            .collect::<Result<Vec<JobId>>>()?;
        let running = queued.first().copied().filter(|_| head_state == "running");
        Ok(ResourceState::new(
            key.to_owned(),
            exists,
            running,
            queued,
            total,
        ))
    }

    /// Runs a script that changes one job's state by id, on the shard that holds the job.
    async fn state_change(
        &self,
        script: &'static str,
        id: JobId,
        ok: &str,
        invocation: impl Fn(&str) -> redis::ScriptInvocation<'static>,
    ) -> Result<()> {
        let reply = Reply::of(script);
        let mut answer = String::from("missing");
        for shard in self.lookup_order(id) {
            answer = reply.string(self.invoke(&invocation(shard.prefix())).await?)?;
            if answer != "missing" {
                break;
            }
        }
        match answer.as_str() {
            answer if answer == ok => Ok(()),
            "missing" => Err(Error::NotFound { id }),
            "refused" => {
                let details = self.details(id).await?.ok_or(Error::NotFound { id })?;
                Err(Error::ResourceNotFound {
                    id,
                    job_type: details.name,
                    resource: details.resource.unwrap_or_default(),
                })
            }
            state => Err(Error::WrongState {
                id,
                operation: script,
                state: JobState::from_name(state)
                    .ok_or_else(|| reply.error(format!("unknown state `{state}`")))?,
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

    async fn invoke(&self, invocation: &redis::ScriptInvocation<'_>) -> Result<Value> {
        let mut conn = self.connection();
        invocation
            .invoke_async(&mut conn)
            .await
            .map_err(|error| self.at_server(error))
    }

    /// A failure, naming this client's server when it is a command's that names none yet.
    pub(crate) fn at_server(&self, error: impl Into<Error>) -> Error {
        error.into().at(Some(&self.inner.url))
    }

    /// A call of `script` on the shard at `prefix`, its settings (ARGV[1]) already given.
    fn invocation(
        &self,
        script: &'static redis::Script,
        prefix: &str,
    ) -> redis::ScriptInvocation<'static> {
        let mut invocation = script.prepare_invoke();
        invocation.key(prefix).arg(&*self.inner.settings);
        invocation
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
                "complete",
                done,
                COMPLETE_CHUNK,
                |c| c.lease.shard,
                |prefix, rows| {
                    let mut invocation = self.invocation(&scripts::COMPLETE, prefix);
                    invocation.arg(rows.len());
                    for completion in rows {
                        invocation
                            .arg(completion.lease.id.to_string())
                            .arg(completion.lease.token)
                            .arg(completion.result.as_deref().unwrap_or_default());
                    }
                    invocation
                },
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
        let mut invocation = self.invocation(&scripts::TEMP_FAIL, self.held_shard(lease).prefix());
        invocation
            .arg(lease.id.to_string())
            .arg(lease.token)
            .arg(millis(clamp_delay(retry_in)))
            .arg(failure.kind.as_str())
            .arg(truncate(&failure.message));
        self.ack("temp_fail", &invocation, "retry").await
    }

    async fn perm_fail(&self, lease: &Lease, failure: &FailureNote) -> Result<Ack> {
        let mut invocation = self.invocation(&scripts::PERM_FAIL, self.held_shard(lease).prefix());
        invocation
            .arg(lease.id.to_string())
            .arg(lease.token)
            .arg(failure.kind.as_str())
            .arg(truncate(&failure.message));
        // A permanent failure asked for and done is `Ok`.
        match self.ack("perm_fail", &invocation, "failed").await? {
            Ack::Lost => Ok(Ack::Lost),
            _ => Ok(Ack::Ok),
        }
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
        let mut invocation = self.invocation(&scripts::REPLACE, self.held_shard(lease).prefix());
        invocation
            .arg(lease.id.to_string())
            .arg(lease.token)
            .arg(children.len());
        let mut forwarded = false;
        for child in children {
            let home = self.child_home(child, parent);
            let outbox = (home != parent).then(|| self.inner.shards.get(home).prefix());
            forwarded |= outbox.is_some();
            push_row(&mut invocation, child, Some(lease.id), outbox);
        }
        let reply = Reply::of("replace");
        let answer =
            match decode_inserted(&reply, self.invoke(&invocation).await?, children.iter())? {
                Some(rows) => (Ack::Ok, rows.into_iter().collect::<Result<Vec<_>>>()?),
                None => (Ack::Lost, Vec::new()),
            };
        if forwarded && answer.0 == Ack::Ok {
            // Best effort now; a failure leaves the children in the outbox for the next sweep.
            if let Err(error) = self.forward_outbox(parent).await {
                tracing::warn!(error = %chain(&error), shard = parent, "forwarding REPLACE children failed; will retry");
            }
        }
        Ok(answer)
    }

    async fn release(&self, lease: &Lease, release: &Release) -> Result<Ack> {
        let mut invocation = self.invocation(&scripts::RELEASE, self.held_shard(lease).prefix());
        invocation
            .arg(lease.id.to_string())
            .arg(lease.token)
            .arg(millis(clamp_delay(release.delay)))
            .arg(release.defer_limit.map_or(-1, i64::from));
        self.ack("release", &invocation, "ok").await
    }

    async fn heartbeat(&self, leases: &[Lease]) -> Result<Vec<bool>> {
        self.flags_by_shard(
            "heartbeat",
            leases,
            HEARTBEAT_CHUNK,
            |lease| lease.shard,
            |prefix, rows| {
                let mut invocation = scripts::HEARTBEAT.prepare_invoke();
                invocation.key(prefix).arg(rows.len());
                for lease in rows {
                    invocation
                        .arg(lease.id.to_string())
                        .arg(lease.token)
                        .arg(millis(clamp_lease(lease.duration)));
                }
                invocation
            },
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
    /// Runs `script` per shard that holds some of `items`, in calls of at most `chunk` items,
    /// all at once, each call built by `invocation` from the shard's prefix and its items and
    /// answering one flag per item; returns the flags in the items' order.
    async fn flags_by_shard<'a, T>(
        &self,
        script: &'static str,
        items: &'a [T],
        chunk: usize,
        shard_of: impl Fn(&T) -> u16,
        invocation: impl Fn(&str, &[&'a T]) -> redis::ScriptInvocation<'static>,
    ) -> Result<Vec<bool>> {
        let groups = group_by_shard(items.iter().enumerate(), |(_, item)| {
            usize::from(shard_of(item))
        });
        let calls: Vec<(usize, &[(usize, &'a T)])> = groups
            .iter()
            .flat_map(|(shard, rows)| rows.chunks(chunk).map(move |rows| (*shard, rows)))
            .collect();
        let answers = futures_util::future::try_join_all(calls.iter().map(|(shard, rows)| {
            let rows: Vec<&T> = rows.iter().map(|(_, item)| *item).collect();
            let invocation = invocation(self.inner.shards.get(*shard).prefix(), &rows);
            async move { Reply::of(script).flags(self.invoke(&invocation).await?, rows.len()) }
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
            let more = self.grab_shard(shard, grab, want).await?;
            let full = more.jobs.len() == want;
            grabbed.jobs.extend(more.jobs);
            grabbed.next_wake = more.next_wake;
            if !full || grabbed.jobs.len() >= limit {
                return Ok(grabbed);
            }
        }
    }

    /// One shard's GRAB.
    async fn grab_shard(&self, shard: usize, grab: &Grab<'_>, limit: usize) -> Result<Grabbed> {
        let holder = serde_json::to_string(grab.holder)
            .map_err(|e| Reply::of("grab").error(e.to_string()))?;
        let mut invocation = self.invocation(&scripts::GRAB, self.inner.shards.get(shard).prefix());
        invocation
            .arg(limit)
            .arg(millis(clamp_lease(grab.lease)))
            .arg(holder)
            .arg(grab.capabilities.join(","))
            .arg(filter_json(grab.filter))
            .arg(FILTER_WINDOW);
        for job_type in grab.types {
            invocation.arg(*job_type);
        }
        let reply = Reply::of("grab");
        let items = reply.array(self.invoke(&invocation).await?)?;
        let (head, rows) = items
            .split_first()
            .ok_or_else(|| reply.error("empty reply"))?;
        if rows.len() % 7 != 0 {
            return Err(reply.error(format!("{} row fields is not a multiple of 7", rows.len())));
        }
        let next_wake = u64::try_from(reply.int(head)?)
            .ok()
            .map(Duration::from_millis);
        let shard = u16::try_from(shard).unwrap_or(0);
        let mut jobs = Vec::with_capacity(rows.len() / 7);
        for row in rows.chunks(7) {
            let id_text = reply.string(row[0].clone())?;
            let id = id_text
                .parse()
                .map_err(|_| reply.error(format!("bad job id `{id_text}`")))?;
            let count =
                |v: &Value| -> Result<u32> { Ok(u32::try_from(reply.int(v)?).unwrap_or(u32::MAX)) };
            let token =
                u64::try_from(reply.int(&row[5])?).map_err(|_| reply.error("negative token"))?;
            let lease = Duration::from_millis(u64::try_from(reply.int(&row[6])?).unwrap_or(0));
            jobs.push(GrabbedJob::new(
                Lease::new(id, token, lease).on_shard(shard),
                reply.string(row[1].clone())?,
                reply.bytes(row[2].clone())?,
                count(&row[3])?,
                count(&row[4])?,
            ));
        }
        Ok(Grabbed::new(jobs, next_wake))
    }

    /// The shard that holds a leased job.
    fn held_shard(&self, lease: &Lease) -> &Shard {
        self.inner.shards.get(usize::from(lease.shard))
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
    async fn ack(
        &self,
        script: &'static str,
        invocation: &redis::ScriptInvocation<'_>,
        ok: &str,
    ) -> Result<Ack> {
        let reply = Reply::of(script);
        let answer = reply.string(self.invoke(invocation).await?)?;
        match answer.as_str() {
            answer if answer == ok => Ok(Ack::Ok),
            "failed" => Ok(Ack::Failed),
            "lost" => Ok(Ack::Lost),
            other => Err(reply.error(format!("unknown status `{other}`"))),
        }
    }
}

impl Client {
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
