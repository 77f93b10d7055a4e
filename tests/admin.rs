//! Operating and observing a namespace against a real Redis: pausing and resuming job types,
//! and a running job's progress.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use job::{Context, Failure, JobSet, JobState, Outcome, Run};
use serde::{Deserialize, Serialize};
use support::{eventually, queue};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct App {
    started: Notify,
    /// Set by `Steps` once it reported its progress; it then waits for `release`.
    reported: Notify,
    release: Notify,
    /// What reporting an oversize progress answered.
    oversize: std::sync::Mutex<Option<String>>,
}

/// Reports its progress three times, and an oversize value once, then waits to be released.
#[derive(job::Job, Serialize, Deserialize)]
#[job(name = "admin.steps")]
struct Steps;

impl Run<App> for Steps {
    async fn run(self, cx: &Context<App>) -> Result<Outcome, Failure> {
        for done in 1..=3 {
            cx.progress(&serde_json::json!({ "done": done, "of": 3 }))
                .await?;
        }
        let big = cx.progress(&"x".repeat(5_000)).await.unwrap_err();
        *cx.state().oversize.lock().unwrap() = Some(big.to_string());
        let release = cx.state().release.notified();
        cx.state().reported.notify_one();
        release.await;
        Ok(Outcome::complete())
    }
}

#[derive(job::Job, Serialize, Deserialize)]
#[job(name = "admin.a")]
struct A {
    millis: u64,
}

impl Run<App> for A {
    async fn run(self, cx: &Context<App>) -> Result<Outcome, Failure> {
        cx.state().started.notify_one();
        tokio::time::sleep(Duration::from_millis(self.millis)).await;
        Ok(Outcome::complete())
    }
}

#[derive(job::Job, Serialize, Deserialize)]
#[job(name = "admin.b")]
struct B;

impl Run<App> for B {
    async fn run(self, _cx: &Context<App>) -> Result<Outcome, Failure> {
        Ok(Outcome::complete())
    }
}

#[derive(JobSet)]
enum Set {
    A(A),
    B(B),
    Steps(Steps),
}

async fn state(q: &support::TestQueue, id: job::JobId) -> JobState {
    q.client().details(id).await.unwrap().unwrap().state
}

/// A paused type's jobs wait, even for a worker already blocked on its wake marker; other
/// types run; a job running at the pause finishes; a resume wakes the blocked worker at once.
#[tokio::test]
async fn a_paused_type_waits_even_for_a_blocked_worker_and_a_resume_wakes_it() {
    let q = queue("admin_pause").await;
    let c = q.client().clone();
    let app = Arc::new(App::default());
    let stop = CancellationToken::new();
    // A long poll: only the wake markers make jobs run within the deadlines below.
    let worker = job::Worker::<Set, App>::new(c.clone(), app.clone())
        .concurrency(2)
        .poll(Duration::from_secs(30));
    let running = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));
    // A job that runs across the pause finishes.
    let long = c.enqueue(A { millis: 300 }).await.unwrap();
    app.started.notified().await;
    assert!(c.pause_type("admin.a").await.unwrap(), "it was running");
    assert!(!c.pause_type("admin.a").await.unwrap(), "already paused");
    assert_eq!(c.paused_types().await.unwrap(), ["admin.a"]);
    eventually(
        Duration::from_secs(5),
        "the running job to finish",
        || async { (state(&q, long).await == JobState::Completed).then_some(()) },
    )
    .await;
    // The worker is idle and blocked now. A's marker wakes it first, then B's: B runs, A waits.
    let waiting = c.enqueue(A { millis: 0 }).await.unwrap();
    let other = c.enqueue(B).await.unwrap();
    eventually(
        Duration::from_secs(5),
        "the other type's job to run",
        || async { (state(&q, other).await == JobState::Completed).then_some(()) },
    )
    .await;
    assert_eq!(
        state(&q, waiting).await,
        JobState::Ready,
        "a paused type's job was taken"
    );
    assert!(c.resume_type("admin.a").await.unwrap(), "it was paused");
    assert!(!c.resume_type("admin.a").await.unwrap(), "already running");
    assert!(c.paused_types().await.unwrap().is_empty());
    // Well before the 30 s poll: the resume woke the worker.
    eventually(
        Duration::from_secs(5),
        "the waiting job to run after the resume",
        || async { (state(&q, waiting).await == JobState::Completed).then_some(()) },
    )
    .await;
    stop.cancel();
    running.await.unwrap().unwrap();
    let error = c.pause_type("a|b").await.unwrap_err().to_string();
    assert!(error.contains("a|b"), "{error}");
    q.cleanup().await.unwrap();
}

/// Drains and schedules still insert a paused type's jobs; a drain runs none of them.
#[tokio::test]
async fn a_paused_type_still_takes_inserts_and_a_drain_leaves_it() {
    let q = queue("admin_inserts").await;
    let c = q.client().clone();
    c.pause_type("admin.b").await.unwrap();
    let ids = [c.enqueue(B).await.unwrap(), c.enqueue(B).await.unwrap()];
    let ran = job::Worker::<Set, App>::new(c.clone(), App::default())
        .drain(10)
        .await
        .unwrap();
    assert_eq!(ran, 0);
    for id in ids {
        assert_eq!(state(&q, id).await, JobState::Ready);
    }
    c.resume_type("admin.b").await.unwrap();
    let ran = job::Worker::<Set, App>::new(c.clone(), App::default())
        .drain(10)
        .await
        .unwrap();
    assert_eq!(ran, 2);
    q.cleanup().await.unwrap();
}

