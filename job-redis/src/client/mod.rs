use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, SystemTime};

use job_core::{Details, Job, JobId, Lease, NameKind, NewJob, ResourceState, check_name};

mod admin;
mod backend;
mod batch;
mod insert;
mod outbox;
mod schedules;
mod wait;

use self::batch::Batcher;
use self::outbox::Outbox;
use self::wait::Waits;

use crate::conn::{self, Conn};
use crate::error::redact;
use crate::keys::Shards;
use crate::scripts::{self, Changed, Site, Sites};
use crate::{Config, Error, Result, server};

/// A connection to one namespace of a Redis: web apps enqueue through it, workers run jobs
/// through it (it implements [`Backend`](job_core::Backend)). Cheap to clone; clones share
/// connections.
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
    /// Where scripts go: the shards, the command connection, the settings.
    sites: Arc<Sites>,
    config: Config,
    /// Where the next grab starts, so shards take turns.
    next_shard: AtomicUsize,
    /// Blocking waits for work.
    waits: Waits,
    /// Forwards REPLACE children to their shards.
    outbox: Outbox,
    /// Coalesces single inserts.
    batcher: Batcher,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.inner.sites.server())
            .field("namespace", &self.inner.config.namespace)
            .field("shards", &self.inner.sites.shards().len())
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
        let (conn, opener) = conn::open(url, &config).await?;
        let too_old = server::too_old(&mut conn.clone())
            .await
            .map_err(|error| error.at(Some(&redact(url))))?;
        if let Some(version) = too_old {
            return Err(Error::ServerTooOld {
                url: redact(url),
                version,
            });
        }
        let count = config
            .shards
            .unwrap_or(if conn.is_cluster() { 16 } else { 1 });
        let shards = Shards::new(&config.namespace, count);
        let settings = config.script_settings(shards.len());
        let sites = Arc::new(Sites::new(
            conn,
            shards,
            settings,
            redact(url),
            config.loading,
        ));
        Ok(Self {
            inner: Arc::new(Inner {
                waits: Waits::new(Arc::clone(&sites), opener, config.connection_timeout),
                outbox: Outbox::new(Arc::clone(&sites)),
                batcher: Batcher::start(Arc::clone(&sites), config.inline_args_max),
                sites,
                config,
                next_shard: AtomicUsize::new(0),
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

    /// The shard a job lives in: its resource's, else its unique key's, else its id's. Jobs
    /// that share a resource or a unique key meet in one shard, where one script sees them all.
    fn home(&self, job: &NewJob) -> usize {
        let shards = self.inner.sites.shards();
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
    fn lookup_order(&self, id: JobId) -> impl Iterator<Item = usize> + use<> {
        self.shards_from(&id.to_string())
    }

    /// Every shard, the one that owns `key` first, then the others in turn.
    fn shards_from(&self, key: &str) -> impl Iterator<Item = usize> + use<> {
        let count = self.inner.sites.shards().len();
        let first = self.inner.sites.shards().owner(key);
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
        scripts::resource(self.site(self.inner.sites.shards().owner(key)), key, LIMIT).await
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

    /// The client's settings.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Every shard of the namespace.
    pub(crate) fn shards(&self) -> &Shards {
        self.inner.sites.shards()
    }

    pub(crate) fn connection(&self) -> Conn {
        self.inner.sites.conn()
    }

    /// A failure, naming this client's server when it is a command's that names none yet.
    pub(crate) fn at_server(&self, error: impl Into<Error>) -> Error {
        self.inner.sites.at_server(error)
    }

    /// Where a script for shard `shard` goes.
    pub(crate) fn site(&self, shard: usize) -> Site<'_> {
        self.inner.sites.site(shard)
    }

    /// A new connection of its own to the Redis that holds shard `shard` (see
    /// `Waits::dedicated`).
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) async fn dedicated(
        &self,
        shard: usize,
    ) -> Result<redis::aio::MultiplexedConnection> {
        self.inner.waits.dedicated(shard).await
    }

    /// Where a script for a leased job goes: the shard that holds it.
    fn held(&self, lease: &Lease) -> Site<'_> {
        self.site(usize::from(lease.shard))
    }
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
