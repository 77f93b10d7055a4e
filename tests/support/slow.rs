//! Calls whose cost once grew with the data, each set up at its worst size, and the slowest
//! script call Redis saw meanwhile (`SLOWLOG`). Shared by `tests/bounds.rs`, which asserts
//! the bound, and `cargo run --release --example bench -- slowlog`, which prints the figures.
//!
//! Each case runs in a namespace of its own on the Redis it is given, which should be private:
//! it resets and reads that server's `SLOWLOG`.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::time::Duration;

use job::backend::{Backend, Completion, FailureNote, Grab};
use job::redis::{Client, Config, Error};
use job::{Effect, FailureKind, Holder, JobOptions, JobState, NewJob};
use redis::aio::MultiplexedConnection;

/// The slowest script call of a case.
#[derive(Clone, Debug, Default)]
pub struct Slowest {
    /// How long it ran, in microseconds (Redis's own measure).
    pub micros: u64,
    /// The command and the first arguments.
    pub command: String,
}

impl Slowest {
    /// In milliseconds.
    pub fn millis(&self) -> f64 {
        self.micros as f64 / 1000.0
    }
}

/// A Redis to run cases on, with its SLOWLOG set to keep every call over 1 ms.
#[derive(Clone)]
pub struct Slowlog {
    url: String,
    raw: MultiplexedConnection,
}

impl Slowlog {
    /// Connects to the (private) Redis at `url` and sets its SLOWLOG up.
    pub async fn new(url: &str) -> Self {
        let mut raw = redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        for (name, value) in [
            ("slowlog-log-slower-than", "1000"),
            ("slowlog-max-len", "100000"),
        ] {
            let _: () = redis::cmd("CONFIG")
                .arg("SET")
                .arg(name)
                .arg(value)
                .query_async(&mut raw)
                .await
                .unwrap();
        }
        Self {
            url: url.to_owned(),
            raw,
        }
    }

    /// A client in a fresh namespace, with `config`'s other settings.
    pub async fn client(&self, name: &str, config: Config) -> Client {
        let namespace = format!("slow:{name}:{}", job::JobId::new());
        Client::connect_with(&self.url, config.namespace(namespace))
            .await
            .unwrap()
    }

    /// Forgets the calls logged so far.
    pub async fn reset(&self) {
        let _: () = redis::cmd("SLOWLOG")
            .arg("RESET")
            .query_async(&mut self.raw.clone())
            .await
            .unwrap();
    }

    /// The slowest script call logged since the last reset (zero when none took 1 ms).
    pub async fn slowest(&self) -> Slowest {
        let entries: Vec<redis::Value> = redis::cmd("SLOWLOG")
            .arg("GET")
            .arg(-1)
            .query_async(&mut self.raw.clone())
            .await
            .unwrap();
        let mut slowest = Slowest::default();
        for entry in entries {
            let redis::Value::Array(fields) = entry else {
                continue;
            };
            let micros = match fields.get(2) {
                Some(redis::Value::Int(n)) => u64::try_from(*n).unwrap_or(0),
                _ => 0,
            };
            let args: Vec<String> = match fields.get(3) {
                Some(redis::Value::Array(args)) => args
                    .iter()
                    .take(3)
                    .map(|arg| match arg {
                        redis::Value::BulkString(bytes) => {
                            String::from_utf8_lossy(bytes).chars().take(40).collect()
                        }
                        other => format!("{other:?}"),
                    })
                    .collect(),
                _ => Vec::new(),
            };
            // A script call, as Redis Functions or `EVALSHA` run it.
            let script = args.first().is_some_and(|c| {
                ["fcall", "fcall_ro", "evalsha", "eval"]
                    .iter()
                    .any(|name| c.eq_ignore_ascii_case(name))
            });
            if script && std::env::var("SLOW_DEBUG").is_ok() {
                eprintln!("slowlog {micros} {}", args.join(" "));
            }
            if script && micros > slowest.micros {
                slowest = Slowest {
                    micros,
                    command: args.join(" "),
                };
            }
        }
        slowest
    }
}

const TYPE: &str = "slow.op";
const LEASE: Duration = Duration::from_secs(600);

fn op(effect: Effect) -> NewJob {
    NewJob::from_parts(TYPE, b"{}".to_vec(), JobOptions::new().with_effect(effect))
        .with_resource("vm")
}

async fn insert_all(client: &Client, jobs: &[NewJob]) {
    for chunk in jobs.chunks(5_000) {
        client.insert_many(chunk).await.unwrap();
    }
}

