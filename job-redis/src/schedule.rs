//! Stored schedules, as a client reads them back: the schedule, its state and its latest fires.

use std::time::SystemTime;

use job_core::{JobId, JobState, Schedule};

/// What [`Client::upsert_schedule`](crate::Client::upsert_schedule) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Upserted {
    /// A new schedule was stored.
    Created,
    /// The schedule's spec or job changed: its ticks count from now, by the new spec.
    Changed,
    /// The same schedule was already stored: nothing changed.
    Unchanged,
}

/// A stored schedule and its state.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ScheduleInfo {
    /// The schedule's timing and policies (its job is not read back: see `job_type`).
    pub schedule: Schedule,
    /// The type of the job each tick inserts.
    pub job_type: String,
    /// Paused: no tick fires until it is resumed.
    pub paused: bool,
    /// Bumped by every change of its spec or job.
    pub version: u64,
    /// The last tick handled (fired, skipped or dropped), or when it was created, changed or
    /// resumed: ticks after it are due.
    pub last_tick: SystemTime,
    /// Its next tick, once a scheduler has worked it out.
    pub next_tick: Option<SystemTime>,
    /// The job of its latest fire (or trigger).
    pub last_job: Option<JobId>,
    /// How many jobs its ticks and triggers inserted.
    pub fired: u64,
    /// How many ticks overlap skipped.
    pub skipped: u64,
    /// How many missed ticks were dropped.
    pub dropped: u64,
    /// When it was first stored.
    pub created: SystemTime,
    /// When its spec or job last changed.
    pub updated: SystemTime,
    /// Its latest fires, newest first.
    pub fires: Vec<Fire>,
}

impl ScheduleInfo {
    /// Its next `count` ticks, in its time zone, counted from now by this host's clock.
    #[must_use]
    pub fn upcoming(&self, count: usize) -> Vec<jiff::Zoned> {
        let now = crate::scripts::epoch_millis(SystemTime::now());
        self.schedule.upcoming(now, count)
    }
}

/// One fire of a schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fire {
    /// The tick, or when it was triggered.
    pub tick: SystemTime,
    /// The job it inserted or meant to (none for dropped ticks).
    pub job: Option<JobId>,
    /// What came of it.
    pub outcome: FireOutcome,
    /// A trigger's, not a tick's.
    pub triggered: bool,
    /// The state of its job now; `None` once the job is deleted (or for no job).
    pub state: Option<JobState>,
}

/// What came of a fire.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FireOutcome {
    /// The job was inserted.
    Inserted,
    /// A job with its id was already stored (a tick is inserted once).
    Exists,
    /// Another live job holds the template's unique key.
    Duplicate(JobId),
    /// The job was refused: its resource will not exist, or a key has the wrong type.
    Refused(String),
    /// Overlap skip: the previous job was still live, so no job.
    Overlap,
    /// This many missed ticks were dropped (recorded at the tick handled after them).
    Dropped(u64),
}
