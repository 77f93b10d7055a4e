//! Shared test harness: a fresh namespace per test, and polling with a deadline.
#![allow(
    dead_code,
    unused_imports,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod proxy;
mod redis_server;
pub mod slow;

use std::future::Future;
use std::time::Duration;

use self::redis_server::RedisServer;

pub use self::proxy::StallProxy;

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

/// A port on 127.0.0.1 that nothing listens on (at the moment it is returned).
pub fn free_port() -> u16 {
    redis_server::free_port().unwrap_or_else(|error| panic!("{error}"))
}

/// A directory of a test's own under the system's temporary directory.
fn scratch_dir(what: &str, port: u16) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "job-test-{what}-{}-{n}-{port}-{nanos}",
        std::process::id()
    ))
}

/// A `redis-server` of a test's own, on a free port, for tests that kill or restart Redis (the
/// shared one is never touched). Every write is fsynced to an append-only file in a fresh
/// directory, so [`PrivateRedis::restart`] keeps the data. Killed, and its directory deleted,
/// on drop.
#[derive(Debug)]
pub struct PrivateRedis {
    server: RedisServer,
    dir: std::path::PathBuf,
}

impl PrivateRedis {
    /// Starts a server and waits until it answers PING; panics when it does not.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Like [`PrivateRedis::start`], with more server options (`&["--requirepass", "right"]`).
    pub async fn start_with(extra: &[&str]) -> Self {
        let port = free_port();
        let dir = scratch_dir("redis", port);
        let server = RedisServer::start(&dir, port, extra, Duration::from_secs(10))
            .await
            .unwrap_or_else(|error| panic!("{error}"));
        Self { server, dir }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Its URL, without a password.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Kills the server with SIGKILL (no shutdown, no save) and waits for it to exit.
    pub fn kill(&mut self) {
        self.server.kill();
    }

    /// Starts the server again on the same port and directory (killing it first if it runs),
    /// and waits until it answers PING.
    pub async fn restart(&mut self) {
        self.server.kill();
        self.server
            .start_again()
            .await
            .unwrap_or_else(|error| panic!("{error}"));
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.server.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster of a test's own: three masters (append-only, on free ports whose cluster bus
/// ports are free too) joined by `redis-cli --cluster create`. Killed, with their directories,
/// on drop.
#[derive(Debug)]
pub struct PrivateCluster {
    nodes: Vec<RedisServer>,
    dir: std::path::PathBuf,
}

impl PrivateCluster {
    /// Starts three masters, creates the cluster and waits until every node reports
    /// `cluster_state:ok`; panics when that fails.
    pub async fn start() -> Self {
        let ports = redis_server::cluster_ports(3);
        let dir = scratch_dir("cluster", ports[0]);
        let mut nodes = Vec::new();
        for port in ports {
            let node = RedisServer::start(
                &dir.join(port.to_string()),
                port,
                &redis_server::CLUSTER_NODE,
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|error| panic!("{error}"));
            nodes.push(node);
        }
        let cluster = Self { nodes, dir };
        redis_server::create_cluster(&cluster.nodes, Duration::from_secs(20))
            .await
            .unwrap_or_else(|error| panic!("{error}"));
        cluster
    }

    /// The cluster URL: every node, comma-separated.
    pub fn url(&self) -> String {
        redis_server::nodes_url(&self.nodes)
    }

    /// Each master's own URL.
    pub fn node_urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
