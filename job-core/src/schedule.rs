//! Recurring schedules: when a schedule's ticks fall (a cron line in a time zone, or a fixed
//! interval), the job each tick makes, and what a scheduler does with ticks it missed.
//!
//! This module only computes; a backend stores schedules and fires their ticks (for Redis:
//! one script compares and advances a schedule's last fired tick and inserts the tick's job in
//! the same step, so a tick fires once however many schedulers run).

use std::fmt;
use std::time::Duration;

use croner::Cron;
use croner::parser::{CronParser, Seconds};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::{Error, Job, NewJob};

/// A tick counts as missed when a later tick is also due, or when a scheduler sees it more
/// than this late.
pub const MISSED_AFTER: Duration = Duration::from_secs(60);

/// How many missed ticks a scheduler counts, at most, to record how many it dropped.
const COUNT_MAX: u64 = 10_000;

/// A recurring job: a name, when its ticks fall, and the job each tick inserts.
///
/// ```
/// # extern crate job_core as job;
/// # #[derive(job_core::Job, serde::Serialize, serde::Deserialize)]
/// # #[job(name = "reports.nightly")]
/// # struct NightlyReport { scope: String }
/// use std::time::Duration;
/// use job_core::{Missed, Overlap, Schedule};
///
/// let nightly = Schedule::cron("reports.nightly", "0 3 * * *")?
///     .time_zone("Europe/Berlin")?
///     .job(NightlyReport { scope: "all".into() })?
///     .missed(Missed::Latest)
///     .overlap(Overlap::Skip);
/// assert_eq!(nightly.name(), "reports.nightly");
///
/// let refresh = Schedule::every("cache.refresh", Duration::from_secs(30))?;
/// assert_eq!(refresh.interval(), Some(Duration::from_secs(30)));
/// # Ok::<(), job_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Schedule {
    name: String,
    when: When,
    zone: TimeZone,
    zone_name: String,
    job: Option<NewJob>,
    missed: Missed,
    overlap: Overlap,
}

#[derive(Clone)]
enum When {
    Cron { line: String, cron: Box<Cron> },
    Every { millis: u64 },
}

/// What a scheduler fires of the ticks that passed while no scheduler ran (a tick is missed
/// when a later tick is also due, or when it is seen more than [`MISSED_AFTER`] late).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Missed {
    /// None of them: only a tick seen in time fires.
    Skip,
    /// One job, for the latest due tick.
    #[default]
    Latest,
    /// Each due tick, in order: the latest `max` of them, counting the rest as dropped.
    All {
        /// The most ticks fired at once.
        max: u32,
    },
}

/// Whether a tick may fire while the job of the schedule's previous tick is still live
/// (waiting, delayed, blocked or running).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overlap {
    /// Fire anyway.
    #[default]
    Allow,
    /// Skip the tick (it counts as fired, with no job).
    Skip,
}

/// A schedule that cannot be stored: which schedule, which field, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schedule `{schedule}`: bad {field}: {problem}")]
pub struct ScheduleError {
    schedule: String,
    field: &'static str,
    problem: String,
}

impl ScheduleError {
    /// A problem with `field` of schedule `schedule`.
    #[must_use]
    pub fn new(schedule: &str, field: &'static str, problem: impl fmt::Display) -> Self {
        Self {
            schedule: schedule.to_owned(),
            field,
            problem: problem.to_string(),
        }
    }

    /// The schedule's name.
    #[must_use]
    pub fn schedule(&self) -> &str {
        &self.schedule
    }

    /// The field at fault: `name`, `cron line`, `interval`, `time zone`, `job` or `spec`.
    #[must_use]
    pub fn field(&self) -> &'static str {
        self.field
    }
}

/// What a scheduler does with a schedule now: the ticks to fire, how many due ticks it drops,
/// the tick to record as the last one handled, and when to look again.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Plan {
    /// The ticks to fire (ms since the Unix epoch), oldest first.
    pub fire: Vec<u64>,
    /// Due ticks that do not fire (missed), counted up to 10,000.
    pub dropped: u64,
    /// The latest due tick, now handled; the `last` given when none was due.
    pub last: u64,
    /// The first tick after now, or `None` when the schedule has no more.
    pub next: Option<u64>,
}

