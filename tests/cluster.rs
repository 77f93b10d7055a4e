//! `job` on a real Redis Cluster: three local masters, a namespace of 16 shards spread over
//! them, workers that fetch from every shard, routing by resource and unique key, and REPLACE
//! children forwarded through the parent shard's outbox exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use job::redis::{Client, Config, Retention};
use job::{Context, Failure, Inserted, Job, JobSet, JobState, NewJob, Outcome, Run};
use serde::{Deserialize, Serialize};
use support::{PrivateCluster, eventually};
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct App {
    /// Per resource, the sequence numbers in the order their jobs ran.
    order: Mutex<HashMap<String, Vec<u32>>>,
    /// How many times each plain job ran.
    runs: Mutex<HashMap<u32, u32>>,
}

#[derive(Job, Serialize, Deserialize)]
#[job(name = "c.plain")]
struct Plain {
    n: u32,
}

impl Run<App> for Plain {
    async fn run(self, cx: &Context<App>) -> Result<Outcome, Failure> {
        *cx.state().runs.lock().unwrap().entry(self.n).or_default() += 1;
        Ok(Outcome::complete())
    }
}

#[derive(Job, Serialize, Deserialize)]
#[job(name = "c.step", resource = "account")]
struct Step {
    account: String,
    n: u32,
}

impl Run<App> for Step {
    async fn run(self, cx: &Context<App>) -> Result<Outcome, Failure> {
        let mut order = cx.state().order.lock().unwrap();
        order.entry(self.account).or_default().push(self.n);
        Ok(Outcome::complete())
    }
}

/// Completes itself and hands on to one `Step` per account (most land in other shards).
#[derive(Job, Serialize, Deserialize)]
#[job(name = "c.fan")]
struct Fan {
    accounts: Vec<String>,
}

impl Run<App> for Fan {
    async fn run(self, _cx: &Context<App>) -> Result<Outcome, Failure> {
        let children = self
            .accounts
            .into_iter()
            .map(|account| Step { account, n: 0 });
        Ok(Outcome::replace(children))
    }
}

#[derive(JobSet)]
enum Jobs {
    Plain(Plain),
    Step(Step),
    Fan(Fan),
}

async fn connect(cluster: &PrivateCluster, name: &str) -> Client {
    let config = Config::new()
        .namespace(format!("cluster:{name}"))
        .keep_completed(Retention::new(100_000, Duration::from_secs(3_600)));
    Client::connect_with(&cluster.url(), config)
        .await
        .unwrap_or_else(|error| panic!("connect to {}: {}", cluster.url(), support::chain(&error)))
}