/// A handler's progress shows in `details()` while it runs and after; an oversize value is
/// refused naming the job and both sizes; a stale lease stores nothing.
#[tokio::test]
async fn progress_shows_while_running_and_is_fenced_by_the_lease() {
    use job::backend::{Backend, Lease};
    let q = queue("admin_progress").await;
    let c = q.client().clone();
    let app = Arc::new(App::default());
    let id = c.enqueue(Steps).await.unwrap();
    let stop = CancellationToken::new();
    let reported = app.reported.notified();
    let worker = job::Worker::<Set, App>::new(c.clone(), app.clone());
    let running = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));
    reported.await;
    let details = c.details(id).await.unwrap().unwrap();
    assert_eq!(details.state, JobState::Running);
    let progress: serde_json::Value = serde_json::from_slice(&details.progress.unwrap()).unwrap();
    assert_eq!(progress, serde_json::json!({ "done": 3, "of": 3 }));
    assert!(details.progress_at.is_some());
    let oversize = app.oversize.lock().unwrap().clone().unwrap();
    assert!(
        oversize.contains(&id.to_string())
            && oversize.contains("5002 bytes")
            && oversize.contains("4096"),
        "{oversize}"
    );
    // A lease with another token stores nothing.
    let stale = Lease::new(id, u64::MAX, Duration::from_secs(30));
    assert!(!c.progress(&stale, b"\"stale\"").await.unwrap());
    let after = c.details(id).await.unwrap().unwrap();
    assert_eq!(after.progress, Some(br#"{"done":3,"of":3}"#.to_vec()));
    app.release.notify_one();
    eventually(Duration::from_secs(5), "the job to complete", || async {
        (state(&q, id).await == JobState::Completed).then_some(())
    })
    .await;
    let ended = c.details(id).await.unwrap().unwrap();
    assert_eq!(
        ended.progress,
        Some(br#"{"done":3,"of":3}"#.to_vec()),
        "kept after the end"
    );
    stop.cancel();
    running.await.unwrap().unwrap();
    q.cleanup().await.unwrap();
}

/// A running worker registers itself and its types' options; a tool enqueues a registered type
/// by name with JSON arguments and its real options, and is refused a type no worker knows; a
/// stopped worker unregisters, and one that vanished expires.
#[tokio::test]
async fn workers_register_their_types_and_a_tool_enqueues_by_name() {
    use job::backend::Backend;
    let q = queue("admin_registry").await;
    let c = q.client().clone();
    let stop = CancellationToken::new();
    let worker = job::Worker::<Set, App>::new(c.clone(), App::default())
        .concurrency(3)
        .capabilities(["gpu"]);
    let holder = worker.holder().clone();
    let running = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));
    let seen = eventually(Duration::from_secs(5), "the worker to register", || async {
        let workers = c.workers().await.unwrap();
        (workers.len() == 1).then(|| workers[0].clone())
    })
    .await;
    assert_eq!(seen.holder, holder);
    assert_eq!(seen.types, ["admin.a", "admin.b", "admin.steps"]);
    assert_eq!(seen.capabilities, ["gpu"]);
    assert_eq!(seen.concurrency, 3);
    assert!(seen.seen_ms >= seen.started_ms && seen.started_ms > 0);
    let types = c.job_types().await.unwrap();
    let names: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["admin.a", "admin.b", "admin.steps"]);
    assert_eq!((types[0].max_attempts, types[0].priority), (25, 0));

    // A tool enqueues by name: the job runs, with the registered options.
    let id = c
        .enqueue_json("admin.a", &serde_json::json!({ "millis": 0 }))
        .await
        .unwrap();
    eventually(
        Duration::from_secs(5),
        "the job enqueued by name to run",
        || async { (state(&q, id).await == JobState::Completed).then_some(()) },
    )
    .await;
    assert_eq!(c.details(id).await.unwrap().unwrap().max_attempts, 25);
    let error = c
        .enqueue_json("nobody.knows", &serde_json::json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("nobody.knows"), "{error}");

    stop.cancel();
    running.await.unwrap().unwrap();
    assert!(
        c.workers().await.unwrap().is_empty(),
        "a stopped worker unregisters"
    );

    // One that vanished without a word expires: its last registration is long ago.
    let ghost = job::WorkerInfo::new(job::Holder::current(), vec!["admin.a".into()], vec![], 1);
    c.register(&ghost, &[]).await.unwrap();
    assert_eq!(c.workers().await.unwrap().len(), 1);
    let mut conn = q.connection();
    let seen_key = format!("{}wl", q.shard_prefixes()[0]);
    let _: () = redis::cmd("ZADD")
        .arg(&seen_key)
        .arg(0)
        .arg(&ghost.holder.worker)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        c.workers().await.unwrap().is_empty(),
        "an expired worker is not listed"
    );
    q.cleanup().await.unwrap();
}
