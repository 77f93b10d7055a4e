//! The scripts around the transitions: pausing and resuming job types, a running job's
//! progress, and the registry of workers and types.

use std::time::Duration;

use job_core::{Lease, TypeInfo, WorkerInfo};

use super::{Lua, Site};
use crate::Result;
use crate::reply::Reply;

script!(PAUSE, "pause", false);
script!(PROGRESS, "progress", false);
script!(REGISTER, "register", false);
script!(WORKERS, "workers", true);

/// These scripts, for the library.
pub(super) static ALL: [&Lua; 4] = [&PAUSE, &PROGRESS, &REGISTER, &WORKERS];

/// REGISTER: records `worker` and its `types` (forgetting workers unseen for `expiry`).
pub(crate) async fn register(
    site: Site<'_>,
    worker: &WorkerInfo,
    types: &[TypeInfo],
    expiry: Duration,
) -> Result<()> {
    let reply = Reply::of("register");
    let mut invocation = site.call(&REGISTER, false);
    invocation
        .arg("register")
        .arg(&worker.holder.worker)
        .arg(super::millis(expiry))
        .arg(json(&reply, worker)?);
    for info in types {
        invocation.arg(&info.name).arg(json(&reply, info)?);
    }
    site.run(&invocation).await.map(drop)
}

/// UNREGISTER: forgets the worker `id`.
pub(crate) async fn unregister(site: Site<'_>, id: &str) -> Result<()> {
    let mut invocation = site.call(&REGISTER, false);
    invocation.arg("unregister").arg(id).arg(0);
    site.run(&invocation).await.map(drop)
}

/// WORKERS: up to `limit` workers seen within `expiry`, with when each was last seen.
pub(crate) async fn workers(
    site: Site<'_>,
    expiry: Duration,
    limit: usize,
) -> Result<Vec<WorkerInfo>> {
    let mut invocation = site.call(&WORKERS, false);
    invocation.arg(super::millis(expiry)).arg(limit);
    let reply = Reply::of("workers");
    let items = reply.strings(site.run(&invocation).await?)?;
    items
        .chunks(2)
        .map(|pair| {
            let mut info: WorkerInfo = serde_json::from_str(&pair[0])
                .map_err(|e| reply.error(format!("a worker does not decode: {e}")))?;
            info.seen_ms = pair.get(1).and_then(|ms| ms.parse().ok()).unwrap_or(0);
            Ok(info)
        })
        .collect()
}

/// A registry value as JSON.
fn json(reply: &Reply, value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|e| reply.error(e.to_string()))
}

/// PROGRESS: stores `value` on the job `lease` holds; false when the lease is gone.
pub(crate) async fn progress(site: Site<'_>, lease: &Lease, value: &[u8]) -> Result<bool> {
    let mut invocation = site.call(&PROGRESS, false);
    invocation
        .arg(lease.id.to_string())
        .arg(lease.token)
        .arg(value);
    Ok(Reply::of("progress").int(&site.run(&invocation).await?)? == 1)
}

/// PAUSE (`pause`) or RESUME the grabbing of `types` on this shard; answers how many changed.
pub(crate) async fn pause(site: Site<'_>, pause: bool, types: &[&str]) -> Result<usize> {
    let mut invocation = site.call(&PAUSE, false);
    invocation.arg(if pause { "pause" } else { "resume" });
    for job_type in types {
        invocation.arg(*job_type);
    }
    let reply = Reply::of("pause");
    let changed = reply.int(&site.run(&invocation).await?)?;
    Ok(usize::try_from(changed).unwrap_or(0))
}
