//! Hostile conditions: a queue key of the wrong type, a full Redis, an evicting Redis, an ACL
//! user without the commands the library needs, and a job type no worker serves. Each ends in
//! a clear error that names the problem, with nothing lost or half-written.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use job::backend::{Backend, Grab};
use job::redis::{Client, Config, Error};
use job::{Context, Failure, JobId, JobSet, JobState, NewJob, Outcome, Run};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use support::{PrivateRedis, chain, eventually, holder, queue};
use tokio_util::sync::CancellationToken;

#[derive(job::Job, Serialize, Deserialize)]
#[job(name = "h.plain")]
struct Plain {
    n: u32,
}

impl Run<()> for Plain {
    async fn run(self, _cx: &Context<()>) -> Result<Outcome, Failure> {
        Ok(Outcome::complete())
    }
}

/// The type whose ready list a stray write clobbers.
#[derive(job::Job, Serialize, Deserialize)]
#[job(name = "h.victim")]
struct Victim;

impl Run<()> for Victim {
    async fn run(self, _cx: &Context<()>) -> Result<Outcome, Failure> {
        Ok(Outcome::complete())
    }
}

/// Big arguments, to fill a small Redis.
#[derive(job::Job, Serialize, Deserialize)]
#[job(name = "h.big")]
struct Big {
    data: String,
}

/// A type no worker serves.
#[derive(job::Job, Serialize, Deserialize)]
#[job(name = "h.orphan")]
struct Orphan;

#[derive(JobSet)]
enum Set {
    Plain(Plain),
    Victim(Victim),
}

async fn state_of(client: &Client, id: JobId) -> Option<JobState> {
    client.details(id).await.unwrap().map(|d| d.state)
}

/// A client on a private Redis, as `user:password` when given.
async fn private_client(redis: &PrivateRedis, user: Option<&str>, namespace: &str) -> Client {
    let url = match user {
        Some(user) => format!("redis://{user}@127.0.0.1:{}", redis.port()),
        None => redis.url(),
    };
    let config = Config::new().namespace(format!("hostile:{namespace}"));
    Client::connect_with(&url, config).await.unwrap()
}

