//! The scripts around the transitions: pausing and resuming job types, and a running job's
//! progress.

use job_core::Lease;

use super::{Lua, Site};
use crate::Result;
use crate::reply::Reply;

script!(PAUSE, "pause", false);
script!(PROGRESS, "progress", false);

/// These scripts, for the library.
pub(super) static ALL: [&Lua; 2] = [&PAUSE, &PROGRESS];

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
