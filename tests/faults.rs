//! Faults: Redis killed and restarted under a worker, unreachable or refusing, tampered data,
//! flushed scripts, and the history cap.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use job::redis::{Client, Config, Error, Loading};
use job::{Context, Failure, JobId, JobSet, JobState, NewJob, Outcome, Run};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use support::{PrivateRedis, chain, eventually, free_port, queue, queue_with};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct State {
    runs: AtomicU32,
    started: Notify,
    go: Notify,
}

/// Sleeps, then completes: long enough for Redis to die and come back meanwhile.
#[derive(job::Job, Serialize, Deserialize)]
#[job(name = "f.sleepy", lease = "30s")]
struct Sleepy {
    millis: u64,
}

impl Run<State> for Sleepy {
    async fn run(self, cx: &Context<State>) -> Result<Outcome, Failure> {
        cx.state().runs.fetch_add(1, Ordering::SeqCst);
        cx.state().started.notify_one();
        tokio::time::sleep(Duration::from_millis(self.millis)).await;
        Ok(Outcome::complete())
    }
}

/// Fails every attempt, each with its own message.
#[derive(job::Job, Serialize, Deserialize)]
#[job(name = "f.hopeless", max_attempts = 10, backoff(fixed = "0ms"))]
struct Hopeless;

impl Run<State> for Hopeless {
    async fn run(self, cx: &Context<State>) -> Result<Outcome, Failure> {
        Err(Failure::retry(format!("attempt {} failed", cx.attempt())))
    }
}

/// Waits for the test's go, then hands on to a `Sleepy` child.
#[derive(job::Job, Serialize, Deserialize)]
#[job(name = "f.relay", lease = "30s")]
struct Relay;

impl Run<State> for Relay {
    async fn run(self, cx: &Context<State>) -> Result<Outcome, Failure> {
        cx.state().started.notify_one();
        cx.state().go.notified().await;
        Ok(Outcome::replace([Sleepy { millis: 0 }]))
    }
}

#[derive(JobSet)]
enum Set {
    Sleepy(Sleepy),
    Hopeless(Hopeless),
    Relay(Relay),
}

type Worker = job::Worker<Set, State>;

/// A client on a private Redis, in a namespace of the test's own.
async fn connect(redis: &PrivateRedis, namespace: &str) -> Client {
    let config = Config::new().namespace(format!("faults:{namespace}"));
    Client::connect_with(&redis.url(), config).await.unwrap()
}

/// The job's state, or `None` while Redis cannot answer.
async fn state_of(client: &Client, id: JobId) -> Option<JobState> {
    client.details(id).await.ok().flatten().map(|d| d.state)
}

async fn completed(client: &Client, id: JobId) -> Option<()> {
    (state_of(client, id).await == Some(JobState::Completed)).then_some(())
}

#[tokio::test]
async fn redis_restart_mid_job_loses_no_outcome() {
    let mut redis = PrivateRedis::start().await;
    let client = connect(&redis, "restart").await;
    let id = client.enqueue(Sleepy { millis: 1_500 }).await.unwrap();
    let state = Arc::new(State::default());
    let stop = CancellationToken::new();
    let worker = Worker::new(client.clone(), state.clone());
    let running = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));
    state.started.notified().await;

    redis.kill();
    tokio::time::sleep(Duration::from_millis(300)).await; // Redis is down meanwhile
    redis.restart().await;

    eventually(Duration::from_secs(20), "the job to complete", || {
        completed(&client, id)
    })
    .await;
    stop.cancel();
    running.await.unwrap().unwrap();
    let details = client.details(id).await.unwrap().unwrap();
    assert_eq!((details.attempts, details.lease_expiries), (1, 0));
    assert_eq!(state.runs.load(Ordering::SeqCst), 1, "run once, not again");
}

