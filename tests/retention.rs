//! Retention holds under load and while idle: completed, failed and cancelled jobs are kept up
//! to their count (within one call's additions) and for their age, and no longer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use job::redis::{Client, Config, Retention};
use job::{Context, Failure, JobId, JobSet, NewJob, Outcome, Run};
use serde::{Deserialize, Serialize};
use support::{PrivateRedis, eventually};
use tokio_util::sync::CancellationToken;

#[derive(job::Job, Serialize, Deserialize)]
#[job(name = "keep.noop")]
struct Noop {
    i: u64,
}

impl Run<()> for Noop {
    async fn run(self, _cx: &Context<()>) -> Result<Outcome, Failure> {
        Ok(Outcome::complete())
    }
}

#[derive(job::Job, Serialize, Deserialize)]
#[job(name = "keep.doomed", max_attempts = 1)]
struct Doomed;

impl Run<()> for Doomed {
    async fn run(self, _cx: &Context<()>) -> Result<Outcome, Failure> {
        Err(Failure::fatal("planned"))
    }
}

/// Kept a month when it completes, whatever the namespace keeps; never kept when it fails.
#[derive(job::Job, Serialize, Deserialize)]
#[job(
    name = "keep.report",
    keep_completed = "30d",
    keep_failed = "none",
    max_attempts = 1
)]
struct Report {
    fail: bool,
}

impl Run<()> for Report {
    async fn run(self, _cx: &Context<()>) -> Result<Outcome, Failure> {
        if self.fail {
            return Err(Failure::fatal("planned"));
        }
        Ok(Outcome::complete())
    }
}

/// Completes with a result of `bytes` bytes.
#[derive(job::Job, Serialize, Deserialize)]
#[job(name = "keep.big")]
struct Big {
    bytes: usize,
}

impl Run<()> for Big {
    async fn run(self, _cx: &Context<()>) -> Result<Outcome, Failure> {
        Ok(Outcome::complete_with(&"x".repeat(self.bytes)))
    }
}

#[derive(JobSet)]
enum Set {
    Noop(Noop),
    Doomed(Doomed),
    Report(Report),
    Big(Big),
}

async fn info_int(conn: &mut redis::aio::MultiplexedConnection, field: &str) -> i64 {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in INFO"))
}

async fn count(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("ZCARD")
        .arg(key)
        .query_async(conn)
        .await
        .unwrap()
}

/// Enqueues `n` no-op jobs and runs them at concurrency 100 until every one has completed.
async fn complete(client: &Client, first: u64, n: u64) {
    let jobs: Vec<NewJob> = (first..first + n)
        .map(|i| NewJob::new(&Noop { i }).unwrap())
        .collect();
    for chunk in jobs.chunks(5_000) {
        client.insert_many(chunk).await.unwrap();
    }
    let ran = job::Worker::<Set, ()>::new(client.clone(), ())
        .concurrency(100)
        .drain(usize::try_from(n).unwrap() + 1)
        .await
        .unwrap();
    assert_eq!(ran, usize::try_from(n).unwrap());
}

#[tokio::test]
async fn retention_keeps_the_count_under_1m_completions_and_memory_returns() {
    const KEEP: u64 = 10_000;
    let redis = PrivateRedis::start_with(&["--appendonly", "no"]).await;
    let config = Config::new()
        .namespace("keep")
        .keep_completed(Retention::new(KEEP, Duration::from_secs(86_400)));
    let client = Client::connect_with(&redis.url(), config).await.unwrap();
    let mut raw = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let done = "keep:{0}:done";

    // 1M completions in ten rounds of 100k enqueued at once. After the first round Redis holds
    // only the kept jobs, and the structures the backlog grew (Redis does not shrink its main
    // hash table): that is the level the later rounds must stay at.
    let mut level_with_kept_jobs = 0;
    for round in 0..10u64 {
        complete(&client, round * 100_000, 100_000).await;
        let kept = count(&mut raw, done).await;
        // Each call prunes what it added past the count, in the same step: never over it.
        assert!(
            kept <= i64::try_from(KEEP).unwrap(),
            "{kept} completed jobs kept after {} completions, limit {KEEP}",
            (round + 1) * 100_000
        );
        let keys: i64 = redis::cmd("DBSIZE").query_async(&mut raw).await.unwrap();
        assert!(
            keys <= kept + 10,
            "{keys} keys for {kept} kept jobs: job hashes outlive their index entries"
        );
        let level = info_int(&mut raw, "used_memory").await;
        if round == 0 {
            level_with_kept_jobs = level;
        }
        assert!(
            level * 100 <= level_with_kept_jobs * 105,
            "used_memory {level} after {} completions, {level_with_kept_jobs} with the kept jobs",
            (round + 1) * 100_000
        );
    }
}

