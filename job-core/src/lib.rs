//! Typed jobs, outcomes, retry policy and the worker runtime of the `job` framework.
//!
//! Users depend on the `job` facade, which re-exports this crate; the Redis backend lives in
//! `job-redis`. This crate never names Redis: it drives any [`Backend`].
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backend;
mod backoff;
mod details;
mod error;
mod id;
mod job;
mod name;
mod outcome;
mod registry;
mod run;
mod schedule;
mod set;
mod worker;

pub mod limits;

#[doc(hidden)]
pub mod __private;

pub use backend::{
    Ack, Backend, Completion, FailureNote, Grab, Grabbed, GrabbedJob, Inserted, Lease, Release,
};
pub use backoff::Backoff;
pub use details::{Details, FailureKind, FailureRecord, Holder, JobState, ResourceState};
pub use error::{BoxError, Error, Result};
pub use id::{JobId, ParseJobIdError};
pub use job::{Effect, Ended, Job, JobOptions, Keep, NewJob, Start, UniqueWhile};
pub use name::{InvalidName, NameKind, check_name, name_problem};
pub use outcome::{Failure, Outcome};
pub use registry::{REGISTER_EVERY, TypeInfo, WORKER_EXPIRY, WorkerInfo};
pub use run::{Context, Run};
pub use schedule::{MISSED_AFTER, Missed, Overlap, Plan, Schedule, ScheduleError};
pub use set::{Dispatch, JobSet};
pub use worker::Worker;

#[cfg(feature = "derive")]
pub use job_derive::{Job, JobSet};

/// A duration in whole milliseconds (saturating).
pub(crate) fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Returns this machine's host name, as recorded on the jobs it holds.
pub(crate) fn host_name() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}
