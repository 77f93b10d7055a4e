//! The chaos run shared by `examples/chaos.rs` (`cargo run --release --example chaos -- --jobs
//! 100000`) and `tests/chaos.rs` (the same run, small).
//!
//! One coordinator process:
//!
//! 1. starts a `redis-server` of its own (or, with `--cluster`, three cluster masters), with AOF
//!    and `appendfsync always`, so nothing Redis acknowledged is lost across a restart;
//! 2. starts worker processes: this program again, told by [`ROLE_VAR`] to run a
//!    [`job_core::Worker`] over the chaos job types until its stdin closes; each reaches Redis
//!    through a [`StallProxy`] of its own (every connection of its client; its facts connection
//!    is direct);
//! 3. enqueues the workload: jobs that decide from their own arguments what each attempt does
//!    (complete, fail temporarily, fail for good, panic, stall past the timeout, REPLACE
//!    themselves, work past the lease without watching for cancellation), some bound to
//!    resources with a sequence number, some unique, with duplicates;
//! 4. kills worker processes with SIGKILL, restarts Redis, and stalls a busy worker's proxy for
//!    three leases (a hung connection, not a dead one) as the jobs progress;
//! 5. waits until no job is live, stops the workers, reads every structure of the namespace and
//!    every recorded fact, and checks the invariants: [`run`] returns the [`Report`].
//!
//! Facts live in the same Redis under `chaos:{facts}:` (one hash tag, so one node in cluster
//! mode): every handler execution records its start and its end (wall-clock microseconds, with
//! its process: no two executions of one job may overlap), and [`Recording`], a [`Backend`]
//! wrapped around the client, records every lease it was granted and every transition Redis
//! accepted, with tokens.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

#[path = "proxy.rs"]
mod proxy;
#[path = "redis_server.rs"]
mod redis_server;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use job::backend::{
    Ack, Backend, Completion, FailureNote, Grab, Grabbed, GrabbedJob, Lease, Release,
};
use job::redis::{Client, Config, Retention};
use job::{Context, Failure, FailureRecord, Inserted, Job, JobId, JobSet, NewJob, Outcome, Run};
use redis::Value;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};

use self::proxy::StallProxy;
use self::redis_server::RedisServer;

/// The namespace of the run's jobs (the Redis is private, so a fixed name is safe).
const NAMESPACE: &str = "jobs";
/// The namespace of the schedule that every worker process's scheduler fires while processes
/// are killed, stalled and Redis restarts; no worker runs its jobs, so every tick's job stays.
const TICKS_NAMESPACE: &str = "ticks";
/// The schedule: every second, every missed tick fired.
const TICK_SCHEDULE: &str = "chaos.tick";
/// The prefix of every fact key; one hash tag, so one cluster node holds them all.
const FACTS: &str = "chaos:{facts}:";
/// The environment variable that makes a process of this program a worker.
pub const ROLE_VAR: &str = "CHAOS_ROLE";
const URL_VAR: &str = "CHAOS_URL";
const FACTS_URL_VAR: &str = "CHAOS_FACTS_URL";
const CONCURRENCY_VAR: &str = "CHAOS_CONCURRENCY";
/// The lease of every chaos job (also set on each type): the jobs of a killed worker come back
/// within seconds.
const LEASE: Duration = Duration::from_secs(2);
/// How long a stall hangs a worker's connections: three leases, so every lease it holds runs
/// out meanwhile and other workers take its jobs.
const STALL: Duration = Duration::from_secs(6);
/// How a planned panic's message starts; the worker's panic hook keeps these quiet.
const PLANNED_PANIC: &str = "chaos: planned panic";
/// Retention large enough that no ended job is pruned before the check.
const KEEP_ALL: Retention = Retention::new(1 << 40, Duration::from_secs(7 * 86_400));
/// Jobs per insert call.
const BATCH: usize = 250;
/// How long connecting (to a Redis that may be restarting) is retried.
const CONNECT_PATIENCE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// Options

const USAGE: &str = "usage: chaos [--jobs N] [--workers N] [--concurrency N] [--kills N] \
                     [--redis-restarts N] [--stalls N] [--seed N] [--deadline SECS] [--cluster]";

/// Jobs per stall when `--stalls` is not given.
const JOBS_PER_STALL: usize = 20_000;

/// How big and how rough a run is.
#[derive(Clone, Debug)]
pub struct Options {
    /// Jobs the run enqueues (REPLACE children and deliberate duplicates come on top).
    pub jobs: usize,
    /// Worker processes running at once.
    pub workers: usize,
    /// Jobs each worker process runs at once.
    pub concurrency: usize,
    /// Worker processes killed with SIGKILL (each is started again at once).
    pub kills: usize,
    /// Times Redis (in cluster mode: one master) is killed with SIGKILL and started again.
    pub redis_restarts: usize,
    /// Times a busy worker's proxy stalls (for [`STALL`]): its connections hang.
    pub stalls: usize,
    /// Three masters with `--cluster-enabled yes` instead of one server.
    pub cluster: bool,
    /// Seeds the workload (what every job does) and the chaos schedule.
    pub seed: u64,
    /// How long the jobs may take to end after the last chaos event.
    pub drain_deadline: Duration,
}

impl Options {
    /// The example's defaults: 100,000 jobs, 4 workers of 20, 10 kills, 2 Redis restarts, 5
    /// stalls.
    #[must_use]
    pub fn full() -> Self {
        Self {
            jobs: 100_000,
            workers: 4,
            concurrency: 20,
            kills: 10,
            redis_restarts: 2,
            stalls: 100_000 / JOBS_PER_STALL,
            cluster: false,
            seed: seed_from_env(),
            drain_deadline: Duration::from_secs(120),
        }
    }

    /// The test's size: 2,000 jobs, 3 workers of 20, 2 kills, 1 Redis restart, 1 stall.
    #[must_use]
    pub fn small() -> Self {
        Self {
            jobs: 2_000,
            workers: 3,
            kills: 2,
            redis_restarts: 1,
            stalls: 1,
            drain_deadline: Duration::from_secs(30),
            ..Self::full()
        }
    }

    /// Reads command-line flags over [`Options::full`]. Without `--stalls`, one stall per
    /// 20,000 jobs (at least one): each takes a worker away for [`STALL`].
    ///
    /// # Errors
    ///
    /// A message with the usage, for an unknown flag or a value that is not a number.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut options = Self::full();
        let mut stalls = None;
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            if flag == "--cluster" {
                options.cluster = true;
                continue;
            }
            let value = args
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
            let number: u64 = value
                .parse()
                .map_err(|_| format!("{flag}: `{value}` is not a number\n{USAGE}"))?;
            let count = usize::try_from(number).map_err(|_| format!("{flag}: too large"))?;
            match flag.as_str() {
                "--jobs" => options.jobs = count.max(1),
                "--workers" => options.workers = count.max(1),
                "--concurrency" => options.concurrency = count.max(1),
                "--kills" => options.kills = count,
                "--redis-restarts" => options.redis_restarts = count,
                "--stalls" => stalls = Some(count),
                "--seed" => options.seed = number,
                "--deadline" => options.drain_deadline = Duration::from_secs(number),
                _ => return Err(format!("unknown option `{flag}`\n{USAGE}")),
            }
        }
        options.stalls = stalls.unwrap_or((options.jobs / JOBS_PER_STALL).max(1));
        Ok(options)
    }
}

/// `CHAOS_SEED` when set (to replay a run's workload and schedule), else a fresh seed.
fn seed_from_env() -> u64 {
    std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..))
}

// ---------------------------------------------------------------------------------------------
// The jobs, and the plan each one's arguments spell out

/// A job that may fail, panic or stall before it completes or fails for good.
#[derive(Job, Serialize, Deserialize, Clone, Debug)]
#[job(
    name = "chaos.plain",
    max_attempts = 5,
    backoff(fixed = "100ms"),
    lease = "2s",
    timeout = "1s"
)]
pub struct Plain {
    pub dice: u64,
}

/// A job that REPLACEs itself with children (trees and plain jobs) until `MAX_DEPTH`.
#[derive(Job, Serialize, Deserialize, Clone, Debug)]
#[job(
    name = "chaos.tree",
    max_attempts = 5,
    backoff(fixed = "100ms"),
    lease = "2s",
    timeout = "1s"
)]
pub struct Tree {
    pub dice: u64,
    pub depth: u8,
}

/// A job bound to a resource, carrying its place in the resource's sequence; generous
/// attempts, so every one completes.
#[derive(Job, Serialize, Deserialize, Clone, Debug)]
#[job(
    name = "chaos.step",
    resource = "resource",
    max_attempts = 30,
    backoff(fixed = "50ms"),
    lease = "2s",
    timeout = "1s"
)]
pub struct Step {
    pub resource: String,
    pub seq: u32,
    pub dice: u64,
    pub generation: u8,
}

/// A unique job: while one with the same key is live, another is a duplicate.
#[derive(Job, Serialize, Deserialize, Clone, Debug)]
#[job(
    name = "chaos.once",
    unique = "key",
    max_attempts = 5,
    backoff(fixed = "100ms"),
    lease = "2s",
    timeout = "1s"
)]
pub struct Once {
    pub key: u64,
    pub dice: u64,
}

/// A job that works longer than its lease and never looks at `cx.cancelled()` (like a handler
/// stuck in a call it cannot interrupt): only renewals keep its lease, so a worker cut off from
/// Redis must stop it before the lease runs out and another worker takes the job.
#[derive(Job, Serialize, Deserialize, Clone, Debug)]
#[job(
    name = "chaos.slow",
    max_attempts = 5,
    backoff(fixed = "100ms"),
    lease = "2s",
    timeout = "10s"
)]
pub struct Slow {
    pub dice: u64,
}

/// Every chaos job type.
#[derive(JobSet, Clone, Debug)]
pub enum ChaosJob {
    Plain(Plain),
    Tree(Tree),
    Step(Step),
    Once(Once),
    Slow(Slow),
}

/// How deep REPLACE trees grow.
const MAX_DEPTH: u8 = 2;

/// What one attempt does after its work.
#[derive(Clone, Debug)]
pub enum Act {
    Complete,
    Replace(Vec<ChaosJob>),
    /// `Failure::retry`.
    Retry,
    /// `Failure::fatal`.
    Fatal,
    Panic,
    /// Runs past the type's timeout (until cancelled).
    Stall,
}

/// A job's script: the faults of its first attempts, then what every later attempt does.
#[derive(Clone, Debug)]
pub struct Plan {
    faults: Vec<Act>,
    then: Act,
    work: Duration,
    max_attempts: u32,
}

/// How a job must end, by its plan.
#[derive(Debug)]
pub enum Ending<'a> {
    /// Completed, having REPLACEd itself with these children (none for a plain completion).
    Completed(&'a [ChaosJob]),
    Failed,
}

impl Plan {
    /// What attempt `attempt` (from 1) does.
    pub fn act(&self, attempt: u32) -> &Act {
        let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
        self.faults.get(index).unwrap_or(&self.then)
    }

    /// How the job ends when each attempt does what the plan says.
    pub fn ending(&self) -> Ending<'_> {
        for attempt in 1..=self.max_attempts {
            match self.act(attempt) {
                Act::Complete => return Ending::Completed(&[]),
                Act::Replace(children) => return Ending::Completed(children),
                Act::Fatal => return Ending::Failed,
                Act::Retry | Act::Panic | Act::Stall => {}
            }
        }
        Ending::Failed
    }
}

/// A job's dice: every decision about a job is a roll of its `dice` argument, so its arguments
/// decide what it does on each attempt, the same in every process.
#[derive(Clone, Copy, Debug)]
struct Dice(u64);

impl Dice {
    /// A number in `0..sides`, the same for the same dice and salt.
    fn roll(self, salt: u64, sides: u64) -> u64 {
        mix(self.0 ^ mix(salt)) % sides.max(1)
    }

    /// Dice for a child or a sibling.
    fn derive(self, salt: u64) -> u64 {
        mix(self.0.wrapping_add(mix(salt)))
    }

    /// Up to `most` faults for the first attempts: most jobs none; panics and retries, rarely a
    /// stall (each costs a slot for the whole timeout).
    fn faults(self, most: u64, stalls: bool) -> Vec<Act> {
        let count = match self.roll(1, 10) {
            0..=5 => 0,
            6..=8 => 1,
            _ => 2,
        };
        (0..count.min(most))
            .map(|i| match self.roll(10 + i, 100) {
                0..=1 if stalls => Act::Stall,
                0..=39 => Act::Panic,
                _ => Act::Retry,
            })
            .collect()
    }

    /// How long an attempt works: mostly a few milliseconds, one in twenty 50-100 ms.
    fn work(self) -> Duration {
        let ms = if self.roll(2, 20) == 0 {
            50 + self.roll(3, 50)
        } else {
            self.roll(3, 8)
        };
        Duration::from_millis(ms)
    }
}

/// SplitMix64's finaliser: a well-mixed 64-bit hash.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Plain {
    fn plan(&self) -> Plan {
        let dice = Dice(self.dice);
        let max_attempts = Self::OPTIONS.max_attempts();
        let roll = dice.roll(4, 100);
        let faults = if roll < 4 {
            // Exhausts its attempts: fails for good after the last retry.
            (0..u64::from(max_attempts))
                .map(|i| match dice.roll(20 + i, 2) {
                    0 => Act::Panic,
                    _ => Act::Retry,
                })
                .collect()
        } else {
            dice.faults(2, true)
        };
        let then = if roll < 10 { Act::Fatal } else { Act::Complete };
        Plan {
            faults,
            then,
            work: dice.work(),
            max_attempts,
        }
    }
}

