//! Run with: cargo run --example schedules
//!
//! Expects Redis at `REDIS_URL` (default `redis://127.0.0.1:6379`). Stores a schedule that
//! fires every second, runs a worker (which runs a scheduler too) while it fires, pauses it,
//! triggers it by hand while paused, resumes it, prints its fires, removes it and exits 0.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use job::schedule::Upserted;
use job::{Context, Failure, Job, JobSet, Outcome, Overlap, Run, Schedule};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Refreshes a cache; a schedule inserts one each second.
#[derive(Job, Serialize, Deserialize)]
#[job(name = "cache.refresh")]
struct RefreshCache {
    region: String,
}

#[derive(JobSet)]
enum AppJob {
    RefreshCache(RefreshCache),
}

#[derive(Default)]
struct App {
    runs: AtomicUsize,
    ran: Notify,
}

impl Run<App> for RefreshCache {
    async fn run(self, cx: &Context<App>) -> Result<Outcome, Failure> {
        let n = cx.state().runs.fetch_add(1, Ordering::SeqCst) + 1;
        println!(
            "  run {n}: refreshed the {} cache (job {})",
            self.region,
            cx.id()
        );
        cx.state().ran.notify_waiters();
        Ok(Outcome::complete())
    }
}

impl App {
    /// Waits until `count` jobs have run in all.
    async fn until(&self, count: usize) {
        loop {
            let ran = self.ran.notified();
            if self.runs.load(Ordering::SeqCst) >= count {
                return;
            }
            ran.await;
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let config = job::redis::Config::new().namespace("schedules-example");
    let client = job::redis::Client::connect_with(&url, config).await?;

    // Any process may store it; upserting the same schedule again changes nothing.
    let schedule = Schedule::cron("refresh-eu", "*/1 * * * * *")?
        .time_zone("Europe/Berlin")?
        .job(RefreshCache {
            region: "eu".into(),
        })?
        .overlap(Overlap::Skip);
    let upserted = client.upsert_schedule(&schedule).await?;
    println!("schedule `refresh-eu` stored ({upserted:?}), next ticks:");
    let info = client.schedule("refresh-eu").await?.expect("stored");
    for tick in info.upcoming(3) {
        println!("  {tick}");
    }
    assert_eq!(
        client.upsert_schedule(&schedule).await?,
        Upserted::Unchanged
    );

    // A worker runs the jobs, and a scheduler that fires the ticks.
    let app = Arc::new(App::default());
    let stop = CancellationToken::new();
    let worker = job::Worker::<AppJob, App>::new(client.clone(), app.clone());
    let running = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));
    let within = |secs| tokio::time::timeout(Duration::from_secs(secs), app.until(3));
    within(10).await?;

    println!("pausing; a trigger still runs it once");
    client.pause_schedule("refresh-eu").await?;
    let paused_at = app.runs.load(Ordering::SeqCst);
    let id = client
        .trigger_schedule("refresh-eu")
        .await?
        .expect("stored");
    println!("  triggered job {id}");
    tokio::time::timeout(Duration::from_secs(10), app.until(paused_at + 1)).await?;

    println!("resuming");
    client.resume_schedule("refresh-eu").await?;
    tokio::time::timeout(Duration::from_secs(10), app.until(paused_at + 3)).await?;
    stop.cancel();
    running.await??;

    let info = client.schedule("refresh-eu").await?.expect("stored");
    println!(
        "fired {} jobs ({} skipped for overlap); latest fires:",
        info.fired, info.skipped
    );
    for fire in info.fires.iter().take(5) {
        let tick = jiff::Timestamp::try_from(fire.tick)?;
        println!(
            "  {tick} {:?}{} -> {:?}",
            fire.outcome,
            if fire.triggered { " (trigger)" } else { "" },
            fire.state
        );
    }
    client.remove_schedule("refresh-eu").await?;
    println!("removed");
    Ok(())
}
