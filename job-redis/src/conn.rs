//! The command connection: one Redis (a reconnecting `ConnectionManager`) or a Redis Cluster
//! (redis-rs's async cluster connection, which routes each command by its first key's slot and
//! follows MOVED and ASK). Every script's first key is its shard prefix, so a script always runs
//! on the master that holds its shard.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ConnectionInfo, IntoConnectionInfo, Pipeline, RedisFuture, Value};

use crate::error::redact;
use crate::{Config, Error, Result};

/// A command connection to a single Redis or a Cluster. Cheap to clone; clones share sockets.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Conn {
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}

/// How to open a dedicated connection (blocking waits have their own).
pub(crate) enum Opener {
    /// One Redis: every connection goes to it.
    Single(redis::Client),
    /// A Cluster: a connection goes to the master that holds a shard's slot, with the first
    /// seed's credentials and TLS settings.
    Cluster(ConnectionInfo),
}

/// Opens the command connection to `url`: a Cluster when the URL names several nodes or
/// `config.cluster` says so, else one Redis; and how to open dedicated connections there.
///
/// # Errors
///
/// [`Error::Connect`], naming the URL (password hidden), when Redis cannot be reached or
/// refuses the connection, or the URL needs a feature this build lacks.
pub(crate) async fn open(url: &str, config: &Config) -> Result<(Conn, Opener)> {
    let connect_error = |source| Error::Connect {
        url: redact(url),
        source,
    };
    let seeds = seeds(url);
    if !cfg!(feature = "tls") && seeds.iter().any(|seed| seed.starts_with("rediss://")) {
        return Err(connect_error(redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "a rediss:// (TLS) URL needs the `tls` feature: job = { features = [\"tls\"] }",
        ))));
    }
    if seeds.len() > 1 || config.cluster {
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
        return Ok((Conn::Cluster(conn), Opener::Cluster(seed)));
    }
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
    Ok((Conn::Single(conn), Opener::Single(redis)))
}

/// The seed nodes of a URL: `redis://a:7000,b:7001,c:7002` (later nodes may omit the scheme and
/// credentials; they take the first node's) gives three, a plain URL one. A `,` inside the first
/// node's password (before its `@`) does not split it.
pub(crate) fn seeds(url: &str) -> Vec<String> {
    // `scheme://[user:pass@]` of the first node, for the nodes that give only `host:port`.
    let (scheme, rest) = match url.find("://") {
        Some(at) => url.split_at(at + 3),
        None => ("", url),
    };
    let auth_len = match rest.find('@') {
        Some(at) if !rest[..at].contains("://") => at + 1,
        _ => 0,
    };
    let (auth, hosts) = rest.split_at(auth_len);
    let lead = format!("{scheme}{auth}");
    let mut parts = hosts.split(',').map(str::trim).filter(|p| !p.is_empty());
    let Some(first) = parts.next() else {
        return vec![url.to_owned()];
    };
    std::iter::once(format!("{lead}{first}"))
        .chain(parts.map(|part| {
            if part.contains("://") {
                part.to_owned()
            } else {
                format!("{lead}{part}")
            }
        }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_share_the_first_nodes_scheme_and_credentials() {
        assert_eq!(seeds("redis://127.0.0.1:6379"), ["redis://127.0.0.1:6379"]);
        assert_eq!(
            seeds("redis://u:p@10.0.0.1:7000, 10.0.0.2:7001,rediss://x:7002"),
            [
                "redis://u:p@10.0.0.1:7000",
                "redis://u:p@10.0.0.2:7001",
                "rediss://x:7002"
            ]
        );
        assert_eq!(seeds("redis://:p,w@h:1"), ["redis://:p,w@h:1"]);
        assert_eq!(
            seeds("redis://h1:1,redis://u:p@h2:2"),
            ["redis://h1:1", "redis://u:p@h2:2"]
        );
    }
}