/// Runs workers until every job in `ids` is completed.
async fn run_until_completed(client: &Client, app: &std::sync::Arc<App>, ids: &[job::JobId]) {
    let stop = CancellationToken::new();
    let mut workers = Vec::new();
    for _ in 0..2 {
        let worker = job::Worker::<Jobs, App>::new(client.clone(), app.clone()).concurrency(20);
        workers.push(tokio::spawn(
            worker.run_until(stop.clone().cancelled_owned()),
        ));
    }
    eventually(Duration::from_secs(30), "every job to complete", || async {
        for id in ids {
            let details = client.details(*id).await.unwrap()?;
            if details.state != JobState::Completed {
                return None;
            }
        }
        Some(())
    })
    .await;
    stop.cancel();
    for worker in workers {
        worker.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_type_spans_every_master_and_workers_fetch_from_every_shard() {
    let cluster = PrivateCluster::start().await;
    let client = connect(&cluster, "span").await;
    let jobs: Vec<NewJob> = (0..300)
        .map(|n| NewJob::new(&Plain { n }).unwrap())
        .collect();
    let answers = client.insert_many(&jobs).await.unwrap();
    assert!(answers.iter().all(|a| matches!(a, Inserted::New(_))));
    // Single enqueues too, coalesced per shard.
    let mut ids: Vec<_> = jobs.iter().map(NewJob::id).collect();
    for n in 300..400 {
        ids.push(client.enqueue(Plain { n }).await.unwrap());
    }
    // Every master holds some of the namespace's keys.
    let mut keys = redis::cmd("KEYS");
    keys.arg("cluster:span:*");
    for (node, keys) in on_each_master::<Vec<String>>(&cluster, &keys).await {
        assert!(!keys.is_empty(), "master {node} holds no job");
    }
    let app = std::sync::Arc::new(App::default());
    run_until_completed(&client, &app, &ids).await;
    let runs = app.runs.lock().unwrap();
    assert_eq!(runs.len(), 400);
    assert!(runs.values().all(|&n| n == 1), "each job ran once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_and_unique_jobs_meet_in_their_keys_shard() {
    let cluster = PrivateCluster::start().await;
    let client = connect(&cluster, "routing").await;
    let accounts: Vec<String> = (0..12).map(|i| format!("acct-{i}")).collect();
    let mut ids = Vec::new();
    for n in 0..5 {
        for account in &accounts {
            let step = Step {
                account: account.clone(),
                n,
            };
            ids.push(client.enqueue(step).await.unwrap());
        }
    }
    let state = client.resource("acct-3").await.unwrap();
    assert_eq!(state.queued.len(), 5, "one FIFO per resource, in one shard");
    // Unique keys: a duplicate is answered with the live job, whichever shard it is in.
    let first = NewJob::new(&Plain { n: 1 })
        .unwrap()
        .with_unique_key("once");
    let again = NewJob::new(&Plain { n: 2 })
        .unwrap()
        .with_unique_key("once");
    let answers = client
        .insert_many(&[first.clone(), again.clone()])
        .await
        .unwrap();
    assert_eq!(
        answers,
        [Inserted::New(first.id()), Inserted::Duplicate(first.id())]
    );
    let later = NewJob::new(&Plain { n: 3 })
        .unwrap()
        .with_unique_key("once");
    assert_eq!(
        client.insert(later).await.unwrap(),
        Inserted::Duplicate(first.id())
    );
    ids.push(first.id());
    let app = std::sync::Arc::new(App::default());
    run_until_completed(&client, &app, &ids).await;
    let order = app.order.lock().unwrap();
    for account in &accounts {
        assert_eq!(order[account], [0, 1, 2, 3, 4], "order of {account}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_children_of_other_shards_are_forwarded_and_run_once() {
    let cluster = PrivateCluster::start().await;
    let client = connect(&cluster, "outbox").await;
    let accounts: Vec<String> = (0..10).map(|i| format!("fan-{i}")).collect();
    let fan = client
        .enqueue(Fan {
            accounts: accounts.clone(),
        })
        .await
        .unwrap();
    let app = std::sync::Arc::new(App::default());
    run_until_completed(&client, &app, &[fan]).await;
    // The children reached their accounts' shards (most not the parent's); the workers ran
    // them, or left them queued when they stopped first.
    let app_for_children = app.clone();
    let all_ran = || {
        let order = app_for_children.order.lock().unwrap();
        accounts.iter().all(|account| order.contains_key(account))
    };
    if !all_ran() {
        let stop = CancellationToken::new();
        let worker = job::Worker::<Jobs, App>::new(client.clone(), app.clone());
        let running = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));
        eventually(Duration::from_secs(20), "every child to run", || async {
            all_ran().then_some(())
        })
        .await;
        stop.cancel();
        running.await.unwrap().unwrap();
    }
    let order = app.order.lock().unwrap().clone();
    for account in &accounts {
        assert_eq!(order[account], [0], "{account} ran once");
        let state = client.resource(account).await.unwrap();
        assert!(state.queued.is_empty(), "{account}: {state:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn details_cancel_and_retry_find_a_job_in_any_shard() {
    let cluster = PrivateCluster::start().await;
    let client = connect(&cluster, "lookup").await;
    let routed = NewJob::new(&Step {
        account: "somewhere".into(),
        n: 0,
    })
    .unwrap();
    let id = client.insert(routed.clone()).await.unwrap().id();
    assert_eq!(
        client.details(id).await.unwrap().unwrap().state,
        JobState::Ready
    );
    client.cancel(id).await.unwrap();
    assert_eq!(
        client.details(id).await.unwrap().unwrap().state,
        JobState::Cancelled
    );
    client.retry(id).await.unwrap();
    assert_eq!(
        client.details(id).await.unwrap().unwrap().state,
        JobState::Ready
    );
    let missing = job::JobId::new();
    assert!(client.details(missing).await.unwrap().is_none());
    assert!(matches!(
        client.cancel(missing).await,
        Err(job::redis::Error::NotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_is_woken_from_any_shard_and_keeps_its_connections() {
    let cluster = PrivateCluster::start().await;
    let client = connect(&cluster, "wake").await;
    let app = std::sync::Arc::new(App::default());
    let stop = CancellationToken::new();
    let worker = job::Worker::<Jobs, App>::new(client.clone(), app.clone());
    let running = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));
    let ran = |n: u32| {
        let app = app.clone();
        async move { app.runs.lock().unwrap().contains_key(&n).then_some(()) }
    };
    client.enqueue(Plain { n: 0 }).await.unwrap();
    eventually(Duration::from_secs(10), "the first job", || ran(0)).await;
    let before = connections_received(&cluster).await;
    // Each job lands in the shard of its id, so the idle worker is woken from one shard after
    // another; the waits on the other shards are unblocked and their connections kept.
    for n in 1..=20 {
        client.enqueue(Plain { n }).await.unwrap();
        eventually(Duration::from_secs(10), "the job to run", || ran(n)).await;
    }
    let opened = connections_received(&cluster).await - before;
    assert!(opened < 40, "{opened} connections opened for 20 wake-ups");
    stop.cancel();
    running.await.unwrap().unwrap();
}

/// Runs `cmd` on each master, on a plain connection of its own; the answers with each URL.
/// Schedules spread over the masters by name, a resource-bound schedule lives (and inserts its
/// jobs) in its resource's shard, and with two schedulers each tick of each fires once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_spread_over_the_masters_and_each_tick_fires_once() {
    let cluster = PrivateCluster::start().await;
    let client = connect(&cluster, "sched").await;
    for n in 0..30 {
        let schedule = job::Schedule::every(format!("s{n}"), Duration::from_secs(1))
            .unwrap()
            .job(Plain { n })
            .unwrap();
        client.upsert_schedule(&schedule).await.unwrap();
    }
    let bound = job::Schedule::every("bound", Duration::from_secs(1))
        .unwrap()
        .job(Step {
            account: "acct-7".into(),
            n: 1,
        })
        .unwrap();
    client.upsert_schedule(&bound).await.unwrap();
    let mut keys = redis::cmd("KEYS");
    keys.arg("cluster:sched:*:s:*");
    for (node, keys) in on_each_master::<Vec<String>>(&cluster, &keys).await {
        assert!(!keys.is_empty(), "master {node} holds no schedule");
    }
    let stop = CancellationToken::new();
    let mut schedulers = Vec::new();
    for _ in 0..2 {
        let client = connect(&cluster, "sched").await;
        let stop = stop.clone();
        schedulers.push(tokio::spawn(async move {
            client.run_schedules(stop.cancelled_owned()).await.unwrap();
        }));
    }
    eventually(
        Duration::from_secs(20),
        "every schedule to fire 3 times",
        || async {
            for info in client.schedules().await.unwrap() {
                if info.fired < 3 {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
    stop.cancel();
    for task in schedulers {
        task.await.unwrap();
    }
    let all = client.schedules().await.unwrap();
    assert_eq!(all.len(), 31);
    for info in &all {
        let ticks: Vec<_> = info.fires.iter().map(|fire| fire.tick).collect();
        let unique: std::collections::HashSet<_> = ticks.iter().collect();
        assert_eq!(
            unique.len(),
            ticks.len(),
            "{}: a tick fired twice",
            info.schedule.name()
        );
        assert_eq!(
            info.fired as usize,
            info.fires.len(),
            "{}: one job per fire",
            info.schedule.name()
        );
    }
    // The bound schedule's jobs joined their resource's FIFO, in its shard.
    let bound = client.schedule("bound").await.unwrap().unwrap();
    let job = bound.last_job.unwrap();
    let details = client.details(job).await.unwrap().unwrap();
    assert_eq!(details.resource.as_deref(), Some("acct-7"));
    let resource = client.resource("acct-7").await.unwrap();
    assert!(
        resource.queued.contains(&job),
        "the tick's job is in its resource's FIFO"
    );
}

async fn on_each_master<T: redis::FromRedisValue>(
    cluster: &PrivateCluster,
    cmd: &redis::Cmd,
) -> Vec<(String, T)> {
    let mut answers = Vec::new();
    for node in cluster.node_urls() {
        let mut conn = redis::Client::open(node.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let answer = cmd.query_async(&mut conn).await.unwrap();
        answers.push((node, answer));
    }
    answers
}

/// Connections every master has accepted so far.
async fn connections_received(cluster: &PrivateCluster) -> i64 {
    let mut total = 0;
    let mut stats = redis::cmd("INFO");
    stats.arg("stats");
    for (_, info) in on_each_master::<String>(cluster, &stats).await {
        total += info
            .lines()
            .find_map(|line| line.strip_prefix("total_connections_received:"))
            .and_then(|n| n.trim().parse::<i64>().ok())
            .unwrap();
    }
    total
}

/// A forward repeated after a crash (the child inserted in its shard, the outbox not yet
/// cleared) inserts nothing, even once the child ran and was deleted. Shown on one Redis with 4
/// shards, where the test can write the outbox entries itself.
#[tokio::test]
async fn a_repeated_forward_inserts_nothing() {
    let config = Config::new().shards(4).keep_completed(Retention::none());
    let q = support::queue_with("forward_twice", config).await;
    let prefixes = q.shard_prefixes();
    assert_eq!(prefixes.len(), 4);
    let parent = job::JobId::new();
    let child = NewJob::new(&Plain { n: 7 }).unwrap();
    let extras = serde_json::json!({ "parent": parent.to_string(), "home": prefixes[2] });
    let row = serde_json::json!([
        child.id().to_string(),
        child.name(),
        "0",
        "3",
        "0",
        "0",
        "0",
        String::from_utf8(child.payload().to_vec()).unwrap(),
        extras.to_string()
    ]);
    let entry = serde_json::json!([prefixes[2], row]).to_string();
    let mut raw = q.connection();
    let outbox = format!("{}outbox", prefixes[0]);
    let push = |times: usize| {
        let mut cmd = redis::cmd("RPUSH");
        cmd.arg(&outbox);
        for _ in 0..times {
            cmd.arg(&entry);
        }
        cmd
    };
    let _: () = push(2).query_async(&mut raw).await.unwrap();
    let app = std::sync::Arc::new(App::default());
    q.drain::<Jobs, App>(app.clone(), 10).await.unwrap();
    assert_eq!(
        app.runs.lock().unwrap().get(&7),
        Some(&1),
        "forwarded twice, ran once"
    );
    let details = q.client().details(child.id()).await.unwrap();
    assert!(details.is_none(), "completed and deleted (no retention)");
    // The same entry again, after the child is gone, swept by a new client (a client sweeps
    // on its first grab, then every few seconds): still nothing.
    let _: () = push(1).query_async(&mut raw).await.unwrap();
    let config = Config::new()
        .namespace(q.client().namespace())
        .shards(4)
        .keep_completed(Retention::none());
    let url = std::env::var(job_redis::testing::REDIS_URL_VAR)
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let other = Client::connect_with(&url, config).await.unwrap();
    job::Worker::<Jobs, App>::new(other, app.clone())
        .drain(10)
        .await
        .unwrap();
    assert_eq!(app.runs.lock().unwrap().get(&7), Some(&1), "not run again");
    let left: i64 = redis::cmd("LLEN")
        .arg(&outbox)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(left, 0, "the outbox is empty");
    q.cleanup().await.unwrap();
}
