//! Resource FIFOs, predicted existence, unique keys, capabilities and filtered grabs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use job::backend::{Backend, Grab};
use job::{
    Context, Effect, Failure, FailureKind, Inserted, Job, JobSet, JobState, NewJob, Outcome, Run,
};
use serde::{Deserialize, Serialize};
use support::{eventually, holder, queue};
use tokio_util::sync::CancellationToken;

const LEASE: Duration = Duration::from_secs(30);

/// One step of work on an instance; `fail_percent` of its attempts fail temporarily.
#[derive(Job, Serialize, Deserialize, Clone)]
#[job(name = "res.step", max_attempts = 50, backoff(fixed = "5ms"))]
struct Step {
    instance: String,
    n: u32,
    fail_percent: u32,
}

/// Creates, changes or deletes an instance; `fatal` fails it for good.
#[derive(Job, Serialize, Deserialize, Clone)]
#[job(name = "res.op", max_attempts = 1)]
struct Op {
    label: String,
    fatal: bool,
}

/// Replaces itself with `children` steps on the same instance.
#[derive(Job, Serialize, Deserialize, Clone)]
#[job(name = "res.chain")]
struct Chain {
    instance: String,
    children: u32,
}

/// A self-rescheduling chain: each round REPLACEs itself with the next, under the same unique
/// key, until `last`.
#[derive(Job, Serialize, Deserialize, Clone)]
#[job(name = "res.round", unique = "key")]
struct Round {
    key: String,
    n: u32,
    last: u32,
}

#[derive(JobSet)]
enum ResJob {
    Step(Step),
    Op(Op),
    Chain(Chain),
    Round(Round),
}

#[derive(Default)]
struct App {
    /// Per instance, how many of its jobs run right now (must never pass 1).
    running: Mutex<HashMap<String, u32>>,
    most_at_once: Mutex<u32>,
    order: Mutex<HashMap<String, Vec<u32>>>,
    log: Mutex<Vec<String>>,
    /// Where steps also record their order in Redis: a connection and a key prefix.
    recorder: Option<(job_redis::testing::Connection, String)>,
}

impl App {
    fn enter(&self, instance: &str) {
        let mut running = self.running.lock().unwrap();
        let now = running.entry(instance.to_owned()).or_default();
        *now += 1;
        let mut most = self.most_at_once.lock().unwrap();
        *most = (*most).max(*now);
    }

    fn leave(&self, instance: &str) {
        *self.running.lock().unwrap().get_mut(instance).unwrap() -= 1;
    }
}

impl Run<App> for Step {
    async fn run(self, cx: &Context<App>) -> Result<Outcome, Failure> {
        let app = cx.state();
        app.enter(&self.instance);
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..3))).await;
        let fail = fastrand::u32(0..100) < self.fail_percent;
        if !fail {
            if let Some((conn, prefix)) = &app.recorder {
                let key = format!("{prefix}{}", self.instance);
                let _: () = redis::cmd("RPUSH")
                    .arg(key)
                    .arg(self.n)
                    .query_async(&mut conn.clone())
                    .await?;
            }
            app.order
                .lock()
                .unwrap()
                .entry(self.instance.clone())
                .or_default()
                .push(self.n);
        }
        app.leave(&self.instance);
        if fail {
            return Err(Failure::retry("flaky"));
        }
        Ok(Outcome::complete())
    }
}

impl Run<App> for Op {
    async fn run(self, cx: &Context<App>) -> Result<Outcome, Failure> {
        cx.state().log.lock().unwrap().push(self.label.clone());
        if self.fatal {
            return Err(Failure::fatal(format!("{} broke", self.label)));
        }
        Ok(Outcome::complete())
    }
}