/// A plain connection to a private Redis, as its default user.
async fn private_raw(redis: &PrivateRedis) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test]
async fn wrong_type_queue_key_refuses_enqueue_and_loses_nothing() {
    let q = queue("hostile_wrongtype").await;
    let c = q.client();
    // Jobs stored before the stray write: a plain one, and a prioritized victim (its ready set
    // is `r:h.victim`, which the stray write leaves alone).
    let before = c.enqueue(Plain { n: 1 }).await.unwrap();
    let urgent = NewJob::new(&Victim).unwrap().with_priority(5);
    c.insert(urgent.clone()).await.unwrap();

    let list = format!("{}:{{0}}:l:h.victim", c.namespace());
    let mut raw = q.connection();
    let _: () = raw.set(&list, "x").await.unwrap();

    // One job: refused, naming the key and both types; nothing stored.
    let refused = NewJob::new(&Victim).unwrap();
    let error = c.insert(refused.clone()).await.unwrap_err();
    let text = chain(&error);
    assert!(
        text.contains(&format!("`{list}` is a string, expected a list")),
        "{text}"
    );
    assert!(!error.is_connection(), "{text}");
    assert!(
        c.details(refused.id()).await.unwrap().is_none(),
        "half-written"
    );

    // A batch with one row on that queue: refused whole, nothing of it stored.
    let batch = [NewJob::new(&Plain { n: 2 }).unwrap(), refused.clone()];
    let error = c.insert_many(&batch).await.unwrap_err();
    assert!(chain(&error).contains(&list), "{}", chain(&error));
    for job in &batch {
        assert!(c.details(job.id()).await.unwrap().is_none(), "half-written");
    }
    let stray: String = raw.get(&list).await.unwrap();
    assert_eq!(stray, "x", "the stray key is left as it was");

    // The jobs stored before are intact.
    let details = c.details(before).await.unwrap().unwrap();
    assert_eq!(
        (details.state, details.payload.as_slice()),
        (JobState::Ready, &br#"{"n":1}"#[..])
    );
    assert_eq!(state_of(c, urgent.id()).await, Some(JobState::Ready));

    // A worker takes what it can (nothing popped is dropped), then reports the key, no panic.
    let error = q.drain::<Set, ()>((), 100).await.unwrap_err();
    let text = chain(&error);
    assert!(text.contains(&format!("`{list}` is a string")), "{text}");
    assert_eq!(state_of(c, before).await, Some(JobState::Completed));
    assert_eq!(state_of(c, urgent.id()).await, Some(JobState::Completed));
    let grab_error = c
        .grab(&Grab::new(
            &["h.victim"],
            10,
            Duration::from_secs(30),
            &holder(),
        ))
        .await
        .unwrap_err();
    assert!(chain(&grab_error).contains(&list), "{}", chain(&grab_error));

    // A running worker keeps going: it logs the grab errors and still serves the other type.
    let stop = CancellationToken::new();
    let worker = job::Worker::<Set, ()>::new(c.clone(), ()).poll(Duration::from_millis(50));
    let running = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));
    let later = c.enqueue(Plain { n: 3 }).await.unwrap();
    eventually(
        Duration::from_secs(20),
        "the plain job to complete",
        || async { (state_of(c, later).await == Some(JobState::Completed)).then_some(()) },
    )
    .await;

    // Once the stray key is gone, the type works again.
    let _: () = raw.del(&list).await.unwrap();
    let again = c.enqueue(Victim).await.unwrap();
    eventually(
        Duration::from_secs(20),
        "the victim job to complete",
        || async { (state_of(c, again).await == Some(JobState::Completed)).then_some(()) },
    )
    .await;
    stop.cancel();
    running.await.unwrap().unwrap();
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn full_redis_refuses_enqueue_cleanly_and_recovers() {
    let redis =
        PrivateRedis::start_with(&["--maxmemory", "2mb", "--maxmemory-policy", "noeviction"]).await;
    let client = private_client(&redis, None, "oom").await;
    let data = "x".repeat(64 * 1024);
    let mut stored = Vec::new();
    let (failed, error) = loop {
        let job = NewJob::new(&Big { data: data.clone() }).unwrap();
        match client.insert(job.clone()).await {
            Ok(_) => stored.push(job.id()),
            Err(error) => break (job, error),
        }
        assert!(stored.len() < 200, "2 MB of Redis never filled up");
    };
    let text = chain(&error);
    assert!(text.contains("OOM") && text.contains("maxmemory"), "{text}");
    assert!(!stored.is_empty(), "the first jobs fit: {text}");

    // Nothing of the refused job, every job before it intact.
    assert!(client.details(failed.id()).await.unwrap().is_none());
    for &id in &stored {
        let details = client.details(id).await.unwrap().unwrap();
        assert_eq!(details.state, JobState::Ready);
        assert_eq!(details.payload.len(), data.len() + r#"{"data":""}"#.len());
    }

    // With room again, the same insert goes through.
    let mut raw = private_raw(&redis).await;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("64mb")
        .query_async(&mut raw)
        .await
        .unwrap();
    let inserted = client.insert(failed.clone()).await.unwrap();
    assert_eq!(inserted, job::Inserted::New(failed.id()));
    assert_eq!(state_of(&client, failed.id()).await, Some(JobState::Ready));
}

/// Log lines written while a guard from [`capture_logs`] lives, on this thread.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures this thread's tracing events (a `#[tokio::test]` runs every task on its thread).
fn capture_logs() -> (Logs, tracing::subscriber::DefaultGuard) {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .with_writer(move || writer.clone())
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn evicting_redis_is_warned_about_at_worker_start() {
    let evicting = PrivateRedis::start_with(&["--maxmemory-policy", "allkeys-lru"]).await;
    let client = private_client(&evicting, None, "evict").await;
    let warnings = client.server_warnings().await.unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning = &warnings[0];
    for part in ["`allkeys-lru`", "delete job keys", "noeviction"] {
        assert!(warning.contains(part), "no `{part}` in: {warning}");
    }
    assert_eq!(Backend::warnings(&client).await.unwrap(), warnings);

    // The worker logs it once it runs.
    let (logs, _guard) = capture_logs();
    let stop = CancellationToken::new();
    let worker = job::Worker::<Set, ()>::new(client.clone(), ());
    let running = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));
    eventually(
        Duration::from_secs(10),
        "the eviction warning in the log",
        || {
            let text = logs.text();
            async move { text.contains("allkeys-lru").then_some(()) }
        },
    )
    .await;
    stop.cancel();
    running.await.unwrap().unwrap();
    assert!(logs.text().contains("WARN"), "{}", logs.text());

    let safe = PrivateRedis::start_with(&["--maxmemory-policy", "noeviction"]).await;
    let client = private_client(&safe, None, "noevict").await;
    assert_eq!(
        client.server_warnings().await.unwrap(),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn acl_user_without_script_commands_gets_a_permission_error() {
    // ACLs only ever change on a private Redis.
    let redis = PrivateRedis::start().await;
    let mut raw = private_raw(&redis).await;
    for rules in [
        [
            "limited", "on", ">pw", "~*", "+@all", "-fcall", "-evalsha", "-eval",
        ],
        [
            "noexists", "on", ">pw", "~*", "+@all", "-exists", "-eval", "-evalsha",
        ],
    ] {
        let _: () = redis::cmd("ACL")
            .arg("SETUSER")
            .arg(&rules[..])
            .query_async(&mut raw)
            .await
            .unwrap();
    }
    let admin = private_client(&redis, None, "acl").await;

    // No FCALL (nor EVALSHA): every operation is refused, with a message that says why.
    let limited = private_client(&redis, Some("limited:pw"), "acl").await;
    let job = NewJob::new(&Plain { n: 1 }).unwrap();
    let error = limited.insert(job.clone()).await.unwrap_err();
    let text = chain(&error);
    assert!(matches!(error, Error::Permission { .. }), "{text}");
    assert!(
        error
            .to_string()
            .contains("the Redis user lacks permission for a command the job library needs"),
        "{text}"
    );
    assert!(
        text.to_lowercase().contains("noperm") && text.contains("fcall"),
        "{text}"
    );
    assert!(!text.contains(":pw@"), "the password leaks: {text}");
    assert!(!error.is_connection(), "retrying cannot help: {text}");
    assert!(admin.details(job.id()).await.unwrap().is_none());

    let error = limited
        .grab(&Grab::new(
            &["h.plain"],
            1,
            Duration::from_secs(30),
            &holder(),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::Permission { .. }),
        "{}",
        chain(&error)
    );
    let error = limited
        .insert_many(std::slice::from_ref(&job))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::Permission { .. }),
        "{}",
        chain(&error)
    );

    // A command the script runs is refused inside it (before any write): the same error.
    let no_exists = private_client(&redis, Some("noexists:pw"), "acl").await;
    let error = no_exists.insert(job.clone()).await.unwrap_err();
    let text = chain(&error);
    assert!(matches!(error, Error::Permission { .. }), "{text}");
    assert!(admin.details(job.id()).await.unwrap().is_none());

    // The same job through a user with every permission goes in.
    admin.insert(job.clone()).await.unwrap();
    assert_eq!(state_of(&admin, job.id()).await, Some(JobState::Ready));
}