impl Tree {
    fn plan(&self) -> Plan {
        let dice = Dice(self.dice);
        let then = if self.depth < MAX_DEPTH {
            let count = 1 + dice.roll(5, 3);
            Act::Replace((0..count).map(|i| self.child(i)).collect())
        } else {
            Act::Complete
        };
        Plan {
            faults: dice.faults(1, true),
            then,
            work: dice.work(),
            max_attempts: Self::OPTIONS.max_attempts(),
        }
    }

    /// Child `i`: trees and plain jobs in turn.
    fn child(&self, i: u64) -> ChaosJob {
        let dice = Dice(self.dice).derive(100 + i);
        if i.is_multiple_of(2) {
            ChaosJob::Tree(Self {
                dice,
                depth: self.depth + 1,
            })
        } else {
            ChaosJob::Plain(Plain { dice })
        }
    }
}

impl Step {
    fn plan(&self) -> Plan {
        let dice = Dice(self.dice);
        // One in ten first-generation steps REPLACEs itself with a step of the same resource
        // and sequence number, which takes its place at the head of the resource's queue.
        let then = if self.generation == 0 && dice.roll(6, 10) == 0 {
            Act::Replace(vec![ChaosJob::Step(Self {
                resource: self.resource.clone(),
                seq: self.seq,
                dice: dice.derive(7),
                generation: 1,
            })])
        } else {
            Act::Complete
        };
        Plan {
            faults: dice.faults(2, true),
            then,
            work: Duration::from_millis(dice.roll(8, 20)),
            max_attempts: Self::OPTIONS.max_attempts(),
        }
    }
}

impl Once {
    fn plan(&self) -> Plan {
        let dice = Dice(self.dice);
        Plan {
            faults: dice.faults(1, false),
            then: Act::Complete,
            // Long enough that a later duplicate often finds it live.
            work: Duration::from_millis(10 + dice.roll(9, 50)),
            max_attempts: Self::OPTIONS.max_attempts(),
        }
    }
}

impl Slow {
    fn plan(&self) -> Plan {
        let dice = Dice(self.dice);
        Plan {
            faults: Vec::new(),
            then: Act::Complete,
            // 3-5 s: past the 2 s lease, well within the 10 s timeout.
            work: Duration::from_millis(3_000 + dice.roll(11, 2_000)),
            max_attempts: Self::OPTIONS.max_attempts(),
        }
    }

    /// Whether a job is one of these (its executions are the ones a stall is aimed at).
    fn is(job: &ChaosJob) -> bool {
        matches!(job, ChaosJob::Slow(_))
    }
}

impl ChaosJob {
    /// The job's plan, from its arguments.
    pub fn plan(&self) -> Plan {
        match self {
            Self::Plain(job) => job.plan(),
            Self::Tree(job) => job.plan(),
            Self::Step(job) => job.plan(),
            Self::Once(job) => job.plan(),
            Self::Slow(job) => job.plan(),
        }
    }

    /// The job, encoded for an insert or a REPLACE.
    ///
    /// # Errors
    ///
    /// When serde cannot encode it (it always can).
    pub fn to_new_job(&self) -> Result<NewJob, job::Error> {
        match self {
            Self::Plain(job) => NewJob::new(job),
            Self::Tree(job) => NewJob::new(job),
            Self::Step(job) => NewJob::new(job),
            Self::Once(job) => NewJob::new(job),
            Self::Slow(job) => NewJob::new(job),
        }
    }

    /// The resource and sequence number of a resource-bound job.
    fn sequence(&self) -> Option<(&str, u32)> {
        match self {
            Self::Step(step) => Some((&step.resource, step.seq)),
            _ => None,
        }
    }

    /// The unique key of a unique job.
    fn unique(&self) -> Option<u64> {
        match self {
            Self::Once(once) => Some(once.key),
            _ => None,
        }
    }

    /// How many jobs this one stands for when it runs to plan: itself and its descendants.
    fn planned_size(&self) -> usize {
        match self.plan().ending() {
            Ending::Completed(children) => {
                1 + children.iter().map(Self::planned_size).sum::<usize>()
            }
            Ending::Failed => 1,
        }
    }
}

/// Runs one attempt: records its start, works (not watching for cancellation), then does what
/// the plan says for the attempt. Its end is recorded when `execution` drops, however the
/// attempt ends: returned, panicked, or dropped with its aborted task.
async fn perform(cx: &Context<Facts>, job: ChaosJob) -> Result<Outcome, Failure> {
    let execution = cx.state().execution(Slow::is(&job));
    let plan = job.plan();
    if !cx.state().started(cx, &execution, job.sequence()).await {
        // Its end is recorded all the same: the start may have been written anyway.
        return Err(Failure::retry(
            "chaos: stopped before the start was recorded",
        ));
    }
    tokio::time::sleep(plan.work).await;
    let attempt = cx.attempt();
    match plan.act(attempt) {
        Act::Complete => Ok(Outcome::complete()),
        Act::Replace(children) => {
            let children = children
                .iter()
                .map(ChaosJob::to_new_job)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Outcome::replace_with(children))
        }
        Act::Retry => Err(Failure::retry(format!(
            "chaos: planned failure on attempt {attempt}"
        ))),
        Act::Fatal => Err(Failure::fatal("chaos: planned permanent failure")),
        Act::Panic => panic!("{PLANNED_PANIC} on attempt {attempt}"),
        Act::Stall => {
            tokio::select! {
                () = cx.cancelled() => {}
                () = tokio::time::sleep(Duration::from_secs(30)) => {}
            }
            Err(Failure::retry("chaos: stalled past the timeout"))
        }
    }
}

impl Run<Facts> for Plain {
    async fn run(self, cx: &Context<Facts>) -> Result<Outcome, Failure> {
        perform(cx, ChaosJob::Plain(self)).await
    }
}

impl Run<Facts> for Tree {
    async fn run(self, cx: &Context<Facts>) -> Result<Outcome, Failure> {
        perform(cx, ChaosJob::Tree(self)).await
    }
}

impl Run<Facts> for Step {
    async fn run(self, cx: &Context<Facts>) -> Result<Outcome, Failure> {
        perform(cx, ChaosJob::Step(self)).await
    }
}

impl Run<Facts> for Once {
    async fn run(self, cx: &Context<Facts>) -> Result<Outcome, Failure> {
        perform(cx, ChaosJob::Once(self)).await
    }
}

impl Run<Facts> for Slow {
    async fn run(self, cx: &Context<Facts>) -> Result<Outcome, Failure> {
        perform(cx, ChaosJob::Slow(self)).await
    }
}

// ---------------------------------------------------------------------------------------------
// Facts: what the handlers and the recording backend saw, kept in Redis

/// A transition Redis accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Complete,
    Replace,
    /// `perm_fail`.
    Fatal,
    /// `temp_fail` answered "retry".
    Retry,
    /// `temp_fail` answered "failed": the attempts are spent.
    Exhausted,
    Release,
}

impl Op {
    const ALL: [Self; 6] = [
        Self::Complete,
        Self::Replace,
        Self::Fatal,
        Self::Retry,
        Self::Exhausted,
        Self::Release,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Replace => "replace",
            Self::Fatal => "fatal",
            Self::Retry => "retry",
            Self::Exhausted => "exhausted",
            Self::Release => "release",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.as_str() == text)
    }

    /// Whether it ends the job: afterwards no lease on the job may ever be granted again.
    fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Complete | Self::Replace | Self::Fatal | Self::Exhausted
        )
    }
}

/// The facts store: sets under [`FACTS`], so a write retried after a lost reply is counted
/// once (each member carries a fresh id where two identical facts could be true), and the ends
/// of executions in a hash (start id to end).
#[derive(Clone)]
pub struct Facts {
    conn: ConnectionManager,
    /// In a worker process: its executions.
    executions: Arc<Executions>,
}

/// The handler executions of one worker process: those running, and the ends not written yet.
#[derive(Debug, Default)]
struct Executions {
    /// Running executions: start id to (start, whether the job is [`Slow`]).
    running: Mutex<HashMap<String, (u64, bool)>>,
    /// Ends noted and not written yet: start id, end.
    ends: Mutex<Vec<(String, u64)>>,
    /// Wakes the writer when an end is noted.
    noted: tokio::sync::Notify,
    /// Held while ends are written, so the last flush waits for one under way.
    writing: tokio::sync::Mutex<()>,
}

/// One handler execution, from its start until it is dropped: its drop notes its end, however
/// the execution ends (the handler returns or panics, or its task is aborted and the future
/// dropped), and the worker's writer writes it (see [`Facts::keep_writing`]).
struct Execution {
    executions: Arc<Executions>,
    nonce: String,
    start: u64,
}

impl Drop for Execution {
    fn drop(&mut self) {
        let end = wall_micros();
        if let Ok(mut running) = self.executions.running.lock() {
            running.remove(&self.nonce);
        }
        if let Ok(mut ends) = self.executions.ends.lock() {
            ends.push((std::mem::take(&mut self.nonce), end));
        }
        self.executions.noted.notify_one();
    }
}

/// What a worker reports about itself, for the coordinator to aim stalls at busy workers.
#[derive(Clone, Copy, Debug)]
struct Busy {
    /// Executions running.
    running: usize,
    /// Executions of [`Slow`] jobs running that started less than a second ago.
    fresh_slow: usize,
    /// When it reported.
    at: u64,
}

/// Microseconds since the Unix epoch: every process of a run reads the same clock.
fn wall_micros() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
        })
}

impl fmt::Debug for Facts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Facts")
    }
}

impl Facts {
    /// Connects to the node that holds the facts.
    ///
    /// # Errors
    ///
    /// When it does not answer within [`CONNECT_PATIENCE`].
    pub async fn connect(url: &str) -> Result<Self, String> {
        Ok(Self {
            conn: manager(url).await?,
            executions: Arc::default(),
        })
    }

    /// An execution starting now in this process.
    fn execution(&self, slow: bool) -> Execution {
        let (nonce, start) = (nonce(), wall_micros());
        if let Ok(mut running) = self.executions.running.lock() {
            running.insert(nonce.clone(), (start, slow));
        }
        Execution {
            executions: Arc::clone(&self.executions),
            nonce,
            start,
        }
    }

    /// Records a handler's start: `nonce id attempt token resource seq pid start`. Gives up
    /// (false) when the handler is cancelled first.
    async fn started(
        &self,
        cx: &Context<Self>,
        execution: &Execution,
        sequence: Option<(&str, u32)>,
    ) -> bool {
        let (resource, seq) = sequence.map_or(("-".to_owned(), "-".to_owned()), |(r, s)| {
            (r.to_owned(), s.to_string())
        });
        let fact = format!(
            "{} {} {} {} {resource} {seq} {} {}",
            execution.nonce,
            cx.id(),
            cx.attempt(),
            cx.token(),
            std::process::id(),
            execution.start,
        );
        self.add("starts", &[fact], cx.cancelled()).await
    }

    /// In a worker process, forever: writes the ends of executions as they are noted, and
    /// reports every 100 ms how busy the process is (`busy`: pid to `running fresh_slow at`).
    async fn keep_writing(self) {
        let mut reported = Instant::now();
        loop {
            let _ =
                tokio::time::timeout(Duration::from_millis(100), self.executions.noted.notified())
                    .await;
            self.write_ends().await;
            if reported.elapsed() >= Duration::from_millis(100) {
                reported = Instant::now();
                let busy = self.busyness();
                let mut conn = self.conn.clone();
                let _: redis::RedisResult<i64> = redis::cmd("HSET")
                    .arg(format!("{FACTS}busy"))
                    .arg(std::process::id())
                    .arg(format!("{} {} {}", busy.running, busy.fresh_slow, busy.at))
                    .query_async(&mut conn)
                    .await;
            }
        }
    }

    fn busyness(&self) -> Busy {
        let at = wall_micros();
        let running = self
            .executions
            .running
            .lock()
            .map(|running| {
                let fresh = running
                    .values()
                    .filter(|&&(start, slow)| slow && at.saturating_sub(start) < 1_000_000)
                    .count();
                (running.len(), fresh)
            })
            .unwrap_or_default();
        Busy {
            running: running.0,
            fresh_slow: running.1,
            at,
        }
    }

