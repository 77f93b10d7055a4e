//! Shared test harness: a fresh namespace per test, and polling with a deadline.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::future::Future;
use std::time::Duration;

pub use job_redis::testing::TestQueue;

/// A queue in a namespace of its own; panics with a clear message when Redis does not answer.
pub async fn queue(name: &str) -> TestQueue {
    TestQueue::new(name).await.unwrap_or_else(|error| {
        panic!(
            "this test needs Redis at ${} (default redis://127.0.0.1:6379): {}",
            job_redis::testing::REDIS_URL_VAR,
            chain(&error)
        )
    })
}

/// Like [`queue`], with settings.
pub async fn queue_with(name: &str, config: job::redis::Config) -> TestQueue {
    TestQueue::with_config(name, config)
        .await
        .unwrap_or_else(|error| {
            panic!(
                "this test needs Redis at ${}: {}",
                job_redis::testing::REDIS_URL_VAR,
                chain(&error)
            )
        })
}

/// Polls `check` until it returns `Some`, failing the test after `deadline`.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() > end {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An error with its causes.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

/// A holder for low-level grabs in tests.
pub fn holder() -> job::Holder {
    job::Holder::current()
}

/// A plain connection to the shared test Redis, for tests that tamper with stored data: a
/// cluster connection when the test URL names several nodes (a Redis Cluster).
pub async fn raw_connection() -> Raw {
    let url = std::env::var(job_redis::testing::REDIS_URL_VAR)
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let needs = |error: redis::RedisError| -> ! {
        panic!(
            "this test needs Redis at ${} ({url}): {error}",
            job_redis::testing::REDIS_URL_VAR
        )
    };
    if url.contains(',') {
        let nodes: Vec<String> = url
            .trim_start_matches("redis://")
            .split(',')
            .map(|node| format!("redis://{node}"))
            .collect();
        let client = redis::cluster::ClusterClient::new(nodes).unwrap_or_else(|e| needs(e));
        Raw::Cluster(
            client
                .get_async_connection()
                .await
                .unwrap_or_else(|e| needs(e)),
        )
    } else {
        let client = redis::Client::open(url.as_str()).unwrap_or_else(|e| needs(e));
        Raw::Single(
            client
                .get_multiplexed_async_connection()
                .await
                .unwrap_or_else(|e| needs(e)),
        )
    }
}

/// A connection to the test Redis, single or Cluster.
#[derive(Clone)]
pub enum Raw {
    Single(redis::aio::MultiplexedConnection),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl redis::aio::ConnectionLike for Raw {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        0
    }
}

/// A port on 127.0.0.1 that nothing listens on (at the moment it is returned).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("a local address").port()
}

/// The `redis-server` that [`PrivateRedis`] spawns.
pub const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// A `redis-server` of a test's own, on a free port, for tests that kill or restart Redis (the
/// shared one is never touched). Every write is fsynced to an append-only file in a fresh
/// directory, so [`PrivateRedis::restart`] keeps the data. Killed, and its directory deleted,
/// on drop.
#[derive(Debug)]
pub struct PrivateRedis {
    port: u16,
    dir: std::path::PathBuf,
    extra: Vec<String>,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    /// Starts a server and waits until it answers PING; panics when it does not.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Like [`PrivateRedis::start`], with more server options (`&["--requirepass", "right"]`).
    pub async fn start_with(extra: &[&str]) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let port = free_port();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "job-test-redis-{}-{n}-{port}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("create the Redis directory");
        let mut redis = Self {
            port,
            dir,
            extra: extra.iter().map(|&arg| arg.to_owned()).collect(),
            child: None,
        };
        redis.spawn().await;
        redis
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its URL, without a password.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server with SIGKILL (no shutdown, no save) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and directory (killing it first if it runs),
    /// and waits until it answers PING.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    async fn spawn(&mut self) {
        let log = self.dir.join("redis.log");
        let mut command = std::process::Command::new(REDIS_SERVER);
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(&log)
            .args(&self.extra)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {REDIS_SERVER}: {error}"));
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if self.answers_ping() {
                return;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || tokio::time::Instant::now() > deadline {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                panic!(
                    "{REDIS_SERVER} on port {} did not answer PING (exit: {exited:?}); its log:\n{log}",
                    self.port
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the server answers PING (`+PONG`, or `-NOAUTH` when it wants a password).
    fn answers_ping(&self) -> bool {
        use std::io::{Read, Write};
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        let Ok(mut stream) =
            std::net::TcpStream::connect_timeout(&address, Duration::from_millis(200))
        else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        if stream.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut reply = [0u8; 64];
        let n = stream.read(&mut reply).unwrap_or(0);
        reply[..n].starts_with(b"+PONG") || reply[..n].starts_with(b"-NOAUTH")
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster of a test's own: three masters (`--cluster-enabled yes`, append-only, on
/// free ports) joined by `redis-cli --cluster create`. Killed, with their directories, on drop.
#[derive(Debug)]
pub struct PrivateCluster {
    nodes: Vec<PrivateRedis>,
}

impl PrivateCluster {
    /// Starts three masters, creates the cluster and waits until every node reports
    /// `cluster_state:ok`; panics when that fails.
    pub async fn start() -> Self {
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(
                PrivateRedis::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-node-timeout",
                    "5000",
                ])
                .await,
            );
        }
        let cluster = Self { nodes };
        let addresses: Vec<String> = cluster
            .nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port()))
            .collect();
        let output = std::process::Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .unwrap_or_else(|error| panic!("cannot run redis-cli: {error}"));
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        for node in &cluster.nodes {
            let client = redis::Client::open(node.url().as_str()).unwrap();
            eventually(Duration::from_secs(20), "cluster_state:ok", || async {
                let mut conn = client.get_multiplexed_async_connection().await.ok()?;
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query_async(&mut conn)
                    .await
                    .ok()?;
                info.contains("cluster_state:ok").then_some(())
            })
            .await;
        }
        cluster
    }

    /// The cluster URL: every node, comma-separated.
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port()))
            .collect();
        format!("redis://{}", nodes.join(","))
    }

    /// The nodes, to restart or kill one.
    pub fn nodes(&mut self) -> &mut [PrivateRedis] {
        &mut self.nodes
    }
}
