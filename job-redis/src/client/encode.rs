//! Script arguments and replies: insert rows, grabs, completions, DETAILS.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use job_core::limits::MAX_DELAY;
use job_core::{Details, FailureKind, FailureRecord, Inserted, JobId, JobState, NewJob, Start};
use redis::Value;

use crate::reply::Reply;
use crate::{Error, Result, scripts};

/// Failure messages are cut to this many bytes.
const MESSAGE_MAX: usize = 4096;

/// A duration in whole milliseconds, as the scripts take it.
pub(super) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Milliseconds since the Unix epoch.
fn epoch_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map(millis).unwrap_or(0)
}

/// A time from milliseconds since the Unix epoch.
fn from_millis(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// A failure message cut to `MESSAGE_MAX` bytes, on a character boundary.
pub(super) fn truncate(message: &str) -> &str {
    if message.len() <= MESSAGE_MAX {
        return message;
    }
    let mut end = MESSAGE_MAX;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

/// How much work inserting `job` costs a script, in units of about one plain job (measured
/// with `SLOWLOG`: a plain row costs about 3 us, a row with a resource and a unique key of its
/// own, a requirement, an attribute and arguments kept apart about 30 times that): a plain job
/// is 1; decoding its extras adds 2, a resource 15, a unique key 6, requirements 2, each
/// attribute 1, and arguments kept apart 2.
pub(crate) fn weight(job: &NewJob, inline_max: usize) -> usize {
    let requires = !job.requires().is_empty();
    let extras = job.resource().is_some()
        || job.unique_key().is_some()
        || requires
        || !job.attributes().is_empty();
    1 + 2 * usize::from(extras)
        + 15 * usize::from(job.resource().is_some())
        + 6 * usize::from(job.unique_key().is_some())
        + 2 * usize::from(requires)
        + job.attributes().len()
        + 2 * usize::from(job.payload().len() > inline_max)
}

/// The most work one script call that inserts rows may do, in units of [`weight`]: about
/// 10 ms. A call also carries at most `MAX_ROWS` rows.
pub(crate) const MAX_WEIGHT: usize = 1_500;
/// The most rows one insert call carries.
pub(crate) const MAX_ROWS: usize = 500;
/// The most work one REPLACE may carry: less than an insert, since it also plans the children
/// against the parent and ends the parent (measured: a heavy child costs it half again as much).
pub(crate) const MAX_REPLACE_WEIGHT: usize = 1_000;

/// The lengths of the runs that items of these `weights` are cut into, in order: at most
/// [`MAX_ROWS`] items and [`MAX_WEIGHT`] weight each (an item heavier than that alone).
pub(crate) fn run_lengths(weights: impl IntoIterator<Item = usize>) -> Vec<usize> {
    let mut lengths = Vec::new();
    let (mut len, mut total) = (0, 0);
    for w in weights {
        if (total + w > MAX_WEIGHT || len == MAX_ROWS) && len > 0 {
            lengths.push(len);
            (len, total) = (0, 0);
        }
        len += 1;
        total += w;
    }
    if len > 0 {
        lengths.push(len);
    }
    lengths
}

/// `items` cut into runs by [`run_lengths`].
pub(crate) fn by_weight<T>(items: &[T], weight: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut rest = items;
    run_lengths(items.iter().map(weight))
        .into_iter()
        .map(|len| {
            let (run, tail) = rest.split_at(len);
            rest = tail;
            run
        })
        .collect()
}

/// Appends one insert row (see `common.lua`: 9 arguments, the rare fields in one JSON object)
/// to a script call.
pub(super) fn push_row(
    invocation: &mut redis::ScriptInvocation<'_>,
    job: &NewJob,
    parent: Option<JobId>,
    home: Option<&str>,
) {
    let options = job.options();
    let (delay, at) = match job.start() {
        Start::After(delay) => (millis(delay), 0),
        // A time beyond the longest delay would store a run-at nothing can read back.
        Start::At(at) => (
            0,
            epoch_millis(at).min(epoch_millis(SystemTime::now()) + millis(MAX_DELAY)),
        ),
        _ => (0, 0),
    };
    invocation
        .arg(job.id().to_string())
        .arg(job.name())
        .arg(options.priority())
        .arg(options.max_attempts())
        .arg(options.lease().map_or(0, millis))
        .arg(delay)
        .arg(at)
        .arg(job.payload())
        .arg(extras(job, parent, home));
}

/// The rare fields of an insert row as a JSON object, or empty when the job has none. `home` is
/// the shard prefix of a REPLACE child that lives in another shard than its parent.
fn extras(job: &NewJob, parent: Option<JobId>, home: Option<&str>) -> String {
    use serde_json::{Map, Value};
    let options = job.options();
    let mut extras = Map::new();
    let mut put = |name: &str, value: Value| {
        extras.insert(name.to_owned(), value);
    };
    if let Some(parent) = parent {
        put("parent", Value::String(parent.to_string()));
    }
    if let Some(home) = home {
        put("home", Value::String(home.to_owned()));
    }
    if let Some(resource) = job.resource() {
        put("resource", Value::String(resource.to_owned()));
    }
    if let Some(effect) = options.effect() {
        put("effect", Value::String(effect.as_str().to_owned()));
    }
    if let Some(key) = job.unique_key() {
        put("unique", Value::String(key.to_owned()));
        put(
            "unique_while",
            Value::String(options.unique_while().as_str().to_owned()),
        );
    }
    let requires = job.requires();
    if !requires.is_empty() {
        put("requires", Value::String(requires.join(",")));
    }
    if !job.attributes().is_empty() {
        put("attributes", attributes(job.attributes()));
    }
    if extras.is_empty() {
        String::new()
    } else {
        Value::Object(extras).to_string()
    }
}

/// Attributes as a JSON object.
fn attributes(attributes: &[(String, String)]) -> serde_json::Value {
    attributes
        .iter()
        .map(|(name, value)| (name.clone(), serde_json::Value::String(value.clone())))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// A grab's filter as a JSON object, or empty for none.
pub(super) fn filter_json(filter: &[(String, String)]) -> String {
    if filter.is_empty() {
        String::new()
    } else {
        attributes(filter).to_string()
    }
}

/// Decodes the answer of a script that inserts rows: `{'ok', per row 'new' | 'exists' |
/// 'dup:<id>'}`, or `{'refused', index, resource}`, or `{'lost'}` (REPLACE).
pub(crate) fn decode_inserted<'a>(
    reply: &Reply,
    value: Value,
    jobs: impl ExactSizeIterator<Item = &'a NewJob>,
) -> Result<Option<Vec<Result<Inserted>>>> {
    let jobs: Vec<&NewJob> = jobs.collect();
    let mut items = reply.array(value)?.into_iter();
    let status = reply.string(items.next().ok_or_else(|| reply.error("empty reply"))?)?;
    match status.as_str() {
        "ok" => {}
        "lost" => return Ok(None),
        "refused" => {
            let index = reply.int(&items.next().unwrap_or_default())?;
            let resource = reply.string(items.next().unwrap_or_default())?;
            let job = usize::try_from(index)
                .ok()
                .and_then(|i| jobs.get(i))
                .ok_or_else(|| reply.error(format!("refused row {index} out of range")))?;
            return Err(refused(job, resource));
        }
        other => return Err(reply.error(format!("unknown status `{other}`"))),
    }
    let answers: Vec<_> = items.collect();
    if answers.len() != jobs.len() {
        return Err(reply.error(format!(
            "expected {} answers, got {}",
            jobs.len(),
            answers.len()
        )));
    }
    answers
        .into_iter()
        .zip(jobs)
        .map(|(answer, job)| {
            let answer = reply.string(answer)?;
            Ok(match answer.as_str() {
                "new" => Ok(Inserted::New(job.id())),
                "exists" => Ok(Inserted::Exists(job.id())),
                other => match other.split_once(':') {
                    Some(("dup", id)) => Ok(Inserted::Duplicate(
                        id.parse()
                            .map_err(|_| reply.error(format!("bad job id `{id}`")))?,
                    )),
                    Some(("refused", resource)) => Err(refused(job, resource.to_owned())),
                    Some(("badkey", why)) => Err(Error::Refused {
                        id: job.id(),
                        job_type: job.name().to_owned(),
                        reason: why.to_owned(),
                    }),
                    _ => return Err(reply.error(format!("unknown answer `{other}`"))),
                },
            })
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

fn refused(job: &NewJob, resource: String) -> Error {
    Error::ResourceNotFound {
        id: job.id(),
        job_type: job.name().to_owned(),
        resource,
    }
}

/// An INSERT call for `jobs` with the client's `settings`: all or nothing when `atomic`, else
/// each row on its own.
pub(crate) fn insert_invocation<'a>(
    prefix: &str,
    settings: &str,
    atomic: bool,
    jobs: impl ExactSizeIterator<Item = &'a NewJob>,
) -> redis::ScriptInvocation<'static> {
    let mut invocation = scripts::INSERT.prepare_invoke();
    invocation
        .key(prefix)
        .arg(settings)
        .arg(u8::from(atomic))
        .arg(jobs.len());
    for job in jobs {
        push_row(&mut invocation, job, None, None);
    }
    invocation
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
    Ok(Details {
        id,
        name,
        state,
        payload,
        priority: i8::try_from(int("p")?.unwrap_or(0)).unwrap_or(0),
        attempts: count("a")?,
        max_attempts: count("m")?,
        lease_expiries: count("x")?,
        defers: count("df")?,
        created: from_millis(int("c")?.unwrap_or(0)),
        run_at: int("ra")?.map(from_millis),
        started: int("st")?.map(from_millis),
        finished: int("f")?.map(from_millis),
        holder,
        result: map.get("r").cloned().map(|v| reply.bytes(v)).transpose()?,
        failures,
        resource: text("rk")?,
        // Stored as `<type>\0<key>`, scoped to the type.
        unique_key: text("uk")?.map(|k| {
            k.split_once('\0')
                .map_or(k.clone(), |(_, key)| key.to_owned())
        }),
        requires: text("rq")?
            .map(|r| r.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
        parent: text("pa")?.and_then(|p| p.parse().ok()),
        duplicate_children: match text("cd")? {
            Some(json) => serde_json::from_str::<Vec<(String, String)>>(&json)
                .map_err(|e| reply.error(format!("bad duplicate children: {e}")))?
                .into_iter()
                .filter_map(|(child, live)| Some((child.parse().ok()?, live.parse().ok()?)))
                .collect(),
            None => Vec::new(),
        },
        // The type's score in `seen` (ms), or nil when no worker ever asked for it.
        served_at: match served {
            Value::Nil => None,
            other => {
                let text = reply.string(other)?;
                let ms = text
                    .parse::<f64>()
                    .map_err(|_| reply.error(format!("bad `seen` score `{text}`")))?;
                // A float cast saturates; scores are whole milliseconds.
                Some(from_millis(ms as i64))
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::by_weight;

    #[test]
    fn runs_stay_under_the_most_weight_and_rows() {
        let items = [700, 700, 300, 1, 2_500, 7];
        let runs = by_weight(&items, |w| *w);
        assert_eq!(
            runs,
            [&[700, 700][..], &[300, 1][..], &[2_500][..], &[7][..]]
        );
        let plain = vec![1; 1_200];
        let lens: Vec<usize> = by_weight(&plain, |w| *w).iter().map(|r| r.len()).collect();
        assert_eq!(lens, [500, 500, 200]);
        assert!(by_weight(&[] as &[usize], |w| *w).is_empty());
    }
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
