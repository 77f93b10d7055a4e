//! Run with: cargo run --release --example bench -- [scenario args...]
//!
//! The benchmark of issue #4's scenarios, printed as a table and as one JSON line per figure (the
//! same fields as `../shared/bench/bullmq`, for side-by-side ratios):
//!
//! ```text
//! bench enqueue-add N INFLIGHT     enqueue one by one, INFLIGHT at a time   (default 50000 50)
//! bench enqueue-bulk N CHUNK       insert_many in chunks                     (default 50000 1000)
//! bench process N CONCURRENCY      drain a backlog of no-op jobs             (default 50000 10)
//! bench latency N GAP_MS CONC      enqueue -> handler start on an idle worker (default 1000 2 1)
//! bench memory N                   Redis used_memory per waiting job         (default 50000)
//! bench types BACKLOG MEASURED     the first MEASURED jobs of a backlog over 100 types (1000000 50000)
//! bench resources R PER C          R resources x PER jobs each, drained at C (default 10000 5 100)
//! bench slowlog                    the slowest script call (SLOWLOG) where data once made it long
//! bench schedules N SCHEDULERS     N every-minute schedules: all their jobs ready after the minute (10000 3)
//! bench tick-latency N SCHEDULERS  a */1 s schedule: tick -> its job ready, N ticks (default 30 3)
//! bench all                        each of the above once (process at 1, 10, 100)
//! ```
//!
//! `BENCH_LOADING=eval` runs the scripts with `EVALSHA` instead of Redis Functions (`FCALL`).
//!
//! It uses the Redis at `BENCH_REDIS_URL` (default `redis://127.0.0.1:6390`), and starts a private
//! `redis-server` there (no persistence) when none answers; it never uses the shared 6379 unless
//! told to. Keys live under a fresh namespace, deleted after each scenario.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::panic
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use job::redis::{Client, Config, Loading, Retention};
use job::{Context, Dispatch, Failure, Job, JobId, JobSet, NewJob, Outcome, Run};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Notify;

#[path = "../tests/support/slow.rs"]
mod slow;

#[derive(Job, Serialize, Deserialize)]
#[job(name = "noop")]
struct Noop {
    i: u64,
}

#[derive(JobSet)]
enum BenchJob {
    Noop(Noop),
}

/// The 100 type names of the many-types scenario.
const TYPES: [&str; 100] = [
    "t00", "t01", "t02", "t03", "t04", "t05", "t06", "t07", "t08", "t09", "t10", "t11", "t12",
    "t13", "t14", "t15", "t16", "t17", "t18", "t19", "t20", "t21", "t22", "t23", "t24", "t25",
    "t26", "t27", "t28", "t29", "t30", "t31", "t32", "t33", "t34", "t35", "t36", "t37", "t38",
    "t39", "t40", "t41", "t42", "t43", "t44", "t45", "t46", "t47", "t48", "t49", "t50", "t51",
    "t52", "t53", "t54", "t55", "t56", "t57", "t58", "t59", "t60", "t61", "t62", "t63", "t64",
    "t65", "t66", "t67", "t68", "t69", "t70", "t71", "t72", "t73", "t74", "t75", "t76", "t77",
    "t78", "t79", "t80", "t81", "t82", "t83", "t84", "t85", "t86", "t87", "t88", "t89", "t90",
    "t91", "t92", "t93", "t94", "t95", "t96", "t97", "t98", "t99",
];

/// Any of the 100 no-op types: a hand-written job set, as a tool that does not know the types at
/// compile time would write one.
struct AnyNoop;

impl JobSet for AnyNoop {
    const NAMES: &'static [&'static str] = &TYPES;

    fn decode(_name: &str, _payload: &[u8]) -> Result<Self, job::Error> {
        Ok(Self)
    }

    fn options(_name: &str) -> Option<job::JobOptions> {
        Some(job::JobOptions::new())
    }

    fn name(&self) -> &'static str {
        TYPES[0]
    }
}

impl Dispatch<Bench> for AnyNoop {
    async fn dispatch(self, cx: &Context<Bench>) -> Result<Outcome, Failure> {
        Noop { i: u64::MAX }.run(cx).await
    }
}

