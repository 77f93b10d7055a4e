use std::future::Future;

use crate::{Context, Error, Failure, Job, JobOptions, Outcome};

/// The job-type enum: one variant per job type a worker serves. Implemented by
/// `#[derive(JobSet)]` on an enum whose variants each hold one [`Job`].
///
/// ```
/// # extern crate job_core as job;
/// use serde::{Deserialize, Serialize};
/// use job_core::{Job, JobSet};
///
/// #[derive(Job, Serialize, Deserialize)]
/// struct Ping;
/// #[derive(Job, Serialize, Deserialize)]
/// #[job(name = "mail.send")]
/// struct SendEmail { to: String }
///
/// #[derive(JobSet)]
/// enum AppJob { Ping(Ping), SendEmail(SendEmail) }
///
/// assert_eq!(AppJob::NAMES, ["Ping", "mail.send"]);
/// let job = AppJob::decode("mail.send", br#"{"to":"a@b.c"}"#)?;
/// assert!(matches!(job, AppJob::SendEmail(SendEmail { ref to }) if to == "a@b.c"));
/// assert!(AppJob::decode("mail.send", b"{}").is_err()); // missing field `to`
/// # Ok::<(), job_core::Error>(())
/// ```
pub trait JobSet: Sized + Send + 'static {
    /// The wire names of every type in the set, in variant order.
    const NAMES: &'static [&'static str];

    /// Decodes a stored job into its variant.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownType`] for a name outside the set; [`Error::Decode`], naming the type and
    /// carrying the serde error, for a payload that does not fit.
    fn decode(name: &str, payload: &[u8]) -> Result<Self, Error>;

    /// Returns the policy of the type named `name`, if it is in the set.
    fn options(name: &str) -> Option<JobOptions>;

    /// Returns the wire name of this job's type.
    fn name(&self) -> &'static str;
}

/// Exhaustive dispatch from a [`JobSet`] to each type's [`Run`](crate::Run) handler.
/// Implemented by `#[derive(JobSet)]` for every `State` that all the types can run with.
pub trait Dispatch<State>: JobSet {
    /// Runs this job's handler.
    fn dispatch(self, cx: &Context<State>)
    -> impl Future<Output = Result<Outcome, Failure>> + Send;
}

/// Decodes a payload into `J`; used by the derived [`JobSet::decode`].
pub fn decode<J: Job>(payload: &[u8]) -> Result<J, Error> {
    serde_json::from_slice(payload).map_err(|source| Error::Decode {
        job_type: J::NAME.to_owned(),
        source,
    })
}

/// Whether two names in a list are equal, evaluated at compile time by the derived set.
pub const fn has_duplicate(names: &[&str]) -> bool {
    let mut i = 0;
    while i < names.len() {
        let mut j = i + 1;
        while j < names.len() {
            if str_eq(names[i], names[j]) {
                return true;
            }
            j += 1;
        }
        i += 1;
    }
    false
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}
