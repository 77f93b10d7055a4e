//! The metrics a client and a worker record, through the `metrics` facade, against a real Redis:
//! counted by type and outcome, never by id. Its own test binary: it installs a global recorder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashMap;

use job::{Context, Failure, JobSet, Outcome, Run};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use serde::{Deserialize, Serialize};
use support::queue;

/// Completes, fails for good, or fails once then completes.
#[derive(job::Job, Serialize, Deserialize)]
#[job(name = "metrics.m", max_attempts = 3, backoff(fixed = "0ms"))]
struct M {
    how: String,
}

impl Run<()> for M {
    async fn run(self, cx: &Context<()>) -> Result<Outcome, Failure> {
        match self.how.as_str() {
            "fatal" => Err(Failure::fatal("planned")),
            "flaky" if cx.attempt() == 1 => Err(Failure::retry("once")),
            _ => Ok(Outcome::complete()),
        }
    }
}

#[derive(JobSet)]
enum Set {
    M(M),
}

#[tokio::test]
async fn jobs_are_counted_by_type_and_outcome_and_timed() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();
    let q = queue("metrics").await;
    let c = q.client().clone();
    for how in ["ok", "fatal", "flaky"] {
        c.enqueue(M { how: how.into() }).await.unwrap();
    }
    let ran = job::Worker::<Set, ()>::new(c.clone(), ())
        .drain(10)
        .await
        .unwrap();
    assert_eq!(ran, 4);
    // name + sorted labels -> value.
    let mut seen: HashMap<String, DebugValue> = HashMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let mut labels: Vec<String> = key
            .labels()
            .map(|label| format!("{}={}", label.key(), label.value()))
            .collect();
        labels.sort();
        seen.insert(format!("{} {}", key.name(), labels.join(",")), value);
    }
    let counter = |name: &str| match seen.get(name) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{name}: {other:?} in {:?}", seen.keys().collect::<Vec<_>>()),
    };
    let samples = |name: &str| match seen.get(name) {
        Some(DebugValue::Histogram(values)) => values.len(),
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(counter("job_enqueued_total type=metrics.m"), 3);
    assert_eq!(
        counter("job_finished_total outcome=completed,type=metrics.m"),
        2
    );
    assert_eq!(
        counter("job_finished_total outcome=failed,type=metrics.m"),
        1
    );
    assert_eq!(
        counter("job_finished_total outcome=retried,type=metrics.m"),
        1
    );
    assert_eq!(
        samples("job_duration_seconds outcome=completed,type=metrics.m"),
        2
    );
    assert_eq!(samples("job_wait_seconds type=metrics.m"), 4, "every start");
    assert!(
        seen.keys().all(|key| !key.contains("id=")),
        "no metric is labelled by id: {:?}",
        seen.keys().collect::<Vec<_>>()
    );
    q.cleanup().await.unwrap();
}
