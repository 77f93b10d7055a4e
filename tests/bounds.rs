//! No script call runs long, whatever the sizes: each case that once grew with the data runs at
//! its worst size on a private Redis, and its slowest script call (`SLOWLOG`) stays short.
//!
//! The target is about 10 ms per call on a loaded 2-core machine; the tests allow 50 ms, so
//! scheduling noise does not fail them, while the calls they replaced took 0.3 to 5 s.
//! `cargo run --release --example bench -- slowlog` prints the figures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use support::PrivateRedis;
use support::slow::{self, Slowest, Slowlog};

/// The longest a script call may take here.
const BOUND: Duration = Duration::from_millis(50);

/// One private Redis at a time: the cases measure time, so they must not share the CPU.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn assert_bounded(case: &str, slowest: &Slowest) {
    assert!(
        slowest.micros < u64::try_from(BOUND.as_micros()).unwrap(),
        "{case}: a script ran {:.1} ms ({})",
        slowest.millis(),
        slowest.command
    );
}

async fn redis() -> (PrivateRedis, Slowlog) {
    let redis = PrivateRedis::start_with(&["--appendonly", "no"]).await;
    let log = Slowlog::new(&redis.url()).await;
    (redis, log)
}

#[tokio::test]
async fn a_failed_create_fails_100k_queued_jobs_in_bounded_steps() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (_redis, log) = redis().await;
    assert_bounded("failed create", &slow::failed_create(&log, 100_000).await);
}

#[tokio::test]
async fn a_filtered_grab_over_60_types_looks_at_a_bounded_window() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (_redis, log) = redis().await;
    assert_bounded("filtered grab", &slow::filtered_grab(&log, 60, 1_500).await);
}

#[tokio::test]
async fn backend_calls_of_100k_leases_are_split() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (_redis, log) = redis().await;
    for (case, slowest) in slow::large_calls(&log, 100_000).await {
        assert_bounded(case, &slowest);
        // Each of these calls carries 200 or more rows, over 1 ms here (about 9): a case that
        // logs no script call at all means the log is read wrong, and every bound would pass
        // without measuring anything.
        assert!(
            slowest.micros > 0,
            "{case}: no script call in the SLOWLOG (does it name the script command?)"
        );
    }
}

#[tokio::test]
async fn cancelling_the_tail_of_a_1m_ready_list_is_constant_time() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (_redis, log) = redis().await;
    assert_bounded("cancel", &slow::cancel_at_tail(&log, 1_000_000).await);
}

#[tokio::test]
async fn a_replace_of_the_most_children_and_heavy_inserts_are_short_calls() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (_redis, log) = redis().await;
    assert_bounded("replace", &slow::wide_replace(&log).await);
    assert_bounded("heavy inserts", &slow::heavy_inserts(&log, 5_000).await);
}

/// After the completed jobs' policy is shortened with 1M jobs stored, each call prunes at most
/// what it ended plus 100: the backlog drains in short calls.
#[tokio::test]
async fn a_policy_shortened_with_1m_jobs_stored_prunes_in_short_calls() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (_redis, log) = redis().await;
    let (slowest, pruned) = slow::shortened_retention(&log, 1_000_000).await;
    assert_bounded("shortened retention", &slowest);
    // 5,000 completions in about 25 calls of 200: each deleted its own 200 and 100 more.
    assert!(pruned >= 5_000 + 2_000, "only {pruned} jobs pruned");
}

#[tokio::test]
async fn schedule_backfills_claims_and_lists_are_short_calls() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (_redis, log) = redis().await;
    assert_bounded("schedules", &slow::schedule_calls(&log).await);
}
