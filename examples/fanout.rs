//! Run with: cargo run --example fanout
//!
//! Expects Redis at `REDIS_URL` (default `redis://127.0.0.1:6379`).
//!
//! The classic notification fan-out: one `FiredEvent` job is REPLACEd, atomically, by one
//! `ProcessSubscription` job per subscriber; each of those is REPLACEd by one
//! `ProcessNotification` per channel. The mail channel fails temporarily, as mail does, and is
//! retried on the smtp schedule: 1 minute, then less and less often for about five days.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use job::{Backoff, Context, Failure, Job, JobId, JobSet, JobState, NewJob, Outcome, Run};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

#[derive(Job, Serialize, Deserialize)]
#[job(name = "esn.fired_event")]
struct FiredEvent {
    event_id: u64,
}

#[derive(Job, Serialize, Deserialize)]
#[job(name = "esn.process_subscription")]
struct ProcessSubscription {
    event_id: u64,
    subscriber: u32,
}

#[derive(Job, Serialize, Deserialize)]
#[job(name = "esn.process_notification")]
struct ProcessNotification {
    event_id: u64,
    subscriber: u32,
    channel: String,
}

#[derive(Job, Serialize, Deserialize)]
#[job(name = "mail.send", max_attempts = 14, backoff = "smtp")]
struct SendMail {
    to: String,
}

#[derive(JobSet)]
enum EsnJob {
    FiredEvent(FiredEvent),
    ProcessSubscription(ProcessSubscription),
    ProcessNotification(ProcessNotification),
    SendMail(SendMail),
}

const SUBSCRIBERS: u32 = 3;
const CHANNELS: [&str; 2] = ["push", "mail"];

#[derive(Default)]
struct App {
    /// Notifications delivered, plus mail attempts made.
    settled: AtomicUsize,
    changed: Notify,
    mails: std::sync::Mutex<Vec<JobId>>,
}

impl App {
    fn settle(&self) {
        self.settled.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_one();
    }
}

impl Run<App> for FiredEvent {
    async fn run(self, _cx: &Context<App>) -> Result<Outcome, Failure> {
        // A real app would page through the listeners of the event here.
        let subscriptions = (0..SUBSCRIBERS).map(|subscriber| ProcessSubscription {
            event_id: self.event_id,
            subscriber,
        });
        Ok(Outcome::replace(subscriptions))
    }
}

impl Run<App> for ProcessSubscription {
    async fn run(self, _cx: &Context<App>) -> Result<Outcome, Failure> {
        let notifications = CHANNELS.iter().map(|channel| ProcessNotification {
            event_id: self.event_id,
            subscriber: self.subscriber,
            channel: (*channel).to_owned(),
        });
        Ok(Outcome::replace(notifications))
    }
}

impl Run<App> for ProcessNotification {
    async fn run(self, cx: &Context<App>) -> Result<Outcome, Failure> {
        if self.channel == "mail" {
            // Children of mixed types: the mail itself is a job of its own.
            let mail = NewJob::new(&SendMail {
                to: format!("subscriber-{}@example.com", self.subscriber),
            })?;
            cx.state().mails.lock().unwrap().push(mail.id());
            return Ok(Outcome::replace_with(vec![mail]));
        }
        println!(
            "  push to subscriber {} for event {}",
            self.subscriber, self.event_id
        );
        cx.state().settle();
        Ok(Outcome::complete())
    }
}

impl Run<App> for SendMail {
    async fn run(self, cx: &Context<App>) -> Result<Outcome, Failure> {
        cx.state().settle();
        Err(Failure::retry(format!(
            "smtp: 451 4.7.1 greylisted, try again later ({})",
            self.to
        )))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let client =
        job::redis::Client::connect_with(&url, job::redis::Config::new().namespace("fanout"))
            .await?;
    let event = client.enqueue(FiredEvent { event_id: 42 }).await?;
    println!("fired event 42 as job {event}");

    let app = std::sync::Arc::new(App::default());
    let expected = (SUBSCRIBERS as usize) * CHANNELS.len();
    let settled = {
        let app = app.clone();
        async move {
            while app.settled.load(Ordering::SeqCst) < expected {
                app.changed.notified().await;
            }
        }
    };
    let worker = job::Worker::<EsnJob, App>::new(client.clone(), app.clone()).concurrency(8);
    tokio::time::timeout(Duration::from_secs(30), worker.run_until(settled)).await??;

    let details = client.details(event).await?.expect("kept after completion");
    assert_eq!(details.state, JobState::Completed);
    println!("event job: {:?} (replaced by its children)", details.state);

    println!("mail jobs, each waiting for its next try on the smtp schedule:");
    let now = SystemTime::now();
    let mails = app.mails.lock().unwrap().clone();
    for waiting in mails {
        let details = client
            .details(waiting)
            .await?
            .expect("waiting jobs are kept");
        let retry_in = details
            .run_at
            .and_then(|at| at.duration_since(now).ok())
            .unwrap_or_default();
        let failure = details
            .failures
            .last()
            .map(|f| f.message.as_str())
            .unwrap_or_default();
        println!(
            "  {waiting} {:?}, retry in {}s: {failure}",
            details.state,
            retry_in.as_secs()
        );
        assert_eq!(details.state, JobState::Delayed);
        // This is an example: stop here rather than keep mailing for five days.
        client.cancel(waiting).await?;
    }
    let schedule: Vec<String> = (1..Backoff::SMTP_ATTEMPTS)
        .map(|attempt| format!("{}m", Backoff::Smtp.delay(attempt).as_secs() / 60))
        .collect();
    println!("smtp schedule: {}", schedule.join(" "));
    println!(
        "total: {:.1} days",
        Backoff::Smtp.total(Backoff::SMTP_ATTEMPTS).as_secs_f64() / 86_400.0
    );
    Ok(())
}