/// The longest name a schedule may have, in bytes.
const NAME_MAX: usize = 512;

impl Schedule {
    /// A schedule whose ticks follow a cron line: five fields (minute, hour, day of month,
    /// month, day of week), or six with seconds first; in UTC unless
    /// [`time_zone`](Self::time_zone) says otherwise.
    ///
    /// Across daylight-saving changes: a time that a clock change skips fires once, right after
    /// the change (`30 2 * * *` fires at 03:00 on the spring-forward day); a time that occurs
    /// twice fires once, at its first occurrence, for a line with a fixed second, minute and
    /// hour; a line with a wildcard or step in those fields fires in both passes
    /// (`*/15 * * * *` fires every 15 real minutes through the repeated hour).
    ///
    /// # Errors
    ///
    /// [`Error::Schedule`] naming the schedule and the line when the line does not parse, or
    /// the name is empty or longer than 512 bytes.
    pub fn cron(name: impl Into<String>, line: &str) -> Result<Self, Error> {
        let name = checked_name(name.into())?;
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(line)
            .map_err(|error| {
                ScheduleError::new(&name, "cron line", format!("`{line}`: {error}"))
            })?;
        Ok(Self::with(
            name,
            When::Cron {
                line: line.to_owned(),
                cron: Box::new(cron),
            },
        ))
    }

    /// A schedule that ticks every `interval`, at whole multiples of it since the Unix epoch
    /// (every 30 s ticks at :00 and :30), so every scheduler agrees on the ticks.
    ///
    /// # Errors
    ///
    /// [`Error::Schedule`] for an interval under a millisecond, or a bad name.
    pub fn every(name: impl Into<String>, interval: Duration) -> Result<Self, Error> {
        let name = checked_name(name.into())?;
        let millis = crate::millis(interval);
        if millis == 0 {
            return Err(ScheduleError::new(&name, "interval", "it must be at least 1 ms").into());
        }
        Ok(Self::with(name, When::Every { millis }))
    }

    fn with(name: String, when: When) -> Self {
        Self {
            name,
            when,
            zone: TimeZone::UTC,
            zone_name: "UTC".to_owned(),
            job: None,
            missed: Missed::default(),
            overlap: Overlap::default(),
        }
    }

    /// Sets the time zone a cron line is read in, by its IANA name (`"Europe/Berlin"`).
    ///
    /// # Errors
    ///
    /// [`Error::Schedule`] naming the schedule and the zone when no such zone is known.
    pub fn time_zone(mut self, zone: &str) -> Result<Self, Error> {
        self.zone = TimeZone::get(zone).map_err(|error| {
            ScheduleError::new(&self.name, "time zone", format!("`{zone}`: {error}"))
        })?;
        zone.clone_into(&mut self.zone_name);
        Ok(self)
    }

    /// Sets the job each tick inserts, with its type's options. Each tick's job gets its own
    /// id, made from the schedule's name and the tick (see [`JobId::for_tick`](crate::JobId::for_tick)).
    ///
    /// # Errors
    ///
    /// [`Error::Schedule`] naming the schedule when the job does not serialize.
    pub fn job<J: Job>(self, job: J) -> Result<Self, Error> {
        let job = NewJob::new(&job)
            .map_err(|error| ScheduleError::new(&self.name, "job", crate::error::chain(&error)))?;
        Ok(self.new_job(job))
    }

    /// Sets the job each tick inserts, prepared (with a priority, a resource, attributes...).
    /// Its id and start are not used: each tick's job has its own id and is ready at once.
    #[must_use]
    pub fn new_job(mut self, job: NewJob) -> Self {
        self.job = Some(job);
        self
    }

    /// Sets what to fire of missed ticks (default [`Missed::Latest`]).
    #[must_use]
    pub fn missed(mut self, missed: Missed) -> Self {
        self.missed = missed;
        self
    }

    /// Sets whether a tick fires while the previous tick's job is live (default
    /// [`Overlap::Allow`]).
    #[must_use]
    pub fn overlap(mut self, overlap: Overlap) -> Self {
        self.overlap = overlap;
        self
    }

