//! Insert rows: how a job is written as script arguments, what a row costs a script (calls are
//! cut so none runs long), and the answer of a script that inserts rows (INSERT, REPLACE).

use std::time::SystemTime;

use job_core::limits::MAX_DELAY;
use job_core::{Ended, Inserted, JobId, NewJob, Start};
use redis::Value;

use super::{epoch_millis, millis};
use crate::reply::Reply;
use crate::{Error, Result};

/// How much work inserting `job` costs a script, in units of about one plain job (measured
/// with `SLOWLOG`: a plain row costs about 3 us, a row with a resource and a unique key of its
/// own, a requirement, an attribute and arguments kept apart about 30 times that): a plain job
/// is 1; decoding its extras adds 2, a resource 15, a unique key 6, requirements 2, each
/// attribute 1, and arguments kept apart 2.
pub(crate) fn weight(job: &NewJob, inline_max: usize) -> usize {
    let requires = !job.requires().is_empty();
    let options = job.options();
    let extras = job.resource().is_some()
        || job.unique_key().is_some()
        || requires
        || !job.attributes().is_empty()
        || Ended::ALL
            .iter()
            .any(|ended| options.keep(*ended).is_some());
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
    invocation: &mut super::Call,
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

/// Appends a schedule's job template: an insert row without its id and start (type, priority,
/// max_attempts, lease_ms, payload, extras; see `schedules.lua`), each tick's job being ready
/// at once under an id of its own.
pub(super) fn push_template(invocation: &mut super::Call, job: &NewJob) {
    let options = job.options();
    invocation
        .arg(job.name())
        .arg(options.priority())
        .arg(options.max_attempts())
        .arg(options.lease().map_or(0, millis))
        .arg(job.payload())
        .arg(extras(job, None, None));
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
    let keep: serde_json::Map<String, Value> = Ended::ALL
        .iter()
        .zip(["c", "f", "x"])
        .filter_map(|(ended, name)| {
            Some((name.to_owned(), Value::from(options.keep(*ended)?.millis())))
        })
        .collect();
    if !keep.is_empty() {
        put("keep", Value::Object(keep));
    }
    if extras.is_empty() {
        String::new()
    } else {
        Value::Object(extras).to_string()
    }
}

/// Attributes as a JSON object.
pub(super) fn attributes(attributes: &[(String, String)]) -> serde_json::Value {
    attributes
        .iter()
        .map(|(name, value)| (name.clone(), serde_json::Value::String(value.clone())))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Decodes the answer of a script that inserts rows: `{'ok', per row 'new' | 'exists' |
/// 'dup:<id>'}`, or `{'refused', index, resource}`, or `{'lost'}` (REPLACE).
pub(super) fn decode_inserted<'a>(
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
