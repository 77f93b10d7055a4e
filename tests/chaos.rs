//! The chaos run, small: 2,000 jobs on a private Redis with AOF, 3 worker processes (this test
//! binary again), 2 of them SIGKILLed and 1 Redis restart along the way; then every invariant
//! is asserted. The same on a cluster of three masters, one of them restarted.
//! `cargo run --release --example chaos` is the same run at full size.
//!
//! Needs `redis-server` (and `redis-cli`, for the cluster) on PATH; without them the tests
//! fail, they never skip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/chaos.rs"]
mod chaos;

/// The test a worker process runs: this binary re-executed with `--exact` on this name.
const WORKER_TEST: &str = "chaos_worker_process";

/// A chaos worker when started by a run (the environment says so); otherwise nothing.
#[test]
fn chaos_worker_process() {
    if chaos::is_worker_process() {
        chaos::worker_main().unwrap_or_else(|error| panic!("chaos worker: {error}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_run_keeps_every_invariant() {
    run_and_check(chaos::Options::small()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_run_on_a_cluster_keeps_every_invariant() {
    run_and_check(chaos::Options {
        cluster: true,
        jobs: 1_000,
        workers: 2,
        kills: 1,
        ..chaos::Options::small()
    })
    .await;
}

/// Runs the chaos run, prints its report, and asserts every invariant and that the chaos
/// happened as planned.
async fn run_and_check(options: chaos::Options) {
    let worker = chaos::WorkerCommand::current_exe(&[
        WORKER_TEST,
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ])
    .unwrap();
    let report = chaos::run(&options, worker)
        .await
        .unwrap_or_else(|error| panic!("the chaos run could not run: {error}"));
    report.print();
    let violations = report.violations();
    assert!(
        violations.is_empty(),
        "invariants broken (seed {}; CHAOS_SEED replays the workload):\n{}",
        options.seed,
        violations.join("\n")
    );
    let figure = |key: &str| report.value(key).unwrap_or_default();
    assert_eq!(figure("worker_kills"), options.kills as u64, "kills done");
    assert_eq!(
        figure("redis_restarts"),
        options.redis_restarts as u64,
        "Redis restarts done"
    );
    assert!(
        figure("enqueued") > 0 && figure("children") > 0,
        "the workload ran"
    );
    assert!(
        figure("duplicates") > 0,
        "duplicate enqueues were answered Duplicate"
    );
}
