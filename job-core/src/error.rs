/// A boxed error, the cause behind a handler's [`Failure`](crate::Failure).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The errors of job-core: encoding, decoding and the backend underneath.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The arguments of a job could not be serialized.
    #[error("failed to encode job `{job_type}`")]
    Encode {
        /// The wire name of the job's type.
        job_type: String,
        /// The serde error, which names the field.
        #[source]
        source: serde_json::Error,
    },
    /// A stored payload does not decode into its type.
    #[error("failed to decode the payload of job `{job_type}`")]
    Decode {
        /// The wire name of the job's type.
        job_type: String,
        /// The serde error, which names the field.
        #[source]
        source: serde_json::Error,
    },
    /// A job type that this job set does not contain.
    #[error("unknown job type `{job_type}`")]
    UnknownType {
        /// The wire name that matched no type.
        job_type: String,
    },
    /// Another worker holds the job now: its lease ran out and it was taken again.
    #[error("lost the lease on job {id}")]
    LeaseLost {
        /// The job.
        id: crate::JobId,
    },
    /// A progress value that cannot be reported: it does not encode, or it is over
    /// [`MAX_PROGRESS`](crate::limits::MAX_PROGRESS).
    #[error("progress of job {id}: {reason}")]
    Progress {
        /// The job.
        id: crate::JobId,
        /// What is wrong.
        reason: String,
    },
    /// A drain ran more jobs than its limit: a job keeps making more due jobs.
    #[error("drain ran more than {limit} jobs")]
    DrainLimit {
        /// The limit.
        limit: usize,
    },
    /// A name (a job type, a capability) breaks the rules of [`NameKind`](crate::NameKind).
    #[error(transparent)]
    InvalidName(#[from] crate::InvalidName),
    /// A schedule that cannot be stored: a bad name, cron line, interval, time zone or job.
    #[error(transparent)]
    Schedule(#[from] crate::ScheduleError),
    /// The backend failed.
    #[error("backend operation failed")]
    Backend(#[source] BoxError),
}

/// An error with its whole cause chain (`a: b: c`), for logs and failure records.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        text.push_str(": ");
        text.push_str(&error.to_string());
        cause = error.source();
    }
    text
}

/// A `Result` whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