    /// The schedule's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cron line, for a cron schedule.
    #[must_use]
    pub fn cron_line(&self) -> Option<&str> {
        match &self.when {
            When::Cron { line, .. } => Some(line),
            When::Every { .. } => None,
        }
    }

    /// The interval, for an interval schedule.
    #[must_use]
    pub fn interval(&self) -> Option<Duration> {
        match self.when {
            When::Every { millis } => Some(Duration::from_millis(millis)),
            When::Cron { .. } => None,
        }
    }

    /// The time zone's IANA name (`"UTC"` unless set).
    #[must_use]
    pub fn zone(&self) -> &str {
        &self.zone_name
    }

    /// The job each tick inserts, once set.
    #[must_use]
    pub fn template(&self) -> Option<&NewJob> {
        self.job.as_ref()
    }

    /// What happens to missed ticks.
    #[must_use]
    pub fn missed_policy(&self) -> Missed {
        self.missed
    }

    /// Whether ticks may overlap a live job.
    #[must_use]
    pub fn overlap_policy(&self) -> Overlap {
        self.overlap
    }

    /// The schedule's timing as stored (JSON: the cron line or interval, the time zone, the
    /// missed and overlap policies), which [`Schedule::from_spec`] reads back.
    #[must_use]
    pub fn spec(&self) -> String {
        let mut spec = serde_json::Map::new();
        match &self.when {
            When::Cron { line, .. } => spec.insert("cron".into(), line.as_str().into()),
            When::Every { millis } => spec.insert("every_ms".into(), (*millis).into()),
        };
        spec.insert("tz".into(), self.zone_name.as_str().into());
        let missed = match self.missed {
            Missed::Skip => "skip".into(),
            Missed::Latest => "latest".into(),
            Missed::All { max } => serde_json::json!({ "all": max }),
        };
        spec.insert("missed".into(), missed);
        let overlap = match self.overlap {
            Overlap::Allow => "allow",
            Overlap::Skip => "skip",
        };
        spec.insert("overlap".into(), overlap.into());
        serde_json::Value::Object(spec).to_string()
    }

    /// Reads a schedule's timing back from its [`spec`](Self::spec), without its job.
    ///
    /// # Errors
    ///
    /// [`Error::Schedule`] naming the schedule when the spec is not one `spec` writes.
    pub fn from_spec(name: &str, spec: &str) -> Result<Self, Error> {
        let bad =
            |problem: &str| ScheduleError::new(name, "spec", format!("{problem} in `{spec}`"));
        let value: serde_json::Value =
            serde_json::from_str(spec).map_err(|error| bad(&error.to_string()))?;
        let mut schedule = if let Some(line) = value["cron"].as_str() {
            Self::cron(name, line)?
        } else if let Some(millis) = value["every_ms"].as_u64() {
            Self::every(name, Duration::from_millis(millis))?
        } else {
            return Err(bad("neither `cron` nor `every_ms`").into());
        };
        if let Some(zone) = value["tz"].as_str() {
            schedule = schedule.time_zone(zone)?;
        }
        schedule.missed = match &value["missed"] {
            serde_json::Value::String(s) if s == "skip" => Missed::Skip,
            serde_json::Value::String(s) if s == "latest" => Missed::Latest,
            other => match other["all"]
                .as_u64()
                .and_then(|max| u32::try_from(max).ok())
            {
                Some(max) => Missed::All { max },
                None => return Err(bad("an unknown `missed`").into()),
            },
        };
        schedule.overlap = match value["overlap"].as_str() {
            Some("allow") => Overlap::Allow,
            Some("skip") => Overlap::Skip,
            _ => return Err(bad("an unknown `overlap`").into()),
        };
        Ok(schedule)
    }

    /// The first tick after `after` (ms since the Unix epoch), or `None` when there is none
    /// (a cron line whose dates never come again).
    #[must_use]
    pub fn next_tick(&self, after: u64) -> Option<u64> {
        match &self.when {
            When::Every { millis } => (after / millis).checked_add(1)?.checked_mul(*millis),
            When::Cron { cron, .. } => {
                let from = self.zoned(after - after % 1000)?;
                let next = cron.find_next_occurrence(&from, false).ok()?;
                u64::try_from(next.timestamp().as_millisecond()).ok()
            }
        }
    }