#[tokio::test]
async fn an_idle_namespace_forgets_jobs_past_their_age() {
    let redis = PrivateRedis::start_with(&["--appendonly", "no"]).await;
    let second = Retention::new(1_000, Duration::from_secs(1));
    let config = Config::new()
        .namespace("idle")
        .keep_completed(second)
        .keep_failed(second)
        .keep_cancelled(second);
    let client = Client::connect_with(&redis.url(), config).await.unwrap();
    let completed = client.enqueue(Noop { i: 1 }).await.unwrap();
    let failed = client.enqueue(Doomed).await.unwrap();
    let cancelled = client
        .enqueue_in(Duration::from_secs(3_600), Noop { i: 2 })
        .await
        .unwrap();
    client.cancel(cancelled).await.unwrap();

    let stop = CancellationToken::new();
    let worker = tokio::spawn(
        job::Worker::<Set, ()>::new(client.clone(), ()).run_until(stop.clone().cancelled_owned()),
    );
    let ended = |id: JobId| {
        let client = client.clone();
        async move { client.details(id).await.unwrap().map(|d| d.state) }
    };
    eventually(Duration::from_secs(5), "both jobs to end", || async {
        (ended(completed).await == Some(job::JobState::Completed)
            && ended(failed).await == Some(job::JobState::Failed))
        .then_some(())
    })
    .await;
    // Nothing happens from here on but the idle worker's own calls: the three are still
    // deleted within a few seconds of turning one second old (not at the next 5 s poll, nor
    // at the next completion).
    let started = std::time::Instant::now();
    eventually(
        Duration::from_secs(4),
        "every ended job to be forgotten",
        || async {
            let left = [
                ended(completed).await,
                ended(failed).await,
                ended(cancelled).await,
            ];
            left.iter().all(Option::is_none).then_some(())
        },
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(4));
    stop.cancel();
    worker.await.unwrap().unwrap();
}

/// Each call carries its client's settings, and the library keeps the last ones it parsed: two
/// clients with different retention, calling in turn on one Redis, each get their own.
#[tokio::test]
async fn clients_with_different_settings_on_one_redis_each_get_their_own() {
    let keep = support::queue_with(
        "keep_settings_a",
        Config::new().keep_completed(Retention::new(1_000, Duration::from_secs(3_600))),
    )
    .await;
    let drop = support::queue_with(
        "keep_settings_b",
        Config::new().keep_completed(Retention::none()),
    )
    .await;
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    for i in 0..20 {
        kept.push(keep.client().enqueue(Noop { i }).await.unwrap());
        dropped.push(drop.client().enqueue(Noop { i }).await.unwrap());
        // One job of each, completed in turn: every call alternates between the two settings.
        for q in [&keep, &drop] {
            let ran = job::Worker::<Set, ()>::new(q.client().clone(), ())
                .drain(1)
                .await
                .unwrap();
            assert_eq!(ran, 1);
        }
    }
    for id in kept {
        let details = keep.client().details(id).await.unwrap();
        assert!(details.is_some(), "a job of the keeping client was deleted");
    }
    for id in dropped {
        let details = drop.client().details(id).await.unwrap();
        assert!(
            details.is_none(),
            "a job of the client that keeps none was kept"
        );
    }
    keep.cleanup().await.unwrap();
    drop.cleanup().await.unwrap();
}

async fn state(client: &Client, id: JobId) -> Option<job::JobState> {
    client
        .details(id)
        .await
        .unwrap()
        .map(|details| details.state)
}

/// Completed, failed and cancelled jobs each follow their own namespace policy.
#[tokio::test]
async fn each_outcome_follows_its_own_policy() {
    let config = Config::new()
        .keep_completed(Retention::none())
        .keep_failed(Retention::new(100, Duration::from_secs(3_600)))
        .keep_cancelled(Retention::new(100, Duration::from_secs(3_600)));
    let q = support::queue_with("keep_outcomes", config).await;
    let c = q.client().clone();
    let completed = c.enqueue(Noop { i: 1 }).await.unwrap();
    let failed = c.enqueue(Doomed).await.unwrap();
    let cancelled = c
        .enqueue_in(Duration::from_secs(3_600), Noop { i: 2 })
        .await
        .unwrap();
    c.cancel(cancelled).await.unwrap();
    let ran = job::Worker::<Set, ()>::new(c.clone(), ())
        .drain(10)
        .await
        .unwrap();
    assert_eq!(ran, 2);
    assert_eq!(state(&c, completed).await, None, "completed: kept none");
    assert_eq!(state(&c, failed).await, Some(job::JobState::Failed));
    assert_eq!(state(&c, cancelled).await, Some(job::JobState::Cancelled));

    let config = Config::new().keep_cancelled(Retention::none());
    let q2 = support::queue_with("keep_outcomes_2", config).await;
    let c2 = q2.client().clone();
    let cancelled = c2
        .enqueue_in(Duration::from_secs(3_600), Noop { i: 3 })
        .await
        .unwrap();
    let completed = c2.enqueue(Noop { i: 4 }).await.unwrap();
    c2.cancel(cancelled).await.unwrap();
    job::Worker::<Set, ()>::new(c2.clone(), ())
        .drain(10)
        .await
        .unwrap();
    assert_eq!(state(&c2, cancelled).await, None, "cancelled: kept none");
    assert_eq!(state(&c2, completed).await, Some(job::JobState::Completed));
    q.cleanup().await.unwrap();
    q2.cleanup().await.unwrap();
}

