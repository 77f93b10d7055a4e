//! Schedules: storing, reading and changing them, and the scheduler that fires their ticks.
//!
//! A schedule lives on one shard: its job's resource's or unique key's shard when the job has
//! one (the tick's job is inserted there, in the same script), else its name's.

use std::future::Future;
use std::time::Duration;

use job_core::{JobId, NewJob, Schedule, ScheduleError};

use super::Client;
use crate::error::chain;
use crate::schedule::{FireOutcome, ScheduleInfo, Upserted};
use crate::scripts::schedules::{self, Change, Claimed, Fired, Firing};
use crate::scripts::{Site, millis};
use crate::{Error, Result};

/// How long a scheduler holds the schedules it claimed: another scheduler takes a schedule
/// over when the one that claimed it died before it fired.
const CLAIM: Duration = Duration::from_secs(30);
/// The most schedules one call claims.
const CLAIM_MAX: usize = 100;
/// The most ticks one call fires, so no call runs long.
const TICKS_MAX: usize = 100;
/// The longest a scheduler sleeps with nothing due (it wakes sooner for a tick, and at once
/// when a schedule changes).
const IDLE_MAX: Duration = Duration::from_secs(30);
/// Redis ends a blocking wait up to 100 ms after its timeout (at its next `hz` tick): a wait
/// for a tick blocks until this much before it, then sleeps on this host's timer.
const BLOCK_SLACK: Duration = Duration::from_millis(110);
/// How many fires [`Client::schedules`] reads per schedule.
const FIRES_SHOWN: usize = 20;
/// How many schedules one list call reads (with their fires and their jobs' states: about
/// 2 ms).
const PAGE: usize = 50;

impl Client {
    /// Stores `schedule`, or changes the stored one of its name. Idempotent: the same schedule
    /// changes nothing. A changed spec or job counts its ticks from now, and no tick planned
    /// from the old one fires after the change. Wakes the schedulers.
    ///
    /// # Errors
    ///
    /// [`Error::Job`] with [`job_core::Error::Schedule`] for a schedule without a job, or with a
    /// job that cannot be stored (a bad name, too large), or that lives on another shard than
    /// its job would now (remove it first); connection errors.
    pub async fn upsert_schedule(&self, schedule: &Schedule) -> Result<Upserted> {
        let name = schedule.name();
        let job = schedule
            .template()
            .ok_or_else(|| invalid(name, "job", "no job set (Schedule::job)"))?;
        self.check_job(job)
            .map_err(|error| invalid(name, "job", chain(&error)))?;
        let home = self.schedule_home(name, job);
        for shard in self.shards_from(name).filter(|shard| *shard != home) {
            if self.find(shard, name).await?.is_some() {
                return Err(invalid(
                    name,
                    "job",
                    "the schedule is stored on another shard than its job's resource or unique key would put it now; remove it first",
                ));
            }
        }
        schedules::upsert(self.site(home), schedule, job)
            .await
            .map_err(|error| self.at_server(error))
    }

