//! A TCP proxy in front of a Redis that can stall: while stalled it forwards nothing in either
//! direction but keeps every socket open, so a client behind it sees a connection that hangs,
//! not one that breaks (the case a dead connection's error handling never covers).
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A proxy on a free port of 127.0.0.1 that forwards every connection to `target`. Stops (and
/// closes its connections) on drop.
#[derive(Debug)]
pub struct StallProxy {
    port: u16,
    stalled: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl StallProxy {
    /// Starts forwarding to the server at `target` (`127.0.0.1:6379`).
    pub async fn start(target: SocketAddr) -> Result<Self, String> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| format!("proxy: cannot listen: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let (stalled, watch) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut pumps = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(target).await else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                pumps.spawn(pump(client_read, server_write, watch.clone()));
                pumps.spawn(pump(server_read, client_write, watch.clone()));
                while pumps.try_join_next().is_some() {}
            }
        });
        Ok(Self {
            port,
            stalled,
            task,
        })
    }

    /// The proxy's URL: `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops forwarding, in both directions, on every connection (new ones too), until
    /// [`StallProxy::resume`]. Bytes sent meanwhile wait in the proxy and go on after.
    pub fn stall(&self) {
        self.stalled.send_replace(true);
    }

    /// Forwards again, starting with what waited.
    pub fn resume(&self) {
        self.stalled.send_replace(false);
    }
}

impl Drop for StallProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies `from` to `to`, holding each chunk while the proxy is stalled.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut stalled: watch::Receiver<bool>,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        if stalled.wait_for(|stalled| !stalled).await.is_err() {
            return;
        }
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stalled.wait_for(|stalled| !stalled).await.is_err() {
            return;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
