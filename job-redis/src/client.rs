use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use job_core::{
    Ack, Backend, Completion, Details, FailureKind, FailureNote, FailureRecord, Grab, Grabbed,
    GrabbedJob, Inserted, Job, JobId, JobState, Lease, NewJob, Release, ResourceState, Start,
};
use redis::aio::{ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, Value};

use crate::batch::Batcher;
use crate::conn::{Conn, seeds};
use crate::error::redact;
use crate::keys::{Shard, Shards};
use crate::reply::Reply;
use crate::{Config, Error, Result, scripts};

/// Rows per INSERT script call: big enough to amortise the round trip, small enough that one
/// script never blocks Redis for long.
const INSERT_CHUNK: usize = 500;
/// How many ready jobs per ready set a filtered grab looks at.
const FILTER_WINDOW: usize = 1000;
/// Failure messages are cut to this many bytes.
const MESSAGE_MAX: usize = 4096;
/// How much longer than its own timeout a blocking wait may take before the watchdog drops the
/// connection.
const WATCHDOG_MARGIN: Duration = Duration::from_secs(2);
/// How often a client that grabs sweeps every shard's outbox for REPLACE children to forward.
const OUTBOX_SWEEP: Duration = Duration::from_secs(5);

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
    /// When this client last swept the outboxes.
    outbox_sweep: Mutex<std::time::Instant>,
}

