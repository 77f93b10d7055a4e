//! Typed background jobs for Rust, on Redis.
//!
//! Define jobs as structs with `#[derive(Job)]`, list the ones a worker runs in an enum with
//! `#[derive(JobSet)]`, write a typed [`Run`] handler for each, enqueue through a
//! [`redis::Client`], and run them with a [`Worker`]. Every state change in Redis is one atomic
//! Lua script; leases are fenced, so a job whose lease ran out and was taken by another worker
//! cannot be completed by the first.
//!
//! # Example
//!
//! ```no_run
//! use job::{Context, Failure, Job, JobSet, Outcome, Run};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Job, Serialize, Deserialize)]
//! #[job(name = "mail.send", max_attempts = 14, backoff = "smtp")]
//! struct SendEmail { to: String }
//!
//! #[derive(JobSet)]
//! enum AppJob { SendEmail(SendEmail) }
//!
//! struct App;
//!
//! impl Run<App> for SendEmail {
//!     async fn run(self, _cx: &Context<App>) -> Result<Outcome, Failure> {
//!         println!("mail to {}", self.to);
//!         Ok(Outcome::complete())
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = job::redis::Client::connect("redis://127.0.0.1:6379").await?;
//! client.enqueue(SendEmail { to: "ada@example.com".into() }).await?;
//! job::Worker::<AppJob, App>::new(client, App)
//!     .concurrency(64)
//!     .run_until(async { tokio::signal::ctrl_c().await.ok(); })
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! # Feature flags
//!
//! | feature | what it adds |
//! |---|---|
//! | `testing` | [`testing`]: a throw-away namespace per test, `drain()`, and assertions on what was enqueued |
//!
//! # Examples
//!
//! See the `examples/` folder: `quickstart.rs` and `fanout.rs`.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use job_core::{
    Backoff, BoxError, Context, Details, Dispatch, Effect, Ended, Error, Failure, FailureKind,
    FailureRecord, Holder, Inserted, InvalidName, Job, JobId, JobOptions, JobSet, JobState, Keep,
    NewJob, Outcome, ParseJobIdError, ResourceState, Result, Run, Start, TypeInfo, UniqueWhile,
    WorkerInfo, limits,
};

/// Recurring jobs: a cron line in a time zone, or a fixed interval, and the job each tick
/// inserts; stored in Redis with [`redis::Client::upsert_schedule`], fired once per tick by
/// the schedulers every worker runs (see README, "Schedules").
pub mod schedule {
    pub use job_core::{MISSED_AFTER, Missed, Overlap, Plan, Schedule, ScheduleError};
    pub use job_redis::{Fire, FireOutcome, ScheduleInfo, Upserted};
}
pub use job_core::{Missed, Overlap, Schedule};

/// For those who implement a backend, or drive one by hand (the worker does it for you): the
/// trait with one method per atomic transition, and the values those methods take and answer.
pub mod backend {
    pub use job_core::{
        Ack, Backend, Completion, FailureNote, Grab, Grabbed, GrabbedJob, Lease, Release,
    };
}

/// The name rules every job type, resource, unique key, capability, attribute and namespace
/// follows (the derive checks them at compile time; the client checks them at enqueue).
pub mod names {
    pub use job_core::{InvalidName, NameKind, check_name, name_problem};
}

#[doc(hidden)]
pub use job_core::__private;

/// A worker that runs the jobs of `S` with shared state `State` on Redis.
pub type Worker<S, State> = job_core::Worker<S, State, job_redis::Client>;

/// The Redis backend: the client, its settings and errors.
pub mod redis {
    pub use job_redis::{Client, Config, Error, Loading, Result, Retention};
}

/// Test support: an isolated namespace per test, `drain()`, and assertions on enqueued jobs.
#[cfg(feature = "testing")]
pub mod testing {
    pub use job_redis::testing::*;
}