    /// The latest tick at or before `at`, or `None` when there is none.
    #[must_use]
    pub fn tick_at_or_before(&self, at: u64) -> Option<u64> {
        match &self.when {
            When::Every { millis } => Some(at - at % millis),
            When::Cron { cron, .. } => {
                let from = self.zoned(at - at % 1000)?;
                let previous = cron.find_previous_occurrence(&from, true).ok()?;
                u64::try_from(previous.timestamp().as_millisecond()).ok()
            }
        }
    }

    /// The next `count` ticks after `after`, in the schedule's time zone, for display.
    #[must_use]
    pub fn upcoming(&self, after: u64, count: usize) -> Vec<jiff::Zoned> {
        let mut ticks = Vec::with_capacity(count);
        let mut at = after;
        while ticks.len() < count {
            let Some(next) = self.next_tick(at) else {
                break;
            };
            let Some(zoned) = self.zoned(next) else { break };
            ticks.push(zoned);
            at = next;
        }
        ticks
    }

    /// What to do now (`now`, by the store's clock, ms since the Unix epoch) when the last
    /// tick handled was `last`: the due ticks are those in `(last, now]`.
    #[must_use]
    pub fn plan(&self, last: u64, now: u64) -> Plan {
        let next = self.next_tick(now);
        let newest = match self.tick_at_or_before(now) {
            Some(newest) if newest > last => newest,
            _ => {
                return Plan {
                    fire: Vec::new(),
                    dropped: 0,
                    last,
                    next,
                };
            }
        };
        let fire = match self.missed {
            Missed::Latest => vec![newest],
            Missed::Skip => {
                let on_time = now - newest <= crate::millis(MISSED_AFTER);
                if on_time { vec![newest] } else { Vec::new() }
            }
            Missed::All { max } => {
                let mut fire = Vec::new();
                let mut tick = Some(newest);
                while let Some(t) = tick.filter(|t| *t > last) {
                    if fire.len() >= max as usize {
                        break;
                    }
                    fire.push(t);
                    tick = t
                        .checked_sub(1)
                        .and_then(|before| self.tick_at_or_before(before));
                }
                fire.reverse();
                fire
            }
        };
        let due = self.count_between(last, now);
        Plan {
            dropped: due.saturating_sub(fire.len() as u64),
            fire,
            last: newest,
            next,
        }
    }

    /// How many ticks fall in `(last, now]`, counted up to [`COUNT_MAX`].
    fn count_between(&self, last: u64, now: u64) -> u64 {
        if let When::Every { millis } = self.when {
            return (now / millis).saturating_sub(last / millis);
        }
        let mut count = 0;
        let mut at = last;
        while count < COUNT_MAX {
            match self.next_tick(at) {
                Some(tick) if tick <= now => {
                    count += 1;
                    at = tick;
                }
                _ => break,
            }
        }
        count
    }

    fn zoned(&self, millis: u64) -> Option<jiff::Zoned> {
        let stamp = Timestamp::from_millisecond(i64::try_from(millis).ok()?).ok()?;
        Some(stamp.to_zoned(self.zone.clone()))
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schedule")
            .field("name", &self.name)
            .field("spec", &self.spec())
            .field("job", &self.job.as_ref().map(NewJob::name))
            .finish()
    }
}

