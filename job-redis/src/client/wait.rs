//! Blocking until there is work: dedicated connections that `BZPOPMIN` the wake markers, one
//! Redis at a time, or every shard's master at once on a Cluster (a command's keys must share a
//! slot), with a watchdog, and `CLIENT UNBLOCK` for the waits that lost the race.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use job_core::Grab;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionAddr, Value};

use crate::conn::{Conn, Opener};
use crate::keys::{self, Shard};
use crate::reply::Reply;
use crate::scripts::Sites;
use crate::{Error, Result};

/// How much longer than its own timeout a blocking wait may take before the watchdog drops the
/// connection.
const WATCHDOG_MARGIN: Duration = Duration::from_secs(2);

/// A dedicated connection for blocking waits, with its client id on the server (to unblock it).
struct Waiter {
    conn: MultiplexedConnection,
    id: i64,
}

/// The blocking waits of one client: its dedicated connections and where they go.
pub(super) struct Waits {
    sites: Arc<Sites>,
    opener: Opener,
    connection_timeout: Duration,
    /// Idle dedicated connections (never the shared command connection), per shard on a
    /// Cluster (each goes to its shard's master), all under 0 on one Redis.
    idle: Mutex<HashMap<usize, Vec<Waiter>>>,
    /// On a Cluster, the master each shard's slot was last found on.
    masters: Mutex<HashMap<usize, ConnectionAddr>>,
}

impl Waits {
    /// Waits on `sites`' shards, over connections `opener` opens within `connection_timeout`.
    pub(super) fn new(sites: Arc<Sites>, opener: Opener, connection_timeout: Duration) -> Self {
        Self {
            sites,
            opener,
            connection_timeout,
            idle: Mutex::new(HashMap::new()),
            masters: Mutex::new(HashMap::new()),
        }
    }

    /// Blocks until a queue `grab` may take from has work, or `timeout`. On one Redis that is
    /// one `BZPOPMIN` over every shard's markers; on a Cluster one per shard, each on its own
    /// connection to the shard's master (a command's keys must share a slot), and the first
    /// to answer ends the wait.
    pub(super) async fn wait_for_work(&self, grab: &Grab<'_>, timeout: Duration) -> Result<()> {
        let mut keys = Vec::with_capacity(self.sites.shards().len());
        for (index, shard) in self.sites.shards().iter() {
            keys.push((index, self.wake_keys(shard, grab).await?));
        }
        self.wait_on(keys, timeout).await
    }

    /// Blocks until a schedule changes (its wake marker is set, on any shard), or `timeout`.
    pub(super) async fn wait_for_schedules(&self, timeout: Duration) -> Result<()> {
        let keys = self
            .sites
            .shards()
            .iter()
            .map(|(index, shard)| (index, vec![shard.tick()]))
            .collect();
        self.wait_on(keys, timeout).await
    }

    /// Blocks until one of the marker `keys` (per shard) is set, or `timeout`: on one Redis one
    /// `BZPOPMIN` over them all; on a Cluster one per shard, each on its own connection to the
    /// shard's master, and the first to answer ends the wait.
    async fn wait_on(&self, keys: Vec<(usize, Vec<String>)>, timeout: Duration) -> Result<()> {
        // Redis reads a 0 timeout as "forever"; 2 ms is the shortest that blocks at all.
        let timeout = timeout.max(Duration::from_millis(2));
        if let Opener::Single(_) = self.opener {
            let keys = keys.into_iter().flat_map(|(_, keys)| keys).collect();
            return self.block(0, keys, timeout).await;
        }
        let mut waiting = Vec::with_capacity(keys.len());
        for (index, keys) in keys {
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

    /// A dedicated connection for blocking waits on shard `shard`'s keys: to the one Redis, or
    /// to the master that holds the shard's slot.
    async fn waiter(&self, shard: usize) -> Result<Waiter> {
        let pool = self.pool(shard);
        let idle = self
            .idle
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
            .set_connection_timeout(Some(self.connection_timeout));
        let connect_error = |source| Error::Connect {
            url: self.sites.server().to_owned(),
            source,
        };
        let client = match &self.opener {
            Opener::Single(client) => client.clone(),
            Opener::Cluster(seed) => {
                let addr = self.master_of(shard, seed.addr()).await?;
                redis::Client::open(seed.clone().set_addr(addr)).map_err(connect_error)?
            }
        };
        client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(connect_error)
    }

    fn return_waiter(&self, shard: usize, waiter: Waiter) {
        let pool = self.pool(shard);
        if let Ok(mut idle) = self.idle.lock() {
            idle.entry(pool).or_default().push(waiter);
        }
    }

    /// The pool of idle wait connections that serves shard `shard`: one for the one Redis, one
    /// per shard on a Cluster (each connection goes to its shard's master).
    fn pool(&self, shard: usize) -> usize {
        match self.opener {
            Opener::Single(_) => 0,
            Opener::Cluster(_) => shard,
        }
    }

    /// Ends another wait's `BZPOPMIN` on shard `shard`'s master with `CLIENT UNBLOCK`; true
    /// when it was blocked (its connection may wait again). False when it was not blocked:
    /// its answer was already on the way, or its command had not arrived yet and could still
    /// block unseen, so the caller closes that connection.
    async fn unblock(&self, shard: usize, id: i64) -> bool {
        use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
        let Conn::Cluster(mut conn) = self.sites.conn() else {
            return false;
        };
        let slot = self.sites.shards().get(shard).slot();
        let route = Route::new(slot, SlotAddr::Master);
        let mut cmd = redis::cmd("CLIENT");
        cmd.arg("UNBLOCK").arg(id);
        let answer = conn
            .route_command(
                cmd,
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route)),
            )
            .await;
        matches!(answer, Ok(Value::Int(1)))
    }

