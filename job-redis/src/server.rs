//! Checks of the Redis server: its version (at connect), and settings that put jobs at risk
//! (logged by the worker at start).

use redis::Value;
use redis::aio::ConnectionLike;

use crate::Result;

/// The only eviction policy under which Redis never deletes a key on its own.
const SAFE_POLICY: &str = "noeviction";

/// Returns a warning per setting of the server that may lose jobs: today, an eviction policy
/// other than `noeviction` (on a Cluster, per distinct policy among its masters). Reads
/// `INFO memory`, since managed Redis often disables `CONFIG`; a server whose INFO does not
/// name its policy answers no warning.
pub(crate) async fn warnings(conn: &mut impl ConnectionLike) -> Result<Vec<String>> {
    let info: Value = redis::cmd("INFO").arg("memory").query_async(conn).await?;
    // One Redis answers a text; a Cluster, one text per master.
    let mut texts = Vec::new();
    collect_texts(info, &mut texts);
    let mut policies: Vec<String> = texts.iter().filter_map(|t| policy(t)).collect();
    policies.sort();
    policies.dedup();
    Ok(policies
        .iter()
        .filter_map(|policy| policy_warning(policy))
        .collect())
}

/// The least Redis version this crate runs on: script flags (`#!lua flags=...`) and Redis
/// Functions came with 7.0.
pub(crate) const MIN_REDIS: (u32, u32) = (7, 0);

/// The version of the server (on a Cluster, of its oldest node) when it is older than
/// [`MIN_REDIS`]; `None` when it is recent enough or does not say (a proxy that hides INFO
/// fields is given the benefit of the doubt: an old server then fails at its first script).
pub(crate) async fn too_old(conn: &mut impl ConnectionLike) -> Result<Option<String>> {
    let info: Value = redis::cmd("INFO").arg("server").query_async(conn).await?;
    let mut texts = Vec::new();
    collect_texts(info, &mut texts);
    Ok(texts
        .iter()
        .filter_map(|text| version(text))
        .filter(|(_, number)| *number < MIN_REDIS)
        .min_by_key(|(_, number)| *number)
        .map(|(text, _)| text))
}

/// The `redis_version` an `INFO` text names, as text and as (major, minor).
fn version(info: &str) -> Option<(String, (u32, u32))> {
    let text = info
        .lines()
        .find_map(|line| line.trim().strip_prefix("redis_version:"))?
        .trim();
    let mut parts = text.split('.').map(|part| part.parse::<u32>().ok());
    let major = parts.next().flatten()?;
    let minor = parts.next().flatten().unwrap_or(0);
    Some((text.to_owned(), (major, minor)))
}

/// Every text in a reply, however nested (a Cluster's reply maps each node to its text).
fn collect_texts(value: Value, texts: &mut Vec<String>) {
    match value {
        Value::BulkString(bytes) => texts.push(String::from_utf8_lossy(&bytes).into_owned()),
        Value::SimpleString(text) | Value::VerbatimString { text, .. } => texts.push(text),
        Value::Array(items) | Value::Set(items) => {
            for item in items {
                collect_texts(item, texts);
            }
        }
        Value::Map(pairs) => {
            for (_, item) in pairs {
                collect_texts(item, texts);
            }
        }
        _ => {}
    }
}

/// The `maxmemory_policy` an `INFO` text names.
fn policy(info: &str) -> Option<String> {
    info.lines()
        .find_map(|line| line.trim().strip_prefix("maxmemory_policy:"))
        .map(|policy| policy.trim().to_owned())
}

/// The warning for an eviction policy, if it is not `noeviction`.
fn policy_warning(policy: &str) -> Option<String> {
    (policy != SAFE_POLICY).then(|| {
        format!(
            "Redis evicts keys under maxmemory-policy `{policy}`: when it reaches maxmemory it \
             may delete job keys silently (jobs lost, queues and leases half-gone); set \
             `maxmemory-policy noeviction`, under which a full Redis refuses writes (enqueue \
             fails with an OOM error) and loses nothing"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_warning_names_an_evicting_policy_only() {
        let info = "# Memory\r\nused_memory:1000\r\nmaxmemory_policy:allkeys-lru\r\n";
        let found = policy(info).unwrap();
        assert_eq!(found, "allkeys-lru");
        let warning = policy_warning(&found).unwrap();
        assert!(warning.contains("`allkeys-lru`"), "{warning}");
        assert!(warning.contains("noeviction"), "{warning}");
        assert_eq!(policy_warning("noeviction"), None);
        assert_eq!(policy("# Memory\r\nused_memory:1000\r\n"), None);
    }

    #[test]
    fn versions_before_7_0_are_too_old() {
        let info = |v: &str| format!("# Server\r\nredis_version:{v}\r\nredis_mode:standalone\r\n");
        assert_eq!(version(&info("7.2.4")), Some(("7.2.4".to_owned(), (7, 2))));
        assert_eq!(
            version(&info("6.2.14")).map(|v| v.1 < MIN_REDIS),
            Some(true)
        );
        assert_eq!(
            version(&info("7.0.0")).map(|v| v.1 < MIN_REDIS),
            Some(false)
        );
        assert_eq!(version(&info("10.1")).map(|v| v.1 < MIN_REDIS), Some(false));
        assert_eq!(version("# Server\r\n"), None);
        assert_eq!(version(&info("unstable")), None);
    }

    #[test]
    fn cluster_replies_give_each_nodes_text() {
        let node = |policy: &str| {
            Value::BulkString(format!("# Memory\r\nmaxmemory_policy:{policy}\r\n").into_bytes())
        };
        let reply = Value::Map(vec![
            (Value::SimpleString("a:7000".into()), node("noeviction")),
            (Value::SimpleString("b:7001".into()), node("volatile-lru")),
        ]);
        let mut texts = Vec::new();
        collect_texts(reply, &mut texts);
        let policies: Vec<_> = texts.iter().filter_map(|t| policy(t)).collect();
        assert_eq!(policies, ["noeviction", "volatile-lru"]);
    }
}