/// A dedicated connection for blocking waits, with its client id on the server (to unblock it).
struct Waiter {
    conn: MultiplexedConnection,
    id: i64,
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
        let batcher = Batcher::start(conn.clone(), Arc::clone(&shards), config.inline_args_max);
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
        self.check_size(&job)?;
        // Concurrent single inserts share one script call per shard (see `batch.rs`).
        let shard = self.home(&job);
        self.inner.batcher.insert(shard, job).await
    }

    /// Inserts many jobs in few round trips (one script per 500 jobs of a shard, each atomic).
    ///
    /// # Errors
    ///
    /// As [`Client::enqueue`]; every job is checked against the payload limit before any is
    /// stored.
    pub async fn insert_many(&self, jobs: &[NewJob]) -> Result<Vec<Inserted>> {
        for job in jobs {
            self.check_size(job)?;
        }
        // Each shard's jobs in their order; the answers go back to the callers' order.
        let mut by_shard: Vec<Vec<usize>> = vec![Vec::new(); self.inner.shards.len()];
        for (i, job) in jobs.iter().enumerate() {
            by_shard[self.home(job)].push(i);
        }
        let mut answers: Vec<Option<Inserted>> = vec![None; jobs.len()];
        for (shard, indices) in by_shard.iter().enumerate() {
            if indices.is_empty() {
                continue;
            }
            let group: Vec<&NewJob> = indices.iter().map(|&i| &jobs[i]).collect();
            for (i, answer) in indices.iter().zip(self.insert_group(shard, &group).await?) {
                answers[*i] = Some(answer);
            }
        }
        answers
            .into_iter()
            .map(|answer| answer.ok_or_else(|| Reply::of("insert").error("a job went unanswered")))
            .collect()
    }

    /// Inserts the jobs of one shard, a chunk of `INSERT_CHUNK` at a time.
    async fn insert_group(&self, shard: usize, jobs: &[&NewJob]) -> Result<Vec<Inserted>> {
        let mut answers = Vec::with_capacity(jobs.len());
        // Two chunks in flight at once hide a round trip; they go out on the one connection in
        // order, so the second is stored after the first. A batch with resource-bound jobs goes
        // one chunk at a time, so a refused chunk stops the ones after it.
        let pipelined = jobs.iter().all(|job| job.resource().is_none());
        let chunks: Vec<&[&NewJob]> = jobs.chunks(INSERT_CHUNK).collect();
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

    /// Inserts one chunk of at most `INSERT_CHUNK` jobs, all or nothing.
    async fn insert_chunk(&self, shard: usize, chunk: &[&NewJob]) -> Result<Vec<Inserted>> {
        let prefix = self.inner.shards.get(shard).prefix();
        let inline_max = self.inner.config.inline_args_max;
        let invocation = insert_invocation(prefix, inline_max, true, chunk.iter().copied());
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
        let keep = self.inner.config.keep_completed;
        self.state_change("cancel", id, "cancelled", |prefix| {
            let mut invocation = scripts::CANCEL.prepare_invoke();
            invocation
                .key(prefix)
                .arg(id.to_string())
                .arg(keep.count)
                .arg(millis(keep.age));
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
            let mut invocation = scripts::RETRY.prepare_invoke();
            invocation.key(prefix).arg(id.to_string());
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

    fn check_size(&self, job: &NewJob) -> Result<()> {
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
        Ok(invocation.invoke_async(&mut conn).await?)
    }

    /// A dedicated connection for blocking waits on shard `shard`'s keys: to the one Redis, or
    /// to the master that holds the shard's slot.
    async fn waiter(&self, shard: usize) -> Result<Waiter> {
        let pool = match self.inner.opener {
            Opener::Single(_) => 0,
            Opener::Cluster(_) => shard,
        };
        let idle = self
            .inner
            .waiters
            .lock()
            .ok()
            .and_then(|mut idle| idle.get_mut(&pool).and_then(Vec::pop));
        if let Some(waiter) = idle {
            return Ok(waiter);
        }
        let mut conn = self.dedicated(shard).await?;
        let id: i64 = redis::cmd("CLIENT")
            .arg("ID")
            .query_async(&mut conn)
            .await?;
        Ok(Waiter { conn, id })
    }

    /// A new connection of its own (no response timeout) to the Redis that holds shard
    /// `shard`: the one Redis, or the master that holds the shard's slot.
    pub(crate) async fn dedicated(&self, shard: usize) -> Result<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new()
            .set_response_timeout(None)
            .set_connection_timeout(Some(self.inner.config.connection_timeout));
        let connect_error = |source| Error::Connect {
            url: self.inner.url.clone(),
            source,
        };
        let client = match &self.inner.opener {
            Opener::Single(client) => client.clone(),
            Opener::Cluster(seed) => {
                let known = self
                    .inner
                    .masters
                    .lock()
                    .ok()
                    .and_then(|m| m.get(&shard).cloned());
                let addr = match known {
                    Some(addr) => addr,
                    None => {
                        let slot = self.inner.shards.get(shard).slot();
                        let addr = self.master_of(slot, seed.addr()).await?;
                        if let Ok(mut masters) = self.inner.masters.lock() {
                            masters.insert(shard, addr.clone());
                        }
                        addr
                    }
                };
                redis::Client::open(seed.clone().set_addr(addr)).map_err(connect_error)?
            }
        };
        client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(connect_error)
    }

    fn return_waiter(&self, shard: usize, waiter: Waiter) {
        let pool = match self.inner.opener {
            Opener::Single(_) => 0,
            Opener::Cluster(_) => shard,
        };
        if let Ok(mut idle) = self.inner.waiters.lock() {
            idle.entry(pool).or_default().push(waiter);
        }
    }

    /// Ends another wait's `BZPOPMIN` on shard `shard`'s master with `CLIENT UNBLOCK`; true
    /// when it was blocked (its connection may wait again). False when it was not blocked:
    /// its answer was already on the way, or its command had not arrived yet and could still
    /// block unseen, so the caller closes that connection.
    async fn unblock(&self, shard: usize, id: i64) -> bool {
        use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
        let Conn::Cluster(conn) = &self.inner.conn else {
            return false;
        };
        let slot = self.inner.shards.get(shard).slot();
        let route = Route::new(slot, SlotAddr::Master);
        let mut cmd = redis::cmd("CLIENT");
        cmd.arg("UNBLOCK").arg(id);
        let answer = conn
            .clone()
            .route_command(
                cmd,
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route)),
            )
            .await;
        matches!(answer, Ok(Value::Int(1)))
    }

    /// The address of the cluster master that holds `slot`, from `CLUSTER SLOTS`, with the
    /// seed's TLS settings.
    async fn master_of(&self, slot: u16, seed: &ConnectionAddr) -> Result<ConnectionAddr> {
        let reply = Reply::of("cluster slots");
        let ranges: Value = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut self.connection())
            .await?;
        for range in reply.array(ranges)? {
            let mut parts = reply.array(range)?.into_iter();
            let (Some(start), Some(end), Some(master)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if !(reply.int(&start)?..=reply.int(&end)?).contains(&i64::from(slot)) {
                continue;
            }
            let mut master = reply.array(master)?.into_iter();
            let host = reply.string(master.next().unwrap_or_default())?;
            let port = u16::try_from(reply.int(&master.next().unwrap_or_default())?)
                .map_err(|_| reply.error("bad port"))?;
            return Ok(match seed {
                ConnectionAddr::TcpTls {
                    insecure,
                    tls_params,
                    ..
                } => ConnectionAddr::TcpTls {
                    host,
                    port,
                    insecure: *insecure,
                    tls_params: tls_params.clone(),
                },
                _ => ConnectionAddr::Tcp(host, port),
            });
        }
        Err(reply.error(format!("no master holds slot {slot}")))
    }

    /// The wake markers on shard `shard` of every queue `grab` may take from: each type's own,
    /// and those of its requirement sets that the capabilities cover.
    async fn wake_keys(&self, shard: &Shard, grab: &Grab<'_>) -> Result<Vec<String>> {
        let mut keys: Vec<String> = grab.types.iter().map(|t| shard.wake(t)).collect();
        if grab.capabilities.is_empty() {
            return Ok(keys);
        }
        let mut pipe = redis::pipe();
        for job_type in grab.types {
            pipe.smembers(shard.requirement_sets(job_type));
        }
        let sets: Vec<Vec<String>> = pipe.query_async(&mut self.connection()).await?;
        for (job_type, sets) in grab.types.iter().zip(sets) {
            for requirements in sets {
                if requirements
                    .split(',')
                    .all(|need| grab.capabilities.iter().any(|c| c == need))
                {
                    keys.push(shard.wake(&format!("{job_type}|{requirements}")));
                }
            }
        }
        Ok(keys)
    }

    /// Appends the history cap and the failed-job retention, the tail of every script that
    /// may fail a job.
    fn failure_args(&self, invocation: &mut redis::ScriptInvocation<'_>) {
        let keep = self.inner.config.keep_failed;
        invocation
            .arg(self.inner.config.history_limit)
            .arg(keep.count)
            .arg(millis(keep.age));
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn epoch_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map(millis).unwrap_or(0)
}

fn from_millis(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn truncate(message: &str) -> &str {
    if message.len() <= MESSAGE_MAX {
        return message;
    }
    let mut end = MESSAGE_MAX;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

/// Appends one insert row (see `common.lua`: 9 arguments, the rare fields in one JSON object)
/// to a script call.
fn push_row(
    invocation: &mut redis::ScriptInvocation<'_>,
    job: &NewJob,
    parent: Option<JobId>,
    home: Option<&str>,
) {
    let options = job.options();
    let (delay, at) = match job.start() {
        Start::After(delay) => (millis(delay), 0),
        Start::At(at) => (0, epoch_millis(at)),
        _ => (0, 0),
    };
    invocation
        .arg(job.id().to_string())
        .arg(job.name())
        .arg(options.priority())
        .arg(options.max_attempts())
        .arg(options.lease().map_or(0, millis))
        .arg(delay)
        .arg(at)
        .arg(job.payload())
        .arg(extras(job, parent, home));
}

/// The rare fields of an insert row as a JSON object, or empty when the job has none. `home` is
/// the shard prefix of a REPLACE child that lives in another shard than its parent.
fn extras(job: &NewJob, parent: Option<JobId>, home: Option<&str>) -> String {
    use serde_json::{Map, Value};
    let options = job.options();
    let mut extras = Map::new();
    let mut put = |name: &str, value: Value| {
        extras.insert(name.to_owned(), value);
    };
    if let Some(parent) = parent {
        put("parent", Value::String(parent.to_string()));
    }
    if let Some(home) = home {
        put("home", Value::String(home.to_owned()));
    }
    if let Some(resource) = job.resource() {
        put("resource", Value::String(resource.to_owned()));
    }
    if let Some(effect) = options.effect() {
        put("effect", Value::String(effect.as_str().to_owned()));
    }
    if let Some(key) = job.unique_key() {
        put("unique", Value::String(key.to_owned()));
        put(
            "unique_while",
            Value::String(options.unique_while().as_str().to_owned()),
        );
    }
    let requires = job.requires();
    if !requires.is_empty() {
        put("requires", Value::String(requires.join(",")));
    }
    if !job.attributes().is_empty() {
        put("attributes", attributes(job.attributes()));
    }
    if extras.is_empty() {
        String::new()
    } else {
        Value::Object(extras).to_string()
    }
}

/// Attributes as a JSON object.
fn attributes(attributes: &[(String, String)]) -> serde_json::Value {
    attributes
        .iter()
        .map(|(name, value)| (name.clone(), serde_json::Value::String(value.clone())))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// A grab's filter as a JSON object, or empty for none.
fn filter_json(filter: &[(String, String)]) -> String {
    if filter.is_empty() {
        String::new()
    } else {
        attributes(filter).to_string()
    }
}

/// Decodes the answer of a script that inserts rows: `{'ok', per row 'new' | 'exists' |
/// 'dup:<id>'}`, or `{'refused', index, resource}`, or `{'lost'}` (REPLACE).
pub(crate) fn decode_inserted<'a>(
    reply: &Reply,
    value: Value,
    jobs: impl ExactSizeIterator<Item = &'a NewJob>,
) -> Result<Option<Vec<Result<Inserted>>>> {
    let jobs: Vec<&NewJob> = jobs.collect();
    let mut items = reply.array(value)?.into_iter();
    let status = reply.string(items.next().ok_or_else(|| reply.error("empty reply"))?)?;
    match status.as_str() {
        "ok" => {}
        "lost" => return Ok(None),
        "refused" => {
            let index = reply.int(&items.next().unwrap_or_default())?;
            let resource = reply.string(items.next().unwrap_or_default())?;
            let job = usize::try_from(index)
                .ok()
                .and_then(|i| jobs.get(i))
                .ok_or_else(|| reply.error(format!("refused row {index} out of range")))?;
            return Err(refused(job, resource));
        }
        other => return Err(reply.error(format!("unknown status `{other}`"))),
    }
    let answers: Vec<_> = items.collect();
    if answers.len() != jobs.len() {
        return Err(reply.error(format!(
            "expected {} answers, got {}",
            jobs.len(),
            answers.len()
        )));
    }
    answers
        .into_iter()
        .zip(jobs)
        .map(|(answer, job)| {
            let answer = reply.string(answer)?;
            Ok(match answer.as_str() {
                "new" => Ok(Inserted::New(job.id())),
                "exists" => Ok(Inserted::Exists(job.id())),
                other => match other.split_once(':') {
                    Some(("dup", id)) => Ok(Inserted::Duplicate(
                        id.parse()
                            .map_err(|_| reply.error(format!("bad job id `{id}`")))?,
                    )),
                    Some(("refused", resource)) => Err(refused(job, resource.to_owned())),
                    _ => return Err(reply.error(format!("unknown answer `{other}`"))),
                },
            })
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

fn refused(job: &NewJob, resource: String) -> Error {
    Error::ResourceNotFound {
        id: job.id(),
        job_type: job.name().to_owned(),
        resource,
    }
}

/// An INSERT call for `jobs`: all or nothing when `atomic`, else each row on its own.
pub(crate) fn insert_invocation<'a>(
    prefix: &str,
    inline_max: usize,
    atomic: bool,
    jobs: impl ExactSizeIterator<Item = &'a NewJob>,
) -> redis::ScriptInvocation<'static> {
    let mut invocation = scripts::INSERT.prepare_invoke();
    invocation
        .key(prefix)
        .arg(inline_max)
        .arg(u8::from(atomic))
        .arg(jobs.len());
    for job in jobs {
        push_row(&mut invocation, job, None, None);
    }
    invocation
}

fn decode_details(
    id: JobId,
    fields: Value,
    args: Value,
    history: Value,
    served: Value,
) -> Result<Details> {
    let reply = Reply::of("details");
    let mut map: HashMap<String, Value> = HashMap::new();
    let mut flat = reply.array(fields)?.into_iter();
    while let (Some(key), Some(value)) = (flat.next(), flat.next()) {
        map.insert(reply.string(key)?, value);
    }
    let int =
        |name: &str| -> Result<Option<i64>> { map.get(name).map(|v| reply.int(v)).transpose() };
    let text = |name: &str| -> Result<Option<String>> {
        map.get(name).cloned().map(|v| reply.string(v)).transpose()
    };
    let count =
        |name: &str| -> Result<u32> { Ok(u32::try_from(int(name)?.unwrap_or(0)).unwrap_or(0)) };
    let name = text("t")?.ok_or_else(|| reply.error(format!("job {id} has no type field")))?;
    let state_name = text("s")?.unwrap_or_default();
    let state = JobState::from_name(&state_name)
        .ok_or_else(|| reply.error(format!("job {id} has unknown state `{state_name}`")))?;
    let payload = match map.get("d").cloned() {
        Some(inline) => reply.bytes(inline)?,
        None => match args {
            Value::Nil => Vec::new(),
            other => reply.bytes(other)?,
        },
    };
    let holder = match text("w")? {
        Some(json) if state == JobState::Running => serde_json::from_str(&json).ok(),
        _ => None,
    };
    let failures = reply
        .array(history)?
        .into_iter()
        .map(|record| decode_failure(&reply, record))
        .collect::<Result<Vec<_>>>()?;
    Ok(Details {
        id,
        name,
        state,
        payload,
        priority: i8::try_from(int("p")?.unwrap_or(0)).unwrap_or(0),
        attempts: count("a")?,
        max_attempts: count("m")?,
        lease_expiries: count("x")?,
        defers: count("df")?,
        created: from_millis(int("c")?.unwrap_or(0)),
        run_at: int("ra")?.map(from_millis),
        started: int("st")?.map(from_millis),
        finished: int("f")?.map(from_millis),
        holder,
        result: map.get("r").cloned().map(|v| reply.bytes(v)).transpose()?,
        failures,
        resource: text("rk")?,
        // Stored as `<type>\0<key>`, scoped to the type.
        unique_key: text("uk")?.map(|k| {
            k.split_once('\0')
                .map_or(k.clone(), |(_, key)| key.to_owned())
        }),
        requires: text("rq")?
            .map(|r| r.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
        parent: text("pa")?.and_then(|p| p.parse().ok()),
        // The type's score in `seen` (ms), or nil when no worker ever asked for it.
        served_at: match served {
            Value::Nil => None,
            other => {
                let text = reply.string(other)?;
                let ms = text
                    .parse::<f64>()
                    .map_err(|_| reply.error(format!("bad `seen` score `{text}`")))?;
                // A float cast saturates; scores are whole milliseconds.
                Some(from_millis(ms as i64))
            }
        },
    })
}

#[derive(serde::Deserialize)]
struct StoredFailure {
    t: i64,
    a: u32,
    k: String,
    m: String,
    #[serde(default)]
    w: String,
}

fn decode_failure(reply: &Reply, record: Value) -> Result<FailureRecord> {
    let bytes = reply.bytes(record)?;
    let stored: StoredFailure = serde_json::from_slice(&bytes)
        .map_err(|e| reply.error(format!("bad failure record: {e}")))?;
    let kind = FailureKind::from_name(&stored.k)
        .ok_or_else(|| reply.error(format!("unknown failure kind `{}`", stored.k)))?;
    Ok(FailureRecord::new(
        from_millis(stored.t),
        stored.a,
        kind,
        stored.m,
        serde_json::from_str(&stored.w).ok(),
    ))
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
            match self.grab_shard(shard, grab, grab.limit - jobs.len()).await {
                Ok(grabbed) => {
                    next_wake = match (next_wake, grabbed.next_wake) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    jobs.extend(grabbed.jobs);
                }
                // Jobs already leased are worth running; the failing shard is asked next time.
                Err(error) if !jobs.is_empty() => {
                    tracing::warn!(%error, shard, "grab failed on one shard");
                    break;
                }
                Err(error) => return Err(error),
            }
        }
        Ok(Grabbed::new(jobs, next_wake))
    }

    async fn complete(&self, done: &[Completion]) -> Result<Vec<Ack>> {
        let keep = self.inner.config.keep_completed;
        let groups = by_shard(done.iter().map(|c| c.lease.shard));
        let calls = groups.iter().map(|(shard, rows)| async move {
            let mut invocation = scripts::COMPLETE.prepare_invoke();
            invocation
                .key(self.inner.shards.get(*shard).prefix())
                .arg(keep.count)
                .arg(millis(keep.age))
                .arg(rows.len());
            for &row in rows {
                let completion = &done[row];
                invocation
                    .arg(completion.lease.id.to_string())
                    .arg(completion.lease.token)
                    .arg(completion.result.as_deref().unwrap_or_default());
            }
            Reply::of("complete").flags(self.invoke(&invocation).await?, rows.len())
        });
        let answers = futures_util::future::try_join_all(calls).await?;
        let mut acks = vec![Ack::Lost; done.len()];
        for ((_, rows), flags) in groups.iter().zip(answers) {
            for (&row, ok) in rows.iter().zip(flags) {
                acks[row] = if ok { Ack::Ok } else { Ack::Lost };
            }
        }
        Ok(acks)
    }

    async fn temp_fail(
        &self,
        lease: &Lease,
        retry_in: Duration,
        failure: &FailureNote,
    ) -> Result<Ack> {
        let mut invocation = scripts::TEMP_FAIL.prepare_invoke();
        invocation
            .key(self.held_shard(lease).prefix())
            .arg(lease.id.to_string())
            .arg(lease.token)
            .arg(millis(retry_in))
            .arg(failure.kind.as_str())
            .arg(truncate(&failure.message));
        self.failure_args(&mut invocation);
        self.ack("temp_fail", &invocation, "retry").await
    }

    async fn perm_fail(&self, lease: &Lease, failure: &FailureNote) -> Result<Ack> {
        let mut invocation = scripts::PERM_FAIL.prepare_invoke();
        invocation
            .key(self.held_shard(lease).prefix())
            .arg(lease.id.to_string())
            .arg(lease.token)
            .arg(failure.kind.as_str())
            .arg(truncate(&failure.message));
        self.failure_args(&mut invocation);
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
        for child in children {
            self.check_size(child)?;
        }
        let keep = self.inner.config.keep_completed;
        let parent = usize::from(lease.shard);
        let mut invocation = scripts::REPLACE.prepare_invoke();
        invocation
            .key(self.held_shard(lease).prefix())
            .arg(lease.id.to_string())
            .arg(lease.token)
            .arg(keep.count)
            .arg(millis(keep.age))
            .arg(self.inner.config.inline_args_max)
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
                tracing::warn!(%error, shard = parent, "forwarding REPLACE children failed; will retry");
            }
        }
        Ok(answer)
    }

    async fn release(&self, lease: &Lease, release: &Release) -> Result<Ack> {
        let mut invocation = scripts::RELEASE.prepare_invoke();
        invocation
            .key(self.held_shard(lease).prefix())
            .arg(lease.id.to_string())
            .arg(lease.token)
            .arg(millis(release.delay))
            .arg(release.defer_limit.map_or(-1, i64::from));
        self.failure_args(&mut invocation);
        self.ack("release", &invocation, "ok").await
    }

    async fn heartbeat(&self, leases: &[Lease]) -> Result<Vec<bool>> {
        let groups = by_shard(leases.iter().map(|lease| lease.shard));
        let calls = groups.iter().map(|(shard, rows)| async move {
            let mut invocation = scripts::HEARTBEAT.prepare_invoke();
            invocation
                .key(self.inner.shards.get(*shard).prefix())
                .arg(rows.len());
            for &row in rows {
                let lease = &leases[row];
                invocation
                    .arg(lease.id.to_string())
                    .arg(lease.token)
                    .arg(millis(lease.duration));
            }
            Reply::of("heartbeat").flags(self.invoke(&invocation).await?, rows.len())
        });
        let answers = futures_util::future::try_join_all(calls).await?;
        let mut held = vec![false; leases.len()];
        for ((_, rows), flags) in groups.iter().zip(answers) {
            for (&row, ok) in rows.iter().zip(flags) {
                held[row] = ok;
            }
        }
        Ok(held)
    }

    /// Blocks until a queue `grab` may take from has work, or `timeout`. On one Redis that is
    /// one `BZPOPMIN` over every shard's markers; on a Cluster one per shard, each on its own
    /// connection to the shard's master (a command's keys must share a slot), and the first
    /// to answer ends the wait.
    async fn wait(&self, grab: &Grab<'_>, timeout: Duration) -> Result<()> {
        // Redis reads a 0 timeout as "forever"; 2 ms is the shortest that blocks at all.
        let timeout = timeout.max(Duration::from_millis(2));
        if let Opener::Single(_) = self.inner.opener {
            let mut keys = Vec::new();
            for (_, shard) in self.inner.shards.iter() {
                keys.extend(self.wake_keys(shard, grab).await?);
            }
            return self.block(0, keys, timeout).await;
        }
        let mut waiting = Vec::with_capacity(self.inner.shards.len());
        for (index, shard) in self.inner.shards.iter() {
            let keys = self.wake_keys(shard, grab).await?;
            waiting.push((index, keys, self.waiter(index).await?));
        }
        let waits = waiting.iter().map(|(index, keys, waiter)| {
            Box::pin(self.bzpopmin(*index, waiter.conn.clone(), keys, timeout))
        });
        let (answer, first, rest) = futures_util::future::select_all(waits).await;
        drop(rest);
        // The others are unblocked at once, so their connections can wait again (their nil
        // answers are discarded); one that was not blocked is closed instead.
        let mut others = Vec::with_capacity(waiting.len());
        for (i, (index, _, waiter)) in waiting.into_iter().enumerate() {
            if i == first {
                if matches!(answer, Ok(true)) {
                    self.return_waiter(index, waiter);
                }
            } else {
                others.push(async move { (index, self.unblock(index, waiter.id).await, waiter) });
            }
        }
        for (index, unblocked, waiter) in futures_util::future::join_all(others).await {
            if unblocked {
                self.return_waiter(index, waiter);
            }
        }
        answer.map(|_| ())
    }

    fn is_permanent(error: &Error) -> bool {
        matches!(
            error,
            Error::PayloadTooLarge { .. } | Error::ResourceNotFound { .. } | Error::Job(_)
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

/// Row indices grouped by shard, each group in row order.
fn by_shard(shards: impl Iterator<Item = u16>) -> Vec<(usize, Vec<usize>)> {
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    for (row, shard) in shards.enumerate() {
        let shard = usize::from(shard);
        match groups.iter_mut().find(|(s, _)| *s == shard) {
            Some((_, rows)) => rows.push(row),
            None => groups.push((shard, vec![row])),
        }
    }
    groups
}

impl Client {
    /// One shard's GRAB.
    async fn grab_shard(&self, shard: usize, grab: &Grab<'_>, limit: usize) -> Result<Grabbed> {
        let config = &self.inner.config;
        let holder = serde_json::to_string(grab.holder)
            .map_err(|e| Reply::of("grab").error(e.to_string()))?;
        let mut invocation = scripts::GRAB.prepare_invoke();
        invocation
            .key(self.inner.shards.get(shard).prefix())
            .arg(limit)
            .arg(millis(grab.lease))
            .arg(holder)
            .arg(config.max_lease_expiries)
            .arg(config.history_limit)
            .arg(config.keep_failed.count)
            .arg(millis(config.keep_failed.age))
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

    /// One blocking `BZPOPMIN` on `keys`, on a dedicated connection for shard `shard`.
    async fn block(&self, shard: usize, keys: Vec<String>, timeout: Duration) -> Result<()> {
        let waiter = self.waiter(shard).await?;
        if self
            .bzpopmin(shard, waiter.conn.clone(), &keys, timeout)
            .await?
        {
            self.return_waiter(shard, waiter);
        }
        Ok(())
    }

    /// `BZPOPMIN` on `keys` over `conn`, with a watchdog: true when the server answered (the
    /// connection may wait again), false when the watchdog fired (drop the connection).
    async fn bzpopmin(
        &self,
        shard: usize,
        mut conn: MultiplexedConnection,
        keys: &[String],
        timeout: Duration,
    ) -> Result<bool> {
        let mut cmd = redis::cmd("BZPOPMIN");
        cmd.arg(keys).arg(timeout.as_secs_f64());
        match tokio::time::timeout(
            timeout + WATCHDOG_MARGIN,
            cmd.query_async::<Value>(&mut conn),
        )
        .await
        {
            Ok(Ok(_)) => Ok(true),
            Ok(Err(error)) => {
                // The slot may have moved to another master (MOVED): look it up again next time.
                if let Ok(mut masters) = self.inner.masters.lock() {
                    masters.remove(&shard);
                }
                Err(error.into())
            }
            Err(_) => Ok(false),
        }
    }

    /// Forwards the REPLACE children waiting in every shard's outbox, at most every few
    /// seconds per client (a sweep for children whose first forward failed).
    async fn forward_outboxes_now_and_then(&self) {
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
                tracing::warn!(%error, shard, "forwarding REPLACE children failed; will retry");
            }
        }
    }

    /// Moves shard `shard`'s outbox to the children's own shards: each is inserted there
    /// (an id already forwarded answers `exists`, even after the child ended and was deleted,
    /// so a forward repeated after a crash inserts nothing twice), then taken off the outbox.
    async fn forward_outbox(&self, shard: usize) -> Result<()> {
        const BATCH: isize = 100;
        let outbox = self.inner.shards.get(shard).outbox();
        let mut conn = self.connection();
        loop {
            let entries: Vec<String> = redis::cmd("LRANGE")
                .arg(&outbox)
                .arg(0)
                .arg(BATCH - 1)
                .query_async(&mut conn)
                .await?;
            if entries.is_empty() {
                return Ok(());
            }
            for entry in &entries {
                let reply = Reply::of("forward");
                let (home, args): (String, Vec<String>) = serde_json::from_str(entry)
                    .map_err(|e| reply.error(format!("bad outbox entry: {e}")))?;
                let mut invocation = scripts::INSERT.prepare_invoke();
                invocation
                    .key(&home)
                    .arg(self.inner.config.inline_args_max)
                    .arg(0)
                    .arg(1)
                    .arg(&args);
                self.invoke(&invocation).await?;
                let _: i64 = redis::cmd("LREM")
                    .arg(&outbox)
                    .arg(1)
                    .arg(entry)
                    .query_async(&mut conn)
                    .await?;
            }
        }
    }
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
        crate::server::warnings(&mut self.connection()).await
    }
}