/// A type's `keep_*` attributes and a job's own `with_keep` override the namespace's policy:
/// kept longer, deleted at once, or kept a short while and then forgotten by an idle worker.
#[tokio::test]
async fn a_type_or_a_job_overrides_the_namespace_policy() {
    let config = Config::new()
        .keep_completed(Retention::none())
        .keep_failed(Retention::new(100, Duration::from_secs(3_600)));
    let q = support::queue_with("keep_override", config).await;
    let c = q.client().clone();
    let report = c.enqueue(Report { fail: false }).await.unwrap();
    let failed_report = c.enqueue(Report { fail: true }).await.unwrap();
    let short = NewJob::new(&Noop { i: 1 }).unwrap().with_keep(
        job::Ended::Completed,
        job::Keep::For(Duration::from_millis(300)),
    );
    let short = c.insert(short).await.unwrap().id();
    let doomed = NewJob::new(&Doomed)
        .unwrap()
        .with_keep(job::Ended::Failed, job::Keep::None);
    let doomed = c.insert(doomed).await.unwrap().id();
    let stop = CancellationToken::new();
    let worker = tokio::spawn(
        job::Worker::<Set, ()>::new(c.clone(), ()).run_until(stop.clone().cancelled_owned()),
    );
    eventually(Duration::from_secs(5), "the report to complete", || async {
        (state(&c, report).await == Some(job::JobState::Completed)).then_some(())
    })
    .await;
    eventually(
        Duration::from_secs(5),
        "the failed report and the doomed job to go",
        || async {
            (state(&c, failed_report).await.is_none() && state(&c, doomed).await.is_none())
                .then_some(())
        },
    )
    .await;
    // Kept 300 ms by its own policy, then forgotten by the idle worker's grabs.
    eventually(
        Duration::from_secs(5),
        "the short-kept job to be forgotten",
        || async { state(&c, short).await.is_none().then_some(()) },
    )
    .await;
    stop.cancel();
    worker.await.unwrap().unwrap();
    assert_eq!(
        state(&c, report).await,
        Some(job::JobState::Completed),
        "kept a month"
    );
    q.cleanup().await.unwrap();
}

/// A result over `max_result` fails its job for good, saying both sizes; one at the limit
/// completes.
#[tokio::test]
async fn a_result_over_the_limit_fails_the_job_naming_both_sizes() {
    let q = support::queue_with("keep_big", Config::new().max_result(100)).await;
    let c = q.client().clone();
    let big = c.enqueue(Big { bytes: 200 }).await.unwrap();
    let fits = c.enqueue(Big { bytes: 98 }).await.unwrap(); // 100 bytes of JSON with its quotes
    job::Worker::<Set, ()>::new(c.clone(), ())
        .drain(10)
        .await
        .unwrap();
    let details = c.details(big).await.unwrap().unwrap();
    assert_eq!(details.state, job::JobState::Failed);
    let message = &details.failures.last().unwrap().message;
    assert!(
        message.contains("202 bytes") && message.contains("100 bytes"),
        "{message}"
    );
    assert_eq!(state(&c, fits).await, Some(job::JobState::Completed));
    // The backend refuses it too, for a loop of one's own.
    use job::backend::{Backend, Completion, Grab};
    let direct = c.enqueue(Noop { i: 9 }).await.unwrap();
    let holder = job::Holder::current();
    let grab = Grab::new(&["keep.noop"], 1, Duration::from_secs(30), &holder);
    let grabbed = c.grab(&grab).await.unwrap();
    let lease = grabbed.jobs[0].lease;
    assert_eq!(lease.id, direct);
    let error = c
        .complete(&[Completion::new(lease, Some(vec![b'x'; 101]))])
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            job::redis::Error::ResultTooLarge {
                size: 101,
                limit: 100,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains(&direct.to_string()));
    q.cleanup().await.unwrap();
}