/// Found by the chaos run: a REPLACE while Redis is away used to fail the job for good.
#[tokio::test]
async fn a_replace_while_redis_is_down_is_retried_not_failed() {
    let mut redis = PrivateRedis::start().await;
    let client = connect(&redis, "replace_down").await;
    let id = client.enqueue(Relay).await.unwrap();
    let state = Arc::new(State::default());
    let stop = CancellationToken::new();
    let worker = tokio::spawn(
        Worker::new(client.clone(), state.clone()).run_until(stop.clone().cancelled_owned()),
    );
    state.started.notified().await;
    redis.kill();
    state.go.notify_one(); // the handler returns REPLACE while Redis is down
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.restart().await;
    eventually(Duration::from_secs(20), "the parent to complete", || {
        completed(&client, id)
    })
    .await;
    eventually(Duration::from_secs(20), "the child to run", || async {
        (state.runs.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    let details = client.details(id).await.unwrap().unwrap();
    assert!(details.failures.is_empty(), "{:?}", details.failures);
    stop.cancel();
    worker.await.unwrap().unwrap();
}

#[tokio::test]
async fn redis_down_at_start_then_up_the_worker_recovers() {
    let mut redis = PrivateRedis::start().await;
    let client = connect(&redis, "down_up").await;
    let stop = CancellationToken::new();
    let worker = Worker::new(client.clone(), State::default());
    let running = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));

    redis.kill();
    eventually(Duration::from_secs(5), "connecting to fail", || async {
        Client::connect(&redis.url()).await.is_err().then_some(())
    })
    .await;
    redis.restart().await;

    // The client's first command may still see the old connection's error: retry the insert,
    // which is idempotent (the id is made here, once).
    let job = NewJob::new(&Sleepy { millis: 0 }).unwrap();
    eventually(Duration::from_secs(5), "the insert to succeed", || async {
        client.insert(job.clone()).await.ok()
    })
    .await;
    eventually(Duration::from_secs(10), "the job to complete", || {
        completed(&client, job.id())
    })
    .await;
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[tokio::test]
async fn unreachable_redis_is_a_typed_error_naming_the_url() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let error = Client::connect(&url).await.unwrap_err();
    assert!(matches!(error, Error::Connect { .. }), "{error:?}");
    assert!(error.to_string().contains(&url), "{error}");
    assert!(error.is_connection());

    let error = Client::connect(&format!("redis://user:secret@127.0.0.1:{port}"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Connect { .. }), "{error:?}");
    for text in [error.to_string(), chain(&error), format!("{error:?}")] {
        assert!(!text.contains("secret"), "the password leaks: {text}");
    }
    assert!(
        error
            .to_string()
            .contains(&format!("redis://user:***@127.0.0.1:{port}")),
        "{error}"
    );
}

#[tokio::test]
async fn wrong_password_is_a_clear_error() {
    let redis = PrivateRedis::start_with(&["--requirepass", "right"]).await;
    let port = redis.port();
    let error = Client::connect(&format!("redis://:wrong@127.0.0.1:{port}"))
        .await
        .unwrap_err();
    let text = chain(&error);
    assert!(matches!(error, Error::Connect { .. }), "{text}");
    let lower = text.to_lowercase();
    assert!(
        lower.contains("wrongpass") || lower.contains("authentication failed"),
        "{text}"
    );
    assert!(!text.contains(":wrong@"), "the password leaks: {text}");
    assert!(
        !error.is_connection(),
        "a refused password is not worth retrying"
    );
    Client::connect(&format!("redis://:right@127.0.0.1:{port}"))
        .await
        .expect("the right password connects");
}

fn from_details(error: &Error) -> bool {
    matches!(error, Error::Protocol { script, .. } if *script == "details")
}

#[tokio::test]
async fn corrupted_job_hash_is_a_protocol_error_not_a_panic() {
    let q = queue("faults_corrupt").await;
    let c = q.client();
    let bad_state = c.enqueue(Sleepy { millis: 0 }).await.unwrap();
    let no_type = c.enqueue(Sleepy { millis: 0 }).await.unwrap();
    let key = |id: JobId| format!("{}:{{0}}:j:{id}", c.namespace());
    let mut raw = q.connection();
    let _: () = raw.hset(key(bad_state), "s", "bogus").await.unwrap();
    let _: () = raw.hdel(key(no_type), "t").await.unwrap();

    let error = c.details(bad_state).await.unwrap_err();
    assert!(from_details(&error), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("details") && message.contains("bogus"),
        "{message}"
    );

    let error = c.details(no_type).await.unwrap_err();
    assert!(from_details(&error), "{error:?}");
    assert!(error.to_string().contains(&no_type.to_string()), "{error}");
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn function_flush_while_working_reloads_the_library() {
    flush_while_working_reloads(Loading::Functions, "FUNCTION").await;
}

#[tokio::test]
async fn script_flush_while_working_reloads_scripts() {
    flush_while_working_reloads(Loading::Eval, "SCRIPT").await;
}

/// Flushes the server's scripts (`SCRIPT FLUSH`) or functions (`FUNCTION FLUSH`) again and
/// again while a worker of a client that runs them as `loading` says drains 200 jobs: each
/// call that finds its script gone loads it and goes on, so every job runs once.
async fn flush_while_working_reloads(loading: Loading, flush: &str) {
    // On a private Redis: a flush would hit every other test on the shared one.
    let redis = PrivateRedis::start().await;
    let config = Config::new().namespace("faults:flush").loading(loading);
    let client = Client::connect_with(&redis.url(), config).await.unwrap();
    let jobs: Vec<NewJob> = (0..200)
        .map(|_| NewJob::new(&Sleepy { millis: 5 }).unwrap())
        .collect();
    client.insert_many(&jobs).await.unwrap();
    let state = Arc::new(State::default());
    let stop = CancellationToken::new();
    let worker = Worker::new(client.clone(), state.clone()).concurrency(4);
    let running = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));

    let raw = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let flushes = AtomicU32::new(0); // while some jobs have run and some have not
    eventually(Duration::from_secs(10), "every job to have run", || {
        let mut raw = raw.clone();
        let flushes = &flushes;
        let runs = state.runs.load(Ordering::SeqCst);
        async move {
            if runs == 200 {
                return Some(());
            }
            let _: () = redis::cmd(flush)
                .arg("FLUSH")
                .query_async(&mut raw)
                .await
                .unwrap();
            if runs > 0 {
                flushes.fetch_add(1, Ordering::SeqCst);
            }
            None
        }
    })
    .await;
    let flushes = flushes.into_inner();
    assert!(flushes >= 3, "only {flushes} flushes hit the run");
    for job in &jobs {
        eventually(Duration::from_secs(5), "the job to complete", || {
            completed(&client, job.id())
        })
        .await;
    }
    stop.cancel();
    running.await.unwrap().unwrap();
    assert_eq!(state.runs.load(Ordering::SeqCst), 200, "each job ran once");
}

