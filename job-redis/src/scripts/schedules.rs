//! The schedule scripts: store, claim, fire, change and list schedules.

use job_core::{JobId, JobState, NewJob, Overlap, Schedule};
use redis::Value;

use super::time_of;
use super::{Lua, Site, rows};
use crate::Result;
use crate::reply::Reply;
use crate::schedule::{Fire, FireOutcome, ScheduleInfo, Upserted};

script!(UPSERT, "schedule_upsert", false);
script!(DUE, "schedule_due", false);
script!(FIRE, "schedule_fire", false);
script!(CHANGE, "schedule_change", false);
script!(LIST, "schedule_list", true);

/// The schedule scripts, for the library.
pub(super) static ALL: [&Lua; 5] = [&UPSERT, &DUE, &FIRE, &CHANGE, &LIST];

/// UPSERT_SCHEDULE: stores `schedule` with `job` as its template.
pub(crate) async fn upsert(site: Site<'_>, schedule: &Schedule, job: &NewJob) -> Result<Upserted> {
    let mut invocation = site.call(&UPSERT, true);
    invocation
        .arg(schedule.name())
        .arg(schedule.spec())
        .arg(u8::from(schedule.overlap_policy() == Overlap::Skip));
    rows::push_template(&mut invocation, job);
    let reply = Reply::of("schedule_upsert");
    let items = reply.array(site.run(&invocation).await?)?;
    let status = reply.string(items.into_iter().next().unwrap_or_default())?;
    match Some(status.as_str()) {
        Some("created") => Ok(Upserted::Created),
        Some("changed") => Ok(Upserted::Changed),
        Some("same") => Ok(Upserted::Unchanged),
        other => Err(reply.error(format!("unknown answer {other:?}"))),
    }
}

/// A schedule a scheduler claimed: what it plans its ticks from.
#[derive(Debug)]
pub(crate) struct Claimed {
    pub(crate) name: String,
    pub(crate) spec: String,
    pub(crate) version: String,
    pub(crate) last: String,
}

/// What DUE_SCHEDULES answers: the Redis clock, the earliest look-at time left, the claims.
#[derive(Debug)]
pub(crate) struct Due {
    pub(crate) now: u64,
    pub(crate) next: Option<u64>,
    pub(crate) claimed: Vec<Claimed>,
}

/// DUE_SCHEDULES: claims up to `limit` due schedules for `claim_ms`.
pub(crate) async fn due(site: Site<'_>, limit: usize, claim_ms: u64) -> Result<Due> {
    let mut invocation = site.call(&DUE, false);
    invocation.arg(limit).arg(claim_ms);
    let reply = Reply::of("schedule_due");
    let items = reply.array(site.run(&invocation).await?)?;
    if items.len() < 2 || (items.len() - 2) % 4 != 0 {
        return Err(reply.error(format!("{} items", items.len())));
    }
    let mut items = items.into_iter();
    let mut int = |reply: &Reply| reply.int(&items.next().unwrap_or_default());
    let now = u64::try_from(int(&reply)?).map_err(|_| reply.error("negative time"))?;
    let next = u64::try_from(int(&reply)?).ok();
    let rest: Vec<String> = items
        .map(|item| reply.string(item))
        .collect::<Result<_>>()?;
    let claimed = rest
        .chunks(4)
        .map(|c| Claimed {
            name: c[0].clone(),
            spec: c[1].clone(),
            version: c[2].clone(),
            last: c[3].clone(),
        })
        .collect();
    Ok(Due { now, next, claimed })
}

/// What FIRE did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fired {
    /// The ticks fired, each with its outcome.
    Done(Vec<FireOutcome>),
    /// Another scheduler fired first, or the schedule changed: nothing was written.
    Stale,
    /// The schedule was removed.
    Gone,
}

/// A step of a schedule's firing: from the claimed state, these ticks (with their jobs' ids),
/// then the new last tick, the next look-at time and the ticks dropped.
#[derive(Debug)]
pub(crate) struct Firing<'a> {
    pub(crate) claimed: &'a Claimed,
    pub(crate) expected_last: &'a str,
    pub(crate) ticks: &'a [(u64, JobId)],
    pub(crate) new_last: u64,
    pub(crate) next: Option<u64>,
    pub(crate) dropped: u64,
}

/// FIRE: one step of a schedule's firing, only if no one else took it.
pub(crate) async fn fire(site: Site<'_>, firing: &Firing<'_>) -> Result<Fired> {
    let mut invocation = site.call(&FIRE, true);
    invocation
        .arg(&firing.claimed.name)
        .arg(&firing.claimed.version)
        .arg(firing.expected_last)
        .arg(firing.new_last)
        .arg(
            firing
                .next
                .map_or(-1, |next| i64::try_from(next).unwrap_or(i64::MAX)),
        )
        .arg(firing.dropped)
        .arg(firing.ticks.len());
    for (tick, id) in firing.ticks {
        invocation.arg(*tick).arg(id.to_string());
    }
    let reply = Reply::of("schedule_fire");
    let items = reply.strings(site.run(&invocation).await?)?;
    let Some((status, outcomes)) = items.split_first() else {
        return Err(reply.error("empty reply"));
    };
    match status.as_str() {
        "fired" => outcomes
            .iter()
            .map(|o| outcome(&reply, o))
            .collect::<Result<_>>()
            .map(Fired::Done),
        "stale" => Ok(Fired::Stale),
        "gone" => Ok(Fired::Gone),
        other => Err(reply.error(format!("unknown status `{other}`"))),
    }
}

