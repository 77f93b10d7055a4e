//! The operator's scripts: pausing and resuming job types.

use super::{Lua, Site};
use crate::Result;
use crate::reply::Reply;

script!(PAUSE, "pause", false);

/// The operator's scripts, for the library.
pub(super) static ALL: [&Lua; 1] = [&PAUSE];

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