#[tokio::test]
async fn history_is_capped_at_the_configured_length() {
    let q = queue_with("faults_history", Config::new().history_limit(3)).await;
    let id = q.client().enqueue(Hopeless).await.unwrap();
    q.drain::<Set, State>(State::default(), 100).await.unwrap();
    let details = q.client().details(id).await.unwrap().unwrap();
    assert_eq!((details.state, details.attempts), (JobState::Failed, 10));
    let kept: Vec<(u32, &str)> = details
        .failures
        .iter()
        .map(|f| (f.attempt, f.message.as_str()))
        .collect();
    assert_eq!(
        kept,
        [
            (8, "attempt 8 failed"),
            (9, "attempt 9 failed"),
            (10, "attempt 10 failed")
        ],
        "the newest three, oldest first"
    );
    q.cleanup().await.unwrap();
}

/// A client on a private Redis through a proxy that can stall, answering within `timeout`.
async fn behind_proxy(
    redis: &PrivateRedis,
    namespace: &str,
    config: Config,
) -> (support::StallProxy, Client) {
    let target = std::net::SocketAddr::from(([127, 0, 0, 1], redis.port()));
    let proxy = support::StallProxy::start(target).await.unwrap();
    let config = config.namespace(format!("faults:{namespace}"));
    let client = Client::connect_with(&proxy.url(), config).await.unwrap();
    (proxy, client)
}

