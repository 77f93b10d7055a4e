//! The worker runtime end to end: typed dispatch, outcomes, failures, leases and shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use job::{Context, Failure, FailureKind, Job, JobSet, JobState, NewJob, Outcome, Run};
use serde::{Deserialize, Serialize};
use support::{eventually, queue};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct App {
    runs: AtomicU32,
    started: Notify,
    seen: std::sync::Mutex<Vec<String>>,
}

impl App {
    fn saw(&self, what: impl Into<String>) {
        self.seen.lock().unwrap().push(what.into());
    }
}

#[derive(Job, Serialize, Deserialize)]
#[job(name = "w.add")]
struct Add {
    a: i64,
    b: i64,
}

impl Run<App> for Add {
    async fn run(self, cx: &Context<App>) -> Result<Outcome, Failure> {
        cx.state().saw(format!("add {}", self.a + self.b));
        Ok(Outcome::complete_with(&(self.a + self.b)))
    }
}

#[derive(Job, Serialize, Deserialize)]
#[job(name = "w.flaky", max_attempts = 3, backoff(fixed = "0ms"))]
struct Flaky {
    fail_times: u32,
}

impl Run<App> for Flaky {
    async fn run(self, cx: &Context<App>) -> Result<Outcome, Failure> {
        cx.state().runs.fetch_add(1, Ordering::SeqCst);
        if cx.attempt() <= self.fail_times {
            let history = cx.failures().await?;
            assert_eq!(
                history.len() as u32,
                cx.attempt() - 1,
                "the handler sees its failure history"
            );
            // `?` on any error is a retry.
            "not a number".parse::<u32>()?;
        }
        Ok(Outcome::complete())
    }
}

#[derive(Job, Serialize, Deserialize)]
#[job(name = "w.fatal")]
struct Fatal;

impl Run<App> for Fatal {
    async fn run(self, _cx: &Context<App>) -> Result<Outcome, Failure> {
        Err(Failure::fatal("the account is closed"))
    }
}

#[derive(Job, Serialize, Deserialize)]
#[job(name = "w.panics", max_attempts = 2, backoff(fixed = "0ms"))]
struct Panics;

impl Run<App> for Panics {
    async fn run(self, _cx: &Context<App>) -> Result<Outcome, Failure> {
        panic!("boom in the handler");
    }
}

#[derive(Job, Serialize, Deserialize)]
#[job(name = "w.slow", timeout = "100ms", max_attempts = 1)]
struct Slow;

impl Run<App> for Slow {
    async fn run(self, cx: &Context<App>) -> Result<Outcome, Failure> {
        cx.state().saw("slow started");
        tokio::time::sleep(Duration::from_secs(3600)).await;
        cx.state().saw("slow finished");
        Ok(Outcome::complete())
    }
}

/// A job that takes a moment.
#[derive(Job, Serialize, Deserialize)]
#[job(name = "w.nap", lease = "20s")]
struct Nap {
    millis: u64,
}

impl Run<App> for Nap {
    async fn run(self, cx: &Context<App>) -> Result<Outcome, Failure> {
        cx.state().runs.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(self.millis)).await;
        Ok(Outcome::complete())
    }
}

#[derive(Job, Serialize, Deserialize)]
#[job(name = "w.fan")]
struct Fan {
    children: u32,
}

impl Run<App> for Fan {
    async fn run(self, _cx: &Context<App>) -> Result<Outcome, Failure> {
        let mut children: Vec<NewJob> = (0..self.children)
            .map(|n| NewJob::new(&Add { a: n.into(), b: 0 }))
            .collect::<Result<_, _>>()?;
        children.push(NewJob::new(&Fatal)?);
        Ok(Outcome::replace_with(children))
    }
}

#[derive(Job, Serialize, Deserialize)]
#[job(name = "w.later", max_defers = 2)]
struct Later;

impl Run<App> for Later {
    async fn run(self, cx: &Context<App>) -> Result<Outcome, Failure> {
        cx.state().runs.fetch_add(1, Ordering::SeqCst);
        Ok(Outcome::defer(Duration::ZERO))
    }
}

#[derive(Job, Serialize, Deserialize)]
#[job(name = "w.long", lease = "300ms")]
struct Long {
    millis: u64,
}