/// What handlers share: a count of runs, and for the latency scenario the start instants.
struct Bench {
    ran: AtomicUsize,
    target: usize,
    done: Notify,
    started: std::sync::Mutex<Vec<Option<Instant>>>,
}

impl Bench {
    fn new(target: usize, record_starts: bool) -> Arc<Self> {
        Arc::new(Self {
            ran: AtomicUsize::new(0),
            target,
            done: Notify::new(),
            started: std::sync::Mutex::new(if record_starts {
                vec![None; target]
            } else {
                Vec::new()
            }),
        })
    }

    async fn all_done(self: Arc<Self>) {
        loop {
            let notified = self.done.notified();
            if self.ran.load(Ordering::SeqCst) >= self.target {
                return;
            }
            notified.await;
        }
    }
}

impl Run<Bench> for Noop {
    async fn run(self, cx: &Context<Bench>) -> Result<Outcome, Failure> {
        let bench = cx.state();
        if let Some(slot) = bench
            .started
            .lock()
            .unwrap()
            .get_mut(usize::try_from(self.i).unwrap_or(usize::MAX))
        {
            *slot = Some(Instant::now());
        }
        if bench.ran.fetch_add(1, Ordering::SeqCst) + 1 >= bench.target {
            bench.done.notify_one();
        }
        Ok(Outcome::complete())
    }
}

