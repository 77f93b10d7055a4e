//! Run with: cargo run --example quickstart
//!
//! Expects Redis at `REDIS_URL` (default `redis://127.0.0.1:6379`). Enqueues a few typed jobs,
//! runs a worker until they are done, prints what happened, and exits 0.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use job::{Context, Failure, Job, JobSet, JobState, Outcome, Run};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// Sends a welcome mail; the first attempt fails, as a flaky SMTP server would.
#[derive(Job, Serialize, Deserialize)]
#[job(name = "mail.welcome", max_attempts = 3, backoff(fixed = "200ms"))]
struct SendWelcome {
    email: String,
}

/// Resizes an image and stores the new size as the job's result.
#[derive(Job, Serialize, Deserialize)]
#[job(name = "image.resize", priority = 5, timeout = "10s")]
struct Resize {
    path: String,
    width: u32,
}

/// Every job type this worker runs.
#[derive(JobSet)]
enum AppJob {
    SendWelcome(SendWelcome),
    Resize(Resize),
}

/// Shared state handed to every handler.
#[derive(Default)]
struct App {
    finished: AtomicUsize,
    changed: Notify,
}

impl App {
    fn done(&self) {
        self.finished.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_one();
    }
}

impl Run<App> for SendWelcome {
    async fn run(self, cx: &Context<App>) -> Result<Outcome, Failure> {
        if cx.attempt() == 1 {
            return Err(Failure::retry(format!(
                "smtp: 421 try again later (to {})",
                self.email
            )));
        }
        println!(
            "  sent welcome mail to {} on attempt {}",
            self.email,
            cx.attempt()
        );
        cx.state().done();
        Ok(Outcome::complete())
    }
}

impl Run<App> for Resize {
    async fn run(self, cx: &Context<App>) -> Result<Outcome, Failure> {
        println!("  resized {} to {} px", self.path, self.width);
        cx.state().done();
        Ok(Outcome::complete_with(
            &serde_json::json!({ "path": self.path, "width": self.width }),
        ))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let config = job::redis::Config::new().namespace("quickstart");
    let client = job::redis::Client::connect_with(&url, config).await?;

    // A web app would do this part.
    let mut ids = vec![
        client
            .enqueue(SendWelcome {
                email: "ada@example.com".into(),
            })
            .await?,
        client
            .enqueue(SendWelcome {
                email: "grace@example.com".into(),
            })
            .await?,
    ];
    for width in [64, 256] {
        ids.push(
            client
                .enqueue(Resize {
                    path: "cat.png".into(),
                    width,
                })
                .await?,
        );
    }
    println!(
        "enqueued {} jobs in namespace {}",
        ids.len(),
        client.namespace()
    );

    // A worker binary would do this part: run until every job is done.
    let app = std::sync::Arc::new(App::default());
    let expected = ids.len();
    let all_done = {
        let app = app.clone();
        async move {
            while app.finished.load(Ordering::SeqCst) < expected {
                app.changed.notified().await;
            }
        }
    };
    let worker = job::Worker::<AppJob, App>::new(client.clone(), app.clone()).concurrency(4);
    tokio::time::timeout(Duration::from_secs(30), worker.run_until(all_done)).await??;

    println!("what happened:");
    for id in ids {
        let details = client.details(id).await?.expect("kept after completion");
        assert_eq!(details.state, JobState::Completed);
        let result = details
            .result
            .map(|r| String::from_utf8_lossy(&r).into_owned())
            .unwrap_or_default();
        let failures: Vec<_> = details
            .failures
            .iter()
            .map(|f| f.message.as_str())
            .collect();
        println!(
            "  {id} {:<13} {:?} after {} attempt(s) {result} {failures:?}",
            details.name, details.state, details.attempts
        );
    }
    Ok(())
}