impl Run<App> for Long {
    async fn run(self, cx: &Context<App>) -> Result<Outcome, Failure> {
        cx.state().runs.fetch_add(1, Ordering::SeqCst);
        cx.state().started.notify_one();
        tokio::time::sleep(Duration::from_millis(self.millis)).await;
        if cx.is_cancelled() {
            return Err(Failure::retry("cancelled"));
        }
        Ok(Outcome::complete())
    }
}

#[derive(Job, Serialize, Deserialize)]
#[job(name = "w.watch", lease = "300ms")]
struct Watch;

impl Run<App> for Watch {
    async fn run(self, cx: &Context<App>) -> Result<Outcome, Failure> {
        cx.heartbeat().await?;
        cx.state().saw("heartbeat ok");
        cx.state().started.notify_one();
        tokio::select! {
            () = cx.cancelled() => cx.state().saw("cancelled"),
            () = tokio::time::sleep(Duration::from_secs(20)) => cx.state().saw("not cancelled"),
        }
        match cx.heartbeat().await {
            Err(job::Error::LeaseLost { id }) if id == cx.id() => cx.state().saw("heartbeat lost"),
            other => cx.state().saw(format!("heartbeat {other:?}")),
        }
        Ok(Outcome::complete())
    }
}

/// Retries itself after an explicit delay, or replaces itself forever, or with a huge child.
#[derive(Job, Serialize, Deserialize)]
#[job(name = "w.odd")]
struct Odd(Oddity);

#[derive(Serialize, Deserialize)]
enum Oddity {
    RetryAfter { millis: u64 },
    Forever,
    HugeChild,
}

impl Run<App> for Odd {
    async fn run(self, _cx: &Context<App>) -> Result<Outcome, Failure> {
        match self.0 {
            Oddity::RetryAfter { millis } => Err(Failure::retry_after(
                Duration::from_millis(millis),
                "come back later",
            )),
            Oddity::Forever => Ok(Outcome::replace([Odd(Oddity::Forever)])),
            Oddity::HugeChild => {
                let child = NewJob::from_parts("w.add", vec![b' '; 600 * 1024], Add::OPTIONS);
                Ok(Outcome::replace_with(vec![child]))
            }
        }
    }
}

#[derive(JobSet)]
enum AppJob {
    Odd(Odd),
    Watch(Watch),
    Add(Add),
    Flaky(Flaky),
    Fatal(Fatal),
    Panics(Panics),
    Slow(Slow),
    Fan(Fan),
    Later(Later),
    Long(Long),
    Nap(Nap),
}

type Worker = job::Worker<AppJob, App>;

async fn state_of(q: &support::TestQueue, id: job::JobId) -> JobState {
    q.client().details(id).await.unwrap().unwrap().state
}

