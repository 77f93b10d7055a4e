//! Private `redis-server` processes, for the tests that kill or restart Redis and for the chaos
//! run: one server on a free port whose every write is fsynced to an append-only file (so a
//! SIGKILL loses nothing it acknowledged), or three joined into a Cluster. Errors are returned
//! as text: `tests/support/mod.rs` panics with them, the chaos run reports them.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server binary, found on PATH.
pub const REDIS_SERVER: &str = "redis-server";

/// The options that make a server a Cluster node.
pub const CLUSTER_NODE: [&str; 6] = [
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    "nodes.conf",
    "--cluster-node-timeout",
    "5000",
];

/// One `redis-server` on 127.0.0.1, in a directory of the caller's. Killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    extra: Vec<String>,
    /// How long a start may take before it counts as failed.
    ready_within: Duration,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on `port` with `extra` options, keeping its files in `dir` (created),
    /// and waits until it answers PING, for at most `ready_within` (each start, and restart).
    pub async fn start(
        dir: &Path,
        port: u16,
        extra: &[&str],
        ready_within: Duration,
    ) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let mut server = Self {
            port,
            dir: dir.to_owned(),
            extra: extra.iter().map(|&arg| arg.to_owned()).collect(),
            ready_within,
            child: None,
        };
        server.start_again().await?;
        Ok(server)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its URL, without a password.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it with SIGKILL (no shutdown, no save) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again, after [`RedisServer::kill`]) on the same port and directory, and
    /// waits until it answers PING.
    pub async fn start_again(&mut self) -> Result<(), String> {
        let log = self.dir.join("redis.log");
        let child = Command::new(REDIS_SERVER)
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
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {REDIS_SERVER} (is it installed?): {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + self.ready_within;
        loop {
            if self.answers_ping() {
                return Ok(());
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!(
                    "{REDIS_SERVER} on port {} did not answer PING (exit: {exited:?}); its log:\n{log}",
                    self.port
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether it answers PING: `+PONG`, or `-NOAUTH` when it wants a password (not
    /// `-LOADING`, while it replays its append-only file).
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

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port on 127.0.0.1 that nothing listens on (at the moment it is returned).
pub fn free_port() -> Result<u16, String> {
    loop {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        if claim(&[port]) {
            return Ok(port);
        }
    }
}

/// Claims `ports` for this process's servers: false (claiming none) when one was handed out
/// already. Tests run in parallel threads of one process: without this, two of them could pick
/// the same free port before either server binds it, and one would take the other's server for
/// its own.
fn claim(ports: &[u16]) -> bool {
    static CLAIMED: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let Ok(mut claimed) = CLAIMED.lock() else {
        return false;
    };
    if ports.iter().any(|port| claimed.contains(port)) {
        return false;
    }
    claimed.extend_from_slice(ports);
    true
}

/// `count` ports for Cluster nodes: each free, and its cluster bus port (port + 10000) too,
/// both below Linux's ephemeral range (32768 on), so no client socket takes them meanwhile.
pub fn cluster_ports(count: usize) -> Vec<u16> {
    let bindable = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    let mut ports = Vec::new();
    while ports.len() < count {
        let port = fastrand::u16(20_000..22_768);
        if bindable(port) && bindable(port + 10_000) && claim(&[port, port + 10_000]) {
            ports.push(port);
        }
    }
    ports
}

/// The URL a client connects with: every server, comma-separated (one server's URL for one).
pub fn nodes_url(servers: &[RedisServer]) -> String {
    let nodes: Vec<String> = servers
        .iter()
        .map(|server| format!("127.0.0.1:{}", server.port))
        .collect();
    format!("redis://{}", nodes.join(","))
}

/// Joins servers started with [`CLUSTER_NODE`] into a Cluster of masters with `redis-cli
/// --cluster create`, and waits until it is ok, for at most `within`.
pub async fn create_cluster(servers: &[RedisServer], within: Duration) -> Result<(), String> {
    let mut command = Command::new("redis-cli");
    command.args(["--cluster", "create"]);
    for server in servers {
        command.arg(format!("127.0.0.1:{}", server.port));
    }
    command.args(["--cluster-replicas", "0", "--cluster-yes"]);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run redis-cli (is it installed?): {e}"))?;
    // It waits forever for a node that does not answer: give it `within`.
    let deadline = Instant::now() + within;
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "redis-cli --cluster create did not finish within {within:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!(
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    wait_cluster_ok(servers, within).await
}

/// Waits until every server says `cluster_state:ok`, for at most `within`.
pub async fn wait_cluster_ok(servers: &[RedisServer], within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    for server in servers {
        let client = redis::Client::open(server.url()).map_err(|e| e.to_string())?;
        loop {
            let info = async {
                let mut conn = client.get_multiplexed_async_connection().await?;
                redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query_async::<String>(&mut conn)
                    .await
            };
            if info
                .await
                .is_ok_and(|info| info.contains("cluster_state:ok"))
            {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("the cluster is not ok on port {}", server.port));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}