fn checked_name(name: String) -> Result<String, Error> {
    if name.is_empty() || name.len() > NAME_MAX {
        let problem = format!("it must be 1 to {NAME_MAX} bytes, not {}", name.len());
        return Err(ScheduleError::new(&name, "name", problem).into());
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Milliseconds of a wall-clock time in `zone`, resolved as the earlier of two.
    fn at(zone: &str, civil: &str) -> u64 {
        let civil: jiff::civil::DateTime = civil.parse().unwrap();
        let zoned = civil.to_zoned(TimeZone::get(zone).unwrap()).unwrap();
        u64::try_from(zoned.timestamp().as_millisecond()).unwrap()
    }

    fn ticks(schedule: &Schedule, from: u64, until: u64) -> Vec<u64> {
        let mut out = Vec::new();
        let mut at = from;
        while let Some(next) = schedule.next_tick(at).filter(|t| *t <= until) {
            out.push(next);
            at = next;
        }
        out
    }

    fn local(schedule: &Schedule, ticks: &[u64]) -> Vec<String> {
        ticks
            .iter()
            .map(|t| schedule.zoned(*t).unwrap().strftime("%H:%M %Z").to_string())
            .collect()
    }

    const NY: &str = "America/New_York";

    #[test]
    fn a_fixed_time_in_the_spring_forward_gap_fires_once_right_after_it() {
        let s = Schedule::cron("gap", "30 2 * * *")
            .unwrap()
            .time_zone(NY)
            .unwrap();
        let fired = ticks(&s, at(NY, "2024-03-09T12:00"), at(NY, "2024-03-11T12:00"));
        // The 10th has no 02:30: it fires at 03:00, once; the 11th at 02:30 again.
        assert_eq!(local(&s, &fired), ["03:00 EDT", "02:30 EDT"]);
    }

    #[test]
    fn a_fixed_time_in_the_repeated_hour_fires_once_at_its_first_occurrence() {
        let s = Schedule::cron("fold", "30 1 * * *")
            .unwrap()
            .time_zone(NY)
            .unwrap();
        let fired = ticks(&s, at(NY, "2024-11-02T12:00"), at(NY, "2024-11-04T12:00"));
        // The 3rd has 01:30 twice (EDT, then EST): it fires once; the 4th once, in EST.
        assert_eq!(local(&s, &fired), ["01:30 EDT", "01:30 EST"]);
        let day = &fired[..1];
        assert_eq!(
            schedule_offsets(&s, day),
            [-4],
            "the first occurrence, in daylight time"
        );
    }

    fn schedule_offsets(s: &Schedule, ticks: &[u64]) -> Vec<i32> {
        ticks
            .iter()
            .map(|t| s.zoned(*t).unwrap().offset().seconds() / 3600)
            .collect()
    }

    #[test]
    fn an_interval_line_fires_every_real_quarter_hour_through_the_repeated_hour() {
        let s = Schedule::cron("quarter", "*/15 * * * *")
            .unwrap()
            .time_zone(NY)
            .unwrap();
        let from = at(NY, "2024-11-03T00:50");
        let fired = ticks(&s, from, from + 3 * 3_600_000);
        // 00:50 EDT + 3 real hours: 12 ticks, each 15 real minutes after the one before.
        assert_eq!(fired.len(), 12, "{:?}", local(&s, &fired));
        for pair in fired.windows(2) {
            assert_eq!(pair[1] - pair[0], 15 * 60_000);
        }
        let repeated: Vec<_> = local(&s, &fired)
            .into_iter()
            .filter(|t| t.starts_with("01:"))
            .collect();
        assert_eq!(
            repeated,
            [
                "01:00 EDT",
                "01:15 EDT",
                "01:30 EDT",
                "01:45 EDT",
                "01:00 EST",
                "01:15 EST",
                "01:30 EST",
                "01:45 EST"
            ]
        );
    }

    #[test]
    fn seconds_are_optional_and_a_bad_line_or_zone_names_the_schedule() {
        let s = Schedule::cron("secs", "*/1 * * * * *").unwrap();
        assert_eq!(s.next_tick(1_000), Some(2_000));
        assert_eq!(s.next_tick(1_500), Some(2_000));
        let error = Schedule::cron("nightly", "61 * * * *")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("schedule `nightly`")
                && error.contains("cron line")
                && error.contains("61 * * * *"),
            "{error}"
        );
        let error = Schedule::cron("nightly", "0 3 * * *")
            .unwrap()
            .time_zone("Mars/Olympus")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("schedule `nightly`")
                && error.contains("time zone")
                && error.contains("Mars/Olympus"),
            "{error}"
        );
        let error = Schedule::every("zero", Duration::ZERO)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("schedule `zero`") && error.contains("interval"),
            "{error}"
        );
        let error = Schedule::every("", Duration::from_secs(1))
            .unwrap_err()
            .to_string();
        assert!(error.contains("name"), "{error}");
    }

    #[test]
    fn intervals_tick_at_multiples_of_themselves() {
        let s = Schedule::every("every", Duration::from_secs(30)).unwrap();
        assert_eq!(s.next_tick(0), Some(30_000));
        assert_eq!(s.next_tick(29_999), Some(30_000));
        assert_eq!(s.next_tick(30_000), Some(60_000));
        assert_eq!(s.tick_at_or_before(59_999), Some(30_000));
    }

    #[test]
    fn missed_ticks_follow_the_policy() {
        let every = |missed| {
            Schedule::every("m", Duration::from_secs(1))
                .unwrap()
                .missed(missed)
        };
        let (last, now) = (100_000, 110_500); // ten ticks due: 101 s to 110 s
        let latest = every(Missed::Latest).plan(last, now);
        assert_eq!(
            (latest.fire, latest.dropped, latest.last, latest.next),
            (vec![110_000], 9, 110_000, Some(111_000))
        );
        let skip = every(Missed::Skip).plan(last, now);
        assert_eq!(
            (skip.fire, skip.dropped),
            (vec![110_000], 9),
            "the tick seen in time still fires"
        );
        let hourly = Schedule::every("h", Duration::from_secs(3_600))
            .unwrap()
            .missed(Missed::Skip);
        let late = hourly.plan(0, 3 * 3_600_000 + 120_000);
        assert_eq!(
            (late.fire.len(), late.dropped, late.last),
            (0, 3, 3 * 3_600_000),
            "none fires when all are late"
        );
        let all = every(Missed::All { max: 4 }).plan(last, now);
        assert_eq!(
            (all.fire, all.dropped),
            (vec![107_000, 108_000, 109_000, 110_000], 6)
        );
        let every_one = every(Missed::All { max: 1_000 }).plan(last, now);
        assert_eq!(
            every_one.fire,
            (101..=110).map(|s| s * 1000).collect::<Vec<_>>()
        );
        let none = every(Missed::All { max: 5 }).plan(110_000, 110_900);
        assert_eq!(
            (none.fire.len(), none.last, none.next),
            (0, 110_000, Some(111_000))
        );
    }

    #[test]
    fn cron_plans_count_and_fire_like_intervals() {
        let s = Schedule::cron("c", "*/10 * * * * *")
            .unwrap()
            .missed(Missed::All { max: 3 });
        let plan = s.plan(0, 95_000);
        assert_eq!(
            (plan.fire, plan.dropped, plan.last),
            (vec![70_000, 80_000, 90_000], 6, 90_000)
        );
    }

    #[test]
    fn the_spec_reads_back_and_tick_ids_are_stable() {
        let s = Schedule::cron("s", "0 3 * * *")
            .unwrap()
            .time_zone("Europe/Berlin")
            .unwrap()
            .missed(Missed::All { max: 7 })
            .overlap(Overlap::Skip);
        let back = Schedule::from_spec("s", &s.spec()).unwrap();
        assert_eq!(back.spec(), s.spec());
        assert_eq!(
            (back.missed_policy(), back.overlap_policy(), back.zone()),
            (Missed::All { max: 7 }, Overlap::Skip, "Europe/Berlin")
        );
        let e = Schedule::every("e", Duration::from_millis(1500)).unwrap();
        assert_eq!(
            Schedule::from_spec("e", &e.spec()).unwrap().interval(),
            Some(Duration::from_millis(1500))
        );
        assert!(
            Schedule::from_spec("x", "{}")
                .unwrap_err()
                .to_string()
                .contains("schedule `x`")
        );
        let id = crate::JobId::for_tick("s", 60_000);
        assert_eq!(id, crate::JobId::for_tick("s", 60_000));
        assert_ne!(id, crate::JobId::for_tick("s", 120_000));
        assert_ne!(id, crate::JobId::for_tick("t", 60_000));
        assert_eq!(
            id.to_string(),
            crate::JobId::for_tick("s", 60_000).to_string()
        );
    }
}