#[tokio::test]
async fn dispatch_runs_each_type_and_stores_results() {
    let q = queue("dispatch").await;
    let id = q.client().enqueue(Add { a: 2, b: 3 }).await.unwrap();
    let ran = q.drain::<AppJob, App>(App::default(), 100).await.unwrap();
    assert_eq!(ran, 1);
    let details = q.client().details(id).await.unwrap().unwrap();
    assert_eq!(details.state, JobState::Completed);
    assert_eq!(details.result.as_deref(), Some(&b"5"[..]));
    assert!(details.started.is_some() && details.finished >= details.started);
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn retries_follow_the_policy_and_attempts_run_out() {
    let q = queue("retries").await;
    let ok = q.client().enqueue(Flaky { fail_times: 2 }).await.unwrap();
    let spent = q.client().enqueue(Flaky { fail_times: 5 }).await.unwrap();
    let app = App::default();
    q.drain::<AppJob, App>(app, 100).await.unwrap();
    let details = q.client().details(ok).await.unwrap().unwrap();
    assert_eq!(
        (details.state, details.attempts, details.failures.len()),
        (JobState::Completed, 3, 2)
    );
    assert!(
        details.failures[0].message.contains("invalid digit"),
        "{:?}",
        details.failures[0]
    );
    let details = q.client().details(spent).await.unwrap().unwrap();
    assert_eq!(
        (details.state, details.attempts),
        (JobState::Failed, 3),
        "max_attempts = 3"
    );
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn fatal_panic_timeout_and_bad_payload_are_recorded() {
    let q = queue("failures").await;
    let c = q.client();
    let fatal = c.enqueue(Fatal).await.unwrap();
    let panics = c.enqueue(Panics).await.unwrap();
    let slow = c.enqueue(Slow).await.unwrap();
    let bad = NewJob::from_parts("w.add", br#"{"a":1}"#.to_vec(), Add::OPTIONS);
    c.insert(bad.clone()).await.unwrap();
    let app = Arc::new(App::default());
    q.drain::<AppJob, App>(app.clone(), 100).await.unwrap();

    let details = c.details(fatal).await.unwrap().unwrap();
    assert_eq!(
        (details.state, details.attempts),
        (JobState::Failed, 1),
        "fatal: no retry"
    );
    assert_eq!(details.failures[0].kind, FailureKind::Fatal);
    assert_eq!(details.failures[0].message, "the account is closed");

    let details = c.details(panics).await.unwrap().unwrap();
    assert_eq!(
        (details.state, details.attempts),
        (JobState::Failed, 2),
        "a panic is a retry"
    );
    assert_eq!(details.failures[0].kind, FailureKind::Panic);
    assert!(
        details.failures[0].message.contains("boom in the handler"),
        "{}",
        details.failures[0].message
    );

    let details = c.details(slow).await.unwrap().unwrap();
    assert_eq!(details.state, JobState::Failed);
    assert_eq!(details.failures[0].kind, FailureKind::Timeout);

    let details = c.details(bad.id()).await.unwrap().unwrap();
    assert_eq!(
        (details.state, details.attempts),
        (JobState::Failed, 1),
        "a bad payload is not retried"
    );
    assert_eq!(details.failures[0].kind, FailureKind::Decode);
    let message = &details.failures[0].message;
    assert!(
        message.contains("w.add") && message.contains("missing field `b`"),
        "{message}"
    );
    assert_eq!(
        *app.seen.lock().unwrap(),
        ["slow started"],
        "the timeout stops the handler"
    );
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn replace_children_run_and_defers_are_limited() {
    let q = queue("worker_replace").await;
    let c = q.client();
    let fan = c.enqueue(Fan { children: 3 }).await.unwrap();
    let later = c.enqueue(Later).await.unwrap();
    let app = Arc::new(App::default());
    let ran = q.drain::<AppJob, App>(app.clone(), 100).await.unwrap();
    // fan + 3 adds + fatal child + later run 3 times (the third defer passes the limit of 2)
    assert_eq!(ran, 8);
    assert_eq!(state_of(&q, fan).await, JobState::Completed);
    let mut seen = app.seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, ["add 0", "add 1", "add 2"]);
    let details = c.details(later).await.unwrap().unwrap();
    assert_eq!(
        (details.state, details.attempts, details.defers),
        (JobState::Failed, 0, 3)
    );
    assert_eq!(
        details.failures.last().map(|f| f.kind),
        Some(FailureKind::DeferLimit)
    );
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn idle_worker_wakes_for_new_and_delayed_jobs() {
    let q = queue("idle_wake").await;
    let c = q.client().clone();
    let stop = CancellationToken::new();
    // A long poll: only the wake markers can make the jobs run within the deadline.
    let worker = Worker::new(c.clone(), App::default()).poll(Duration::from_secs(30));
    let running = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));
    tokio::time::sleep(Duration::from_millis(100)).await; // let it block first
    let now = c.enqueue(Add { a: 1, b: 1 }).await.unwrap();
    let later = c
        .enqueue_in(Duration::from_millis(300), Add { a: 2, b: 2 })
        .await
        .unwrap();
    for id in [now, later] {
        eventually(Duration::from_secs(5), "the job to complete", || async {
            (state_of(&q, id).await == JobState::Completed).then_some(())
        })
        .await;
    }
    stop.cancel();
    running.await.unwrap().unwrap();
    q.cleanup().await.unwrap();
}

/// A job that finishes while the worker waits for work (no grab comes before its poll ends, or
/// before the job's lease would run out: 20 s) is completed at once: by the ack task, also at
/// concurrency 1, where completions otherwise ride with the next grab.
#[tokio::test]
async fn a_job_finishing_while_the_worker_waits_is_completed_at_once() {
    for concurrency in [1, 4] {
        job_finishing_while_the_worker_waits(concurrency).await;
    }
}

async fn job_finishing_while_the_worker_waits(concurrency: usize) {
    let q = queue("idle_complete").await;
    let c = q.client().clone();
    let app = Arc::new(App::default());
    let stop = CancellationToken::new();
    let worker = Worker::new(c.clone(), app.clone())
        .concurrency(concurrency)
        .poll(Duration::from_secs(30));
    let running = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));
    let id = c.enqueue(Nap { millis: 300 }).await.unwrap();
    eventually(Duration::from_secs(2), "the job to complete", || async {
        (state_of(&q, id).await == JobState::Completed).then_some(())
    })
    .await;
    assert_eq!(app.runs.load(Ordering::SeqCst), 1);
    stop.cancel();
    running.await.unwrap().unwrap();
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn heartbeats_keep_a_job_longer_than_its_lease_from_a_second_worker() {
    let q = queue("worker_heartbeat").await;
    let c = q.client().clone();
    let id = c.enqueue(Long { millis: 1_200 }).await.unwrap(); // lease 300 ms
    let app = Arc::new(App::default());
    let stop = CancellationToken::new();
    let first =
        tokio::spawn(Worker::new(c.clone(), app.clone()).run_until(stop.clone().cancelled_owned()));
    let second =
        tokio::spawn(Worker::new(c.clone(), app.clone()).run_until(stop.clone().cancelled_owned()));
    eventually(
        Duration::from_secs(10),
        "the long job to complete",
        || async { (state_of(&q, id).await == JobState::Completed).then_some(()) },
    )
    .await;
    stop.cancel();
    first.await.unwrap().unwrap();
    second.await.unwrap().unwrap();
    let details = c.details(id).await.unwrap().unwrap();
    assert_eq!(
        app.runs.load(Ordering::SeqCst),
        1,
        "renewed every lease/4: never run twice"
    );
    assert_eq!((details.attempts, details.lease_expiries), (1, 0));
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn graceful_shutdown_hands_unfinished_jobs_back() {
    let q = queue("shutdown").await;
    let c = q.client().clone();
    let quick = c.enqueue(Long { millis: 10 }).await.unwrap();
    let long = c.enqueue(Long { millis: 60_000 }).await.unwrap();
    let app = Arc::new(App::default());
    let stop = CancellationToken::new();
    let worker = Worker::new(c.clone(), app.clone())
        .concurrency(2)
        .grace(Duration::from_millis(200));
    let running = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));
    eventually(Duration::from_secs(5), "both jobs to start", || async {
        (app.runs.load(Ordering::SeqCst) == 2).then_some(())
    })
    .await;
    stop.cancel();
    running.await.unwrap().unwrap();
    assert_eq!(
        state_of(&q, quick).await,
        JobState::Completed,
        "finished within the grace period"
    );
    let details = c.details(long).await.unwrap().unwrap();
    assert_eq!(
        (details.state, details.attempts),
        (JobState::Ready, 0),
        "handed back without an attempt"
    );
    assert!(details.failures.is_empty());
    q.cleanup().await.unwrap();
}