    /// The address of the cluster master that holds shard `shard`, with the seed's TLS
    /// settings: remembered, or read with every other shard's from one `CLUSTER SLOTS`.
    async fn master_of(&self, shard: usize, seed: &ConnectionAddr) -> Result<ConnectionAddr> {
        let known = |masters: &HashMap<usize, ConnectionAddr>| masters.get(&shard).cloned();
        if let Some(addr) = self.masters.lock().ok().and_then(|m| known(&m)) {
            return Ok(addr);
        }
        let reply = Reply::of("cluster slots");
        let ranges: Value = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut self.sites.conn())
            .await?;
        let mut masters = HashMap::new();
        for range in reply.array(ranges)? {
            let mut parts = reply.array(range)?.into_iter();
            let (Some(start), Some(end), Some(master)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let slots = reply.int(&start)?..=reply.int(&end)?;
            let mut master = reply.array(master)?.into_iter();
            let host = reply.string(master.next().unwrap_or_default())?;
            let port = u16::try_from(reply.int(&master.next().unwrap_or_default())?)
                .map_err(|_| reply.error("bad port"))?;
            let addr = match seed {
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
            };
            for (index, held) in self.sites.shards().iter() {
                if slots.contains(&i64::from(held.slot())) {
                    masters.insert(index, addr.clone());
                }
            }
        }
        let addr = known(&masters).ok_or_else(|| {
            let slot = self.sites.shards().get(shard).slot();
            reply.error(format!("no master holds slot {slot}"))
        })?;
        if let Ok(mut cached) = self.masters.lock() {
            *cached = masters;
        }
        Ok(addr)
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
        let sets: Vec<Vec<String>> = pipe.query_async(&mut self.sites.conn()).await?;
        for (job_type, sets) in grab.types.iter().zip(sets) {
            for requirements in sets {
                if requirements
                    .split(',')
                    .all(|need| grab.capabilities.iter().any(|c| c == need))
                {
                    keys.push(shard.wake(&keys::queue(job_type, &requirements)));
                }
            }
        }
        Ok(keys)
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
                if let Ok(mut masters) = self.masters.lock() {
                    masters.remove(&shard);
                }
                Err(error.into())
            }
            Err(_) => Ok(false),
        }
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::{Duration, Instant};

    use job_core::{Grab, Holder};
    use redis::AsyncCommands;

    use crate::Config;
    use crate::testing::TestQueue;

    /// A wait ends when a marker of its types is set, ends at its timeout when none is, and
    /// keeps its connection for the next wait.
    #[tokio::test]
    async fn a_wait_ends_on_a_marker_or_at_its_timeout() {
        let q = TestQueue::with_config("unit_wait", Config::new())
            .await
            .unwrap();
        let client = q.client();
        let waits = &client.inner.waits;
        let holder = Holder::current();
        let types = ["unit.wait"];
        let grab = Grab::new(&types, 1, Duration::from_secs(30), &holder);

        let started = Instant::now();
        waits
            .wait_for_work(&grab, Duration::from_millis(200))
            .await
            .unwrap();
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(150), "{waited:?}");

        let marker = client.inner.sites.shards().get(0).wake("unit.wait");
        let mut conn = client.inner.sites.conn();
        let setter = async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _: i64 = conn.zadd(&marker, "r", 0).await.unwrap();
        };
        let started = Instant::now();
        let (waited, ()) =
            tokio::join!(waits.wait_for_work(&grab, Duration::from_secs(20)), setter);
        waited.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "woken by the marker"
        );
        let pooled = waits.idle.lock().unwrap().get(&0).map_or(0, Vec::len);
        assert_eq!(pooled, 1, "the connection waits again");
        q.cleanup().await.unwrap();
    }
}