    /// Every stored schedule, in name order, each with its latest 20 fires.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn schedules(&self) -> Result<Vec<ScheduleInfo>> {
        let mut all = Vec::new();
        for (shard, _) in self.shards().iter() {
            let mut after = String::from("-");
            loop {
                let page = schedules::list(self.site(shard), (&after, "+"), PAGE, FIRES_SHOWN)
                    .await
                    .map_err(|error| self.at_server(error))?;
                let full = page.len() == PAGE;
                if let Some(last) = page.last() {
                    after = format!("({}", last.schedule.name());
                }
                all.extend(page);
                if !full {
                    break;
                }
            }
        }
        all.sort_by(|a, b| a.schedule.name().cmp(b.schedule.name()));
        Ok(all)
    }

    /// The stored schedule named `name`, with its latest 20 fires, or `None`.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn schedule(&self, name: &str) -> Result<Option<ScheduleInfo>> {
        for shard in self.shards_from(name) {
            if let Some(info) = self.find(shard, name).await? {
                return Ok(Some(info));
            }
        }
        Ok(None)
    }

    /// Pauses a schedule: no tick fires until it is resumed. Returns whether it exists.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn pause_schedule(&self, name: &str) -> Result<bool> {
        Ok(self.change(name, Change::Pause).await?.is_some())
    }

    /// Resumes a paused schedule: its ticks count from now (those that fell while it was
    /// paused never fire). Returns whether it exists.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn resume_schedule(&self, name: &str) -> Result<bool> {
        Ok(self.change(name, Change::Resume).await?.is_some())
    }

    /// Removes a schedule; the jobs it made stay. Returns whether it existed.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn remove_schedule(&self, name: &str) -> Result<bool> {
        Ok(self.change(name, Change::Remove).await?.is_some())
    }

    /// Inserts a schedule's job now, outside its ticks (paused or not, overlapping or not).
    /// Returns the id of the job that will run: the new one, or the live job that holds the
    /// template's unique key; `None` when no such schedule exists.
    ///
    /// # Errors
    ///
    /// [`Error::Refused`] when the job was refused (its resource will not exist); connection
    /// errors.
    pub async fn trigger_schedule(&self, name: &str) -> Result<Option<JobId>> {
        let id = JobId::new();
        match self.change(name, Change::Trigger(id)).await? {
            None => Ok(None),
            Some(FireOutcome::Duplicate(live)) => Ok(Some(live)),
            Some(FireOutcome::Refused(reason)) => Err(Error::Refused {
                id,
                job_type: String::new(),
                reason,
            }),
            Some(_) => Ok(Some(id)),
        }
    }

    /// Runs a scheduler until `shutdown` resolves: fires every schedule's ticks as they fall
    /// due, by the Redis clock. Any number of schedulers may run (every worker runs one unless
    /// told not to); each tick fires once. Sleeps until the earliest next tick, and wakes when
    /// a schedule changes. Errors are logged and retried with backoff.
    ///
    /// # Errors
    ///
    /// None yet: the result leaves room for errors that stop it.
    pub async fn run_schedules(&self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut failures = 0u32;
        loop {
            let turn = tokio::select! {
                turn = self.schedule_turn() => turn,
                () = &mut shutdown => return Ok(()),
            };
            let pause = match turn {
                Ok(None) => continue,
                Ok(Some(wait)) => {
                    failures = 0;
                    wait
                }
                Err(error) => {
                    failures += 1;
                    tracing::warn!(error = %chain(&error), "scheduler failed; retrying");
                    Duration::from_millis(50u64 << failures.min(7)).min(Duration::from_secs(5))
                }
            };
            tokio::select! {
                () = self.sleep_for_tick(pause) => {}
                () = &mut shutdown => return Ok(()),
            }
        }
    }

    /// Sleeps `wait`, or less when a schedule changes meanwhile: a blocking wait on the
    /// schedulers' markers until shortly before, then this host's timer (Redis would end the
    /// wait up to 100 ms late).
    async fn sleep_for_tick(&self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        if wait > BLOCK_SLACK + Duration::from_millis(40) {
            let blocked = self
                .inner
                .waits
                .wait_for_schedules(wait - BLOCK_SLACK)
                .await;
            if let Err(error) = blocked {
                tracing::warn!(error = %chain(&error), "waiting for schedules failed");
            } else if tokio::time::Instant::now() + BLOCK_SLACK < deadline {
                return; // a schedule changed
            }
        }
        tokio::time::sleep_until(deadline).await;
    }

    /// One pass over every shard: fires every due schedule. Returns how long to wait for the
    /// next tick, or `None` when more are due now.
    async fn schedule_turn(&self) -> Result<Option<Duration>> {
        let mut wait = IDLE_MAX;
        let mut more = false;
        for (shard, _) in self.shards().iter() {
            let site = self.site(shard);
            let due = schedules::due(site, CLAIM_MAX, millis(CLAIM))
                .await
                .map_err(|error| self.at_server(error))?;
            more |= due.claimed.len() == CLAIM_MAX;
            let mut soonest = due.next;
            for claimed in &due.claimed {
                let next = self.fire_claimed(site, due.now, claimed).await?;
                soonest = match (soonest, next) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            if let Some(at) = soonest {
                wait = wait.min(Duration::from_millis(at.saturating_sub(due.now)));
            }
        }
        Ok((!more).then_some(wait))
    }

    /// Plans a claimed schedule's ticks from its last one to `now` and fires them, a bounded
    /// step at a time. Returns its next tick.
    async fn fire_claimed(
        &self,
        site: Site<'_>,
        now: u64,
        claimed: &Claimed,
    ) -> Result<Option<u64>> {
        let schedule = match Schedule::from_spec(&claimed.name, &claimed.spec) {
            Ok(schedule) => schedule,
            Err(error) => {
                // Left claimed: looked at again when the claim runs out.
                tracing::error!(error = %chain(&error), "a stored schedule does not read back");
                return Ok(None);
            }
        };
        let last: u64 = claimed.last.parse().unwrap_or(0);
        let plan = schedule.plan(last, now);
        let ticks: Vec<(u64, JobId)> = plan
            .fire
            .iter()
            .map(|tick| (*tick, JobId::for_tick(&claimed.name, *tick)))
            .collect();
        let steps: Vec<&[(u64, JobId)]> = if ticks.is_empty() {
            vec![&[]]
        } else {
            ticks.chunks(TICKS_MAX).collect()
        };
        let mut expected = claimed.last.clone();
        for (i, step) in steps.iter().enumerate() {
            let done = i + 1 == steps.len();
            let firing = Firing {
                claimed,
                expected_last: &expected,
                ticks: step,
                new_last: if done {
                    plan.last
                } else {
                    step.last().map_or(plan.last, |(tick, _)| *tick)
                },
                // Between steps it stays due, for this scheduler or the next.
                next: if done { plan.next } else { Some(now) },
                dropped: if done { plan.dropped } else { 0 },
            };
            match schedules::fire(site, &firing)
                .await
                .map_err(|error| self.at_server(error))?
            {
                Fired::Done(outcomes) => {
                    tracing::debug!(schedule = %claimed.name, ticks = outcomes.len(), dropped = firing.dropped, "schedule fired");
                    expected = firing.new_last.to_string();
                }
                Fired::Stale | Fired::Gone => return Ok(None),
            }
        }
        Ok(plan.next)
    }

    /// The shard a schedule lives on (see the module's notes).
    fn schedule_home(&self, name: &str, job: &NewJob) -> usize {
        let shards = self.shards();
        if let Some(resource) = job.resource() {
            shards.owner(resource)
        } else if let Some(key) = job.unique_key() {
            shards.owner(&format!("{}\0{key}", job.name()))
        } else {
            shards.owner(name)
        }
    }

    /// The schedule `name` on shard `shard`, if it is there.
    async fn find(&self, shard: usize, name: &str) -> Result<Option<ScheduleInfo>> {
        let exact = format!("[{name}");
        let found = schedules::list(self.site(shard), (&exact, &exact), 1, FIRES_SHOWN)
            .await
            .map_err(|error| self.at_server(error))?;
        Ok(found.into_iter().next())
    }

    /// Applies `change` to the schedule `name`, wherever it lives; `None` when it is nowhere.
    async fn change(&self, name: &str, change: Change) -> Result<Option<FireOutcome>> {
        for shard in self.shards_from(name) {
            let answer = schedules::change(self.site(shard), name, change)
                .await
                .map_err(|error| self.at_server(error))?;
            if answer.is_some() {
                return Ok(answer);
            }
        }
        Ok(None)
    }
}

fn invalid(name: &str, field: &'static str, problem: impl std::fmt::Display) -> Error {
    Error::Job(job_core::Error::Schedule(ScheduleError::new(
        name, field, problem,
    )))
}