/// At concurrency 1, where completions ride with the next grab and no grab follows a shutdown:
/// a job that finishes within the grace period is completed all the same, and one that does
/// not is handed back. One job at a time (on a Cluster the shards take turns, so two jobs
/// enqueued together may start in either order).
#[tokio::test]
async fn at_concurrency_1_shutdown_completes_a_job_finishing_in_grace_and_hands_back_the_rest() {
    let q = queue("shutdown_c1").await;
    let c = q.client().clone();
    for (millis, grace, expected) in [
        (300, Duration::from_secs(5), JobState::Completed),
        (60_000, Duration::from_millis(200), JobState::Ready),
    ] {
        let id = c.enqueue(Long { millis }).await.unwrap();
        let app = Arc::new(App::default());
        let stop = CancellationToken::new();
        let worker = Worker::new(c.clone(), app.clone())
            .concurrency(1)
            .grace(grace);
        let running = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));
        eventually(Duration::from_secs(5), "the job to start", || async {
            (app.runs.load(Ordering::SeqCst) == 1).then_some(())
        })
        .await;
        stop.cancel();
        running.await.unwrap().unwrap();
        let details = c.details(id).await.unwrap().unwrap();
        assert_eq!(
            (details.state, details.attempts),
            (expected, u32::from(expected == JobState::Completed)),
            "a {millis} ms job"
        );
    }
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_worker_dropped_mid_job_loses_nothing() {
    let q = queue("dropped").await;
    let c = q.client().clone();
    let id = c.enqueue(Long { millis: 100 }).await.unwrap(); // lease 300 ms
    let app = Arc::new(App::default());
    let crashed =
        tokio::spawn(Worker::new(c.clone(), app.clone()).run_until(std::future::pending()));
    app.started.notified().await;
    crashed.abort(); // no shutdown, no hand-back: as if the process died
    let _ = crashed.await;
    assert_eq!(state_of(&q, id).await, JobState::Running);
    let stop = CancellationToken::new();
    let rescuer =
        tokio::spawn(Worker::new(c.clone(), app.clone()).run_until(stop.clone().cancelled_owned()));
    eventually(
        Duration::from_secs(10),
        "another worker to finish the job",
        || async { (state_of(&q, id).await == JobState::Completed).then_some(()) },
    )
    .await;
    stop.cancel();
    rescuer.await.unwrap().unwrap();
    let details = c.details(id).await.unwrap().unwrap();
    assert_eq!(
        (details.attempts, details.lease_expiries),
        (1, 1),
        "the lost run counts as an expiry, not an attempt"
    );
    assert_eq!(app.runs.load(Ordering::SeqCst), 2);
    q.cleanup().await.unwrap();
}

