//! Test support for users' own jobs, against a real Redis: a throw-away namespace per test,
//! [`TestQueue::drain`], and [`TestQueue::enqueued`] to assert on what was enqueued.
//!
//! ```no_run
//! # extern crate job_core as job;
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! # use serde::{Deserialize, Serialize};
//! # #[derive(job_core::Job, Serialize, Deserialize, Debug, PartialEq)]
//! # struct Welcome { user: u64 }
//! use job_redis::testing::TestQueue;
//!
//! let queue = TestQueue::new("signup").await?;
//! queue.client().enqueue(Welcome { user: 7 }).await?;
//! let enqueued = queue.enqueued::<Welcome>().await?;
//! assert_eq!(enqueued[0].job, Welcome { user: 7 });
//! queue.cleanup().await?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use job_core::{Dispatch, Job, JobId, Worker};
use redis::AsyncCommands;
use redis::aio::ConnectionLike;

use crate::conn::Conn;
use crate::{Client, Config, Error, Result};

/// The environment variable naming the Redis tests use (default `redis://127.0.0.1:6379`).
pub const REDIS_URL_VAR: &str = "JOB_TEST_REDIS_URL";

/// The environment variable that runs the tests' clients with `EVALSHA` instead of Redis
/// Functions (`JOB_TEST_LOADING=eval`; see [`Loading`](crate::Loading)).
pub const LOADING_VAR: &str = "JOB_TEST_LOADING";

/// A client in a namespace of its own, made for one test and deleted by [`TestQueue::cleanup`].
#[derive(Debug)]
pub struct TestQueue {
    client: Client,
}

/// A job found waiting in a test's namespace.
#[derive(Debug)]
#[non_exhaustive]
pub struct Enqueued<J> {
    /// Its id.
    pub id: JobId,
    /// Its arguments, decoded.
    pub job: J,
    /// How long until it may run, when it is delayed.
    pub delay: Option<Duration>,
}

impl TestQueue {
    /// Connects to the Redis named by `JOB_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`)
    /// in a fresh namespace `test:<name>:<random>`.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] when that Redis does not answer: a test that needs Redis fails, it
    /// never skips.
    pub async fn new(name: &str) -> Result<Self> {
        Self::with_config(name, Config::new()).await
    }

    /// Like [`TestQueue::new`], with settings (the namespace is replaced).
    ///
    /// # Errors
    ///
    /// As [`TestQueue::new`].
    pub async fn with_config(name: &str, config: Config) -> Result<Self> {
        let url =
            std::env::var(REDIS_URL_VAR).unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        let namespace = format!("test:{name}:{}", JobId::new().to_string().to_lowercase());
        let config = match std::env::var(LOADING_VAR).as_deref() {
            Ok("eval") => config.loading(crate::Loading::Eval),
            _ => config,
        };
        let client = Client::connect_with(&url, config.namespace(namespace)).await?;
        let mut conn = client.connection();
        // Connecting is lazy in places; make sure Redis really answers before the test goes on.
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(Self { client })
    }

    /// Connects another client to the test's namespace, with the same settings and
    /// connections of its own (a second process, as far as Redis can tell).
    ///
    /// # Errors
    ///
    /// As [`TestQueue::new`].
    pub async fn another_client(&self) -> Result<Client> {
        let url =
            std::env::var(REDIS_URL_VAR).unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        Client::connect_with(&url, self.client.config().clone()).await
    }

    /// Returns the client, in the test's namespace.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs every due job of the set `S` until none is left, and returns how many ran; jobs
    /// that become due meanwhile (children, retries without delay) run too.
    ///
    /// # Errors
    ///
    /// [`job_core::Error::DrainLimit`] past `limit` jobs, and backend errors.
    pub async fn drain<S, State>(
        &self,
        state: impl Into<std::sync::Arc<State>>,
        limit: usize,
    ) -> std::result::Result<usize, job_core::Error>
    where
        S: Dispatch<State>,
        State: Send + Sync + 'static,
    {
        Worker::<S, State, Client>::new(self.client.clone(), state)
            .drain(limit)
            .await
    }

    /// Returns a connection to the test's Redis (a cluster connection on a Cluster), for tests
    /// that read or tamper with stored keys: any redis command runs on it.
    #[must_use]
    pub fn connection(&self) -> Connection {
        Connection(self.client.connection())
    }

    /// Returns the key prefix of every shard of the namespace (`<namespace>:{<tag>}:`), for
    /// tests that read or tamper with stored keys.
    #[must_use]
    pub fn shard_prefixes(&self) -> Vec<String> {
        let shards = self.client.shards();
        shards.iter().map(|(_, s)| s.prefix().to_owned()).collect()
    }