/// A create with `queued` updates behind it on one resource fails for good: the updates fail
/// when their turn comes, in order, in bounded steps, and an update enqueued meanwhile is
/// refused at once. Returns the slowest call from the failure to the last update failed.
pub async fn failed_create(log: &Slowlog, queued: usize) -> Slowest {
    let client = log.client("create", Config::new()).await;
    let create = op(Effect::Create);
    let updates: Vec<NewJob> = (0..queued).map(|_| op(Effect::Update)).collect();
    client
        .insert_many(std::slice::from_ref(&create))
        .await
        .unwrap();
    insert_all(&client, &updates).await;
    let holder = Holder::current();
    let grab = Grab::new(&[TYPE], 10, LEASE, &holder);
    log.reset().await;
    let grabbed = client.grab(&grab).await.unwrap();
    assert_eq!(grabbed.jobs.len(), 1, "only the head may run");
    assert_eq!(grabbed.jobs[0].lease.id, create.id());
    let note = FailureNote::new(FailureKind::Fatal, "planned");
    client
        .perm_fail(&grabbed.jobs[0].lease, &note)
        .await
        .unwrap();
    // Right after, every new update is refused: the prediction is already right.
    let late = op(Effect::Update);
    let refused = client.insert(late.clone()).await.unwrap_err();
    assert!(
        matches!(refused, Error::ResourceNotFound { .. }),
        "{refused:?}"
    );
    let state = |job: &NewJob| {
        let client = client.clone();
        let id = job.id();
        async move { client.details(id).await.unwrap().unwrap().state }
    };
    assert_eq!(state(&updates[0]).await, JobState::Failed);
    if queued > 1_000 {
        assert_eq!(
            state(&updates[queued - 1]).await,
            JobState::Blocked,
            "the last one waits its turn"
        );
    }
    // Each grab fails the next heads, in order; none of them runs.
    let mut grabs = 0;
    while client.resource("vm").await.unwrap().total > 0 {
        let grabbed = client.grab(&grab).await.unwrap();
        assert!(
            grabbed.jobs.is_empty(),
            "an update ran without its resource"
        );
        grabs += 1;
        assert!(grabs <= queued, "the resource's queue does not drain");
    }
    for update in [&updates[0], &updates[queued / 2], &updates[queued - 1]] {
        let details = client.details(update.id()).await.unwrap().unwrap();
        assert_eq!(details.state, JobState::Failed);
        assert_eq!(details.failures[0].kind, FailureKind::Resource);
        assert!(
            details.failures[0]
                .message
                .contains(&create.id().to_string()),
            "{}",
            details.failures[0].message
        );
    }
    log.slowest().await
}

/// A grab filtered on an attribute no job has, over `types` types of `per` ready jobs each.
pub async fn filtered_grab(log: &Slowlog, types: usize, per: usize) -> Slowest {
    let client = log.client("filter", Config::new()).await;
    let names: Vec<String> = (0..types).map(|i| format!("slow.t{i:03}")).collect();
    let jobs: Vec<NewJob> = names
        .iter()
        .flat_map(|name| {
            (0..per).map(move |_| {
                NewJob::from_parts(name.clone(), b"{}".to_vec(), JobOptions::new())
                    .with_attribute("customer", "other")
            })
        })
        .collect();
    insert_all(&client, &jobs).await;
    let types: Vec<&str> = names.iter().map(String::as_str).collect();
    let holder = Holder::current();
    let filter = [("customer".to_owned(), "acme".to_owned())];
    log.reset().await;
    let grabbed = client
        .grab(&Grab::new(&types, 100, LEASE, &holder).with_filter(&filter))
        .await
        .unwrap();
    assert!(grabbed.jobs.is_empty());
    log.slowest().await
}