    /// Writes every end noted so far (`ends`: start id to end), retrying until Redis takes
    /// them.
    async fn write_ends(&self) {
        let _writing = self.executions.writing.lock().await;
        let ends = self
            .executions
            .ends
            .lock()
            .map(|mut ends| std::mem::take(&mut *ends))
            .unwrap_or_default();
        for chunk in ends.chunks(1_000) {
            let mut delay = Duration::from_millis(20);
            loop {
                let mut cmd = redis::cmd("HSET");
                cmd.arg(format!("{FACTS}ends"));
                for (nonce, end) in chunk {
                    cmd.arg(nonce).arg(end);
                }
                let mut conn = self.conn.clone();
                if cmd.query_async::<i64>(&mut conn).await.is_ok() {
                    break;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
        }
    }

    /// At a worker's end: waits (up to `patience`) until no execution runs (an aborted
    /// handler's future is dropped a moment after its abort), then writes every end left.
    async fn last_ends(&self, patience: Duration) {
        let end = Instant::now() + patience;
        while self.busyness().running > 0 && Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.write_ends().await;
    }

    /// What each worker process last reported, by pid.
    async fn busy(&self) -> Result<HashMap<u32, Busy>, String> {
        let mut conn = self.conn.clone();
        let reports: HashMap<u32, String> = redis::cmd("HGETALL")
            .arg(format!("{FACTS}busy"))
            .query_async(&mut conn)
            .await
            .map_err(|e| format!("reading how busy the workers are: {e}"))?;
        Ok(reports
            .into_iter()
            .filter_map(|(pid, report)| {
                let mut numbers = report.split(' ').map(str::parse::<u64>);
                let mut next = || numbers.next()?.ok();
                let (running, fresh_slow, at) = (next()?, next()?, next()?);
                Some((
                    pid,
                    Busy {
                        running: usize::try_from(running).ok()?,
                        fresh_slow: usize::try_from(fresh_slow).ok()?,
                        at,
                    },
                ))
            })
            .collect())
    }

    /// Records the leases a grab was granted: `id token attempt`.
    async fn granted(&self, jobs: &[GrabbedJob]) {
        let facts: Vec<String> = jobs
            .iter()
            .map(|job| format!("{} {} {}", job.lease.id, job.lease.token, job.attempt))
            .collect();
        self.add("grants", &facts, std::future::pending()).await;
    }

    /// Records Redis's answers to transitions: accepted ones as `nonce op id token`, refused
    /// ones (`Ack::Lost`) as a count per operation.
    async fn answered(&self, op: Op, answers: &[(Lease, Ack)]) {
        let mut accepted = Vec::new();
        let mut lost = 0;
        for (lease, ack) in answers {
            let op = match (op, ack) {
                (Op::Retry, Ack::Failed) => Op::Exhausted,
                (op, Ack::Ok | Ack::Failed) => op,
                _ => {
                    lost += 1;
                    continue;
                }
            };
            accepted.push(format!(
                "{} {} {} {}",
                nonce(),
                op.as_str(),
                lease.id,
                lease.token
            ));
        }
        self.add("acks", &accepted, std::future::pending()).await;
        if lost > 0 {
            let mut conn = self.conn.clone();
            let _: redis::RedisResult<i64> = redis::cmd("HINCRBY")
                .arg(format!("{FACTS}lost"))
                .arg(op.as_str())
                .arg(lost)
                .query_async(&mut conn)
                .await;
        }
    }

    /// Adds members to a fact set, retrying until Redis takes them or `stop` resolves.
    async fn add(&self, set: &str, members: &[String], stop: impl Future<Output = ()>) -> bool {
        if members.is_empty() {
            return true;
        }
        let key = format!("{FACTS}{set}");
        let write = async {
            let mut delay = Duration::from_millis(20);
            loop {
                let mut conn = self.conn.clone();
                let added: redis::RedisResult<i64> = redis::cmd("SADD")
                    .arg(&key)
                    .arg(members)
                    .query_async(&mut conn)
                    .await;
                if added.is_ok() {
                    return;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
        };
        tokio::select! {
            () = write => true,
            () = stop => false,
        }
    }

    /// Reads every fact.
    async fn read(&self) -> Result<FactLog, String> {
        let mut log = FactLog::default();
        for fact in self.members("starts").await? {
            log.starts
                .push(StartFact::parse(&fact).ok_or_else(|| bad_fact(&fact))?);
        }
        for fact in self.members("grants").await? {
            log.grants
                .push(GrantFact::parse(&fact).ok_or_else(|| bad_fact(&fact))?);
        }
        for fact in self.members("acks").await? {
            log.acks
                .push(AckFact::parse(&fact).ok_or_else(|| bad_fact(&fact))?);
        }
        for (nonce, end) in self.pairs("ends").await? {
            let end = end
                .parse()
                .map_err(|_| bad_fact(&format!("{nonce} {end}")))?;
            log.ends.insert(nonce, end);
        }
        let mut conn = self.conn.clone();
        log.lost = redis::cmd("HGETALL")
            .arg(format!("{FACTS}lost"))
            .query_async(&mut conn)
            .await
            .map_err(|e| format!("reading the lost answers: {e}"))?;
        Ok(log)
    }

    /// Every field and value of a fact hash.
    async fn pairs(&self, hash: &str) -> Result<Vec<(String, String)>, String> {
        self.scan_all("HSCAN", hash).await
    }

    async fn members(&self, set: &str) -> Result<Vec<String>, String> {
        self.scan_all("SSCAN", set).await
    }

    /// Every entry of the fact hash or set `name`, read with `command` (HSCAN or SSCAN).
    async fn scan_all<T: redis::FromRedisValue>(
        &self,
        command: &str,
        name: &str,
    ) -> Result<Vec<T>, String> {
        let key = format!("{FACTS}{name}");
        let mut conn = self.conn.clone();
        let mut cursor = 0u64;
        let mut entries = Vec::new();
        loop {
            let (next, batch): (u64, Vec<T>) = redis::cmd(command)
                .arg(&key)
                .arg(cursor)
                .arg("COUNT")
                .arg(10_000)
                .query_async(&mut conn)
                .await
                .map_err(|e| format!("reading {key}: {e}"))?;
            entries.extend(batch);
            cursor = next;
            if cursor == 0 {
                return Ok(entries);
            }
        }
    }
}

/// A fresh id for a fact that may legitimately repeat.
fn nonce() -> String {
    JobId::new().to_string()
}

fn bad_fact(fact: &str) -> String {
    format!("unreadable fact `{fact}`")
}

/// Every fact of a run.
#[derive(Debug, Default)]
pub struct FactLog {
    starts: Vec<StartFact>,
    /// When each execution ended, by its start's nonce.
    ends: HashMap<String, u64>,
    grants: Vec<GrantFact>,
    acks: Vec<AckFact>,
    lost: HashMap<String, u64>,
}

/// A handler started.
#[derive(Debug)]
struct StartFact {
    /// Names the execution (its end is recorded under it).
    nonce: String,
    id: String,
    attempt: u32,
    token: u64,
    sequence: Option<(String, u32)>,
    /// The worker process it ran in.
    pid: u32,
    /// When it started (wall-clock microseconds).
    at: u64,
}

impl StartFact {
    fn parse(fact: &str) -> Option<Self> {
        let mut parts = fact.split(' ');
        let nonce = parts.next()?.to_owned();
        let id = parts.next()?.to_owned();
        let attempt = parts.next()?.parse().ok()?;
        let token = parts.next()?.parse().ok()?;
        let resource = parts.next()?;
        let seq = parts.next()?;
        let sequence = match resource {
            "-" => None,
            _ => Some((resource.to_owned(), seq.parse().ok()?)),
        };
        Some(Self {
            nonce,
            id,
            attempt,
            token,
            sequence,
            pid: parts.next()?.parse().ok()?,
            at: parts.next()?.parse().ok()?,
        })
    }
}

/// A grab granted a lease.
#[derive(Debug)]
struct GrantFact {
    id: String,
    token: u64,
    attempt: u32,
}

impl GrantFact {
    fn parse(fact: &str) -> Option<Self> {
        let mut parts = fact.split(' ');
        Some(Self {
            id: parts.next()?.to_owned(),
            token: parts.next()?.parse().ok()?,
            attempt: parts.next()?.parse().ok()?,
        })
    }
}

/// Redis accepted a transition.
#[derive(Debug)]
struct AckFact {
    op: Op,
    id: String,
    token: u64,
}

impl AckFact {
    fn parse(fact: &str) -> Option<Self> {
        let mut parts = fact.split(' ').skip(1);
        Some(Self {
            op: Op::parse(parts.next()?)?,
            id: parts.next()?.to_owned(),
            token: parts.next()?.parse().ok()?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The recording backend

/// The Redis client, wrapped: every call goes to the client, and the leases it grants and the
/// transitions Redis accepts are recorded as facts before the worker sees them.
#[derive(Clone, Debug)]
pub struct Recording {
    client: Client,
    facts: Facts,
}

impl Backend for Recording {
    type Error = job::redis::Error;

    async fn insert_many(&self, jobs: &[NewJob]) -> Result<Vec<Inserted>, Self::Error> {
        Backend::insert_many(&self.client, jobs).await
    }

    async fn grab(&self, grab: &Grab<'_>) -> Result<Grabbed, Self::Error> {
        let grabbed = Backend::grab(&self.client, grab).await?;
        // Recorded before any job runs: a transition accepted with a token was granted first.
        self.facts.granted(&grabbed.jobs).await;
        Ok(grabbed)
    }

    async fn complete(&self, done: &[Completion]) -> Result<Vec<Ack>, Self::Error> {
        let acks = Backend::complete(&self.client, done).await?;
        let answers: Vec<(Lease, Ack)> = done.iter().map(|c| c.lease).zip(acks.clone()).collect();
        self.facts.answered(Op::Complete, &answers).await;
        Ok(acks)
    }

    async fn temp_fail(
        &self,
        lease: &Lease,
        retry_in: Duration,
        failure: &FailureNote,
    ) -> Result<Ack, Self::Error> {
        let ack = Backend::temp_fail(&self.client, lease, retry_in, failure).await?;
        self.facts.answered(Op::Retry, &[(*lease, ack)]).await;
        Ok(ack)
    }

    async fn perm_fail(&self, lease: &Lease, failure: &FailureNote) -> Result<Ack, Self::Error> {
        let ack = Backend::perm_fail(&self.client, lease, failure).await?;
        self.facts.answered(Op::Fatal, &[(*lease, ack)]).await;
        Ok(ack)
    }

    async fn replace(
        &self,
        lease: &Lease,
        children: &[NewJob],
    ) -> Result<(Ack, Vec<Inserted>), Self::Error> {
        let (ack, inserted) = Backend::replace(&self.client, lease, children).await?;
        self.facts.answered(Op::Replace, &[(*lease, ack)]).await;
        Ok((ack, inserted))
    }

    async fn release(&self, lease: &Lease, release: &Release) -> Result<Ack, Self::Error> {
        let ack = Backend::release(&self.client, lease, release).await?;
        self.facts.answered(Op::Release, &[(*lease, ack)]).await;
        Ok(ack)
    }

    async fn heartbeat(&self, leases: &[Lease]) -> Result<Vec<bool>, Self::Error> {
        Backend::heartbeat(&self.client, leases).await
    }

    async fn wait(&self, grab: &Grab<'_>, timeout: Duration) -> Result<(), Self::Error> {
        Backend::wait(&self.client, grab, timeout).await
    }

    async fn failures(&self, id: JobId) -> Result<Vec<FailureRecord>, Self::Error> {
        Backend::failures(&self.client, id).await
    }
}

// ---------------------------------------------------------------------------------------------
// The worker process

/// Whether this process was started as a chaos worker.
#[must_use]
pub fn is_worker_process() -> bool {
    std::env::var(ROLE_VAR).is_ok_and(|role| role == "worker")
}

/// Runs a chaos worker until stdin closes (the coordinator stops it, or died); the settings
/// come from the environment the coordinator set.
///
/// # Errors
///
/// When a setting is missing or Redis cannot be reached within [`CONNECT_PATIENCE`].
pub fn worker_main() -> Result<(), String> {
    quiet_planned_panics();
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?
        .block_on(run_worker())
}

async fn run_worker() -> Result<(), String> {
    let setting = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let concurrency: usize = setting(CONCURRENCY_VAR)?
        .parse()
        .map_err(|_| format!("{CONCURRENCY_VAR} is not a number"))?;
    let client = connect_client(&setting(URL_VAR)?).await?;
    let facts = Facts::connect(&setting(FACTS_URL_VAR)?).await?;
    let backend = Recording {
        client,
        facts: facts.clone(),
    };
    let writer = tokio::spawn(facts.clone().keep_writing());
    // A scheduler of the ticks namespace, on this process's proxy too: killed with it.
    let ticks = ticks_client(&setting(URL_VAR)?).await?;
    let stop_ticks = tokio_util::sync::CancellationToken::new();
    let scheduler = tokio::spawn({
        let stop = stop_ticks.clone();
        async move { ticks.run_schedules(stop.cancelled_owned()).await }
    });
    let ran = job_core::Worker::<ChaosJob, Facts, Recording>::new(backend, facts.clone())
        .concurrency(concurrency)
        .lease(LEASE)
        .poll(Duration::from_secs(1))
        .grace(Duration::from_secs(1))
        .run_until(stdin_closed())
        .await
        .map_err(|e| format!("the worker failed: {e}"));
    stop_ticks.cancel();
    let _ = scheduler.await;
    // No end of an execution of this process may be lost: the check would count it as running
    // until the process exited.
    facts.last_ends(Duration::from_secs(5)).await;
    writer.abort();
    ran
}

/// Resolves when stdin reaches its end: the coordinator closed it, or exited.
fn stdin_closed() -> impl Future<Output = ()> + Send {
    let (closed, on_close) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        let _ = closed.send(());
    });
    async move {
        let _ = on_close.await;
    }
}

/// Keeps planned panics out of stderr; any other panic is reported as usual.
fn quiet_planned_panics() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let planned = info
            .payload()
            .downcast_ref::<String>()
            .is_some_and(|message| message.starts_with(PLANNED_PANIC));
        if !planned {
            report(info);
        }
    }));
}

/// The client's settings: nothing pruned before the check, and lease expiries never fail a
/// job (so every job ends as its plan says however often its worker is killed).
fn client_config() -> Config {
    Config::new()
        .namespace(NAMESPACE)
        .keep_completed(KEEP_ALL)
        .keep_failed(KEEP_ALL)
        .max_lease_expiries(1_000)
        .history_limit(100)
}

/// A client of the ticks namespace.
async fn ticks_client(url: &str) -> Result<Client, String> {
    patiently(&format!("connecting to {url}"), || {
        Client::connect_with(url, client_config().namespace(TICKS_NAMESPACE))
    })
    .await
}

/// Stores the ticks schedule: every second, each missed tick fired (its job is never run).
async fn store_tick_schedule(client: &Client) -> Result<(), String> {
    let job = NewJob::from_parts(TICK_SCHEDULE, b"{}".to_vec(), job::JobOptions::new());
    let schedule = job::Schedule::every(TICK_SCHEDULE, Duration::from_secs(1))
        .map_err(|e| e.to_string())?
        .new_job(job)
        .missed(job::Missed::All { max: 1_000_000 });
    patiently("storing the ticks schedule", || {
        client.upsert_schedule(&schedule)
    })
    .await?;
    Ok(())
}

/// What the schedulers of killed, stalled and restarted processes fired: each tick since the
/// schedule was stored up to the last one handled must have its job, stored once.
#[derive(Debug, Default)]
struct Ticks {
    fired: u64,
    missing: Finding,
    twice: Finding,
}

async fn read_ticks(client: &Client) -> Result<Ticks, String> {
    let millis = |at: std::time::SystemTime| {
        at.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0))
    };
    let info = patiently("reading the ticks schedule", || {
        client.schedule(TICK_SCHEDULE)
    })
    .await?
    .ok_or("the ticks schedule is gone")?;
    let mut ticks = Ticks {
        fired: info.fired,
        ..Ticks::default()
    };
    let (first, last) = (
        millis(info.created) / 1000 + 1,
        millis(info.last_tick) / 1000,
    );
    for second in first..=last {
        let id = JobId::for_tick(TICK_SCHEDULE, second * 1000);
        if patiently("reading a tick's job", || client.details(id))
            .await?
            .is_none()
        {
            ticks
                .missing
                .note(|| format!("tick {second} s has no job {id}"));
        }
    }
    let expected = (last + 1).saturating_sub(first);
    if info.fired != expected {
        ticks
            .twice
            .note(|| format!("{} fires for {expected} ticks", info.fired));
    }
    for fire in &info.fires {
        if fire.outcome != job::schedule::FireOutcome::Inserted {
            ticks
                .twice
                .note(|| format!("a fire answered {:?}", fire.outcome));
        }
    }
    Ok(ticks)
}

