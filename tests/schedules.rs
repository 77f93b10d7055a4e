//! Schedules against a real Redis: each tick fires once with any number of schedulers, missed
//! ticks follow their policy, overlap skip never overlaps, changes win over old plans, and
//! bad schedules are refused with nothing stored.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use job::redis::{Client, Config, Retention};
use job::schedule::{FireOutcome, ScheduleInfo, Upserted};
use job::{Context, Failure, JobId, JobSet, Missed, Outcome, Overlap, Run, Schedule};
use serde::{Deserialize, Serialize};
use support::{eventually, queue, queue_with};
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Seen {
    /// Every job run: its id and when it started and ended.
    runs: Mutex<Vec<(JobId, String, Instant, Instant)>>,
}

#[derive(job::Job, Serialize, Deserialize)]
#[job(name = "sched.tick")]
struct Tick {
    label: String,
    #[serde(default)]
    millis: u64,
}

impl Run<Seen> for Tick {
    async fn run(self, cx: &Context<Seen>) -> Result<Outcome, Failure> {
        let started = Instant::now();
        tokio::time::sleep(Duration::from_millis(self.millis)).await;
        let runs = &cx.state().runs;
        runs.lock()
            .unwrap()
            .push((cx.id(), self.label, started, Instant::now()));
        Ok(Outcome::complete())
    }
}

#[derive(JobSet)]
enum Set {
    Tick(Tick),
}

/// A job whose arguments do not serialize (JSON object keys must be strings).
#[derive(job::Job, Serialize, Deserialize)]
#[job(name = "sched.unserializable")]
struct Unserializable {
    by_pair: std::collections::HashMap<(u8, u8), u8>,
}

fn tick(label: &str) -> Tick {
    Tick {
        label: label.into(),
        millis: 0,
    }
}

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// Runs `count` schedulers, each on a client with connections of its own.
async fn schedulers(
    q: &support::TestQueue,
    count: usize,
    stop: &CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut running = Vec::new();
    for _ in 0..count {
        let client = q.another_client().await.unwrap();
        let stop = stop.clone();
        running.push(tokio::spawn(async move {
            client.run_schedules(stop.cancelled_owned()).await.unwrap();
        }));
    }
    running
}

async fn info(client: &Client, name: &str) -> ScheduleInfo {
    client
        .schedule(name)
        .await
        .unwrap()
        .expect("the schedule is stored")
}

/// The ticks of the fires that inserted a job, oldest first.
fn inserted_ticks(info: &ScheduleInfo) -> Vec<u64> {
    let mut ticks: Vec<u64> = info
        .fires
        .iter()
        .filter(|fire| fire.outcome == FireOutcome::Inserted && !fire.triggered)
        .map(|fire| {
            u64::try_from(fire.tick.duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
        })
        .collect();
    ticks.sort_unstable();
    ticks
}

#[tokio::test]
async fn a_live_schedule_fires_each_second_once_with_three_schedulers() {
    let q = queue("sched_live").await;
    let c = q.client().clone();
    let schedule = Schedule::cron("every-second", "*/1 * * * * *")
        .unwrap()
        .job(tick("live"))
        .unwrap();
    assert_eq!(
        c.upsert_schedule(&schedule).await.unwrap(),
        Upserted::Created
    );
    let stop = CancellationToken::new();
    let running = schedulers(&q, 3, &stop).await;
    let started = now_ms();
    // 20 s: every tick in that time fires once, none twice, one after another.
    let seen = eventually(Duration::from_secs(40), "20 s of ticks", || async {
        let info = info(&c, "every-second").await;
        (now_ms() >= started + 20_000).then_some(info)
    })
    .await;
    stop.cancel();
    for task in running {
        task.await.unwrap();
    }
    let info = info(&c, "every-second").await;
    let ticks = inserted_ticks(&info);
    assert!(
        (19..=22).contains(&info.fired),
        "{} jobs in about 20 s",
        info.fired
    );
    assert!(seen.fired <= info.fired);
    for pair in ticks.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            1_000,
            "ticks one second apart, none twice: {ticks:?}"
        );
    }
    let waiting = q.enqueued::<Tick>().await.unwrap();
    assert_eq!(waiting.len() as u64, info.fired, "one job per fire");
    let ids: HashSet<JobId> = waiting.iter().map(|job| job.id).collect();
    for t in &ticks {
        assert!(
            ids.contains(&JobId::for_tick("every-second", *t)),
            "tick {t} has its job"
        );
    }
    q.cleanup().await.unwrap();
}

