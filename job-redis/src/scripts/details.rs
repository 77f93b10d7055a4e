//! DETAILS's reply: a job's fields, its arguments kept apart, its failure history and when a
//! worker last asked for its type, as [`Details`].

use std::collections::HashMap;
use std::time::SystemTime;

use job_core::{Details, FailureKind, FailureRecord, JobId, JobState};
use redis::Value;

use crate::Result;
use crate::reply::Reply;

/// A time from milliseconds since the Unix epoch (a negative one: the epoch).
fn from_millis(ms: i64) -> SystemTime {
    super::time_of(u64::try_from(ms).unwrap_or(0))
}

/// Decodes DETAILS's reply parts: the job hash's fields, the arguments kept apart, the failure
/// history and when a worker last asked for the type.
pub(super) fn decode_details(
    id: JobId,
    fields: Value,
    args: Value,
    history: Value,
    served: Value,
) -> Result<Details> {
    let reply = Reply::of("details");
    let mut map: HashMap<String, Value> = HashMap::new();
    let mut flat = reply.array(fields)?.into_iter();
    while let (Some(key), Some(value)) = (flat.next(), flat.next()) {
        map.insert(reply.string(key)?, value);
    }
    let int =
        |name: &str| -> Result<Option<i64>> { map.get(name).map(|v| reply.int(v)).transpose() };
    let text = |name: &str| -> Result<Option<String>> {
        map.get(name).cloned().map(|v| reply.string(v)).transpose()
    };
    let count =
        |name: &str| -> Result<u32> { Ok(u32::try_from(int(name)?.unwrap_or(0)).unwrap_or(0)) };
    let name = text("t")?.ok_or_else(|| reply.error(format!("job {id} has no type field")))?;
    let state_name = text("s")?.unwrap_or_default();
    let state = JobState::from_name(&state_name)
        .ok_or_else(|| reply.error(format!("job {id} has unknown state `{state_name}`")))?;
    let payload = match map.get("d").cloned() {
        Some(inline) => reply.bytes(inline)?,
        None => match args {
            Value::Nil => Vec::new(),
            other => reply.bytes(other)?,
        },
    };
    let holder = match text("w")? {
        Some(json) if state == JobState::Running => serde_json::from_str(&json).ok(),
        _ => None,
    };
    let failures = reply
        .array(history)?
        .into_iter()
        .map(|record| decode_failure(&reply, record))
        .collect::<Result<Vec<_>>>()?;
    let mut details = Details::new(id, name, state, payload);
    details.priority = i8::try_from(int("p")?.unwrap_or(0)).unwrap_or(0);
    details.attempts = count("a")?;
    details.max_attempts = count("m")?;
    details.lease_expiries = count("x")?;
    details.defers = count("df")?;
    details.created = from_millis(int("c")?.unwrap_or(0));
    details.run_at = int("ra")?.map(from_millis);
    details.started = int("st")?.map(from_millis);
    details.finished = int("f")?.map(from_millis);
    details.holder = holder;
    details.result = map.get("r").cloned().map(|v| reply.bytes(v)).transpose()?;
    details.failures = failures;
    details.resource = text("rk")?;
    // Stored as `<type>\0<key>`, scoped to the type.
    details.unique_key = text("uk")?.map(|k| {
        k.split_once('\0')
            .map_or(k.clone(), |(_, key)| key.to_owned())
    });
    details.requires = text("rq")?
        .map(|r| r.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    details.parent = text("pa")?.and_then(|p| p.parse().ok());
    details.progress = map.get("pg").cloned().map(|v| reply.bytes(v)).transpose()?;
    details.progress_at = int("pt")?.map(from_millis);
    if let Some(json) = text("cd")? {
        details.duplicate_children = serde_json::from_str::<Vec<(String, String)>>(&json)
            .map_err(|e| reply.error(format!("bad duplicate children: {e}")))?
            .into_iter()
            .filter_map(|(child, live)| Some((child.parse().ok()?, live.parse().ok()?)))
            .collect();
    }
    // The type's score in `seen` (ms), or nil when no worker ever asked for it.
    if !matches!(served, Value::Nil) {
        let text = reply.string(served)?;
        let ms = text
            .parse::<f64>()
            .map_err(|_| reply.error(format!("bad `seen` score `{text}`")))?;
        // A float cast saturates; scores are whole milliseconds.
        details.served_at = Some(from_millis(ms as i64));
    }
    Ok(details)
}

#[derive(serde::Deserialize)]
struct StoredFailure {
    t: i64,
    a: u32,
    k: String,
    m: String,
    #[serde(default)]
    w: String,
}

fn decode_failure(reply: &Reply, record: Value) -> Result<FailureRecord> {
    let bytes = reply.bytes(record)?;
    let stored: StoredFailure = serde_json::from_slice(&bytes)
        .map_err(|e| reply.error(format!("bad failure record: {e}")))?;
    let kind = FailureKind::from_name(&stored.k)
        .ok_or_else(|| reply.error(format!("unknown failure kind `{}`", stored.k)))?;
    Ok(FailureRecord::new(
        from_millis(stored.t),
        stored.a,
        kind,
        stored.m,
        serde_json::from_str(&stored.w).ok(),
    ))
}
