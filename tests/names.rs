//! Names that would collide or break the key layout are refused before anything is stored, and
//! durations and sizes are held in their documented ranges.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, SystemTime};

use job::backend::{Backend, Grab};
use job::names::NameKind;
use job::redis::{Client, Config, Error};
use job::{Context, Failure, FailureKind, JobOptions, JobSet, NewJob, Outcome, Run, limits};
use serde::{Deserialize, Serialize};
use support::{chain, holder, queue, queue_with};

#[derive(job::Job, Serialize, Deserialize)]
#[job(name = "names.render")]
struct Render;

impl Run<()> for Render {
    async fn run(self, _cx: &Context<()>) -> Result<Outcome, Failure> {
        Err(Failure::fatal("always"))
    }
}

#[derive(JobSet)]
enum Set {
    Render(Render),
}

fn raw(name: &str) -> NewJob {
    NewJob::from_parts(name, b"{}".to_vec(), JobOptions::new())
}

/// Asserts that `job` was refused for a name of `kind`, naming the job, and that nothing of it
/// was stored.
async fn assert_refused(client: &Client, job: NewJob, kind: NameKind, reason: &str) {
    let error = client.insert(job.clone()).await.unwrap_err();
    let text = chain(&error);
    match &error {
        Error::InvalidJob { id, source, .. } => {
            assert_eq!(*id, job.id(), "{text}");
            assert_eq!(source.kind, kind, "{text}");
        }
        other => panic!("expected InvalidJob, got {other:?}"),
    }
    assert!(text.contains(&job.id().to_string()), "{text}");
    assert!(text.contains(reason), "{text}");
    assert!(client.details(job.id()).await.unwrap().is_none(), "stored");
    // Through a batch too, and the batch stores none of its jobs.
    let good = raw("names.render");
    assert!(client.insert_many(&[good.clone(), job]).await.is_err());
    assert!(client.details(good.id()).await.unwrap().is_none(), "stored");
}

#[tokio::test]
async fn names_that_collide_or_break_keys_are_refused_at_enqueue() {
    let q = queue("names_refused").await;
    let c = q.client();
    // `render|gpu` would share the queue of `render` jobs that require `gpu`.
    assert_refused(c, raw("render|gpu"), NameKind::JobType, "contains `|`").await;
    let gpu_and_cpu = raw("names.render").with_requirement("gpu,cpu");
    assert_refused(c, gpu_and_cpu, NameKind::Capability, "contains `,`").await;
    assert_refused(c, raw("a\0b"), NameKind::JobType, "control character").await;
    let nul_key = raw("names.render").with_unique_key("x\0y");
    assert_refused(c, nul_key, NameKind::UniqueKey, "NUL").await;
    assert_refused(c, raw(""), NameKind::JobType, "is empty").await;
    let empty_resource = raw("names.render").with_resource("");
    assert_refused(c, empty_resource, NameKind::Resource, "is empty").await;
    let empty_key = raw("names.render").with_unique_key("");
    assert_refused(c, empty_key, NameKind::UniqueKey, "is empty").await;
    let huge = "x".repeat(200 * 1024);
    assert_refused(c, raw(&huge), NameKind::JobType, "longer than 128 bytes").await;
    let huge_resource = raw("names.render").with_resource(huge.clone());
    assert_refused(c, huge_resource, NameKind::Resource, "longer than 512").await;
    let error = c.insert(raw(&huge)).await.unwrap_err().to_string();
    assert!(
        error.len() < 400,
        "the error repeats the 200 KB name: {} bytes",
        error.len()
    );
    // Values that only look odd are fine.
    let fine = raw("names.render")
        .with_resource("customer:42 {eu}")
        .with_unique_key(r#"["a","b,c"]"#)
        .with_requirement("region=eu");
    c.insert(fine).await.unwrap();
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_bad_namespace_is_refused_at_connect() {
    let url = std::env::var("JOB_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    for (namespace, reason) in [("app{1}", "`{` or `}`"), ("", "is empty")] {
        let error = Client::connect_with(&url, Config::new().namespace(namespace))
            .await
            .unwrap_err();
        assert!(matches!(error, Error::InvalidName(_)), "{error:?}");
        let text = error.to_string();
        assert!(
            text.contains("namespace") && text.contains(reason),
            "{text}"
        );
    }
}

#[tokio::test]
async fn bad_worker_capabilities_and_grab_types_are_refused() {
    let q = queue("names_worker").await;
    let c = q.client().clone();
    let error = job::Worker::<Set, ()>::new(c.clone(), ())
        .capabilities(["gpu,cpu"])
        .run_until(async {})
        .await
        .unwrap_err();
    assert!(matches!(error, job::Error::InvalidName(_)), "{error:?}");
    assert!(error.to_string().contains("gpu,cpu"), "{error}");
    let h = holder();
    let lease = Duration::from_secs(30);
    let error = c
        .grab(&Grab::new(&["render|gpu"], 1, lease, &h))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("render|gpu"), "{error}");
    let many: Vec<String> = (0..1_001).map(|i| format!("t{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let error = c.grab(&Grab::new(&many, 1, lease, &h)).await.unwrap_err();
    assert!(error.to_string().contains("1001"), "{error}");
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn durations_are_held_in_their_ranges() {
    let q = queue_with("names_durations", Config::new().history_limit(0)).await;
    let c = q.client();
    // A delay of Duration::MAX is read back (clamped to the longest delay).
    let never = raw("names.render").with_delay(Duration::MAX);
    c.insert(never.clone()).await.unwrap();
    let far = SystemTime::now() + limits::MAX_DELAY;
    let run_at = c
        .details(never.id())
        .await
        .unwrap()
        .unwrap()
        .run_at
        .unwrap();
    assert!(
        run_at > far - Duration::from_secs(60) && run_at < far + Duration::from_secs(60),
        "{run_at:?}"
    );
    let ages = SystemTime::UNIX_EPOCH + Duration::from_secs(400 * 365 * 86_400);
    let later = raw("names.render").with_start_at(ages);
    c.insert(later.clone()).await.unwrap();
    assert!(
        c.details(later.id())
            .await
            .unwrap()
            .unwrap()
            .run_at
            .unwrap()
            <= far + Duration::from_secs(60)
    );

    // A lease of Duration::MAX is the longest lease, not 0; a grab's zero lease the shortest.
    let h = holder();
    let long = NewJob::from_parts(
        "names.long",
        b"{}".to_vec(),
        JobOptions::new().with_lease(Duration::MAX),
    );
    c.insert(long).await.unwrap();
    let grabbed = c
        .grab(&Grab::new(&["names.long"], 1, Duration::ZERO, &h))
        .await
        .unwrap();
    assert_eq!(grabbed.jobs[0].lease.duration, limits::MAX_LEASE);
    c.insert(raw("names.short")).await.unwrap();
    let grabbed = c
        .grab(&Grab::new(&["names.short"], 1, Duration::ZERO, &h))
        .await
        .unwrap();
    assert_eq!(grabbed.jobs[0].lease.duration, limits::MIN_LEASE);

    // history_limit(0) keeps no failure records.
    let doomed = c.enqueue(Render).await.unwrap();
    q.drain::<Set, ()>((), 10).await.unwrap();
    let details = c.details(doomed).await.unwrap().unwrap();
    assert_eq!(details.state, job::JobState::Failed);
    assert!(details.failures.is_empty(), "{:?}", details.failures);
    let _ = FailureKind::Fatal;
    q.cleanup().await.unwrap();
}