/// A change of a schedule.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Change {
    Pause,
    Resume,
    Remove,
    Trigger(JobId),
}

/// CHANGE_SCHEDULE: `None` when no such schedule; a trigger answers its insert's outcome.
pub(crate) async fn change(
    site: Site<'_>,
    name: &str,
    change: Change,
) -> Result<Option<FireOutcome>> {
    let mut invocation = site.call(&CHANGE, true);
    invocation.arg(name);
    match change {
        Change::Pause => invocation.arg("pause"),
        Change::Resume => invocation.arg("resume"),
        Change::Remove => invocation.arg("remove"),
        Change::Trigger(id) => invocation.arg("trigger").arg(id.to_string()),
    };
    let reply = Reply::of("schedule_change");
    match site.run(&invocation).await? {
        Value::Int(0) => Ok(None),
        Value::Int(_) => Ok(Some(FireOutcome::Inserted)),
        other => outcome(&reply, &reply.string(other)?).map(Some),
    }
}

/// The fields SCHEDULES answers per schedule, in order.
const FIELDS: usize = 13;

/// SCHEDULES: up to `limit` schedules in name order within the ZRANGEBYLEX bounds, each with
/// its latest `fires`.
pub(crate) async fn list(
    site: Site<'_>,
    bounds: (&str, &str),
    limit: usize,
    fires: usize,
) -> Result<Vec<ScheduleInfo>> {
    let mut invocation = site.call(&LIST, false);
    invocation.arg(bounds.0).arg(bounds.1).arg(limit).arg(fires);
    let reply = Reply::of("schedule_list");
    let mut out = Vec::new();
    for entry in reply.array(site.run(&invocation).await?)? {
        let mut parts = reply.array(entry)?.into_iter();
        let name = reply.string(parts.next().unwrap_or_default())?;
        let fields = reply.strings(parts.next().unwrap_or_default())?;
        let fires = reply.strings(parts.next().unwrap_or_default())?;
        if fields.len() != FIELDS || fires.len() % 2 != 0 {
            return Err(reply.error(format!("schedule `{name}`: {} fields", fields.len())));
        }
        out.push(decode_info(&reply, name, &fields, &fires)?);
    }
    Ok(out)
}

fn decode_info(
    reply: &Reply,
    name: String,
    fields: &[String],
    fires: &[String],
) -> Result<ScheduleInfo> {
    let number = |text: &str| text.parse::<u64>().unwrap_or(0);
    let time = |text: &str| time_of(number(text));
    let schedule = Schedule::from_spec(&name, &fields[0])
        .map_err(|error| reply.error(crate::error::chain(&error)))?;
    let schedule = schedule.overlap(if fields[1] == "1" {
        Overlap::Skip
    } else {
        Overlap::Allow
    });
    let fires = fires
        .chunks(2)
        .map(|pair| decode_fire(reply, &pair[0], &pair[1]))
        .collect::<Result<_>>()?;
    Ok(ScheduleInfo {
        schedule,
        job_type: fields[2].clone(),
        version: number(&fields[3]),
        last_tick: time(&fields[4]),
        next_tick: fields[5]
            .parse::<i64>()
            .ok()
            .and_then(|next| u64::try_from(next).ok())
            .map(time_of),
        paused: fields[6] == "1",
        last_job: fields[7].parse().ok(),
        fired: number(&fields[8]),
        skipped: number(&fields[9]),
        dropped: number(&fields[10]),
        created: time(&fields[11]),
        updated: time(&fields[12]),
        fires,
    })
}

/// A fire as the list keeps it: `<tick ms> <job id or -> <outcome>`.
fn decode_fire(reply: &Reply, entry: &str, state: &str) -> Result<Fire> {
    let mut parts = entry.splitn(3, ' ');
    let (tick, job, what) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let (triggered, what) = match what.strip_prefix("trigger:") {
        Some(rest) => (true, rest),
        None => (false, what),
    };
    Ok(Fire {
        tick: time_of(tick.parse().unwrap_or(0)),
        job: job.parse().ok(),
        outcome: outcome(reply, what)?,
        triggered,
        state: JobState::from_name(state),
    })
}

/// An insert's outcome as the schedule scripts answer it.
fn outcome(reply: &Reply, text: &str) -> Result<FireOutcome> {
    let (head, rest) = text.split_once(':').unwrap_or((text, ""));
    Ok(match head {
        "new" => FireOutcome::Inserted,
        "exists" => FireOutcome::Exists,
        "overlap" => FireOutcome::Overlap,
        "dup" => FireOutcome::Duplicate(
            rest.parse()
                .map_err(|_| reply.error(format!("bad job id `{rest}`")))?,
        ),
        "refused" | "badkey" => FireOutcome::Refused(rest.to_owned()),
        "dropped" => FireOutcome::Dropped(rest.parse().unwrap_or(0)),
        _ => {
            return Err(reply.error(format!("unknown outcome `{text}`")));
        }
    })
}
