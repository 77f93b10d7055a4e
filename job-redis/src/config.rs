use std::time::Duration;

use crate::scripts::Loading;

/// The most shards a namespace may have (each must own a distinct range of cluster slots).
pub(crate) const MAX_SHARDS: u16 = 1024;

/// Settings of a [`Client`](crate::Client).
///
/// ```
/// use std::time::Duration;
/// use job_redis::{Config, Retention};
///
/// let config = Config::new()
///     .namespace("billing")
///     .max_payload(64 * 1024)
///     .keep_completed(Retention::new(1_000, Duration::from_secs(3_600)));
/// # let _ = config;
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) namespace: String,
    pub(crate) response_timeout: Duration,
    pub(crate) connection_timeout: Duration,
    pub(crate) max_payload: usize,
    pub(crate) history_limit: u32,
    pub(crate) keep_completed: Retention,
    pub(crate) keep_failed: Retention,
    pub(crate) keep_cancelled: Retention,
    pub(crate) max_result: usize,
    pub(crate) max_lease_expiries: u32,
    pub(crate) insert_retry: Duration,
    pub(crate) inline_args_max: usize,
    pub(crate) shards: Option<u16>,
    pub(crate) cluster: bool,
    pub(crate) loading: Loading,
}

/// How many ended jobs an index keeps, and for how long. Every call that ends jobs deletes the
/// oldest past the count or the age, at most what it ended plus 100; a grab that leases nothing
/// deletes up to 100 too, so an idle namespace forgets expired jobs. On a Cluster the count is
/// divided over the shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    pub(crate) count: u64,
    pub(crate) age: Duration,
}

impl Retention {
    /// Keeps at most `count` jobs, none older than `age`.
    #[must_use]
    pub const fn new(count: u64, age: Duration) -> Self {
        Self { count, age }
    }

    /// Deletes jobs as soon as they end.
    #[must_use]
    pub const fn none() -> Self {
        Self {
            count: 0,
            age: Duration::ZERO,
        }
    }
}

impl Config {
    /// The defaults: namespace `job`, 10 s response timeout, 512 KiB payload limit, 64 KiB
    /// result limit, 50 failure records per job, completed and cancelled jobs kept 24 h (at most
    /// 10,000 each), failed jobs kept 7 days (at most 100,000), a job failed after 5 lease
    /// expiries; 1 shard on a single Redis, 16 on a Cluster.
    #[must_use]
    pub fn new() -> Self {
        Self {
            namespace: "job".to_owned(),
            response_timeout: Duration::from_secs(10),
            connection_timeout: Duration::from_secs(5),
            max_payload: 512 * 1024,
            history_limit: 50,
            keep_completed: Retention::new(10_000, Duration::from_secs(86_400)),
            keep_failed: Retention::new(100_000, Duration::from_secs(7 * 86_400)),
            keep_cancelled: Retention::new(10_000, Duration::from_secs(86_400)),
            max_result: 64 * 1024,
            max_lease_expiries: 5,
            insert_retry: Duration::from_secs(10),
            inline_args_max: 48,
            shards: None,
            cluster: false,
            loading: Loading::default(),
        }
    }

    /// Sets the namespace: the key prefix that keeps apps (or test runs) sharing one Redis
    /// apart.
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Sets how long a command may wait for Redis's answer.
    #[must_use]
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Sets how long connecting may take.
    #[must_use]
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// Sets the largest encoded arguments an enqueue accepts, in bytes.
    #[must_use]
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = bytes;
        self
    }

    /// Sets how many failure records a job keeps (the newest): 0 keeps none, at most
    /// [`MAX_HISTORY`](job_core::limits::MAX_HISTORY).
    #[must_use]
    pub fn history_limit(mut self, records: u32) -> Self {
        self.history_limit = records.min(job_core::limits::MAX_HISTORY);
        self
    }

    /// Sets how long completed jobs are kept (a type or a job may override it: see
    /// [`Keep`](job_core::Keep)).
    #[must_use]
    pub fn keep_completed(mut self, retention: Retention) -> Self {
        self.keep_completed = retention;
        self
    }

    /// Sets how long jobs that failed for good are kept.
    #[must_use]
    pub fn keep_failed(mut self, retention: Retention) -> Self {
        self.keep_failed = retention;
        self
    }

    /// Sets how long cancelled jobs are kept.
    #[must_use]
    pub fn keep_cancelled(mut self, retention: Retention) -> Self {
        self.keep_cancelled = retention;
        self
    }

    /// Sets the largest result a job may complete with, in bytes (default 64 KiB). A handler
    /// that returns a larger one fails its job for good, saying both sizes.
    #[must_use]
    pub fn max_result(mut self, bytes: usize) -> Self {
        self.max_result = bytes;
        self
    }

    /// Sets how long an insert whose outcome is unknown (Redis timed out, or the connection
    /// broke after the call was sent) is tried again with the same ids (default 10 s), before
    /// it gives up with `Error::Unconfirmed`.
    #[must_use]
    pub fn insert_retry(mut self, patience: Duration) -> Self {
        self.insert_retry = patience;
        self
    }

    /// Sets how many times a job's lease may run out before the job fails for good.
    #[must_use]
    pub fn max_lease_expiries(mut self, expiries: u32) -> Self {
        self.max_lease_expiries = expiries;
        self
    }
}

impl Config {
    /// Sets how many shards the namespace has: each is one hash tag, so one cluster slot, and
    /// the unit of atomicity (a REPLACE is atomic within its shard). On a Cluster the shards
    /// spread over the masters; the default is 1 on a single Redis and 16 on a Cluster; 1 to
    /// 1024.
    ///
    /// **Never change the shard count of a live namespace**: every client and worker of a
    /// namespace must agree on it, and jobs stored under other shards would be orphaned. To
    /// change it, start a new namespace and drain the old one.
    #[must_use]
    pub fn shards(mut self, count: u16) -> Self {
        self.shards = Some(count.clamp(1, MAX_SHARDS));
        self
    }

    /// Treats the URL as a Redis Cluster even when it names a single seed node (a managed
    /// cluster's configuration endpoint). A URL with several comma-separated nodes always is
    /// one.
    #[must_use]
    pub fn cluster(mut self, cluster: bool) -> Self {
        self.cluster = cluster;
        self
    }

    /// How the client runs its scripts: `EVALSHA` (the default) or Redis Functions (`FCALL`,
    /// Redis 7.0 or later). See BENCHMARKS.md for how they compare.
    #[must_use]
    pub fn loading(mut self, loading: Loading) -> Self {
        self.loading = loading;
        self
    }
}

impl Config {
    /// ARGV[1] of every script that writes: history cap, completed keep count and age (ms),
    /// failed keep count and age (ms), max lease expiries, inline args max, cancelled keep
    /// count and age (ms). Counts are per shard: a namespace of `shards` shards keeps about the
    /// configured count in all.
    pub(crate) fn script_settings(&self, shards: usize) -> String {
        let per_shard = |count: u64| count.div_ceil(u64::try_from(shards.max(1)).unwrap_or(1));
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        format!(
            "{},{},{},{},{},{},{},{},{}",
            self.history_limit,
            per_shard(self.keep_completed.count),
            ms(self.keep_completed.age),
            per_shard(self.keep_failed.count),
            ms(self.keep_failed.age),
            self.max_lease_expiries,
            self.inline_args_max,
            per_shard(self.keep_cancelled.count),
            ms(self.keep_cancelled.age),
        )
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}