/// How many jobs wait in the ready list of `f.sleepy` in `namespace`.
async fn waiting(redis: &PrivateRedis, namespace: &str) -> i64 {
    let mut raw = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    raw.llen(format!("faults:{namespace}:{{0}}:l:f.sleepy"))
        .await
        .unwrap()
}

#[tokio::test]
async fn enqueues_whose_answers_are_late_are_tried_again_and_stored_once() {
    let redis = PrivateRedis::start().await;
    let config = Config::new().response_timeout(Duration::from_millis(300));
    let (proxy, client) = behind_proxy(&redis, "late", config).await;
    proxy.stall();
    let enqueues: Vec<_> = (0..100)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.enqueue(Sleepy { millis: 0 }).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(800)).await; // Redis unreachable meanwhile
    proxy.resume();
    for enqueue in enqueues {
        enqueue.await.unwrap().unwrap();
    }
    assert_eq!(waiting(&redis, "late").await, 100, "each job stored once");
}

#[tokio::test]
async fn an_insert_left_unanswered_is_unconfirmed_and_names_its_id() {
    let redis = PrivateRedis::start().await;
    let config = Config::new()
        .response_timeout(Duration::from_millis(200))
        .insert_retry(Duration::from_secs(1));
    let (proxy, client) = behind_proxy(&redis, "unanswered", config).await;
    let job = NewJob::new(&Sleepy { millis: 0 }).unwrap();
    proxy.stall();
    let error = client.insert(job.clone()).await.unwrap_err();
    match &error {
        Error::Unconfirmed { ids, .. } => assert_eq!(ids, &[job.id()]),
        other => panic!("expected Unconfirmed, got {other:?}"),
    }
    assert!(error.is_connection());
    let text = chain(&error);
    assert!(text.contains(&job.id().to_string()), "{text}");
    assert!(text.contains("unknown"), "{text}");
    proxy.resume();
    // The caller can check, and insert again safely: a stored job answers `Exists`.
    let answer = eventually(Duration::from_secs(10), "Redis to answer again", || async {
        client.insert(job.clone()).await.ok()
    })
    .await;
    assert!(
        matches!(answer, job::Inserted::Exists(_) | job::Inserted::New(_)),
        "{answer:?}"
    );
    assert_eq!(waiting(&redis, "unanswered").await, 1, "stored once");
}

#[tokio::test]
async fn errors_during_an_outage_name_the_server() {
    let mut redis = PrivateRedis::start().await;
    let config = Config::new().insert_retry(Duration::from_millis(300));
    let client = Client::connect_with(&redis.url(), config.namespace("faults:outage"))
        .await
        .unwrap();
    redis.kill();
    let error = client.enqueue(Sleepy { millis: 0 }).await.unwrap_err();
    let text = chain(&error);
    assert!(
        text.contains(&format!("127.0.0.1:{}", redis.port())),
        "the server is not named: {text}"
    );
}

#[tokio::test]
async fn passwords_stay_hidden_in_odd_urls_and_may_hold_commas() {
    let redis = PrivateRedis::start_with(&["--requirepass", "p,w@rd"]).await;
    let port = redis.port();
    for url in [
        format!("redis//:s3cret@127.0.0.1:{port}"),
        format!("redis://127.0.0.1:{}/?password=s3cret", free_port()),
        format!("redis://:s3cret,x@127.0.0.1:{}", free_port()),
    ] {
        let error = Client::connect(&url).await.unwrap_err();
        for text in [chain(&error), format!("{error:?}")] {
            assert!(!text.contains("s3cret"), "the password leaks: {text}");
        }
    }
    // A comma in a password is part of it, not a list of cluster nodes.
    let client = Client::connect(&format!("redis://:p,w@rd@127.0.0.1:{port}"))
        .await
        .unwrap();
    client.enqueue(Sleepy { millis: 0 }).await.unwrap();
}