#[tokio::test]
async fn unserved_type_waits_and_details_say_no_worker_asked() {
    let q = queue("hostile_unserved").await;
    let c = q.client();
    let orphan = c.enqueue(Orphan).await.unwrap();
    let plain = c.enqueue(Plain { n: 1 }).await.unwrap();
    let details = c.details(orphan).await.unwrap().unwrap();
    assert_eq!((details.state, details.served_at), (JobState::Ready, None));

    // A worker of other types runs theirs and leaves it waiting, still unserved.
    assert_eq!(q.drain::<Set, ()>((), 10).await.unwrap(), 1);
    assert_eq!(state_of(c, plain).await, Some(JobState::Completed));
    let details = c.details(orphan).await.unwrap().unwrap();
    assert_eq!((details.state, details.served_at), (JobState::Ready, None));
    let plain_served = c.details(plain).await.unwrap().unwrap().served_at;
    assert!(plain_served.is_some(), "the drain asked for h.plain");

    // Once a worker asks for the type, DETAILS says when.
    let asked = SystemTime::now();
    let grabbed = c
        .grab(&Grab::new(
            &["h.orphan"],
            1,
            Duration::from_secs(30),
            &holder(),
        ))
        .await
        .unwrap();
    assert_eq!(grabbed.jobs.len(), 1);
    let details = c.details(orphan).await.unwrap().unwrap();
    assert_eq!(details.state, JobState::Running);
    let served = details.served_at.expect("served after a grab");
    let skew = Duration::from_secs(5); // the Redis clock against this one, on one machine
    assert!(
        served + skew >= asked && served <= SystemTime::now() + skew,
        "served at {served:?}, asked at {asked:?}"
    );
    q.cleanup().await.unwrap();
}

/// Concurrent single enqueues share one script call; a bad job fails its own caller only.
#[tokio::test]
async fn one_callers_bad_job_fails_only_that_caller() {
    let q = queue("hostile_rows").await;
    let c = q.client();
    // The victim type's ready list is clobbered by a stray write.
    let list = format!("{}:{{0}}:l:h.victim", c.namespace());
    let mut raw = q.connection();
    let _: () = raw.set(&list, "x").await.unwrap();
    let jobs: Vec<(usize, NewJob)> = (0..200)
        .map(|i| {
            let job = match i % 4 {
                0 => NewJob::from_parts("", b"{}".to_vec(), job::JobOptions::new()),
                1 => NewJob::new(&Victim).unwrap(),
                _ => NewJob::new(&Plain { n: i as u32 }).unwrap(),
            };
            (i, job)
        })
        .collect();
    let answers = futures_util::future::join_all(
        jobs.iter()
            .map(|(_, job)| async { c.insert(job.clone()).await }),
    )
    .await;
    let mut stored = 0;
    for ((i, job), answer) in jobs.iter().zip(answers) {
        match (i % 4, answer) {
            (0, Err(Error::InvalidJob { id, .. })) => assert_eq!(id, job.id()),
            (1, Err(Error::Refused { id, reason, .. })) => {
                assert_eq!(id, job.id());
                assert!(reason.contains(&list), "{reason}");
            }
            (2 | 3, Ok(inserted)) => {
                assert_eq!(inserted, job::Inserted::New(job.id()));
                stored += 1;
            }
            (kind, answer) => panic!("job {i} (kind {kind}): {answer:?}"),
        }
        let found = c.details(job.id()).await.unwrap().is_some();
        assert_eq!(found, i % 4 >= 2, "job {i}");
    }
    assert_eq!(stored, 100);
    q.cleanup().await.unwrap();
}