/// Three schedulers race over a 1,000-tick backfill while workers run the jobs and keep no
/// completed job: every tick's job runs once, the ticks are contiguous, none is skipped. The
/// guarantee rests on the stored last tick: a job deleted at once never lets a tick fire again.
#[tokio::test]
async fn a_backfill_of_1000_ticks_fires_each_once_with_three_schedulers() {
    let config = Config::new().keep_completed(Retention::none());
    let q = queue_with("sched_backfill", config).await;
    let c = q.client().clone();
    let schedule = Schedule::every("backfill", Duration::from_secs(1))
        .unwrap()
        .job(tick("b"))
        .unwrap()
        .missed(Missed::All { max: 1_000 });
    c.upsert_schedule(&schedule).await.unwrap();
    // All schedulers down for 999.5 s: the ticks since are missed, 999 or 1,000 of them.
    let since = SystemTime::now() - Duration::from_millis(999_500);
    assert!(q.rewind_schedule("backfill", since).await.unwrap());
    let seen = Arc::new(Seen::default());
    let stop = CancellationToken::new();
    let running = schedulers(&q, 3, &stop).await;
    let worker = job::Worker::<Set, Seen>::new(c.clone(), seen.clone())
        .concurrency(50)
        .schedules(false);
    let work = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));
    let ran = eventually(Duration::from_secs(60), "the backfill to run", || async {
        let ran = seen.runs.lock().unwrap().len();
        (ran >= 1_001).then_some(ran)
    })
    .await;
    stop.cancel();
    for task in running {
        task.await.unwrap();
    }
    work.await.unwrap().unwrap();
    let info = info(&c, "backfill").await;
    assert!(ran >= 1_001);
    let ids: Vec<JobId> = seen.runs.lock().unwrap().iter().map(|run| run.0).collect();
    let unique: HashSet<JobId> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "no tick's job ran twice");
    assert_eq!(info.dropped, 0, "no tick dropped");
    assert_eq!(info.fired as usize, ids.len(), "every fire ran once");
    // Contiguous: the ids are those of consecutive ticks from the first after `since`.
    let first = (since.duration_since(UNIX_EPOCH).unwrap().as_millis() / 1000 + 1) as u64 * 1000;
    let expected: HashSet<JobId> = (0..ids.len() as u64)
        .map(|i| JobId::for_tick("backfill", first + i * 1000))
        .collect();
    assert_eq!(unique, expected, "the ticks from {first} on, each once");
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn missed_ticks_follow_skip_latest_and_all_after_a_downtime() {
    let q = queue("sched_missed").await;
    let c = q.client().clone();
    let hour = Duration::from_secs(3_600);
    let policies = [
        ("skip", Missed::Skip),
        ("latest", Missed::Latest),
        ("all", Missed::All { max: 2 }),
    ];
    for (name, missed) in policies {
        let schedule = Schedule::every(name, hour)
            .unwrap()
            .job(tick(name))
            .unwrap()
            .missed(missed);
        c.upsert_schedule(&schedule).await.unwrap();
        // Down for three hours: three ticks passed.
        let since = SystemTime::now() - Duration::from_secs(3 * 3_600);
        q.rewind_schedule(name, since).await.unwrap();
    }
    let stop = CancellationToken::new();
    let running = schedulers(&q, 1, &stop).await;
    for name in ["skip", "latest", "all"] {
        eventually(Duration::from_secs(10), "the downtime handled", || async {
            let info = info(&c, name).await;
            (info.last_tick > SystemTime::now() - hour).then_some(())
        })
        .await;
    }
    stop.cancel();
    for task in running {
        task.await.unwrap();
    }
    // The newest tick is on time only within a minute after the hour.
    let on_time = now_ms() % 3_600_000 < 60_000;
    let skip = info(&c, "skip").await;
    assert_eq!(
        skip.fired,
        u64::from(on_time),
        "skip fires none of the missed ticks"
    );
    assert_eq!(skip.dropped, 3 - u64::from(on_time));
    let latest = info(&c, "latest").await;
    assert_eq!((latest.fired, latest.dropped), (1, 2), "latest fires one");
    let hour_ms = 3_600_000;
    let newest = now_ms() / hour_ms * hour_ms;
    assert_eq!(inserted_ticks(&latest), [newest], "for the latest tick");
    let all = info(&c, "all").await;
    assert_eq!(
        (all.fired, all.dropped),
        (2, 1),
        "all fires the latest two, drops one"
    );
    assert_eq!(inserted_ticks(&all), [newest - hour_ms, newest]);
    assert!(
        all.fires
            .iter()
            .any(|fire| fire.outcome == FireOutcome::Dropped(1)),
        "the drop is recorded"
    );
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn overlap_skip_never_runs_two_at_once() {
    let q = queue("sched_overlap").await;
    let c = q.client().clone();
    // Each job lasts 2.5 ticks; workers could run four at once.
    let schedule = Schedule::every("slow", Duration::from_secs(1))
        .unwrap()
        .job(Tick {
            label: "slow".into(),
            millis: 2_500,
        })
        .unwrap()
        .overlap(Overlap::Skip);
    c.upsert_schedule(&schedule).await.unwrap();
    let seen = Arc::new(Seen::default());
    let stop = CancellationToken::new();
    let worker = job::Worker::<Set, Seen>::new(c.clone(), seen.clone()).concurrency(4);
    let work = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));
    eventually(
        Duration::from_secs(30),
        "three runs and skipped ticks",
        || async {
            let info = info(&c, "slow").await;
            (seen.runs.lock().unwrap().len() >= 3 && info.skipped >= 2).then_some(())
        },
    )
    .await;
    stop.cancel();
    work.await.unwrap().unwrap();
    let mut runs = seen.runs.lock().unwrap().clone();
    runs.sort_by_key(|run| run.2);
    for pair in runs.windows(2) {
        assert!(
            pair[1].2 >= pair[0].3,
            "a run started before the one before it ended"
        );
    }
    let info = info(&c, "slow").await;
    assert!(
        info.fires
            .iter()
            .any(|fire| fire.outcome == FireOutcome::Overlap)
    );
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn pause_resume_trigger_and_remove() {
    let q = queue("sched_admin").await;
    let c = q.client().clone();
    for name in ["paused", "control"] {
        let schedule = Schedule::every(name, Duration::from_secs(1))
            .unwrap()
            .job(tick(name))
            .unwrap();
        c.upsert_schedule(&schedule).await.unwrap();
    }
    assert!(c.pause_schedule("paused").await.unwrap());
    assert!(!c.pause_schedule("no-such").await.unwrap());
    let stop = CancellationToken::new();
    let running = schedulers(&q, 1, &stop).await;
    // While the control fires twice, the paused one fires nothing.
    eventually(
        Duration::from_secs(10),
        "the control to fire twice",
        || async { (info(&c, "control").await.fired >= 2).then_some(()) },
    )
    .await;
    let paused = info(&c, "paused").await;
    assert!(paused.paused);
    assert_eq!(paused.fired, 0, "a paused schedule fires no tick");
    // A trigger runs it once, paused or not.
    let triggered = c.trigger_schedule("paused").await.unwrap().unwrap();
    let paused = info(&c, "paused").await;
    assert_eq!(paused.fired, 1);
    assert_eq!(paused.last_job, Some(triggered));
    assert!(paused.fires[0].triggered);
    assert!(c.trigger_schedule("no-such").await.unwrap().is_none());
    // Resumed, it ticks again, from now.
    assert!(c.resume_schedule("paused").await.unwrap());
    let resumed_at = SystemTime::now() - Duration::from_millis(100);
    eventually(
        Duration::from_secs(10),
        "a tick after the resume",
        || async { (info(&c, "paused").await.fired >= 2).then_some(()) },
    )
    .await;
    let resumed = info(&c, "paused").await;
    assert!(!resumed.paused);
    assert!(
        resumed
            .fires
            .iter()
            .filter(|f| !f.triggered)
            .all(|f| f.tick >= resumed_at)
    );
    // Removed: gone from the list, its jobs stay.
    let waiting = q.enqueued::<Tick>().await.unwrap().len();
    assert!(c.remove_schedule("paused").await.unwrap());
    assert!(c.schedule("paused").await.unwrap().is_none());
    assert!(!c.remove_schedule("paused").await.unwrap());
    let names: Vec<String> = c
        .schedules()
        .await
        .unwrap()
        .iter()
        .map(|info| info.schedule.name().to_owned())
        .collect();
    assert_eq!(names, ["control"]);
    assert!(q.enqueued::<Tick>().await.unwrap().len() >= waiting);
    stop.cancel();
    for task in running {
        task.await.unwrap();
    }
    q.cleanup().await.unwrap();
}