    /// Returns the key prefix of the shard that holds job `id`, or `None` when no shard does.
    ///
    /// # Errors
    ///
    /// Redis errors.
    pub async fn shard_prefix_of(&self, id: JobId) -> Result<Option<String>> {
        let mut conn = self.client.connection();
        for (_, shard) in self.client.shards().iter() {
            let stored: bool = conn.exists(shard.job(&id.to_string())).await?;
            if stored {
                return Ok(Some(shard.prefix().to_owned()));
            }
        }
        Ok(None)
    }

    /// Makes a stored schedule look as if every scheduler had been down since `since`: its
    /// last handled tick moves back there and it is due at once, so the ticks after `since`
    /// count as missed. Returns whether the schedule exists.
    ///
    /// # Errors
    ///
    /// Redis errors.
    pub async fn rewind_schedule(&self, name: &str, since: std::time::SystemTime) -> Result<bool> {
        let mut conn = self.client.connection();
        let last = crate::scripts::epoch_millis(since);
        for (_, shard) in self.client.shards().iter() {
            let key = shard.schedule(name);
            let stored: bool = conn.exists(&key).await?;
            if stored {
                let _: () = conn.hset(&key, "last", last).await?;
                let _: () = conn.zadd(shard.due(), name, 0).await?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Returns the waiting (ready or delayed) jobs of type `J`, in id order (ids grow with
    /// time, so this is enqueue order).
    ///
    /// # Errors
    ///
    /// [`Error::Job`] when a waiting job of that type does not decode, and Redis errors.
    pub async fn enqueued<J: Job>(&self) -> Result<Vec<Enqueued<J>>> {
        let mut conn = self.client.connection();
        let mut ids: Vec<String> = Vec::new();
        for (_, shard) in self.client.shards().iter() {
            let sets: Vec<String> = conn.smembers(shard.requirement_sets(J::NAME)).await?;
            let queues = std::iter::once(J::NAME.to_owned())
                .chain(sets.iter().map(|set| crate::keys::queue(J::NAME, set)));
            for queue in queues {
                let listed: Vec<String> = conn.lrange(shard.ready_list(&queue), 0, -1).await?;
                let prioritized: Vec<String> = conn.zrange(shard.ready(&queue), 0, -1).await?;
                ids.extend(listed.into_iter().chain(prioritized));
            }
            let delayed: Vec<String> = conn.zrange(shard.delayed(), 0, -1).await?;
            ids.extend(delayed);
        }
        // A cancelled job's list entry stays until a grab skips it: count each job once.
        ids.sort_unstable();
        ids.dedup();
        let mut found = Vec::new();
        for id in ids {
            let id: JobId = id.parse().map_err(|_| Error::Protocol {
                script: "testing",
                detail: format!("bad id `{id}`"),
            })?;
            let Some(details) = self.client.details(id).await? else {
                continue;
            };
            if details.name != J::NAME
                || details.state.is_terminal()
                || details.state == job_core::JobState::Running
            {
                continue;
            }
            let job = job_core::__private::decode::<J>(&details.payload)?;
            let delay = details
                .run_at
                .and_then(|at| at.duration_since(std::time::SystemTime::now()).ok());
            found.push(Enqueued { id, job, delay });
        }
        found.sort_by_key(|e| e.id);
        Ok(found)
    }

    /// Deletes every key of the test's namespace. Call it last, so a failing test leaves its
    /// keys for inspection.
    ///
    /// # Errors
    ///
    /// Redis errors.
    pub async fn cleanup(self) -> Result<()> {
        // Shard by shard, on the Redis that holds it: a Cluster's SCAN sees one node, and one
        // UNLINK may only name keys of one slot.
        for (index, shard) in self.client.shards().iter() {
            let mut conn = self.client.dedicated(index).await?;
            let pattern = format!("{}*", shard.prefix());
            let mut keys: Vec<String> = Vec::new();
            {
                let mut iter: redis::AsyncIter<'_, String> = conn.scan_match(&pattern).await?;
                while let Some(key) = iter.next_item().await {
                    keys.push(key?);
                }
            }
            for chunk in keys.chunks(500) {
                let _: () = conn.unlink(chunk).await?;
            }
        }
        Ok(())
    }
}

/// The connection [`TestQueue::connection`] returns: the client's own, one Redis or a Cluster.
#[derive(Clone)]
pub struct Connection(Conn);

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.0.is_cluster() {
            "cluster"
        } else {
            "single"
        };
        f.debug_tuple("Connection").field(&kind).finish()
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        self.0.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        self.0.req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.0.get_db()
    }
}