async fn connect_client(url: &str) -> Result<Client, String> {
    patiently(&format!("connecting to {url}"), || {
        Client::connect_with(url, client_config())
    })
    .await
}

/// A reconnecting connection to one Redis node.
async fn manager(url: &str) -> Result<ConnectionManager, String> {
    let client = redis::Client::open(url).map_err(|e| format!("bad URL {url}: {e}"))?;
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(Duration::from_secs(10)))
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_secs(1));
    patiently(&format!("connecting to {url}"), || {
        client.get_connection_manager_with_config(config.clone())
    })
    .await
}

/// Tries `op` until it succeeds, for up to [`CONNECT_PATIENCE`].
async fn patiently<T, E, F, Fut>(what: &str, mut op: F) -> Result<T, String>
where
    E: fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let end = Instant::now() + CONNECT_PATIENCE;
    loop {
        match op().await {
            Ok(value) => return Ok(value),
            Err(error) if Instant::now() > end => return Err(format!("{what}: {error}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Redis: one server, or a cluster of three masters

/// A scratch directory, deleted on drop.
#[derive(Debug)]
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self, String> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("job-chaos-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How long a server may take to answer after a start or restart (replaying a large append-only
/// file), and a cluster to say it is ok.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// The Redis side of a run, behind the few operations the run needs, so one server and a
/// cluster are driven the same way.
#[derive(Debug)]
pub struct Topology {
    servers: Vec<RedisServer>,
    cluster: bool,
    // Declared last: dropped after the servers are killed.
    scratch: Scratch,
}

impl Topology {
    /// Starts one server, or three cluster masters joined with `redis-cli --cluster create`.
    ///
    /// # Errors
    ///
    /// When `redis-server` (or `redis-cli`) is missing, or a server or the cluster does not
    /// come up.
    pub async fn start(cluster: bool) -> Result<Self, String> {
        let scratch = Scratch::new()?;
        let mut servers = Vec::new();
        let (ports, options) = if cluster {
            (
                redis_server::cluster_ports(3),
                &redis_server::CLUSTER_NODE[..],
            )
        } else {
            (vec![redis_server::free_port()?], &[][..])
        };
        for port in ports {
            let dir = scratch.0.join(format!("redis-{port}"));
            servers.push(RedisServer::start(&dir, port, options, READY_WITHIN).await?);
        }
        let topology = Self {
            servers,
            cluster,
            scratch,
        };
        if cluster {
            redis_server::create_cluster(&topology.servers, READY_WITHIN).await?;
        }
        Ok(topology)
    }

    /// What [`Client::connect`] gets: one node's URL, or every master's, comma-separated.
    pub fn client_url(&self) -> String {
        redis_server::nodes_url(&self.servers)
    }

    /// Every master's own URL.
    pub fn node_urls(&self) -> Vec<String> {
        self.servers.iter().map(RedisServer::url).collect()
    }

    /// A proxy in front of it, as each worker gets one.
    ///
    /// # Errors
    ///
    /// When it cannot listen.
    pub async fn proxy(&self) -> Result<StallProxy, String> {
        self.proxy_target().start().await
    }

    /// What a worker's proxy forwards to (the ports stay the same across restarts).
    fn proxy_target(&self) -> ProxyTarget {
        ProxyTarget {
            masters: self
                .servers
                .iter()
                .map(|server| SocketAddr::from(([127, 0, 0, 1], server.port())))
                .collect(),
            cluster: self.cluster,
        }
    }

    /// How many servers can be restarted.
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    /// One line about it, for the report.
    pub fn describe(&self) -> String {
        if self.cluster {
            format!("a cluster of {} masters", self.servers.len())
        } else {
            "one redis-server".to_owned()
        }
    }

    /// The URL of the node that holds the facts.
    ///
    /// # Errors
    ///
    /// When the cluster cannot say which node owns their slot.
    pub async fn facts_url(&self) -> Result<String, String> {
        if !self.cluster {
            return Ok(self.servers[0].url());
        }
        let mut conn = manager(&self.servers[0].url()).await?;
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(format!("{FACTS}starts"))
            .query_async(&mut conn)
            .await
            .map_err(|e| format!("CLUSTER KEYSLOT: {e}"))?;
        let ranges: Value = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut conn)
            .await
            .map_err(|e| format!("CLUSTER SLOTS: {e}"))?;
        slot_owner(&ranges, slot)
            .map(|port| format!("redis://127.0.0.1:{port}"))
            .ok_or_else(|| format!("no master owns slot {slot}: {ranges:?}"))
    }

    /// Kills server `index` with SIGKILL, waits `pause`, starts it again on the same port and
    /// directory, and waits until it (and, in a cluster, the whole cluster) answers again.
    ///
    /// # Errors
    ///
    /// When it does not come back.
    pub async fn restart(&mut self, index: usize, pause: Duration) -> Result<(), String> {
        let server = &mut self.servers[index];
        server.kill();
        tokio::time::sleep(pause).await;
        server.start_again().await?;
        if self.cluster {
            redis_server::wait_cluster_ok(&self.servers, READY_WITHIN).await?;
        }
        Ok(())
    }
}

/// The port of the master that serves `slot`, from a `CLUSTER SLOTS` reply.
fn slot_owner(ranges: &Value, slot: u16) -> Option<u16> {
    let Value::Array(ranges) = ranges else {
        return None;
    };
    ranges.iter().find_map(|range| {
        let Value::Array(parts) = range else {
            return None;
        };
        let bound = |i: usize| match parts.get(i) {
            Some(Value::Int(n)) => u16::try_from(*n).ok(),
            _ => None,
        };
        let (first, last) = (bound(0)?, bound(1)?);
        let Some(Value::Array(master)) = parts.get(2) else {
            return None;
        };
        match master.get(1) {
            Some(Value::Int(port)) if (first..=last).contains(&slot) => u16::try_from(*port).ok(),
            _ => None,
        }
    })
}

// ---------------------------------------------------------------------------------------------
// The worker processes

/// How to start a worker process: this program again, with arguments that make it one.
#[derive(Clone, Debug)]
pub struct WorkerCommand {
    program: PathBuf,
    args: Vec<String>,
}

impl WorkerCommand {
    /// This executable with `args` (an example passes `worker`; a test binary passes the
    /// worker test's name, `--exact` and `--nocapture`).
    ///
    /// # Errors
    ///
    /// When the current executable cannot be found.
    pub fn current_exe(args: &[&str]) -> Result<Self, String> {
        Ok(Self {
            program: std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?,
            args: args.iter().map(|&arg| arg.to_owned()).collect(),
        })
    }
}

/// Where the workers' proxies forward to: the one Redis, or every master of a Cluster.
#[derive(Clone, Debug)]
struct ProxyTarget {
    masters: Vec<SocketAddr>,
    cluster: bool,
}

impl ProxyTarget {
    /// A new proxy: byte for byte to the one Redis, or reading the protocol in front of a
    /// Cluster (so the client learns the proxy's ports, not the masters').
    async fn start(&self) -> Result<StallProxy, String> {
        if self.cluster {
            StallProxy::start_cluster(&self.masters).await
        } else {
            StallProxy::start(self.masters[0]).await
        }
    }
}

/// One running worker process; its stdin is the line the coordinator holds it by, and every
/// connection of its job client goes through its own proxy.
#[derive(Debug)]
struct Process {
    child: Child,
    stdin: Option<ChildStdin>,
    proxy: Arc<StallProxy>,
}

/// How a worker process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Death {
    /// SIGKILLed by the coordinator: its running executions ended then, unrecorded.
    Killed,
    /// Exited when told to stop.
    Stopped,
    /// Exited on its own.
    Crashed,
}

/// The worker processes: started, killed and started again, and stopped at the end. Every one
/// still running is killed on drop, also when the run fails.
#[derive(Debug)]
struct Fleet {
    command: WorkerCommand,
    env: Vec<(&'static str, String)>,
    target: ProxyTarget,
    slots: Vec<Option<Process>>,
    /// Processes started, restarts included.
    started: usize,
    /// Processes that exited without being killed or told to stop.
    crashes: Vec<String>,
    /// When each process that ended was found dead (wall-clock microseconds), and how.
    deaths: HashMap<u32, (u64, Death)>,
}

impl Fleet {
    async fn start(
        command: WorkerCommand,
        env: Vec<(&'static str, String)>,
        target: ProxyTarget,
        count: usize,
    ) -> Result<Self, String> {
        let mut fleet = Self {
            command,
            env,
            target,
            slots: (0..count).map(|_| None).collect(),
            started: 0,
            crashes: Vec::new(),
            deaths: HashMap::new(),
        };
        for slot in 0..count {
            fleet.spawn(slot).await?;
        }
        Ok(fleet)
    }

    fn len(&self) -> usize {
        self.slots.len()
    }

    /// The process in `slot`: its pid and its proxy.
    fn process(&self, slot: usize) -> Option<(u32, &Arc<StallProxy>)> {
        self.slots[slot]
            .as_ref()
            .map(|process| (process.child.id(), &process.proxy))
    }

    /// Starts a worker in `slot`, with a new proxy of its own.
    async fn spawn(&mut self, slot: usize) -> Result<u32, String> {
        let proxy = Arc::new(self.target.start().await?);
        let mut child = Command::new(&self.command.program)
            .args(&self.command.args)
            .envs(self.env.iter().map(|(name, value)| (*name, value)))
            .env(URL_VAR, proxy.url())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start a worker process: {e}"))?;
        let pid = child.id();
        let stdin = child.stdin.take();
        self.slots[slot] = Some(Process {
            child,
            stdin,
            proxy,
        });
        self.started += 1;
        Ok(pid)
    }

    /// Kills the worker in `slot` with SIGKILL and starts a new one there; returns the killed
    /// process's id.
    async fn kill(&mut self, slot: usize) -> Result<u32, String> {
        let mut pid = 0;
        if let Some(mut process) = self.slots[slot].take() {
            pid = process.child.id();
            let _ = process.child.kill();
            let _ = process.child.wait();
            self.deaths.insert(pid, (wall_micros(), Death::Killed));
        }
        self.spawn(slot).await?;
        Ok(pid)
    }

    /// Notes every worker that exited on its own, and starts a new one in its place.
    async fn reap(&mut self) -> Result<(), String> {
        for slot in 0..self.slots.len() {
            let exited = self.slots[slot].as_mut().and_then(|process| {
                let status = process.child.try_wait().ok().flatten()?;
                Some((process.child.id(), status))
            });
            if let Some((pid, status)) = exited {
                self.deaths.insert(pid, (wall_micros(), Death::Crashed));
                self.crashes
                    .push(format!("worker {slot} exited on its own: {status}"));
                self.spawn(slot).await?;
            }
        }
        Ok(())
    }

    /// Closes every worker's stdin (a graceful stop), waits up to `grace`, and kills the rest;
    /// returns how many stopped cleanly.
    async fn stop(&mut self, grace: Duration) -> usize {
        for process in self.slots.iter_mut().flatten() {
            process.stdin = None;
        }
        let end = Instant::now() + grace;
        let mut clean = 0;
        while self.slots.iter().any(Option::is_some) && Instant::now() < end {
            for slot in &mut self.slots {
                let exited = slot.as_mut().and_then(|process| {
                    let status = process.child.try_wait().ok().flatten()?;
                    Some((process.child.id(), status))
                });
                if let Some((pid, status)) = exited {
                    clean += usize::from(status.success());
                    self.deaths.insert(pid, (wall_micros(), Death::Stopped));
                    *slot = None;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for process in self.slots.iter_mut().filter_map(Option::take) {
            let mut child = process.child;
            let _ = child.kill();
            let _ = child.wait();
            self.deaths
                .insert(child.id(), (wall_micros(), Death::Killed));
        }
        clean
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for process in self.slots.iter_mut().flatten() {
            let _ = process.child.kill();
            let _ = process.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The workload and the enqueuer

/// One insert call: jobs, with the unique key of each unique one.
#[derive(Debug, Default)]
struct Batch {
    jobs: Vec<NewJob>,
    keys: Vec<Option<u64>>,
}

/// What the run enqueues.
#[derive(Debug)]
struct Workload {
    batches: Vec<Batch>,
    /// Jobs expected when everything runs to plan (children included, stored duplicates not).
    planned: usize,
}

impl Workload {
    /// `options.jobs` jobs from the seed: 55% plain, 10% REPLACE trees, 20% resource-bound (about
    /// eight per resource, in sequence), 15% unique (about three per key, half of them followed
    /// by a deliberate duplicate in the same insert); and about 24 slow jobs in place of others
    /// (0.2% in a large run), so a stall finds one to cut off.
    fn generate(options: &Options) -> Result<Self, String> {
        let jobs = options.jobs as u64;
        let resources = (jobs / 40).max(1);
        let keys = (jobs / 20).max(1);
        let slow_every = (jobs / 24).clamp(1, 500);
        let mut next_seq = vec![0u32; usize::try_from(resources).unwrap_or(1)];
        let mut batches = Vec::new();
        let mut batch = Batch::default();
        let mut planned = 0;
        for i in 0..jobs {
            let dice = Dice(mix(options.seed ^ mix(i)));
            let slow = dice.roll(35, slow_every) == 0;
            let group = match dice.roll(30, 100) {
                _ if slow => vec![ChaosJob::Slow(Slow { dice: dice.0 })],
                0..=54 => vec![ChaosJob::Plain(Plain { dice: dice.0 })],
                55..=64 => vec![ChaosJob::Tree(Tree {
                    dice: dice.0,
                    depth: 0,
                })],
                65..=84 => {
                    let resource = dice.roll(31, resources);
                    let seq = &mut next_seq[usize::try_from(resource).unwrap_or(0)];
                    *seq += 1;
                    vec![ChaosJob::Step(Step {
                        resource: format!("res-{resource}"),
                        seq: *seq,
                        dice: dice.0,
                        generation: 0,
                    })]
                }
                _ => {
                    let key = dice.roll(32, keys);
                    let once = |dice| ChaosJob::Once(Once { key, dice });
                    let mut group = vec![once(dice.0)];
                    if dice.roll(33, 2) == 0 {
                        group.push(once(dice.derive(34)));
                    }
                    group
                }
            };
            planned += group[0].planned_size();
            if batch.jobs.len() + group.len() > BATCH {
                batches.push(std::mem::take(&mut batch));
            }
            for job in &group {
                batch.keys.push(job.unique());
                batch.jobs.push(
                    job.to_new_job()
                        .map_err(|e| format!("encoding a job: {e}"))?,
                );
            }
        }
        batches.push(batch);
        Ok(Self { batches, planned })
    }
}

/// What the enqueuer was answered.
#[derive(Debug, Default)]
pub struct Enqueued {
    /// Insert calls made.
    calls: usize,
    /// Calls retried after an error (Redis restarting): the same ids again.
    retried: usize,
    /// Ids answered `New` or `Exists`: stored.
    stored: HashSet<String>,
    /// For each `Duplicate` answer: the unique key asked for, and the live job answered.
    duplicates: Vec<(Option<u64>, String)>,
    /// Answers of a kind this harness does not know.
    odd: Vec<String>,
}

/// Inserts every batch in order, each until Redis stores it (an insert is idempotent by id,
/// so a retry after an error answers `Exists` for what the first try stored). Keeps about
/// `ahead` jobs enqueued but not ended, so inserts go on through the chaos: a Redis restart
/// meets inserts too, and later duplicates of a unique job find it live or ended.
async fn enqueue(
    client: Client,
    batches: Vec<Batch>,
    observer: Arc<Observer>,
    ahead: u64,
) -> Result<Enqueued, String> {
    let mut enqueued = Enqueued::default();
    for batch in &batches {
        wait_for_room(&observer, enqueued.stored.len() as u64, ahead).await;
        let answers = insert_until_stored(&client, &batch.jobs, &mut enqueued).await?;
        for ((job, key), answer) in batch.jobs.iter().zip(&batch.keys).zip(answers) {
            match answer {
                Inserted::New(id) | Inserted::Exists(id) => {
                    enqueued.stored.insert(id.to_string());
                }
                Inserted::Duplicate(live) => enqueued.duplicates.push((*key, live.to_string())),
                other => enqueued.odd.push(format!("{}: {other:?}", job.id())),
            }
        }
    }
    Ok(enqueued)
}

/// Waits until fewer than `ahead` of the `stored` jobs have not ended, for up to 5 s (a stalled
/// run must not stall the enqueuer: the drain deadline reports it).
async fn wait_for_room(observer: &Observer, stored: u64, ahead: u64) {
    let end = Instant::now() + Duration::from_secs(5);
    while stored >= ahead && Instant::now() < end {
        if let Ok(counts) = observer.counts().await
            && stored < counts.ended + ahead
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn insert_until_stored(
    client: &Client,
    jobs: &[NewJob],
    enqueued: &mut Enqueued,
) -> Result<Vec<Inserted>, String> {
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        enqueued.calls += 1;
        match client.insert_many(jobs).await {
            Ok(answers) if answers.len() == jobs.len() => return Ok(answers),
            Ok(answers) => {
                return Err(format!("{} answers for {} jobs", answers.len(), jobs.len()));
            }
            Err(error) if Instant::now() > end => {
                return Err(format!("inserting failed for a minute: {error}"));
            }
            Err(_) => {
                enqueued.retried += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Watching the namespace: progress, quiescence, and the final snapshot

/// A structure of the namespace that holds job ids (see `job-redis/docs/key-layout.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Structure {
    /// `l:<queue>`: priority-0 ready jobs.
    ReadyList(String),
    /// `r:<queue>`: prioritised ready jobs.
    ReadySet(String),
    Delayed,
    Leases,
    /// `res:<resource>`: the resource's FIFO (a sorted set by position).
    Resource(String),
    /// `rfx:<resource>`: the creates and deletes among the FIFO's jobs.
    ResourceEffects(String),
    Done,
    Failed,
    /// REPLACE children waiting to be forwarded to their shard.
    Outbox,
}

impl Structure {
    /// The structure a key suffix names, if it holds job ids.
    fn of(suffix: &str) -> Option<Self> {
        let named = |prefix: &str| suffix.strip_prefix(prefix).map(str::to_owned);
        match suffix {
            "delayed" => Some(Self::Delayed),
            "leases" => Some(Self::Leases),
            "done" => Some(Self::Done),
            "failed" => Some(Self::Failed),
            "outbox" => Some(Self::Outbox),
            _ => named("l:")
                .map(Self::ReadyList)
                .or_else(|| named("r:").map(Self::ReadySet))
                .or_else(|| named("res:").map(Self::Resource))
                .or_else(|| named("rfx:").map(Self::ResourceEffects)),
        }
    }

    fn is_list(&self) -> bool {
        matches!(self, Self::ReadyList(_) | Self::Outbox)
    }
}

impl fmt::Display for Structure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReadyList(queue) => write!(f, "l:{queue}"),
            Self::ReadySet(queue) => write!(f, "r:{queue}"),
            Self::Delayed => f.write_str("delayed"),
            Self::Leases => f.write_str("leases"),
            Self::Resource(resource) => write!(f, "res:{resource}"),
            Self::ResourceEffects(resource) => write!(f, "rfx:{resource}"),
            Self::Done => f.write_str("done"),
            Self::Failed => f.write_str("failed"),
            Self::Outbox => f.write_str("outbox"),
        }
    }
}

/// Where a job id was found.
#[derive(Clone, Debug)]
pub struct Place {
    shard: String,
    structure: Structure,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.shard, self.structure)
    }
}

/// A job hash, as stored at the end.
#[derive(Debug)]
pub struct StoredJob {
    shard: String,
    state: String,
    name: String,
    parent: Option<String>,
    created: Option<u64>,
    finished: Option<u64>,
    expiries: u64,
    /// The newest failure records, for the report's examples.
    history: Vec<String>,
    job: Result<ChaosJob, String>,
}

/// Everything the namespace holds at the end.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Job hashes by id (more than one if the id is stored in several shards).
    jobs: HashMap<String, Vec<StoredJob>>,
    /// Every place each id was found in.
    places: HashMap<String, Vec<Place>>,
}

/// Counts over every shard.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    /// In `done` or `failed`.
    ended: u64,
    /// Ready, delayed, leased, waiting in a resource's FIFO or in an outbox.
    live: u64,
}

/// One Redis master.
struct Node {
    url: String,
    conn: ConnectionManager,
}

/// The shards of the namespace found so far (node index, shard prefix), and when.
#[derive(Default)]
struct KnownShards {
    found_at: Option<Instant>,
    shards: Vec<(usize, String)>,
}

/// Reads the namespace on every master.
struct Observer {
    nodes: Vec<Node>,
    shards: tokio::sync::Mutex<KnownShards>,
}

impl Observer {
    async fn connect(urls: &[String]) -> Result<Self, String> {
        let mut nodes = Vec::new();
        for url in urls {
            nodes.push(Node {
                url: url.clone(),
                conn: manager(url).await?,
            });
        }
        Ok(Self {
            nodes,
            shards: tokio::sync::Mutex::default(),
        })
    }

    /// The namespace's shards, found by their `seq` counters; looked for again once a second,
    /// and until there is one (an empty namespace has nothing live, but nothing ended either).
    async fn shards(&self) -> Result<Vec<(usize, String)>, String> {
        let mut known = self.shards.lock().await;
        let stale = known
            .found_at
            .is_none_or(|at| at.elapsed() > Duration::from_secs(1));
        if stale || known.shards.is_empty() {
            let mut shards = Vec::new();
            for (index, node) in self.nodes.iter().enumerate() {
                for key in scan(&node.conn, &format!("{NAMESPACE}:{{*}}:seq")).await? {
                    if let Some((shard, _)) = split_key(&key) {
                        shards.push((index, shard));
                    }
                }
            }
            *known = KnownShards {
                found_at: Some(Instant::now()),
                shards,
            };
        }
        if known.shards.is_empty() {
            return Err("no shard of the namespace found yet".to_owned());
        }
        Ok(known.shards.clone())
    }

    /// How many jobs have ended and how many are live, over every shard.
    async fn counts(&self) -> Result<Counts, String> {
        let mut counts = Counts::default();
        for (node, shard) in self.shards().await? {
            let mut pipe = redis::pipe();
            for index in ["done", "failed"] {
                pipe.cmd("ZCARD").arg(format!("{shard}{index}"));
            }
            for index in ["leases", "delayed"] {
                pipe.cmd("ZCARD").arg(format!("{shard}{index}"));
            }
            // `rp` has a field per resource whose FIFO is not empty.
            pipe.cmd("HLEN").arg(format!("{shard}rp"));
            pipe.cmd("LLEN").arg(format!("{shard}outbox"));
            for name in ChaosJob::NAMES {
                pipe.cmd("LLEN").arg(format!("{shard}l:{name}"));
                pipe.cmd("ZCARD").arg(format!("{shard}r:{name}"));
            }
            let mut conn = self.nodes[node].conn.clone();
            let sizes: Vec<u64> = pipe
                .query_async(&mut conn)
                .await
                .map_err(|e| format!("counting on {}: {e}", self.nodes[node].url))?;
            counts.ended += sizes[..2].iter().sum::<u64>();
            counts.live += sizes[2..].iter().sum::<u64>();
        }
        Ok(counts)
    }

    /// Waits until no job is live twice in a row, for up to `deadline`; restarts workers that
    /// died meanwhile. Answers whether it got there.
    async fn wait_settled(&self, deadline: Duration, fleet: &mut Fleet) -> Result<bool, String> {
        let end = Instant::now() + deadline;
        let mut quiet = 0;
        while Instant::now() < end {
            fleet.reap().await?;
            match self.counts().await {
                Ok(counts) if counts.live == 0 => quiet += 1,
                _ => quiet = 0,
            }
            if quiet >= 2 {
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(false)
    }

    /// Reads every structure that holds job ids and every job hash, on every master.
    async fn snapshot(&self) -> Result<Snapshot, String> {
        let mut snapshot = Snapshot::default();
        for node in &self.nodes {
            let mut jobs = Vec::new();
            for key in scan(&node.conn, &format!("{NAMESPACE}:*")).await? {
                let Some((shard, suffix)) = split_key(&key) else {
                    continue;
                };
                if let Some(id) = suffix.strip_prefix("j:") {
                    jobs.push((shard, id.to_owned()));
                } else if let Some(structure) = Structure::of(suffix) {
                    for id in read_ids(&node.conn, &key, &structure).await? {
                        snapshot.places.entry(id).or_default().push(Place {
                            shard: shard.clone(),
                            structure: structure.clone(),
                        });
                    }
                }
            }
            for chunk in jobs.chunks(500) {
                for (id, job) in read_jobs(&node.conn, chunk).await? {
                    snapshot.jobs.entry(id).or_default().push(job);
                }
            }
        }
        Ok(snapshot)
    }
}

/// Every key matching `pattern` on one node.
async fn scan(conn: &ConnectionManager, pattern: &str) -> Result<Vec<String>, String> {
    let mut conn = conn.clone();
    let mut cursor = 0u64;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(5_000)
            .query_async(&mut conn)
            .await
            .map_err(|e| format!("SCAN {pattern}: {e}"))?;
        keys.extend(batch);
        cursor = next;
        if cursor == 0 {
            return Ok(keys);
        }
    }
}

/// `<namespace>:{<tag>}:<suffix>` split into the shard prefix and the suffix.
fn split_key(key: &str) -> Option<(String, &str)> {
    let rest = key.strip_prefix(NAMESPACE)?.strip_prefix(":{")?;
    let end = rest.find("}:")?;
    let shard = format!("{NAMESPACE}:{{{}}}:", &rest[..end]);
    Some((shard, &rest[end + 2..]))
}

/// The job ids a structure holds, a page at a time.
async fn read_ids(
    conn: &ConnectionManager,
    key: &str,
    structure: &Structure,
) -> Result<Vec<String>, String> {
    const PAGE: isize = 10_000;
    let mut conn = conn.clone();
    let mut ids = Vec::new();
    let mut start = 0isize;
    loop {
        let command = if structure.is_list() {
            "LRANGE"
        } else {
            "ZRANGE"
        };
        let page: Vec<String> = redis::cmd(command)
            .arg(key)
            .arg(start)
            .arg(start + PAGE - 1)
            .query_async(&mut conn)
            .await
            .map_err(|e| format!("{command} {key}: {e}"))?;
        let full = page.len() == PAGE.unsigned_abs();
        ids.extend(page.into_iter().map(|entry| match structure {
            Structure::Outbox => outbox_id(&entry),
            _ => entry,
        }));
        if !full {
            return Ok(ids);
        }
        start += PAGE;
    }
}

/// The job id of an outbox entry, `[home, row]` with the row's id first.
fn outbox_id(entry: &str) -> String {
    serde_json::from_str::<serde_json::Value>(entry)
        .ok()
        .and_then(|value| value.get(1)?.get(0)?.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("<unreadable outbox entry {entry}>"))
}

/// Reads job hashes (and their arguments, inline or in `a:<id>`).
async fn read_jobs(
    conn: &ConnectionManager,
    jobs: &[(String, String)],
) -> Result<Vec<(String, StoredJob)>, String> {
    const FIELDS: [&str; 7] = ["s", "t", "pa", "c", "f", "x", "d"];
    let mut pipe = redis::pipe();
    for (shard, id) in jobs {
        pipe.cmd("HMGET")
            .arg(format!("{shard}j:{id}"))
            .arg(&FIELDS[..]);
        pipe.cmd("GET").arg(format!("{shard}a:{id}"));
        pipe.cmd("LRANGE")
            .arg(format!("{shard}e:{id}"))
            .arg(-2)
            .arg(-1);
    }
    let mut conn = conn.clone();
    let replies: Vec<Value> = pipe
        .query_async(&mut conn)
        .await
        .map_err(|e| format!("reading job hashes: {e}"))?;
    let mut replies = replies.into_iter();
    let mut stored = Vec::with_capacity(jobs.len());
    for (shard, id) in jobs {
        let (Some(fields), Some(args), Some(history)) =
            (replies.next(), replies.next(), replies.next())
        else {
            return Err("short reply reading job hashes".to_owned());
        };
        let fields: Vec<Option<String>> =
            redis::from_redis_value(fields).map_err(|e| format!("job {id}: {e}"))?;
        let args: Option<Vec<u8>> =
            redis::from_redis_value(args).map_err(|e| format!("job {id}: {e}"))?;
        let history: Vec<String> =
            redis::from_redis_value(history).map_err(|e| format!("job {id}: {e}"))?;
        let history = history.iter().map(|record| failure_line(record)).collect();
        stored.push((id.clone(), stored_job(shard, &fields, args, history)));
    }
    Ok(stored)
}

/// A failure record (`{t, a, k, m, w}`) as `attempt 2 fatal: message`.
fn failure_line(record: &str) -> String {
    let parsed = serde_json::from_str::<serde_json::Value>(record).ok();
    let field = |name: &str| parsed.as_ref().and_then(|p| p.get(name)).cloned();
    match (field("a"), field("k"), field("m")) {
        (
            Some(attempt),
            Some(serde_json::Value::String(kind)),
            Some(serde_json::Value::String(message)),
        ) => {
            format!("attempt {attempt} {kind}: {message}")
        }
        _ => record.to_owned(),
    }
}

/// A job hash's fields (as [`read_jobs`] asks for them) and its out-of-line arguments.
fn stored_job(
    shard: &str,
    fields: &[Option<String>],
    args: Option<Vec<u8>>,
    history: Vec<String>,
) -> StoredJob {
    let field = |i: usize| fields.get(i).cloned().flatten();
    let number = |i: usize| field(i).and_then(|v| v.parse::<u64>().ok());
    let name = field(1).unwrap_or_default();
    let payload = field(6)
        .map(String::into_bytes)
        .or(args)
        .unwrap_or_default();
    let job = ChaosJob::decode(&name, &payload).map_err(|e| e.to_string());
    StoredJob {
        shard: shard.to_owned(),
        state: field(0).unwrap_or_default(),
        name,
        parent: field(2),
        created: number(3),
        finished: number(4),
        expiries: number(5).unwrap_or(0),
        history,
        job,
    }
}

// ---------------------------------------------------------------------------------------------
// The run

/// The chaos events, each fired when this share of the planned jobs has ended.
#[derive(Clone, Copy, Debug)]
enum Event {
    KillWorker,
    RestartRedis,
    StallWorker,
}

/// A stall: the process whose connections hung, from when to when (wall-clock microseconds),
/// and how many executions it reported running just before (0: none, or no report).
#[derive(Clone, Copy, Debug)]
struct StallWindow {
    pid: u32,
    from: u64,
    to: u64,
    running: usize,
}

/// The chaos schedule and what it did.
struct Chaos {
    started: Instant,
    rng: fastrand::Rng,
    schedule: Vec<(f64, Event)>,
    kills: usize,
    restarts: usize,
    /// Stalls under way: each resumes its proxy after [`STALL`].
    stalling: tokio::task::JoinSet<StallWindow>,
    /// Stalls over.
    stalls: Vec<StallWindow>,
    /// Where the workers say how busy they are.
    facts: Facts,
}

impl Chaos {
    /// Kills spread over 5%-85% of the run, Redis restarts over 10%-80%, stalls over 10%-50%
    /// (while jobs are still being enqueued, so slow ones keep starting: near the end only
    /// retries are left, and a worker may hold nothing for seconds), each at a random point of
    /// its own stretch.
    fn new(options: &Options, started: Instant, facts: Facts) -> Self {
        let mut rng = fastrand::Rng::with_seed(options.seed);
        let mut spread = |count: usize, from: f64, span: f64, event: Event| -> Vec<(f64, Event)> {
            (0..count)
                .map(|i| (from + span * (i as f64 + rng.f64()) / count as f64, event))
                .collect()
        };
        let mut schedule = spread(options.kills, 0.05, 0.8, Event::KillWorker);
        schedule.extend(spread(
            options.redis_restarts,
            0.1,
            0.7,
            Event::RestartRedis,
        ));
        schedule.extend(spread(options.stalls, 0.1, 0.4, Event::StallWorker));
        schedule.sort_by(|a, b| a.0.total_cmp(&b.0));
        Self {
            started,
            rng,
            schedule,
            kills: 0,
            restarts: 0,
            stalling: tokio::task::JoinSet::new(),
            stalls: Vec::new(),
            facts,
        }
    }

    fn log(&self, message: &str) {
        log_since(self.started, message);
    }

    /// Fires every event when its share of the planned jobs has ended. Fires the rest at once
    /// when nothing is left to run, or when nothing ended for `patience`. Returns once every
    /// stall is over.
    async fn unleash(
        &mut self,
        topology: &mut Topology,
        fleet: &mut Fleet,
        observer: &Observer,
        planned: usize,
        enqueued: impl Fn() -> bool,
        patience: Duration,
    ) -> Result<(), String> {
        let schedule = std::mem::take(&mut self.schedule);
        let mut last_change = (0, Instant::now());
        for (at, event) in schedule {
            let mut progress = 0.0;
            loop {
                fleet.reap().await?;
                if let Ok(counts) = observer.counts().await {
                    progress = counts.ended as f64 / planned.max(1) as f64;
                    if counts.ended != last_change.0 {
                        last_change = (counts.ended, Instant::now());
                    }
                    if progress >= at || (counts.live == 0 && enqueued()) {
                        break;
                    }
                }
                if last_change.1.elapsed() > patience {
                    self.log("no job ended for a while; firing the event now");
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            self.fire(event, progress, topology, fleet).await?;
        }
        while let Some(window) = self.stalling.join_next().await {
            self.stalls
                .push(window.map_err(|e| format!("a stall's task failed: {e}"))?);
        }
        Ok(())
    }

    async fn fire(
        &mut self,
        event: Event,
        progress: f64,
        topology: &mut Topology,
        fleet: &mut Fleet,
    ) -> Result<(), String> {
        let at = format!("{:.0}% ended", progress * 100.0);
        match event {
            Event::KillWorker => {
                let slot = self.rng.usize(..fleet.len());
                let pid = fleet.kill(slot).await?;
                self.kills += 1;
                self.log(&format!(
                    "SIGKILL worker {slot} (pid {pid}) at {at}; started again"
                ));
            }
            Event::RestartRedis => {
                let node = self.rng.usize(..topology.len());
                let pause = Duration::from_millis(self.rng.u64(100..800));
                self.log(&format!(
                    "SIGKILL redis node {node} at {at}, down for {pause:?}"
                ));
                topology.restart(node, pause).await?;
                self.restarts += 1;
                self.log("redis answers again");
            }
            Event::StallWorker => {
                let (slot, busy) = self.busy_worker(fleet).await;
                let Some((pid, proxy)) = fleet.process(slot) else {
                    return Ok(());
                };
                let proxy = Arc::clone(proxy);
                proxy.stall();
                let from = wall_micros();
                self.log(&format!(
                    "stall worker {slot} (pid {pid}; {}) at {at}, for {STALL:?}",
                    busy.map_or("not seen busy".to_owned(), |busy| format!(
                        "{} running, {} of them slow and fresh",
                        busy.running, busy.fresh_slow
                    ))
                ));
                let started = self.started;
                let running = busy.map_or(0, |busy| busy.running);
                self.stalling.spawn(async move {
                    tokio::time::sleep(STALL).await;
                    proxy.resume();
                    log_since(started, &format!("worker {slot} (pid {pid}) resumes"));
                    StallWindow {
                        pid,
                        from,
                        to: wall_micros(),
                        running,
                    }
                });
            }
        }
        Ok(())
    }

    /// A worker to stall, not stalled already, that surely holds jobs: by what the workers
    /// report, one that runs a [`Slow`] job started within the second (it has seconds of work
    /// left, past its lease), looked for up to 3 s; else one that runs any job, looked for up
    /// to 20 s; else any.
    async fn busy_worker(&mut self, fleet: &Fleet) -> (usize, Option<Busy>) {
        let started = Instant::now();
        let pick = |rng: &mut fastrand::Rng, candidates: &[(usize, Busy)]| {
            (!candidates.is_empty()).then(|| candidates[rng.usize(..candidates.len())])
        };
        loop {
            let reports = self.facts.busy().await.unwrap_or_default();
            let now = wall_micros();
            let busy: Vec<(usize, Busy)> = (0..fleet.len())
                .filter_map(|slot| {
                    let (pid, proxy) = fleet.process(slot)?;
                    let busy = *reports.get(&pid)?;
                    let fresh = now.saturating_sub(busy.at) < 300_000;
                    (fresh && busy.running > 0 && !proxy.is_stalled()).then_some((slot, busy))
                })
                .collect();
            let slow: Vec<(usize, Busy)> = busy
                .iter()
                .copied()
                .filter(|(_, busy)| busy.fresh_slow > 0)
                .collect();
            let waited = started.elapsed();
            let found = pick(&mut self.rng, &slow).or_else(|| {
                (waited > Duration::from_secs(3))
                    .then(|| pick(&mut self.rng, &busy))
                    .flatten()
            });
            if let Some((slot, busy)) = found {
                return (slot, Some(busy));
            }
            if waited > Duration::from_secs(20) {
                return (self.rng.usize(..fleet.len()), None);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// One line of the run's log, stamped with the time since `started`.
fn log_since(started: Instant, message: &str) {
    eprintln!(
        "chaos [{:>6.1}s] {message}",
        started.elapsed().as_secs_f64()
    );
}

/// Runs the whole chaos run and checks it.
///
/// # Errors
///
/// When the harness itself cannot work: Redis does not start, a process does not spawn, a
/// read fails. A broken invariant is not an error: it is in the [`Report`].
pub async fn run(options: &Options, worker: WorkerCommand) -> Result<Report, String> {
    let started = Instant::now();
    let started_at = wall_micros();
    let mut topology = Topology::start(options.cluster).await?;
    let facts_url = topology.facts_url().await?;
    let client = connect_client(&topology.client_url()).await?;
    let ticks = ticks_client(&topology.client_url()).await?;
    store_tick_schedule(&ticks).await?;
    let facts = Facts::connect(&facts_url).await?;
    let observer = Arc::new(Observer::connect(&topology.node_urls()).await?);
    // Each worker's job client gets its own proxy's URL (`URL_VAR`); its facts go direct.
    let env = vec![
        (ROLE_VAR, "worker".to_owned()),
        (FACTS_URL_VAR, facts_url),
        (CONCURRENCY_VAR, options.concurrency.to_string()),
    ];
    let mut fleet = Fleet::start(worker, env, topology.proxy_target(), options.workers).await?;
    let workload = Workload::generate(options)?;
    let planned = workload.planned;
    let ahead = (options.jobs as u64 / 4).max(500);
    let enqueuer = tokio::spawn(enqueue(
        client.clone(),
        workload.batches,
        Arc::clone(&observer),
        ahead,
    ));

    let mut chaos = Chaos::new(options, started, facts.clone());
    chaos.log(&format!(
        "{} with {} worker processes of {}; {planned} jobs planned; seed {}",
        topology.describe(),
        options.workers,
        options.concurrency,
        options.seed
    ));
    let patience = options.drain_deadline;
    chaos
        .unleash(
            &mut topology,
            &mut fleet,
            &observer,
            planned,
            || enqueuer.is_finished(),
            patience,
        )
        .await?;
    let enqueued = enqueuer
        .await
        .map_err(|e| format!("the enqueuer panicked: {e}"))??;

    chaos.log("chaos over; waiting until no job is live");
    let drain = Instant::now();
    let settled = observer
        .wait_settled(options.drain_deadline, &mut fleet)
        .await?;
    let drain = drain.elapsed();
    let clean_stops = fleet.stop(Duration::from_secs(10)).await;
    chaos.log(if settled {
        "settled; checking"
    } else {
        "NOT settled before the deadline; checking anyway"
    });
    // The first command on a connection that Redis dropped fails; read again until it works.
    let snapshot = patiently("reading the namespace", || observer.snapshot()).await?;
    let facts = patiently("reading the facts", || facts.read()).await?;
    let ticks = read_ticks(&ticks).await?;
    let run = RunFigures {
        kills: chaos.kills,
        restarts: chaos.restarts,
        stalls: chaos.stalls.clone(),
        worker_starts: fleet.started,
        clean_stops,
        crashes: fleet.crashes.clone(),
        deaths: fleet.deaths.clone(),
        started_at,
        drain,
        elapsed: started.elapsed(),
    };
    let mut report = check::report(options, &snapshot, &facts, &enqueued, &run);
    report.figure(
        "schedule_ticks",
        "schedule ticks fired (every worker runs a scheduler)",
        ticks.fired,
    );
    report.invariant(
        "schedule_ticks_missing",
        "schedule ticks without their job",
        ticks.missing,
    );
    report.invariant(
        "schedule_ticks_twice",
        "schedule ticks fired twice",
        ticks.twice,
    );
    Ok(report)
}

/// What the run did, for the report.
#[derive(Debug)]
struct RunFigures {
    kills: usize,
    restarts: usize,
    stalls: Vec<StallWindow>,
    worker_starts: usize,
    clean_stops: usize,
    crashes: Vec<String>,
    /// When and how each worker process that ended did (all of them, once stopped).
    deaths: HashMap<u32, (u64, Death)>,
    /// When the run started (wall-clock microseconds), for the examples' times.
    started_at: u64,
    drain: Duration,
    elapsed: Duration,
}

// ---------------------------------------------------------------------------------------------
// The check

/// The figures and invariants of a run.
#[derive(Debug, Default)]
pub struct Report {
    rows: Vec<Row>,
}

#[derive(Debug)]
struct Row {
    key: &'static str,
    label: &'static str,
    value: u64,
    /// An invariant: any other value than 0 is a violation.
    must_be_zero: bool,
    examples: Vec<String>,
}

/// Counts a violation, keeping a few examples.
#[derive(Debug, Default)]
struct Finding {
    count: u64,
    examples: Vec<String>,
}

impl Finding {
    fn note(&mut self, example: impl FnOnce() -> String) {
        self.count += 1;
        if self.examples.len() < 5 {
            self.examples.push(example());
        }
    }
}

impl Report {
    fn figure(&mut self, key: &'static str, label: &'static str, value: impl TryInto<u64>) {
        self.rows.push(Row {
            key,
            label,
            value: value.try_into().unwrap_or(u64::MAX),
            must_be_zero: false,
            examples: Vec::new(),
        });
    }

    fn invariant(&mut self, key: &'static str, label: &'static str, finding: Finding) {
        self.rows.push(Row {
            key,
            label,
            value: finding.count,
            must_be_zero: true,
            examples: finding.examples,
        });
    }

    /// A figure or invariant by its JSON key.
    #[must_use]
    pub fn value(&self, key: &str) -> Option<u64> {
        self.rows
            .iter()
            .find(|row| row.key == key)
            .map(|row| row.value)
    }

    /// Every broken invariant, with its examples.
    #[must_use]
    pub fn violations(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter(|row| row.must_be_zero && row.value != 0)
            .map(|row| format!("{}: {} ({})", row.label, row.value, row.examples.join("; ")))
            .collect()
    }

    /// Whether every invariant holds.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.violations().is_empty()
    }

    /// The figures as one JSON object, keyed as in [`Report::value`].
    #[must_use]
    pub fn json(&self) -> String {
        let figures: serde_json::Map<String, serde_json::Value> = self
            .rows
            .iter()
            .map(|row| (row.key.to_owned(), row.value.into()))
            .collect();
        serde_json::json!({ "chaos": figures, "clean": self.is_clean() }).to_string()
    }

    /// Prints the table, the examples of any violation, and the JSON line.
    pub fn print(&self) {
        let width = self
            .rows
            .iter()
            .map(|row| row.label.len())
            .max()
            .unwrap_or(0);
        println!("{:<width$}  {:>10}  check", "chaos run", "value");
        for row in &self.rows {
            let verdict = match (row.must_be_zero, row.value) {
                (false, _) => "",
                (true, 0) => "ok (must be 0)",
                (true, _) => "VIOLATED (must be 0)",
            };
            println!("{:<width$}  {:>10}  {verdict}", row.label, row.value);
        }
        for violation in self.violations() {
            println!("VIOLATION {violation}");
        }
        println!("{}", self.json());
    }
}

mod check {
    //! The invariants, each a function from what was read to a [`Finding`].

    use super::*;

    pub(super) fn report(
        options: &Options,
        snapshot: &Snapshot,
        facts: &FactLog,
        enqueued: &Enqueued,
        run: &RunFigures,
    ) -> Report {
        let mut report = Report::default();
        let (stuck, misplaced, dangling) = places(snapshot);
        let (lost, unexplained, children) = origins(snapshot, enqueued);
        let (off_plan, children_off_plan) = plans(snapshot);
        let fencing = fencing(facts);
        let (executions, re_executions, unstarted) = executions(snapshot, facts);
        let (overlaps, wrong_duplicates) = uniqueness(snapshot, enqueued);
        let concurrent = concurrency(facts, run);
        let ended = |state: &str| {
            snapshot
                .jobs
                .values()
                .filter(|copies| copies[0].state == state)
                .count()
        };
        let accepted = |op: Op| facts.acks.iter().filter(|ack| ack.op == op).count();

        report.figure("seed", "seed", options.seed);
        report.figure(
            "jobs_stored",
            "jobs stored (enqueued + REPLACE children)",
            snapshot.jobs.len(),
        );
        report.figure(
            "enqueued",
            "jobs enqueued and stored",
            enqueued.stored.len(),
        );
        let shards: HashSet<&str> = snapshot
            .jobs
            .values()
            .map(|copies| copies[0].shard.as_str())
            .collect();
        report.figure("shards", "namespace shards holding jobs", shards.len());
        report.figure("children", "REPLACE children", children);
        report.figure(
            "duplicates",
            "duplicate enqueues answered Duplicate",
            enqueued.duplicates.len(),
        );
        report.figure(
            "insert_retries",
            "insert calls retried (Redis away)",
            enqueued.retried,
        );
        report.figure("completed", "completed", ended("completed"));
        report.figure("failed", "failed for good", ended("failed"));
        report.figure("executions", "handler executions", executions);
        report.figure(
            "re_executions",
            "executions beyond the first (at-least-once)",
            re_executions,
        );
        report.figure(
            "overlaps",
            "executions overlapping another of their job",
            concurrent.overlapping.count,
        );
        report.figure(
            "overlaps_behind_stalls",
            "  of them started while the other's worker stalled",
            concurrent.behind_stall,
        );
        report.figure(
            "overlap_worst_ms",
            "worst overlap of two executions (ms)",
            concurrent.worst / 1_000,
        );
        report.figure(
            "killed_executions",
            "executions cut off by SIGKILL (end = the kill)",
            concurrent.killed,
        );
        report.figure(
            "retries",
            "TEMP_FAIL accepted (retries, panics, timeouts)",
            accepted(Op::Retry),
        );
        report.figure("replaces", "REPLACE accepted", accepted(Op::Replace));
        report.figure(
            "lost_answers",
            "transitions refused as stale (Ack::Lost)",
            facts.lost.values().sum::<u64>(),
        );
        report.figure(
            "lease_expiries",
            "lease expiries",
            snapshot
                .jobs
                .values()
                .map(|copies| copies[0].expiries)
                .sum::<u64>(),
        );
        report.figure("worker_kills", "worker processes SIGKILLed", run.kills);
        report.figure(
            "worker_starts",
            "worker processes started",
            run.worker_starts,
        );
        report.figure("redis_restarts", "Redis restarts survived", run.restarts);
        report.figure(
            "stalls",
            "worker connections stalled (3 leases each)",
            run.stalls.len(),
        );
        report.figure(
            "busy_stalls",
            "  of them while the worker ran jobs",
            run.stalls.iter().filter(|stall| stall.running > 0).count(),
        );
        report.figure(
            "clean_stops",
            "workers stopped cleanly at the end",
            run.clean_stops,
        );
        report.figure(
            "drain_ms",
            "drain after the chaos (ms)",
            run.drain.as_millis(),
        );
        report.figure("elapsed_ms", "whole run (ms)", run.elapsed.as_millis());

        report.invariant("stuck", "jobs not ended (stuck)", stuck);
        report.invariant(
            "misplaced",
            "ended jobs not in exactly their index",
            misplaced,
        );
        report.invariant("dangling", "ids in structures without a job", dangling);
        report.invariant("lost", "enqueued jobs missing", lost);
        report.invariant(
            "unexplained",
            "stored jobs neither enqueued nor children",
            unexplained,
        );
        report.invariant("off_plan", "jobs ended otherwise than planned", off_plan);
        report.invariant(
            "children_off_plan",
            "REPLACEs with other children than planned",
            children_off_plan,
        );
        report.invariant(
            "stale_accepted",
            "transitions accepted with a stale token",
            fencing.stale,
        );
        report.invariant("ended_twice", "jobs ended twice", fencing.ended_twice);
        report.invariant(
            "token_reused",
            "tokens accepted for two transitions",
            fencing.reused,
        );
        report.invariant(
            "never_granted",
            "tokens accepted but never granted",
            fencing.never_granted,
        );
        report.invariant(
            "order_violations",
            "per-resource order violations",
            order(facts),
        );
        report.invariant("unstarted", "completed jobs never started", unstarted);
        report.invariant(
            "overlapping_executions",
            "overlapping executions (one job, two at once)",
            concurrent.overlapping,
        );
        report.invariant(
            "unended",
            "executions with no end recorded (not SIGKILLed)",
            concurrent.unended,
        );
        report.invariant(
            "stall_leaks",
            "executions started by a worker mid-stall",
            stall_leaks(facts, run),
        );
        report.invariant(
            "unique_overlaps",
            "unique keys live in two jobs at once",
            overlaps,
        );
        report.invariant(
            "wrong_duplicates",
            "Duplicate answers naming another key",
            wrong_duplicates,
        );
        report.invariant(
            "odd_answers",
            "insert answers of unknown kinds",
            listed(&enqueued.odd),
        );
        report.invariant(
            "worker_crashes",
            "worker processes that died on their own",
            listed(&run.crashes),
        );
        report
    }

    fn listed(items: &[String]) -> Finding {
        let mut finding = Finding::default();
        for item in items {
            finding.note(|| item.clone());
        }
        finding
    }

    /// Each job ended exactly once: terminal, and in exactly its own shard's `done` or `failed`;
    /// and no structure names a job that is not stored.
    fn places(snapshot: &Snapshot) -> (Finding, Finding, Finding) {
        let (mut stuck, mut misplaced, mut dangling) =
            (Finding::default(), Finding::default(), Finding::default());
        for (id, copies) in &snapshot.jobs {
            let job = &copies[0];
            let found = snapshot.places.get(id).map_or(&[][..], Vec::as_slice);
            let describe = || {
                let found: Vec<String> = found.iter().map(ToString::to_string).collect();
                format!(
                    "{id} ({}, {}) in [{}]",
                    job.name,
                    job.state,
                    found.join(", ")
                )
            };
            if copies.len() > 1 {
                misplaced.note(|| format!("{} stored in {} shards", describe(), copies.len()));
            }
            let index = match job.state.as_str() {
                "completed" => Structure::Done,
                "failed" => Structure::Failed,
                _ => {
                    stuck.note(describe);
                    continue;
                }
            };
            let exact =
                matches!(found, [place] if place.structure == index && place.shard == job.shard);
            if !exact {
                misplaced.note(describe);
            }
        }
        for (id, found) in &snapshot.places {
            if !snapshot.jobs.contains_key(id) {
                dangling.note(|| format!("{id} in {}", found[0]));
            }
        }
        (stuck, misplaced, dangling)
    }

    /// Every enqueued job is stored, and every stored job was enqueued or is the child of a
    /// completed job. Returns the number of children too.
    fn origins(snapshot: &Snapshot, enqueued: &Enqueued) -> (Finding, Finding, usize) {
        let (mut lost, mut unexplained) = (Finding::default(), Finding::default());
        let mut children = 0;
        for id in &enqueued.stored {
            if !snapshot.jobs.contains_key(id) {
                lost.note(|| id.clone());
            }
        }
        for (id, copies) in &snapshot.jobs {
            if enqueued.stored.contains(id) {
                continue;
            }
            let parent = copies[0].parent.as_ref();
            let parent_completed = parent
                .and_then(|parent| snapshot.jobs.get(parent))
                .is_some_and(|parent| parent[0].state == "completed");
            if parent_completed {
                children += 1;
            } else {
                unexplained.note(|| format!("{id} ({}), parent {parent:?}", copies[0].name));
            }
        }
        (lost, unexplained, children)
    }

    /// Every job ended as its plan says (completed or failed for good), and every REPLACE made
    /// as many children as planned.
    fn plans(snapshot: &Snapshot) -> (Finding, Finding) {
        let (mut off_plan, mut children_off_plan) = (Finding::default(), Finding::default());
        let mut children: HashMap<&str, usize> = HashMap::new();
        for copies in snapshot.jobs.values() {
            if let Some(parent) = &copies[0].parent {
                *children.entry(parent.as_str()).or_default() += 1;
            }
        }
        for (id, copies) in &snapshot.jobs {
            let stored = &copies[0];
            let job = match &stored.job {
                Ok(job) => job,
                Err(error) => {
                    off_plan.note(|| format!("{id} does not decode: {error}"));
                    continue;
                }
            };
            let planned = match job.plan().ending() {
                Ending::Completed(kids) => Some(kids.len()),
                Ending::Failed => None,
            };
            let made = children.get(id.as_str()).copied().unwrap_or(0);
            match (stored.state.as_str(), planned) {
                ("completed", Some(kids)) if kids != made => {
                    children_off_plan.note(|| format!("{id}: {made} children, planned {kids}"));
                }
                ("completed", Some(_)) | ("failed", None) => {}
                ("completed" | "failed", _) => {
                    off_plan.note(|| {
                        format!(
                            "{id} {job:?} {}, planned to {}; last failures {:?}",
                            stored.state,
                            planned.map_or("fail".to_owned(), |kids| format!(
                                "complete with {kids} children"
                            )),
                            stored.history
                        )
                    });
                }
                _ => {} // not ended: counted as stuck
            }
        }
        (off_plan, children_off_plan)
    }

    /// What the fencing-token facts show.
    #[derive(Default)]
    struct Fencing {
        stale: Finding,
        ended_twice: Finding,
        reused: Finding,
        never_granted: Finding,
    }

    /// Every accepted transition presented the job's current token.
    ///
    /// A transition that ends the job must carry the highest token ever granted for it (no
    /// lease may be granted after the end, and one granted before it makes the token stale).
    /// A retry accepted with token `t` of attempt `a` is stale if a later grant `t' > t` came
    /// with an attempt `<= a`: after an accepted retry every grant counts a new attempt, while
    /// a grant made because `t`'s lease ran out re-runs the same attempt (a lease expiry gives
    /// the attempt back), so such a grant happened before the retry was accepted.
    fn fencing(facts: &FactLog) -> Fencing {
        let mut found = Fencing::default();
        let mut grants: HashMap<&str, Vec<(u64, u32)>> = HashMap::new();
        for grant in &facts.grants {
            grants
                .entry(grant.id.as_str())
                .or_default()
                .push((grant.token, grant.attempt));
        }
        let mut ends: HashMap<&str, u32> = HashMap::new();
        let mut uses: HashMap<(&str, u64), Vec<Op>> = HashMap::new();
        for ack in &facts.acks {
            uses.entry((ack.id.as_str(), ack.token))
                .or_default()
                .push(ack.op);
            let granted = grants.get(ack.id.as_str()).map_or(&[][..], Vec::as_slice);
            let Some(&(_, attempt)) = granted.iter().find(|(token, _)| *token == ack.token) else {
                found
                    .never_granted
                    .note(|| format!("{} of {} with token {}", ack.op.as_str(), ack.id, ack.token));
                continue;
            };
            let newer = |allowed: &dyn Fn(u32) -> bool| {
                granted
                    .iter()
                    .find(|(token, later)| *token > ack.token && allowed(*later))
                    .copied()
            };
            let stale = if ack.op.is_terminal() {
                *ends.entry(ack.id.as_str()).or_default() += 1;
                newer(&|_| true)
            } else if ack.op == Op::Retry {
                newer(&|later| later <= attempt)
            } else {
                None
            };
            if let Some((token, later)) = stale {
                found.stale.note(|| {
                    format!(
                        "{} of {} accepted with token {} (attempt {attempt}), token {token} (attempt {later}) granted before",
                        ack.op.as_str(),
                        ack.id,
                        ack.token
                    )
                });
            }
        }
        for (id, count) in ends {
            if count > 1 {
                found
                    .ended_twice
                    .note(|| format!("{id}: {count} accepted ends"));
            }
        }
        for ((id, token), ops) in uses {
            if ops.len() > 1 {
                found.reused.note(|| format!("{id} token {token}: {ops:?}"));
            }
        }
        found
    }

    /// Per resource, the sequence numbers of the started jobs in grant order (the tokens),
    /// with consecutive repeats collapsed, never go down.
    fn order(facts: &FactLog) -> Finding {
        let mut finding = Finding::default();
        let mut by_resource: HashMap<&str, Vec<(u64, u32)>> = HashMap::new();
        for start in &facts.starts {
            if let Some((resource, seq)) = &start.sequence {
                by_resource
                    .entry(resource.as_str())
                    .or_default()
                    .push((start.token, *seq));
            }
        }
        for (resource, mut starts) in by_resource {
            starts.sort_unstable();
            let mut seqs: Vec<u32> = starts.iter().map(|&(_, seq)| seq).collect();
            seqs.dedup();
            for pair in seqs.windows(2) {
                if pair[1] < pair[0] {
                    finding
                        .note(|| format!("{resource}: {} after {} in {seqs:?}", pair[1], pair[0]));
                }
            }
        }
        finding
    }

    /// Counts executions (distinct start facts) and those beyond the first of their attempt,
    /// and finds completed jobs with no recorded start.
    fn executions(snapshot: &Snapshot, facts: &FactLog) -> (usize, usize, Finding) {
        let mut attempts: HashMap<(&str, u32), usize> = HashMap::new();
        for start in &facts.starts {
            *attempts
                .entry((start.id.as_str(), start.attempt))
                .or_default() += 1;
        }
        let executions = facts.starts.len();
        let re_executions = executions - attempts.len();
        let started: HashSet<&str> = attempts.keys().map(|&(id, _)| id).collect();
        let mut unstarted = Finding::default();
        for (id, copies) in &snapshot.jobs {
            if copies[0].state == "completed" && !started.contains(id.as_str()) {
                unstarted.note(|| id.clone());
            }
        }
        (executions, re_executions, unstarted)
    }

    /// What the start and end of every execution show.
    #[derive(Default)]
    struct Concurrency {
        /// Executions that started while another of the same job ran.
        overlapping: Finding,
        /// The longest time two executions of one job ran together (µs).
        worst: u64,
        /// Overlapping executions that started while the earlier one's worker was stalled.
        behind_stall: usize,
        /// Executions whose process was SIGKILLed before their end was recorded.
        killed: usize,
        /// Executions with no end recorded, in a process that was not SIGKILLed.
        unended: Finding,
    }

    /// No two executions of one job overlap in time: sorted by start, each starts after every
    /// earlier one ended. An execution ends when its end was recorded, or when its process was
    /// SIGKILLed (no later than when the coordinator saw it dead).
    fn concurrency(facts: &FactLog, run: &RunFigures) -> Concurrency {
        let mut found = Concurrency::default();
        let mut by_job: HashMap<&str, Vec<(u64, u64, u32)>> = HashMap::new();
        for start in &facts.starts {
            let end = match (facts.ends.get(&start.nonce), run.deaths.get(&start.pid)) {
                (Some(&end), _) => end,
                (None, Some(&(died, Death::Killed))) => {
                    found.killed += 1;
                    died
                }
                (None, death) => {
                    found.unended.note(|| {
                        format!(
                            "{} attempt {} in pid {} ({})",
                            start.id,
                            start.attempt,
                            start.pid,
                            death.map_or("alive at the check".to_owned(), |(_, how)| format!(
                                "{how:?}"
                            ))
                        )
                    });
                    death.map_or(u64::MAX, |&(died, _)| died)
                }
            };
            by_job
                .entry(start.id.as_str())
                .or_default()
                .push((start.at, end, start.pid));
        }
        // (when the later one started, how long they overlapped, job, earlier, later)
        type Span = (u64, u64, u32);
        let mut overlaps: Vec<(u64, u64, &str, Span, Span)> = Vec::new();
        for (id, mut executions) in by_job {
            executions.sort_unstable();
            let mut last_to_end: Option<Span> = None;
            for execution in executions {
                if let Some(earlier) = last_to_end
                    && execution.0 < earlier.1
                {
                    let overlap = earlier.1.min(execution.1) - execution.0;
                    overlaps.push((execution.0, overlap, id, earlier, execution));
                }
                if last_to_end.is_none_or(|earlier| execution.1 > earlier.1) {
                    last_to_end = Some(execution);
                }
            }
        }
        overlaps.sort_unstable();
        let at = |micros: u64| micros.saturating_sub(run.started_at) as f64 / 1e6;
        let ms = |micros: u64| micros / 1_000;
        if let Some(&(_, worst, id, ..)) = overlaps.iter().max_by_key(|overlap| overlap.1) {
            found.worst = worst;
            found
                .overlapping
                .examples
                .push(format!("worst {} ms (job {id}); the first ones", ms(worst)));
        }
        for &(_, overlap, id, earlier, later) in &overlaps {
            let stalled = run.stalls.iter().any(|stall| {
                stall.pid == earlier.2 && stall.from <= later.0 && later.0 <= stall.to
            });
            found.behind_stall += usize::from(stalled);
            found.overlapping.note(|| {
                format!(
                    "job {id}: pid {} ran {:.3}-{:.3} s, pid {} started at {:.3} s ({} ms together{})",
                    earlier.2,
                    at(earlier.0),
                    at(earlier.1),
                    later.2,
                    at(later.0),
                    ms(overlap),
                    if stalled { "; the first one's worker stalled" } else { "" }
                )
            });
        }
        found
    }

    /// A stalled worker starts nothing while stalled (past the first half second, for a grab
    /// answered just before): else some connection of it went around the proxy, and the stall
    /// hung less than it claims.
    fn stall_leaks(facts: &FactLog, run: &RunFigures) -> Finding {
        const SETTLING: u64 = 500_000;
        let mut finding = Finding::default();
        for start in &facts.starts {
            let within = run.stalls.iter().find(|stall| {
                stall.pid == start.pid && stall.from + SETTLING < start.at && start.at < stall.to
            });
            if let Some(stall) = within {
                finding.note(|| {
                    format!(
                        "{} started in pid {} {} ms into its stall",
                        start.id,
                        start.pid,
                        (start.at - stall.from) / 1_000
                    )
                });
            }
        }
        finding
    }

    /// No two jobs with one unique key were live at once (each was created after the one
    /// before it finished), and every `Duplicate` answer named a job with the key asked for.
    fn uniqueness(snapshot: &Snapshot, enqueued: &Enqueued) -> (Finding, Finding) {
        let (mut overlaps, mut wrong) = (Finding::default(), Finding::default());
        let key_of = |id: &str| match snapshot.jobs.get(id).map(|copies| &copies[0].job) {
            Some(Ok(ChaosJob::Once(once))) => Some(once.key),
            _ => None,
        };
        let mut lives: HashMap<u64, Vec<(u64, u64, &str)>> = HashMap::new();
        for (id, copies) in &snapshot.jobs {
            let job = &copies[0];
            if let (Some(key), Some(created)) = (key_of(id), job.created) {
                let finished = job.finished.unwrap_or(u64::MAX);
                lives
                    .entry(key)
                    .or_default()
                    .push((created, finished, id.as_str()));
            }
        }
        for (key, mut lives) in lives {
            lives.sort_unstable();
            let mut latest_end = (0, "");
            for &(created, finished, id) in &lives {
                if created < latest_end.0 {
                    let before = latest_end.1;
                    overlaps.note(|| format!("key {key}: {id} created while {before} was live"));
                }
                latest_end = latest_end.max((finished, id));
            }
        }
        for (key, answered) in &enqueued.duplicates {
            if key.is_none() || *key != key_of(answered) {
                wrong.note(|| format!("key {key:?} answered {answered}"));
            }
        }
        (overlaps, wrong)
    }
}