/// 50 concurrent upserts of one schedule while it ticks leave one schedule and fire no extra
/// job; after a change, no tick of the old version fires.
#[tokio::test]
async fn upserts_race_and_a_change_wins_over_old_plans() {
    let q = queue("sched_upsert").await;
    let c = q.client().clone();
    let version = |label: &str| {
        Schedule::every("racy", Duration::from_secs(1))
            .unwrap()
            .job(tick(label))
            .unwrap()
    };
    let stop = CancellationToken::new();
    let running = schedulers(&q, 3, &stop).await;
    let old = version("old");
    let answers = futures_util::future::join_all((0..50).map(|_| {
        let c = c.clone();
        let old = old.clone();
        async move { c.upsert_schedule(&old).await.unwrap() }
    }))
    .await;
    assert_eq!(
        answers.iter().filter(|a| **a == Upserted::Created).count(),
        1
    );
    assert_eq!(
        answers
            .iter()
            .filter(|a| **a == Upserted::Unchanged)
            .count(),
        49
    );
    eventually(Duration::from_secs(10), "old ticks", || async {
        (info(&c, "racy").await.fired >= 2).then_some(())
    })
    .await;
    // The change, 50 times at once while it ticks.
    let new = version("new");
    let answers = futures_util::future::join_all((0..50).map(|_| {
        let c = c.clone();
        let new = new.clone();
        async move { c.upsert_schedule(&new).await.unwrap() }
    }))
    .await;
    let changed_at = now_ms();
    assert_eq!(
        answers.iter().filter(|a| **a == Upserted::Changed).count(),
        1
    );
    eventually(Duration::from_secs(10), "new ticks", || async {
        let jobs = q.enqueued::<Tick>().await.unwrap();
        (jobs.iter().filter(|j| j.job.label == "new").count() >= 3).then_some(())
    })
    .await;
    stop.cancel();
    for task in running {
        task.await.unwrap();
    }
    let jobs = q.enqueued::<Tick>().await.unwrap();
    let info = info(&c, "racy").await;
    assert_eq!(jobs.len() as u64, info.fired, "one job per fire");
    assert_eq!(c.schedules().await.unwrap().len(), 1, "one schedule");
    let ticks: HashSet<u64> = info
        .fires
        .iter()
        .map(|f| u64::try_from(f.tick.duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap())
        .collect();
    assert_eq!(ticks.len(), info.fires.len(), "no tick twice");
    for job in &jobs {
        let fire = info.fires.iter().find(|f| f.job == Some(job.id));
        if let (Some(fire), "old") = (fire, job.job.label.as_str()) {
            let tick =
                u64::try_from(fire.tick.duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap();
            assert!(
                tick <= changed_at,
                "an old tick fired after the change: {tick} > {changed_at}"
            );
        }
    }
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn bad_schedules_are_refused_naming_the_schedule_and_field_and_nothing_is_stored() {
    let q = queue_with("sched_bad", Config::new().max_payload(64)).await;
    let c = q.client().clone();
    let no_job = Schedule::every("no-job", Duration::from_secs(1)).unwrap();
    let error = c.upsert_schedule(&no_job).await.unwrap_err().to_string();
    assert!(
        error.contains("schedule `no-job`") && error.contains("job"),
        "{error}"
    );
    let big = Schedule::every("too-big", Duration::from_secs(1))
        .unwrap()
        .job(tick(&"x".repeat(100)))
        .unwrap();
    let error = c.upsert_schedule(&big).await.unwrap_err().to_string();
    assert!(
        error.contains("schedule `too-big`") && error.contains("job"),
        "{error}"
    );
    let bad_type = Schedule::every("bad-type", Duration::from_secs(1))
        .unwrap()
        .new_job(job::NewJob::from_parts(
            "a|b",
            b"{}".to_vec(),
            job::JobOptions::new(),
        ));
    let error = c.upsert_schedule(&bad_type).await.unwrap_err().to_string();
    assert!(error.contains("schedule `bad-type`"), "{error}");
    let error = Schedule::every("unserializable", Duration::from_secs(1))
        .unwrap()
        .job(Unserializable {
            by_pair: [((1, 2), 3)].into_iter().collect(),
        })
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("schedule `unserializable`") && error.contains("job"),
        "{error}"
    );
    let error = Schedule::cron("bad-line", "* * *").unwrap_err().to_string();
    assert!(
        error.contains("schedule `bad-line`") && error.contains("cron line"),
        "{error}"
    );
    let error = Schedule::every("n".repeat(513), Duration::from_secs(1))
        .unwrap_err()
        .to_string();
    assert!(error.contains("name"), "{error}");
    assert!(
        c.schedules().await.unwrap().is_empty(),
        "nothing was stored"
    );
    q.cleanup().await.unwrap();
}

/// Names with separators, braces, spaces and NUL, and the longest allowed, work end to end.
#[tokio::test]
async fn odd_names_fire_list_and_remove() {
    let q = queue("sched_names").await;
    let c = q.client().clone();
    let names = ["a:{b}|c,d e\0f", "[x", "(y", "-", "+", &"n".repeat(512)];
    for name in names {
        let schedule = Schedule::every(name, Duration::from_secs(1))
            .unwrap()
            .job(tick("odd"))
            .unwrap();
        assert_eq!(
            c.upsert_schedule(&schedule).await.unwrap(),
            Upserted::Created
        );
    }
    let stop = CancellationToken::new();
    let running = schedulers(&q, 1, &stop).await;
    for name in names {
        eventually(Duration::from_secs(10), "each to fire", || async {
            (info(&c, name).await.fired >= 1).then_some(())
        })
        .await;
    }
    stop.cancel();
    for task in running {
        task.await.unwrap();
    }
    let listed: Vec<String> = c
        .schedules()
        .await
        .unwrap()
        .iter()
        .map(|i| i.schedule.name().to_owned())
        .collect();
    let mut expected: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    expected.sort();
    assert_eq!(listed, expected);
    for name in names {
        assert!(c.remove_schedule(name).await.unwrap(), "{name:?}");
    }
    assert!(c.schedules().await.unwrap().is_empty());
    q.cleanup().await.unwrap();
}

/// Set for the scheduler process of `ticks_fire_by_the_redis_clock_not_the_hosts`: the Redis
/// URL and namespace it schedules.
const SKEWED_URL: &str = "JOB_TEST_SKEWED_URL";
const SKEWED_NAMESPACE: &str = "JOB_TEST_SKEWED_NAMESPACE";

/// The scheduler process of `ticks_fire_by_the_redis_clock_not_the_hosts`, run under
/// `faketime`; run as a test on its own (without its variables) it does nothing. Prints this
/// process's wall clock, then schedules until its stdin closes.
#[test]
fn skewed_scheduler_process() {
    let (Ok(url), Ok(namespace)) = (std::env::var(SKEWED_URL), std::env::var(SKEWED_NAMESPACE))
    else {
        return;
    };
    println!("clock {}", now_ms());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = Client::connect_with(&url, Config::new().namespace(namespace))
            .await
            .unwrap();
        let (closed, on_close) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            let _ = closed.send(());
        });
        client
            .run_schedules(async {
                let _ = on_close.await;
            })
            .await
            .unwrap();
    });
}