/// `run_until` runs its loop as a task of its own; dropping the future that runs the worker
/// stops that task too, so a dropped worker grabs nothing more.
#[tokio::test]
async fn dropping_the_run_future_stops_the_worker() {
    let q = queue("dropped_future").await;
    let c = q.client().clone();
    let first = c.enqueue(Add { a: 1, b: 1 }).await.unwrap();
    let app = Arc::new(App::default());
    let running = Worker::new(c.clone(), app.clone()).run_until(std::future::pending());
    let done = eventually(
        Duration::from_secs(5),
        "the first job to complete",
        || async { (state_of(&q, first).await == JobState::Completed).then_some(()) },
    );
    tokio::select! {
        ended = running => panic!("the worker stopped by itself: {ended:?}"),
        () = done => {}
    }
    // The run future is dropped: a job enqueued now is left for another worker.
    let second = c.enqueue(Add { a: 2, b: 2 }).await.unwrap();
    let other = Arc::new(App::default());
    let ran = Worker::new(c.clone(), other.clone())
        .drain(10)
        .await
        .unwrap();
    assert_eq!(ran, 1, "the second job was still there for another worker");
    assert_eq!(state_of(&q, second).await, JobState::Completed);
    assert_eq!(*app.seen.lock().unwrap(), ["add 2"]);
    assert_eq!(*other.seen.lock().unwrap(), ["add 4"]);
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_handler_whose_lease_is_lost_is_cancelled_and_its_outcome_refused() {
    let q = queue("lease_lost").await;
    let c = q.client().clone();
    let id = c.enqueue(Watch).await.unwrap();
    let app = Arc::new(App::default());
    let stop = CancellationToken::new();
    let worker =
        tokio::spawn(Worker::new(c.clone(), app.clone()).run_until(stop.clone().cancelled_owned()));
    app.started.notified().await;
    // Make the lease run out now, as a long GC pause or a network partition would, and let
    // another worker take the job.
    let raw = q.connection();
    let prefix = q.shard_prefix_of(id).await.unwrap().unwrap();
    let leases = format!("{prefix}leases");
    let h = support::holder();
    let grab = job::backend::Grab::new(&["w.watch"], 1, Duration::from_secs(30), &h);
    // The worker's heartbeat may renew the lease, or the worker itself take the job again (and
    // cancel its old handler), between the two calls: try until this "other worker" has it.
    let other = eventually(
        Duration::from_secs(5),
        "another worker to take the job",
        || async {
            let _: () = redis::cmd("ZADD")
                .arg(&leases)
                .arg(0)
                .arg(id.to_string())
                .query_async(&mut raw.clone())
                .await
                .unwrap();
            job::backend::Backend::grab(&c, &grab)
                .await
                .unwrap()
                .jobs
                .pop()
        },
    )
    .await;
    let acks =
        job::backend::Backend::complete(&c, &[job::backend::Completion::new(other.lease, None)])
            .await
            .unwrap();
    assert_eq!(acks, [job::backend::Ack::Ok]);
    let count = |what: &str| {
        app.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| *s == what)
            .count()
    };
    eventually(
        Duration::from_secs(5),
        "every run to see its lease lost",
        || async { (count("heartbeat ok") == count("heartbeat lost")).then_some(()) },
    )
    .await;
    stop.cancel();
    worker.await.unwrap().unwrap();
    let runs = count("heartbeat ok");
    assert!(runs >= 1);
    assert_eq!(
        (count("cancelled"), count("heartbeat lost")),
        (runs, runs),
        "{:?}",
        app.seen.lock().unwrap()
    );
    let details = c.details(id).await.unwrap().unwrap();
    assert_eq!(
        details.state,
        JobState::Completed,
        "by the other worker; the first one's completion was refused"
    );
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn test_queue_lists_enqueued_jobs_with_their_delay() {
    let q = queue("enqueued").await;
    let c = q.client();
    c.enqueue(Add { a: 1, b: 2 }).await.unwrap();
    c.enqueue_in(Duration::from_secs(600), Add { a: 3, b: 4 })
        .await
        .unwrap();
    c.enqueue(Fatal).await.unwrap();
    let adds = q.enqueued::<Add>().await.unwrap();
    let seen: Vec<_> = adds
        .iter()
        .map(|e| (e.job.a, e.job.b, e.delay.is_some()))
        .collect();
    assert_eq!(seen, [(1, 2, false), (3, 4, true)]);
    let delay = adds[1].delay.unwrap();
    assert!(
        delay > Duration::from_secs(590) && delay <= Duration::from_secs(600),
        "{delay:?}"
    );
    assert_eq!(q.enqueued::<Fatal>().await.unwrap().len(), 1);
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn an_explicit_retry_delay_overrides_the_backoff() {
    let q = queue("retry_after").await;
    let c = q.client();
    let id = c
        .enqueue(Odd(Oddity::RetryAfter { millis: 60_000 }))
        .await
        .unwrap();
    q.drain::<AppJob, App>(App::default(), 10).await.unwrap();
    let details = c.details(id).await.unwrap().unwrap();
    assert_eq!(details.state, JobState::Delayed);
    let wait = details
        .run_at
        .unwrap()
        .duration_since(std::time::SystemTime::now())
        .unwrap();
    assert!(
        wait > Duration::from_secs(50) && wait <= Duration::from_secs(60),
        "{wait:?}"
    );
    assert_eq!(details.failures[0].message, "come back later");
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_drain_stops_at_its_limit_for_a_job_that_never_ends() {
    let q = queue("drain_limit").await;
    q.client().enqueue(Odd(Oddity::Forever)).await.unwrap();
    let error = q.drain::<AppJob, App>(App::default(), 5).await.unwrap_err();
    assert!(
        matches!(error, job::Error::DrainLimit { limit: 5 }),
        "{error}"
    );
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_replace_whose_child_is_too_large_fails_the_parent_and_stores_no_child() {
    let q = queue("huge_child").await;
    let c = q.client();
    let id = c.enqueue(Odd(Oddity::HugeChild)).await.unwrap();
    q.drain::<AppJob, App>(App::default(), 10).await.unwrap();
    let details = c.details(id).await.unwrap().unwrap();
    assert_eq!(details.state, JobState::Failed);
    let message = &details.failures[0].message;
    assert!(
        message.contains("replace failed") && message.contains("over the limit"),
        "{message}"
    );
    assert!(
        q.enqueued::<Add>().await.unwrap().is_empty(),
        "no child was stored"
    );
    q.cleanup().await.unwrap();
}