impl Run<App> for Chain {
    async fn run(self, _cx: &Context<App>) -> Result<Outcome, Failure> {
        let children = (0..self.children)
            .map(|n| {
                NewJob::new(&Step {
                    instance: self.instance.clone(),
                    n: 100 + n,
                    fail_percent: 0,
                })
                .map(|job| job.with_resource(self.instance.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Outcome::replace_with(children))
    }
}

impl Run<App> for Round {
    async fn run(self, cx: &Context<App>) -> Result<Outcome, Failure> {
        cx.state()
            .log
            .lock()
            .unwrap()
            .push(format!("{} round {}", self.key, self.n));
        if self.n == self.last {
            return Ok(Outcome::complete());
        }
        Ok(Outcome::replace([Round {
            n: self.n + 1,
            ..self
        }]))
    }
}

/// An `Op` job that cannot fail.
fn plain_op(label: &str) -> NewJob {
    NewJob::new(&Op {
        label: label.to_owned(),
        fatal: false,
    })
    .unwrap()
}

/// A mail job with a unique key.
fn mail(key: &str) -> NewJob {
    plain_op("mail").with_unique_key(key)
}

fn step(instance: &str, n: u32, fail_percent: u32) -> NewJob {
    NewJob::new(&Step {
        instance: instance.to_owned(),
        n,
        fail_percent,
    })
    .unwrap()
    .with_resource(instance)
}

fn op(instance: &str, label: &str, effect: Option<Effect>, fatal: bool) -> NewJob {
    let job = NewJob::new(&Op {
        label: label.to_owned(),
        fatal,
    })
    .unwrap()
    .with_resource(instance);
    match effect {
        Some(effect) => job.with_effect(effect),
        None => job,
    }
}

async fn run_workers(
    q: &support::TestQueue,
    app: Arc<App>,
    workers: usize,
    until: impl Fn() -> bool,
) {
    let stop = CancellationToken::new();
    let mut running = Vec::new();
    for _ in 0..workers {
        let worker = job::Worker::<ResJob, App>::new(q.client().clone(), app.clone())
            .concurrency(4)
            .poll(Duration::from_millis(200));
        running.push(tokio::spawn(
            worker.run_until(stop.clone().cancelled_owned()),
        ));
    }
    eventually(Duration::from_secs(60), "the jobs to finish", || async {
        until().then_some(())
    })
    .await;
    stop.cancel();
    for worker in running {
        worker.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resource_jobs_run_one_at_a_time_in_order_under_16_workers_and_failures() {
    let q = queue("resource_order").await;
    let instances: Vec<String> = (0..12).map(|i| format!("vm-{i}")).collect();
    let mut jobs = Vec::new();
    for n in 0..8 {
        for instance in &instances {
            jobs.push(step(instance, n, 30));
        }
    }
    q.client().insert_many(&jobs).await.unwrap();
    let prefix = format!("{}:test-order:", q.client().namespace());
    let app = Arc::new(App {
        recorder: Some((q.connection(), prefix.clone())),
        ..App::default()
    });
    let total = jobs.len();
    let done = {
        let app = app.clone();
        move || {
            app.order
                .lock()
                .unwrap()
                .values()
                .map(Vec::len)
                .sum::<usize>()
                == total
        }
    };
    run_workers(&q, app.clone(), 16, done).await;
    assert_eq!(
        *app.most_at_once.lock().unwrap(),
        1,
        "two jobs of one resource ran at once"
    );
    let mut raw = q.connection();
    for instance in &instances {
        let recorded: Vec<u32> = redis::cmd("LRANGE")
            .arg(format!("{prefix}{instance}"))
            .arg(0)
            .arg(-1)
            .query_async(&mut raw)
            .await
            .unwrap();
        assert_eq!(
            recorded,
            (0..8).collect::<Vec<_>>(),
            "order of {instance} in Redis"
        );
        let state = q.client().resource(instance).await.unwrap();
        assert!(state.queued.is_empty() && state.running.is_none() && state.total == 0);
    }
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn jobs_on_different_resources_run_in_parallel() {
    let q = queue("resource_parallel").await;
    let c = q.client();
    let head = step("a", 0, 0);
    c.insert_many(&[head.clone(), step("b", 0, 0), step("a", 1, 0)])
        .await
        .unwrap();
    let h = holder();
    let grabbed = c
        .grab(&Grab::new(&["res.step"], 10, LEASE, &h))
        .await
        .unwrap();
    assert_eq!(
        grabbed.jobs.len(),
        2,
        "the heads of a and b, not the second job of a"
    );
    assert!(grabbed.jobs.iter().any(|j| j.lease.id == head.id()));
    let state = c.resource("a").await.unwrap();
    assert_eq!(state.running, Some(head.id()));
    assert_eq!(state.queued.len(), 2);
    let behind = c.details(state.queued[1]).await.unwrap().unwrap();
    assert_eq!(
        (behind.state, behind.resource.as_deref()),
        (JobState::Blocked, Some("a"))
    );
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_temporary_failure_keeps_the_head_and_a_permanent_one_releases_it() {
    let q = queue("resource_head").await;
    let c = q.client();
    let (first, second) = (step("a", 0, 0), step("a", 1, 0));
    c.insert_many(&[first.clone(), second.clone()])
        .await
        .unwrap();
    let h = holder();
    let held = c
        .grab(&Grab::new(&["res.step"], 10, LEASE, &h))
        .await
        .unwrap()
        .jobs
        .remove(0);
    let note = job::backend::FailureNote::new(FailureKind::Retry, "not yet");
    c.temp_fail(&held.lease, Duration::ZERO, &note)
        .await
        .unwrap();
    let again = c
        .grab(&Grab::new(&["res.step"], 10, LEASE, &h))
        .await
        .unwrap();
    assert_eq!(again.jobs.len(), 1);
    assert_eq!(
        again.jobs[0].lease.id,
        first.id(),
        "the retry keeps its place at the head"
    );
    let fatal = job::backend::FailureNote::new(FailureKind::Fatal, "gone");
    c.perm_fail(&again.jobs[0].lease, &fatal).await.unwrap();
    let next = c
        .grab(&Grab::new(&["res.step"], 10, LEASE, &h))
        .await
        .unwrap();
    assert_eq!(
        next.jobs[0].lease.id,
        second.id(),
        "a permanent failure hands the resource on"
    );
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn predicted_existence_refuses_at_once_and_accepts_behind_a_create() {
    // Order (and a batch's atomicity) holds within a shard; one shard makes it namespace-wide
    // on a Cluster too.
    let q = support::queue_with("resource_predict", job::redis::Config::new().shards(1)).await;
    let c = q.client();
    // Missing, nothing ahead: refused, nothing stored.
    let update = op("vm", "update", Some(Effect::Update), false);
    let error = c.insert(update.clone()).await.unwrap_err();
    assert!(
        matches!(&error, job::redis::Error::ResourceNotFound { id, resource, .. } if *id == update.id() && resource == "vm"),
        "{error}"
    );
    assert!(c.details(update.id()).await.unwrap().is_none());
    // A type without an effect does not check.
    let plain = op("vm", "plain", None, false);
    assert!(matches!(
        c.insert(plain.clone()).await.unwrap(),
        Inserted::New(_)
    ));
    c.cancel(plain.id()).await.unwrap();
    // Create ahead: accepted before the create has run; delete ahead: refused.
    let create = op("vm", "create", Some(Effect::Create), false);
    let upgrade = op("vm", "upgrade", Some(Effect::Update), false);
    let delete = op("vm", "delete", Some(Effect::Delete), false);
    c.insert_many(&[create.clone(), upgrade.clone(), delete.clone()])
        .await
        .unwrap();
    let late = op("vm", "late upgrade", Some(Effect::Update), false);
    assert!(matches!(
        c.insert(late).await.unwrap_err(),
        job::redis::Error::ResourceNotFound { .. }
    ));
    let state = c.resource("vm").await.unwrap();
    assert_eq!(
        (state.exists, state.queued.clone()),
        (false, vec![create.id(), upgrade.id(), delete.id()])
    );
    // A batch that needs a missing resource stores nothing at all.
    let ok = op("other", "create", Some(Effect::Create), false);
    let bad = op("missing", "update", Some(Effect::Update), false);
    assert!(c.insert_many(&[ok.clone(), bad]).await.is_err());
    assert!(c.details(ok.id()).await.unwrap().is_none());

    let app = Arc::new(App::default());
    let ran = q.drain::<ResJob, App>(app.clone(), 100).await.unwrap();
    assert_eq!(ran, 3);
    assert_eq!(*app.log.lock().unwrap(), ["create", "upgrade", "delete"]);
    assert!(!c.resource("vm").await.unwrap().exists, "deleted");
    let recreate = op("vm", "create", Some(Effect::Create), false);
    c.insert(recreate).await.unwrap();
    q.drain::<ResJob, App>(app.clone(), 100).await.unwrap();
    assert!(c.resource("vm").await.unwrap().exists, "created again");
    let update = op("vm", "update", Some(Effect::Update), false);
    assert!(
        matches!(c.insert(update).await.unwrap(), Inserted::New(_)),
        "exists now"
    );
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_failed_create_fails_the_jobs_that_need_it() {
    let q = queue("resource_create_failed").await;
    let c = q.client();
    let create = op("vm", "create", Some(Effect::Create), true);
    let upgrade = op("vm", "upgrade", Some(Effect::Update), false);
    let plain = op("vm", "plain", None, false);
    let recreate = op("vm", "recreate", Some(Effect::Create), false);
    let after = op("vm", "after", Some(Effect::Update), false);
    c.insert_many(&[
        create.clone(),
        upgrade.clone(),
        plain.clone(),
        recreate.clone(),
        after.clone(),
    ])
    .await
    .unwrap();
    let app = Arc::new(App::default());
    q.drain::<ResJob, App>(app.clone(), 100).await.unwrap();
    assert_eq!(
        *app.log.lock().unwrap(),
        ["create", "plain", "recreate", "after"]
    );
    let details = c.details(upgrade.id()).await.unwrap().unwrap();
    assert_eq!((details.state, details.attempts), (JobState::Failed, 0));
    let failure = &details.failures[0];
    assert_eq!(failure.kind, FailureKind::Resource);
    assert!(
        failure.message.contains(&create.id().to_string()),
        "{}",
        failure.message
    );
    assert!(c.resource("vm").await.unwrap().exists);
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_replace_child_on_the_same_resource_takes_the_parents_place() {
    let q = queue("resource_chain").await;
    let c = q.client();
    let chain = NewJob::new(&Chain {
        instance: "vm".into(),
        children: 2,
    })
    .unwrap()
    .with_resource("vm");
    c.insert_many(&[chain, step("vm", 1, 0)]).await.unwrap();
    let app = Arc::new(App::default());
    q.drain::<ResJob, App>(app.clone(), 100).await.unwrap();
    assert_eq!(
        app.order.lock().unwrap()["vm"],
        [100, 101, 1],
        "the chain's children run before the job queued behind it"
    );
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn unique_keys_answer_the_live_job_until_it_ends() {
    let q = queue("unique").await;
    let c = q.client();
    let first = mail("welcome:7");
    assert_eq!(
        c.insert(first.clone()).await.unwrap(),
        Inserted::New(first.id())
    );
    assert_eq!(
        c.insert(mail("welcome:7")).await.unwrap(),
        Inserted::Duplicate(first.id())
    );
    // Scoped to the type: another type may use the same key.
    let other = NewJob::new(&Step {
        instance: "x".into(),
        n: 0,
        fail_percent: 0,
    })
    .unwrap()
    .with_unique_key("welcome:7");
    assert!(matches!(c.insert(other).await.unwrap(), Inserted::New(_)));
    // Inside one batch, a later duplicate answers the earlier job.
    let (a, b) = (mail("batch"), mail("batch"));
    assert_eq!(
        c.insert_many(&[a.clone(), b]).await.unwrap(),
        [Inserted::New(a.id()), Inserted::Duplicate(a.id())]
    );
    assert_eq!(
        c.details(first.id())
            .await
            .unwrap()
            .unwrap()
            .unique_key
            .as_deref(),
        Some("welcome:7")
    );
    // Running still counts as live; the end frees the key.
    let h = holder();
    // (On a Cluster the other jobs may live in other shards and come first: take them all.)
    let held = c
        .grab(&Grab::new(&["res.op"], 10, LEASE, &h))
        .await
        .unwrap()
        .jobs
        .into_iter()
        .find(|j| j.lease.id == first.id())
        .unwrap();
    assert_eq!(
        c.insert(mail("welcome:7")).await.unwrap(),
        Inserted::Duplicate(first.id())
    );
    c.complete(&[job::backend::Completion::new(held.lease, None)])
        .await
        .unwrap();
    let second = mail("welcome:7");
    assert_eq!(
        c.insert(second.clone()).await.unwrap(),
        Inserted::New(second.id()),
        "freed at the end"
    );
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_unique_key_is_never_freed_by_a_job_that_does_not_own_it() {
    let q = queue("unique_owner").await;
    let c = q.client();
    let old = mail("k");
    c.insert(old.clone()).await.unwrap();
    c.cancel(old.id()).await.unwrap();
    let owner = mail("k");
    assert_eq!(
        c.insert(owner.clone()).await.unwrap(),
        Inserted::New(owner.id())
    );
    c.retry(old.id()).await.unwrap(); // back in line, but `owner` holds the key
    let h = holder();
    let first = c
        .grab(&Grab::new(&["res.op"], 1, LEASE, &h))
        .await
        .unwrap()
        .jobs
        .remove(0);
    assert_eq!(
        first.lease.id,
        owner.id(),
        "the owner was enqueued first (the retry went to the back)"
    );
    let second = c
        .grab(&Grab::new(&["res.op"], 1, LEASE, &h))
        .await
        .unwrap()
        .jobs
        .remove(0);
    c.complete(&[job::backend::Completion::new(second.lease, None)])
        .await
        .unwrap();
    assert_eq!(
        c.insert(mail("k")).await.unwrap(),
        Inserted::Duplicate(owner.id()),
        "the old job did not free the owner's key"
    );
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn queued_only_keys_are_freed_when_the_job_starts_and_replace_children_dedupe() {
    let q = queue("unique_queued").await;
    let c = q.client();
    let job = NewJob::from_parts(
        "res.op",
        br#"{"label":"sync","fatal":false}"#.to_vec(),
        Op::OPTIONS.with_unique_while(job::UniqueWhile::Queued),
    )
    .with_unique_key("sync");
    c.insert(job.clone()).await.unwrap();
    let h = holder();
    let held = c
        .grab(&Grab::new(&["res.op"], 1, LEASE, &h))
        .await
        .unwrap()
        .jobs
        .remove(0);
    let next = plain_op("sync").with_unique_key("sync");
    assert_eq!(
        c.insert(next.clone()).await.unwrap(),
        Inserted::New(next.id()),
        "free once it started"
    );
    // A REPLACE child whose key is live is a duplicate; the rest goes through.
    let dup = plain_op("sync").with_unique_key("sync");
    let fresh = plain_op("other");
    let (ack, children) = c.replace(&held.lease, &[dup, fresh.clone()]).await.unwrap();
    assert_eq!(ack, job::backend::Ack::Ok);
    assert_eq!(
        children,
        [Inserted::Duplicate(next.id()), Inserted::New(fresh.id())]
    );
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_unique_job_replaces_itself_with_its_next_round() {
    let q = queue("unique_rounds").await;
    let c = q.client();
    let first = c
        .enqueue(Round {
            key: "nightly".into(),
            n: 1,
            last: 3,
        })
        .await
        .unwrap();
    let app = Arc::new(App::default());
    q.drain::<ResJob, App>(app.clone(), 10).await.unwrap();
    assert_eq!(
        *app.log.lock().unwrap(),
        ["nightly round 1", "nightly round 2", "nightly round 3"],
        "each round's child takes the key its parent frees in the same step"
    );
    let details = c.details(first).await.unwrap().unwrap();
    assert_eq!(details.state, JobState::Completed);
    assert!(details.duplicate_children.is_empty());
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_replace_child_deduplicated_against_another_live_job_is_recorded() {
    // A child of another shard is forwarded after the REPLACE and answered `new` (README, Redis
    // Cluster): one shard makes the answer synchronous on a Cluster too.
    let q = support::queue_with("unique_recorded", job::redis::Config::new().shards(1)).await;
    let c = q.client();
    // Another live job holds the key the second round would take.
    let holder_job = NewJob::new(&Round {
        key: "other".into(),
        n: 9,
        last: 9,
    })
    .unwrap()
    .with_delay(Duration::from_secs(3_600));
    c.insert(holder_job.clone()).await.unwrap();
    let parent = NewJob::new(&Round {
        key: "mine".into(),
        n: 1,
        last: 1,
    })
    .unwrap();
    c.insert(parent.clone()).await.unwrap();
    let h = holder();
    let held = c
        .grab(&Grab::new(&["res.round"], 1, LEASE, &h))
        .await
        .unwrap()
        .jobs
        .remove(0);
    let child = NewJob::new(&Round {
        key: "other".into(),
        n: 2,
        last: 2,
    })
    .unwrap();
    let (_, answers) = c
        .replace(&held.lease, std::slice::from_ref(&child))
        .await
        .unwrap();
    assert_eq!(answers, [Inserted::Duplicate(holder_job.id())]);
    let details = c.details(parent.id()).await.unwrap().unwrap();
    assert_eq!(
        details.duplicate_children,
        [(child.id(), holder_job.id())],
        "the parent records which child was not stored, and why"
    );
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn workers_take_only_jobs_whose_requirements_they_meet() {
    let q = queue("capabilities").await;
    let c = q.client();
    let gpu = plain_op("gpu").with_requirement("gpu");
    let eu_gpu = plain_op("eu gpu")
        .with_requirement("gpu")
        .with_requirement("region=eu");
    let plain = plain_op("plain");
    c.insert_many(&[gpu.clone(), eu_gpu.clone(), plain.clone()])
        .await
        .unwrap();
    let h = holder();
    let cpu_only: Vec<String> = Vec::new();
    let taken = c
        .grab(&Grab::new(&["res.op"], 10, LEASE, &h).with_capabilities(&cpu_only))
        .await
        .unwrap();
    assert_eq!(
        taken.jobs.iter().map(|j| j.lease.id).collect::<Vec<_>>(),
        [plain.id()]
    );
    let us_gpu = vec!["gpu".to_owned(), "region=us".to_owned()];
    let taken = c
        .grab(&Grab::new(&["res.op"], 10, LEASE, &h).with_capabilities(&us_gpu))
        .await
        .unwrap();
    assert_eq!(
        taken.jobs.iter().map(|j| j.lease.id).collect::<Vec<_>>(),
        [gpu.id()]
    );
    assert_eq!(
        c.details(eu_gpu.id()).await.unwrap().unwrap().requires,
        ["gpu", "region=eu"]
    );

    // Through workers: an idle EU GPU worker is woken for its job; the plain worker never takes it.
    let app = Arc::new(App::default());
    let stop = CancellationToken::new();
    let plain_worker =
        job::Worker::<ResJob, App>::new(c.clone(), app.clone()).poll(Duration::from_secs(30));
    let eu_worker = job::Worker::<ResJob, App>::new(c.clone(), app.clone())
        .capabilities(["gpu", "region=eu"])
        .poll(Duration::from_secs(30));
    let workers = [
        tokio::spawn(plain_worker.run_until(stop.clone().cancelled_owned())),
        tokio::spawn(eu_worker.run_until(stop.clone().cancelled_owned())),
    ];
    let later = plain_op("later eu gpu")
        .with_requirement("region=eu")
        .with_requirement("gpu");
    c.insert(later.clone()).await.unwrap();
    eventually(Duration::from_secs(5), "the EU GPU job to run", || async {
        (c.details(later.id()).await.unwrap().unwrap().state == JobState::Completed).then_some(())
    })
    .await;
    assert_eq!(
        c.details(eu_gpu.id()).await.unwrap().unwrap().state,
        JobState::Completed
    );
    stop.cancel();
    for worker in workers {
        worker.await.unwrap().unwrap();
    }
    // Requirement sets no job uses any more are forgotten by the grabs (the workers' last ones
    // already did), so grabs and waits stop paying for them; a new job of the set brings it
    // back.
    let sets = || async {
        let mut all = Vec::new();
        for prefix in q.shard_prefixes() {
            let members: Vec<String> = redis::cmd("SMEMBERS")
                .arg(format!("{prefix}q:res.op"))
                .query_async(&mut q.connection())
                .await
                .unwrap();
            all.extend(members);
        }
        all.sort();
        all
    };
    let everything = ["gpu".to_owned(), "region=eu".to_owned()];
    let grab = Grab::new(&["res.op"], 10, LEASE, &h).with_capabilities(&everything);
    assert!(c.grab(&grab).await.unwrap().jobs.is_empty());
    assert_eq!(
        sets().await,
        Vec::<String>::new(),
        "forgotten once their queues are empty"
    );
    let again = plain_op("again").with_requirement("gpu");
    c.insert(again.clone()).await.unwrap();
    assert_eq!(sets().await, ["gpu"]);
    assert_eq!(c.grab(&grab).await.unwrap().jobs[0].lease.id, again.id());
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_filtered_grab_takes_only_matching_jobs_in_order() {
    // Order (and a batch's atomicity) holds within a shard; one shard makes it namespace-wide
    // on a Cluster too.
    let q = support::queue_with("filter", job::redis::Config::new().shards(1)).await;
    let c = q.client();
    let job = |label: &str, customer: &str| plain_op(label).with_attribute("customer", customer);
    let jobs = [
        job("1", "acme"),
        job("2", "globex"),
        job("3", "acme"),
        job("4", "initech"),
    ];
    c.insert_many(&jobs).await.unwrap();
    let h = holder();
    let filter = vec![("customer".to_owned(), "acme".to_owned())];
    let taken = c
        .grab(&Grab::new(&["res.op"], 10, LEASE, &h).with_filter(&filter))
        .await
        .unwrap();
    assert_eq!(
        taken.jobs.iter().map(|j| j.lease.id).collect::<Vec<_>>(),
        [jobs[0].id(), jobs[2].id()]
    );
    let rest = c
        .grab(&Grab::new(&["res.op"], 10, LEASE, &h))
        .await
        .unwrap();
    assert_eq!(
        rest.jobs.iter().map(|j| j.lease.id).collect::<Vec<_>>(),
        [jobs[1].id(), jobs[3].id()]
    );
    q.cleanup().await.unwrap();
}

#[derive(Job, Serialize, Deserialize)]
#[job(name = "res.resize", resource = "disk", effect = "update", unique = ["disk", "size"], requires = ["gpu"])]
struct Resize {
    disk: String,
    size: u32,
}

#[tokio::test]
async fn the_derive_attributes_reach_redis() {
    let q = queue("derive_attributes").await;
    let c = q.client();
    let error = c
        .enqueue(Resize {
            disk: "d1".into(),
            size: 10,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&error, job::redis::Error::ResourceNotFound { job_type, resource, .. } if job_type == "res.resize" && resource == "d1"),
        "{error}"
    );
    c.insert(op("d1", "create", Some(Effect::Create), false))
        .await
        .unwrap();
    let id = c
        .enqueue(Resize {
            disk: "d1".into(),
            size: 10,
        })
        .await
        .unwrap();
    assert_eq!(
        c.enqueue(Resize {
            disk: "d1".into(),
            size: 10
        })
        .await
        .unwrap(),
        id,
        "a duplicate answers the live job"
    );
    assert_ne!(
        c.enqueue(Resize {
            disk: "d1".into(),
            size: 20
        })
        .await
        .unwrap(),
        id
    );
    let details = c.details(id).await.unwrap().unwrap();
    assert_eq!(details.resource.as_deref(), Some("d1"));
    assert_eq!(details.unique_key.as_deref(), Some(r#"["d1",10]"#));
    assert_eq!(details.requires, ["gpu"]);
    assert_eq!(details.state, JobState::Blocked, "behind the create");
    q.cleanup().await.unwrap();
}