/// Redis's clock decides: a scheduler whose host clock is 30 s behind (a process of its own,
/// under `faketime`) fires each tick within moments of the tick by Redis's clock, not 30 s late.
#[tokio::test]
async fn ticks_fire_by_the_redis_clock_not_the_hosts() {
    use std::io::BufRead;
    let q = queue("sched_skew").await;
    let c = q.client().clone();
    let schedule = Schedule::every("skewed", Duration::from_secs(1))
        .unwrap()
        .job(tick("skewed"))
        .unwrap();
    c.upsert_schedule(&schedule).await.unwrap();
    let url = std::env::var(job::testing::REDIS_URL_VAR)
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let mut child = std::process::Command::new("env")
        .args(["FAKETIME_DONT_FAKE_MONOTONIC=1", "faketime", "-f", "-30s"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "skewed_scheduler_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SKEWED_URL, &url)
        .env(SKEWED_NAMESPACE, c.namespace())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Its output is read to the end, so it never writes into a closed pipe.
    let stdout = child.stdout.take().unwrap();
    let (found, clock) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            // The harness prints `test <name> ... ` before it, on the same line.
            if let Some(ms) = line
                .rsplit_once("clock ")
                .and_then(|(_, ms)| ms.trim().parse::<u64>().ok())
            {
                let _ = found.send(ms);
            }
        }
    });
    let clock = tokio::task::spawn_blocking(move || clock.recv_timeout(Duration::from_secs(30)))
        .await
        .unwrap()
        .expect("the scheduler process printed no clock (this test needs `faketime`: apt-get install faketime)");
    let skew = clock as i64 - now_ms() as i64;
    assert!(
        (-31_000..-29_000).contains(&skew),
        "the scheduler's clock is {skew} ms off, not -30 s"
    );
    let redis_now = || async {
        let mut conn = q.connection();
        let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(&mut conn).await.unwrap();
        secs * 1000 + micros / 1000
    };
    let mut lateness = Vec::new();
    let mut seen = 0;
    while lateness.len() < 3 {
        let info = eventually(Duration::from_secs(5), "the next tick", || async {
            let info = info(&c, "skewed").await;
            (info.fired > seen).then_some(info)
        })
        .await;
        let now = redis_now().await;
        seen = info.fired;
        let tick = inserted_ticks(&info).last().copied().unwrap();
        lateness.push(now - tick);
    }
    drop(child.stdin.take());
    child.wait().unwrap();
    for late in &lateness {
        assert!(
            *late < 1_000,
            "a tick's job came {late} ms after the tick by Redis's clock: {lateness:?}"
        );
    }
    q.cleanup().await.unwrap();
}