struct Env {
    url: String,
    raw: redis::aio::MultiplexedConnection,
    /// The private redis-server this run started, stopped when the run ends.
    server: Option<std::process::Child>,
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(server) = &mut self.server {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

impl Env {
    async fn start() -> Self {
        let url = std::env::var("BENCH_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6390".to_owned());
        let redis = redis::Client::open(url.as_str()).unwrap();
        let mut server = None;
        if redis.get_multiplexed_async_connection().await.is_err() {
            let port = url
                .rsplit(':')
                .next()
                .unwrap()
                .trim_end_matches('/')
                .to_owned();
            eprintln!("# starting a private redis-server on port {port}");
            server = Some(
                std::process::Command::new("redis-server")
                    .args([
                        "--port",
                        &port,
                        "--bind",
                        "127.0.0.1",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                    ])
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .expect("redis-server is installed"),
            );
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let raw = loop {
            match redis.get_multiplexed_async_connection().await {
                Ok(conn) => break conn,
                Err(error) if Instant::now() > deadline => panic!("no Redis at {url}: {error}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        Self { url, raw, server }
    }

    async fn client(&self) -> Client {
        // Short, like a real app's; unique per scenario (the random tail of a ULID).
        let id = JobId::new().to_string().to_lowercase();
        let namespace = format!("bench:{}", &id[id.len() - 6..]);
        let config = Config::new()
            .namespace(namespace)
            .keep_completed(Retention::none());
        let config = match std::env::var("BENCH_LOADING").as_deref() {
            Ok("eval") => config.loading(Loading::Eval),
            _ => config,
        };
        Client::connect_with(&self.url, config).await.unwrap()
    }

    async fn info(&self, field: &str) -> f64 {
        let text: String = redis::cmd("INFO")
            .query_async(&mut self.raw.clone())
            .await
            .unwrap();
        text.lines()
            .find_map(|line| {
                line.strip_prefix(field)
                    .and_then(|rest| rest.strip_prefix(':'))
            })
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0.0)
    }

    async fn measure(&self) -> Measure {
        Measure {
            cpu0: self.redis_cpu().await,
            client0: client_cpu(),
            t0: Instant::now(),
        }
    }

    async fn redis_cpu(&self) -> f64 {
        self.info("used_cpu_sys").await + self.info("used_cpu_user").await
    }

    async fn cleanup(&self, client: &Client) {
        self.delete_matching(&format!("{}:*", client.namespace()))
            .await;
    }

    async fn delete_matching(&self, pattern: &str) {
        let mut conn = self.raw.clone();
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(10_000)
                .query_async(&mut conn)
                .await
                .unwrap();
            if !keys.is_empty() {
                let _: () = redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
            }
            if next == 0 {
                return;
            }
            cursor = next;
        }
    }
}

/// Wall-clock time and Redis CPU time from one instant on.
struct Measure {
    t0: Instant,
    cpu0: f64,
    client0: f64,
}

/// This process's CPU time in seconds (user + system), from /proc (10 ms resolution).
fn client_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with ')'): utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}

impl Measure {
    /// Prints throughput and Redis CPU per job as a table row and a JSON line.
    async fn report(
        self,
        env: &Env,
        test: &str,
        n: usize,
        detail: String,
        extra: serde_json::Value,
    ) {
        let secs = self.t0.elapsed().as_secs_f64();
        let cpu = (env.redis_cpu().await - self.cpu0) / n as f64 * 1e6;
        let client = (client_cpu() - self.client0) / n as f64 * 1e6;
        let rate = n as f64 / secs;
        row(
            test,
            &detail,
            &format!(
                "{rate:>9.0} jobs/s  {cpu:5.1} us Redis CPU/job  {client:5.1} us client CPU/job"
            ),
        );
        let mut record = json!({"bench": "job", "test": test, "jobs": n, "elapsed_s": secs, "jobs_per_s": rate, "redis_cpu_us_per_job": cpu, "client_cpu_us_per_job": client});
        if let (Some(record), Some(extra)) = (record.as_object_mut(), extra.as_object()) {
            record.extend(extra.clone());
        }
        emit(record);
    }
}

fn emit(record: serde_json::Value) {
    println!("{record}");
}

fn row(test: &str, detail: &str, figures: &str) {
    eprintln!("{test:<28} {detail:<22} {figures}");
}

fn jobs(range: std::ops::Range<u64>) -> Vec<NewJob> {
    range.map(|i| NewJob::new(&Noop { i }).unwrap()).collect()
}

async fn enqueue_add(env: &Env, n: usize, inflight: usize) {
    let client = env.client().await;
    let next = Arc::new(AtomicUsize::new(0));
    let measure = env.measure().await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..inflight {
        let (client, next) = (client.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return;
                }
                client.enqueue(Noop { i: i as u64 }).await.unwrap();
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    measure
        .report(
            env,
            "enqueue one by one",
            n,
            format!("{n} jobs, {inflight} in flight"),
            json!({"inflight": inflight}),
        )
        .await;
    env.cleanup(&client).await;
}

async fn enqueue_bulk(env: &Env, n: usize, chunk: usize) {
    let client = env.client().await;
    let all = jobs(0..n as u64);
    let measure = env.measure().await;
    for part in all.chunks(chunk) {
        client.insert_many(part).await.unwrap();
    }
    measure
        .report(
            env,
            "enqueue bulk",
            n,
            format!("{n} jobs, chunks of {chunk}"),
            json!({"chunk": chunk}),
        )
        .await;
    env.cleanup(&client).await;
}

async fn process(env: &Env, n: usize, concurrency: usize) {
    let detail = format!("{n} jobs, concurrency {concurrency}");
    let extra = json!({"concurrency": concurrency});
    drain::<BenchJob>(
        env,
        jobs(0..n as u64),
        n,
        concurrency,
        "process no-op backlog",
        detail,
        extra,
    )
    .await;
}

/// Inserts `backlog`, then times a worker of set `S` at `concurrency` until `measured` jobs ran.
async fn drain<S: Dispatch<Bench>>(
    env: &Env,
    backlog: Vec<NewJob>,
    measured: usize,
    concurrency: usize,
    test: &str,
    detail: String,
    extra: serde_json::Value,
) {
    let client = env.client().await;
    for part in backlog.chunks(1000) {
        client.insert_many(part).await.unwrap();
    }
    let whole = backlog.len() == measured;
    drop(backlog);
    let bench = Bench::new(measured, false);
    let worker =
        job::Worker::<S, Bench>::new(client.clone(), bench.clone()).concurrency(concurrency);
    let measure = env.measure().await;
    worker.run_until(bench.clone().all_done()).await.unwrap();
    let ran = bench.ran.load(Ordering::SeqCst);
    if whole {
        assert_eq!(ran, measured, "every job ran exactly once");
    } else {
        assert!(ran >= measured, "{ran} of the {measured} jobs ran");
    }
    measure.report(env, test, measured, detail, extra).await;
    env.cleanup(&client).await;
}

async fn latency(env: &Env, n: usize, gap_ms: u64, concurrency: usize) {
    let client = env.client().await;
    let bench = Bench::new(n, true);
    let worker =
        job::Worker::<BenchJob, Bench>::new(client.clone(), bench.clone()).concurrency(concurrency);
    let running = tokio::spawn(worker.run_until(bench.clone().all_done()));
    tokio::time::sleep(Duration::from_millis(500)).await; // the worker is idle, blocked on its markers
    let mut sent = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let target = start + Duration::from_millis(gap_ms * i as u64);
        tokio::time::sleep_until(target.into()).await;
        sent.push(Instant::now());
        client.enqueue(Noop { i: i as u64 }).await.unwrap();
    }
    running.await.unwrap().unwrap();
    let started = bench.started.lock().unwrap().clone();
    let mut millis: Vec<f64> = sent
        .iter()
        .zip(started)
        .map(|(sent, started)| {
            started
                .expect("every job ran")
                .duration_since(*sent)
                .as_secs_f64()
                * 1e3
        })
        .collect();
    millis.sort_by(f64::total_cmp);
    let q = |p: f64| millis[((p * n as f64) as usize).min(n - 1)];
    let (p50, p95, p99, max) = (q(0.5), q(0.95), q(0.99), millis[n - 1]);
    row(
        "latency enqueue->handler",
        &format!("{n} jobs, {gap_ms} ms apart, c={concurrency}"),
        &format!("p50 {p50:.3} ms  p95 {p95:.3} ms  p99 {p99:.3} ms  max {max:.3} ms"),
    );
    emit(
        json!({"bench": "job", "test": "latency enqueue->handler", "jobs": n, "gap_ms": gap_ms, "concurrency": concurrency, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "max_ms": max}),
    );
    env.cleanup(&client).await;
}

async fn resources(env: &Env, count: usize, per: usize, concurrency: usize) {
    let n = count * per;
    // Round-robin over the resources, as independent requests would arrive.
    let backlog: Vec<NewJob> = (0..n)
        .map(|i| {
            NewJob::new(&Noop { i: i as u64 })
                .unwrap()
                .with_resource(format!("r{}", i % count))
        })
        .collect();
    let detail = format!("{count} resources x {per}, c={concurrency}");
    let extra = json!({"resources": count, "per_resource": per, "concurrency": concurrency});
    drain::<BenchJob>(
        env,
        backlog,
        n,
        concurrency,
        "process resource-bound backlog",
        detail,
        extra,
    )
    .await;
}

/// Processing speed with a large backlog spread over 100 types: the first `measured` jobs of a
/// `backlog`-job backlog, at concurrency 100. Flat across backlogs means no step costs
/// O(backlog).
async fn types(env: &Env, backlog: usize, measured: usize) {
    let jobs: Vec<NewJob> = (0..backlog)
        .map(|i| {
            NewJob::from_parts(
                TYPES[i % TYPES.len()],
                br#"{"i":0}"#.to_vec(),
                job::JobOptions::new(),
            )
        })
        .collect();
    let detail = format!("{measured} of {backlog} jobs, c=100");
    let extra = json!({"backlog": backlog, "types": TYPES.len(), "concurrency": 100});
    drain::<AnyNoop>(
        env,
        jobs,
        measured,
        100,
        "process a backlog over 100 types",
        detail,
        extra,
    )
    .await;
}

async fn memory(env: &Env, n: usize) {
    let client = env.client().await;
    let all = jobs(0..n as u64);
    let before = env.info("used_memory").await;
    for part in all.chunks(1000) {
        client.insert_many(part).await.unwrap();
    }
    let after = env.info("used_memory").await;
    let per_job = (after - before) / n as f64;
    row(
        "memory per waiting job",
        &format!("{n} jobs"),
        &format!("{per_job:>9.0} bytes/job"),
    );
    emit(
        json!({"bench": "job", "test": "memory", "jobs": n, "bytes_per_job": per_job, "used_memory_delta": after - before}),
    );
    env.cleanup(&client).await;
}

/// The slowest script call in each case whose cost once grew with the data (see
/// `tests/support/slow.rs`), on the bench Redis.
async fn slowlog(env: &Env) {
    let log = slow::Slowlog::new(&env.url).await;
    let mut cases = vec![
        (
            "failed create, 100k queued",
            slow::failed_create(&log, 100_000).await,
        ),
        (
            "filtered grab, 60 x 1500",
            slow::filtered_grab(&log, 60, 1_500).await,
        ),
    ];
    for (call, slowest) in slow::large_calls(&log, 100_000).await {
        let case = match call {
            "grab" => "grab of 100k leases",
            "heartbeat" => "heartbeat of 100k leases",
            _ => "complete of 100k leases",
        };
        cases.push((case, slowest));
    }
    cases.push((
        "cancel at a 1M list's tail",
        slow::cancel_at_tail(&log, 1_000_000).await,
    ));
    cases.push(("widest replaces", slow::wide_replace(&log).await));
    cases.push((
        "5000 + 5000 heavy inserts",
        slow::heavy_inserts(&log, 5_000).await,
    ));
    cases.push((
        "retention shortened, 1M stored",
        slow::shortened_retention(&log, 1_000_000).await.0,
    ));
    cases.push((
        "schedule backfill, claims, list",
        slow::schedule_calls(&log).await,
    ));
    for (case, slowest) in cases {
        row(
            "slowlog",
            case,
            &format!("{:7.2} ms  {}", slowest.millis(), slowest.command),
        );
        emit(
            json!({"bench": "job", "test": "slowlog", "case": case, "slowest_ms": slowest.millis()}),
        );
    }
    env.delete_matching("slow:*").await;
}

/// Runs `count` schedulers, each a client with connections of its own, until `stop`.
async fn run_schedulers(
    env: &Env,
    namespace: &str,
    count: usize,
    stop: &tokio_util::sync::CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut running = Vec::new();
    for _ in 0..count {
        let config = Config::new().namespace(namespace);
        let client = Client::connect_with(&env.url, config).await.unwrap();
        let stop = stop.clone();
        running.push(tokio::spawn(async move {
            client.run_schedules(stop.cancelled_owned()).await.unwrap();
        }));
    }
    running
}

/// How many jobs wait in the no-op queue.
async fn waiting(env: &Env, client: &Client) -> usize {
    redis::cmd("LLEN")
        .arg(format!("{}:{{0}}:l:noop", client.namespace()))
        .query_async(&mut env.raw.clone())
        .await
        .unwrap()
}

fn epoch_ms() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// `n` schedules that fire every minute and `schedulers` schedulers: how long after the minute
/// the last (and the first) of the minute's jobs is ready, and the Redis CPU per fire.
async fn schedules(env: &Env, n: usize, schedulers: usize) {
    let client = env.client().await;
    for chunk in (0..n).collect::<Vec<_>>().chunks(200) {
        futures_util::future::join_all(chunk.iter().map(|i| {
            let client = client.clone();
            async move {
                let schedule = job::Schedule::every(format!("s{i}"), Duration::from_secs(60))
                    .unwrap()
                    .job(Noop { i: *i as u64 })
                    .unwrap();
                client.upsert_schedule(&schedule).await.unwrap();
            }
        }))
        .await;
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let running = run_schedulers(env, client.namespace(), schedulers, &stop).await;
    // Let them plan every schedule's first tick, then wait for the minute.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let minute = (epoch_ms() / 60_000 + 1) * 60_000;
    if minute - epoch_ms() < 1_000 {
        panic!("started too close to the minute; run it again");
    }
    tokio::time::sleep(Duration::from_millis(minute - epoch_ms() - 500)).await;
    let measure = env.measure().await;
    let (mut first, mut last) = (None, None);
    while last.is_none() {
        let ready = waiting(env, &client).await;
        let late = epoch_ms().saturating_sub(minute);
        if ready > 0 && first.is_none() {
            first = Some(late);
        }
        if ready >= n {
            last = Some(late);
        }
        assert!(
            late < 30_000,
            "only {ready} of {n} jobs ready 30 s after the minute"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let cpu = (env.redis_cpu().await - measure.cpu0) / n as f64 * 1e6;
    stop.cancel();
    for task in running {
        task.await.unwrap();
    }
    let (first, last) = (first.unwrap_or(0), last.unwrap_or(0));
    row(
        "schedules",
        &format!("{n} every-minute schedules, {schedulers} schedulers"),
        &format!(
            "all ready {last} ms after the minute (first {first} ms), {cpu:.1} us Redis CPU/fire"
        ),
    );
    emit(
        json!({"bench": "job", "test": "schedules", "schedules": n, "schedulers": schedulers,
        "all_ready_ms": last, "first_ready_ms": first, "redis_cpu_us_per_fire": cpu}),
    );
    env.cleanup(&client).await;
}

/// One schedule that fires every second and `schedulers` schedulers on an idle Redis: how long
/// after each tick its job is ready, over `n` ticks.
async fn tick_latency(env: &Env, n: usize, schedulers: usize) {
    let client = env.client().await;
    let schedule = job::Schedule::cron("every-second", "*/1 * * * * *")
        .unwrap()
        .job(Noop { i: 0 })
        .unwrap();
    client.upsert_schedule(&schedule).await.unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let running = run_schedulers(env, client.namespace(), schedulers, &stop).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut seen = waiting(env, &client).await;
    let mut late = Vec::with_capacity(n);
    while late.len() < n {
        let now = epoch_ms();
        let ready = waiting(env, &client).await;
        if ready > seen {
            late.push((now % 1000) as f64);
            seen = ready;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    stop.cancel();
    for task in running {
        task.await.unwrap();
    }
    late.sort_by(f64::total_cmp);
    let p50 = late[late.len() / 2];
    let p99 = late[(late.len() * 99 / 100).min(late.len() - 1)];
    row(
        "tick-latency",
        &format!("{n} ticks of a */1 s schedule, {schedulers} schedulers"),
        &format!(
            "p50 {p50:.0} ms  p99 {p99:.0} ms  max {:.0} ms after the tick",
            late[late.len() - 1]
        ),
    );
    emit(
        json!({"bench": "job", "test": "tick-latency", "ticks": n, "schedulers": schedulers,
        "p50_ms": p50, "p99_ms": p99, "max_ms": late[late.len() - 1]}),
    );
    env.cleanup(&client).await;
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let env = Env::start().await;
    match args.first().map(String::as_str).unwrap_or("all") {
        "enqueue-add" => enqueue_add(&env, arg(1, 50_000), arg(2, 50)).await,
        "enqueue-bulk" => enqueue_bulk(&env, arg(1, 50_000), arg(2, 1000)).await,
        "process" => process(&env, arg(1, 50_000), arg(2, 10)).await,
        "latency" => latency(&env, arg(1, 1000), arg(2, 2) as u64, arg(3, 1)).await,
        "memory" => memory(&env, arg(1, 50_000)).await,
        "types" => types(&env, arg(1, 1_000_000), arg(2, 50_000)).await,
        "resources" => resources(&env, arg(1, 10_000), arg(2, 5), arg(3, 100)).await,
        "slowlog" => slowlog(&env).await,
        "schedules" => schedules(&env, arg(1, 10_000), arg(2, 3)).await,
        "tick-latency" => tick_latency(&env, arg(1, 30), arg(2, 3)).await,
        "all" => {
            enqueue_add(&env, 50_000, 50).await;
            enqueue_bulk(&env, 50_000, 1000).await;
            for concurrency in [1, 10, 100] {
                process(&env, 50_000, concurrency).await;
            }
            latency(&env, 1000, 2, 1).await;
            latency(&env, 1000, 2, 10).await;
            memory(&env, 50_000).await;
            resources(&env, 10_000, 5, 100).await;
            for backlog in [50_000, 200_000, 1_000_000] {
                types(&env, backlog, 50_000).await;
            }
            slowlog(&env).await;
            tick_latency(&env, 30, 3).await;
            schedules(&env, 10_000, 3).await;
        }
        other => panic!(
            "unknown scenario `{other}`: enqueue-add, enqueue-bulk, process, latency, memory, types, resources, slowlog, schedules, tick-latency or all"
        ),
    }
}
