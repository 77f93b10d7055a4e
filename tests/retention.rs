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

#[derive(JobSet)]
enum Set {
    Noop(Noop),
    Doomed(Doomed),
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
async fn retention_keeps_the_count_under_200k_completions_and_memory_returns() {
    const KEEP: u64 = 10_000;
    // One completion call carries at most 250 jobs (the worker sends up to 200).
    const ONE_CALL: i64 = 250;
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

    // 200k completions in four rounds of 50k enqueued at once. After the first round Redis
    // holds only the kept jobs, and the structures the backlog grew (Redis does not shrink its
    // main hash table): that is the level the later rounds must stay at.
    let mut level_with_kept_jobs = 0;
    for round in 0..4u64 {
        complete(&client, round * 50_000, 50_000).await;
        let kept = count(&mut raw, done).await;
        assert!(
            kept <= i64::try_from(KEEP).unwrap() + ONE_CALL,
            "{kept} completed jobs kept after {} completions, limit {KEEP}",
            (round + 1) * 50_000
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
            (round + 1) * 50_000
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
        .keep_failed(second);
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