/// The slowest grab, heartbeat and completion when `n` leases go through one `Backend` call
/// each (the completions also prune the retention index past its count).
pub async fn large_calls(log: &Slowlog, n: usize) -> [(&'static str, Slowest); 3] {
    let config = Config::new().keep_completed(job::redis::Retention::new(
        1_000,
        Duration::from_secs(3_600),
    ));
    let client = log.client("large", config).await;
    let jobs: Vec<NewJob> = (0..n)
        .map(|_| NewJob::from_parts(TYPE, b"{}".to_vec(), JobOptions::new()))
        .collect();
    insert_all(&client, &jobs).await;
    let holder = Holder::current();
    log.reset().await;
    let grabbed = client
        .grab(&Grab::new(&[TYPE], n, LEASE, &holder))
        .await
        .unwrap();
    assert_eq!(grabbed.jobs.len(), n);
    let grab = log.slowest().await;
    let leases: Vec<job::backend::Lease> = grabbed.jobs.iter().map(|job| job.lease).collect();
    log.reset().await;
    let held = client.heartbeat(&leases).await.unwrap();
    assert!(held.iter().all(|held| *held));
    let heartbeat = log.slowest().await;
    let done: Vec<Completion> = leases
        .iter()
        .map(|lease| Completion::new(*lease, None))
        .collect();
    log.reset().await;
    let acks = client.complete(&done).await.unwrap();
    assert!(acks.iter().all(|ack| *ack == job::backend::Ack::Ok));
    let complete = log.slowest().await;
    [
        ("grab", grab),
        ("heartbeat", heartbeat),
        ("complete", complete),
    ]
}

/// Cancels the job at the tail of a ready list of `n` entries.
pub async fn cancel_at_tail(log: &Slowlog, n: usize) -> Slowest {
    let client = log.client("cancel", Config::new()).await;
    // The list's other entries need no jobs behind them: the cancel must not look at them.
    let list = format!("{}:{{0}}:l:{TYPE}", client.namespace());
    let mut raw = log.raw.clone();
    let mut pipe = redis::pipe();
    for first in (0..n).step_by(10_000) {
        let ids: Vec<String> = (first..(first + 10_000).min(n))
            .map(|i| format!("filler{i}"))
            .collect();
        pipe.rpush(&list, ids).ignore();
    }
    let _: () = pipe.query_async(&mut raw).await.unwrap();
    let last = client
        .insert(NewJob::from_parts(TYPE, b"{}".to_vec(), JobOptions::new()))
        .await
        .unwrap()
        .id();
    log.reset().await;
    client.cancel(last).await.unwrap();
    let slowest = log.slowest().await;
    let details = client.details(last).await.unwrap().unwrap();
    assert_eq!(details.state, JobState::Cancelled);
    let _: () = redis::cmd("UNLINK")
        .arg(&list)
        .query_async(&mut raw)
        .await
        .unwrap();
    slowest
}

/// The heaviest job a script inserts: a resource and a unique key of its own, arguments kept
/// apart, a requirement and an attribute (29 units of work; a plain job is 1).
fn heavy(i: usize) -> NewJob {
    NewJob::from_parts(TYPE, vec![b'x'; 100], JobOptions::new())
        .with_resource(format!("r{i}"))
        .with_unique_key(format!("k{i}"))
        .with_requirement("gpu")
        .with_attribute("customer", "acme")
}

/// The widest REPLACEs allowed: 500 plain children, and 34 of the heaviest; one more heavy
/// child is refused, naming the parent.
pub async fn wide_replace(log: &Slowlog) -> Slowest {
    let client = log.client("replace", Config::new().shards(1)).await;
    let parents: Vec<NewJob> = (0..2)
        .map(|_| NewJob::from_parts(TYPE, b"{}".to_vec(), JobOptions::new()))
        .collect();
    client.insert_many(&parents).await.unwrap();
    let holder = Holder::current();
    let grabbed = client
        .grab(&Grab::new(&[TYPE], 2, LEASE, &holder))
        .await
        .unwrap();
    let plain: Vec<NewJob> = (0..500)
        .map(|_| NewJob::from_parts("slow.child", b"{}".to_vec(), JobOptions::new()))
        .collect();
    let heavies: Vec<NewJob> = (0..35).map(heavy).collect();
    let lease = grabbed.jobs[1].lease;
    let error = client.replace(&lease, &heavies).await.unwrap_err();
    assert!(error.to_string().contains(&lease.id.to_string()), "{error}");
    log.reset().await;
    for (job, children) in [
        (&grabbed.jobs[0], &plain[..]),
        (&grabbed.jobs[1], &heavies[..34]),
    ] {
        let (ack, answers) = client.replace(&job.lease, children).await.unwrap();
        assert_eq!(ack, job::backend::Ack::Ok);
        assert_eq!(answers.len(), children.len());
    }
    log.slowest().await
}

/// Inserts `n` jobs that each cost a script the most: a resource and a unique key of their
/// own, arguments kept apart, requirements and an attribute; in one `insert_many` and as
/// concurrent single enqueues.
pub async fn heavy_inserts(log: &Slowlog, n: usize) -> Slowest {
    let client = log.client("heavy", Config::new().shards(1)).await;
    let jobs: Vec<NewJob> = (0..n).map(heavy).collect();
    log.reset().await;
    client.insert_many(&jobs).await.unwrap();
    let singles = (n..2 * n).map(|i| {
        let client = client.clone();
        async move { client.insert(heavy(i)).await.unwrap() }
    });
    futures_util::future::join_all(singles).await;
    log.slowest().await
}

/// The completed jobs' index holds `stored` jobs when the policy is shortened to 10,000: the
/// completions after prune the backlog by at most what they ended plus 100 per call. Returns
/// the slowest call of 5,000 completions under the shortened policy, and how many jobs the
/// index lost meanwhile.
pub async fn shortened_retention(log: &Slowlog, stored: usize) -> (Slowest, usize) {
    use job::redis::Retention;
    let long = Retention::new(u64::MAX / 2, Duration::from_secs(86_400));
    let client = log
        .client("shorten", Config::new().shards(1).keep_completed(long))
        .await;
    let prefix = format!("{}:{{0}}:", client.namespace());
    // `stored` completed jobs, written directly: the shape the scripts leave them in.
    let mut conn = log.raw.clone();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    for chunk in (0..stored).collect::<Vec<_>>().chunks(10_000) {
        let mut pipe = redis::pipe();
        let mut scored = Vec::with_capacity(chunk.len());
        for i in chunk {
            let id = job::JobId::new().to_string();
            pipe.hset_multiple(
                format!("{prefix}j:{id}"),
                &[("t", TYPE), ("s", "completed"), ("m", "25"), ("d", "{}")],
            )
            .ignore();
            scored.push((now - 1_000 + (*i as u64 % 1_000), id));
        }
        pipe.zadd_multiple(format!("{prefix}done"), &scored)
            .ignore();
        let _: () = pipe.query_async(&mut conn).await.unwrap();
    }
    let short = Config::new()
        .namespace(client.namespace())
        .shards(1)
        .keep_completed(Retention::new(10_000, Duration::from_secs(3_600)));
    let short = Client::connect_with(&log.url, short).await.unwrap();
    let before: usize = redis::cmd("ZCARD")
        .arg(format!("{prefix}done"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let jobs: Vec<NewJob> = (0..5_000)
        .map(|_| NewJob::from_parts(TYPE, b"{}".to_vec(), JobOptions::new()))
        .collect();
    insert_all(&short, &jobs).await;
    log.reset().await;
    let holder = Holder::current();
    let mut left = jobs.len();
    while left > 0 {
        let grab = Grab::new(&[TYPE], 200, LEASE, &holder);
        let grabbed = short.grab(&grab).await.unwrap();
        left -= grabbed.jobs.len();
        let done: Vec<Completion> = grabbed
            .jobs
            .iter()
            .map(|job| Completion::new(job.lease, None))
            .collect();
        short.complete(&done).await.unwrap();
    }
    let slowest = log.slowest().await;
    let after: usize = redis::cmd("ZCARD")
        .arg(format!("{prefix}done"))
        .query_async(&mut conn)
        .await
        .unwrap();
    (slowest, (before + jobs.len()).saturating_sub(after))
}

/// Schedules at their largest calls: a 1,000-tick backfill (fired 100 ticks a call), 1,000
/// schedules due at once (claimed 100 a call), and the list of them all with their fires.
pub async fn schedule_calls(log: &Slowlog) -> Slowest {
    use job::{Missed, Schedule};
    let client = log.client("sched", Config::new().shards(1)).await;
    let job = NewJob::from_parts(TYPE, b"{}".to_vec(), JobOptions::new());
    let backfill = Schedule::every("backfill", Duration::from_secs(1))
        .unwrap()
        .new_job(job.clone())
        .missed(Missed::All { max: 1_000 });
    client.upsert_schedule(&backfill).await.unwrap();
    for i in 0..1_000 {
        let schedule = Schedule::every(format!("every-{i}"), Duration::from_secs(1))
            .unwrap()
            .new_job(job.clone());
        client.upsert_schedule(&schedule).await.unwrap();
    }
    // All down for 1,000 s: the backfill's ticks since are due.
    let prefix = format!("{}:{{0}}:", client.namespace());
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        - 1_000_000;
    let _: () = redis::cmd("HSET")
        .arg(format!("{prefix}s:backfill"))
        .arg("last")
        .arg(since)
        .query_async(&mut log.raw.clone())
        .await
        .unwrap();
    log.reset().await;
    let stop = tokio_util::sync::CancellationToken::new();
    let scheduler = {
        let client = client.clone();
        let stop = stop.clone();
        tokio::spawn(async move { client.run_schedules(stop.cancelled_owned()).await })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let all = client.schedules().await.unwrap();
        let backfilled = all
            .iter()
            .any(|info| info.schedule.name() == "backfill" && info.fired >= 1_000);
        if backfilled && all.iter().all(|info| info.fired >= 2) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the schedules did not fire in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    scheduler.await.unwrap().unwrap();
    log.slowest().await
}
