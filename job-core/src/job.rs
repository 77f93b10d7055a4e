use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Backoff, Error, JobId};

/// A typed job: its arguments are the struct's fields; its wire name and policy come from
/// `#[derive(Job)]`.
///
/// ```
/// # extern crate job_core as job;
/// use serde::{Deserialize, Serialize};
/// use job_core::Job;
///
/// #[derive(Job, Serialize, Deserialize)]
/// #[job(name = "mail.send", max_attempts = 14, backoff = "smtp", lease = "60s")]
/// struct SendEmail { to: String }
///
/// assert_eq!(SendEmail::NAME, "mail.send");
/// assert_eq!(SendEmail::OPTIONS.max_attempts(), 14);
/// ```
pub trait Job: Serialize + DeserializeOwned + Send + 'static {
    /// The wire name that identifies the type in Redis. Defaults to the type's name, so
    /// renaming a struct needs an explicit `#[job(name = "...")]` to keep queued jobs.
    const NAME: &'static str;

    /// The type's policy: attempts, backoff, lease, priority, timeout, resource effect,
    /// uniqueness and required capabilities.
    const OPTIONS: JobOptions = JobOptions::new();

    /// The resource this job is bound to: jobs bound to one resource run one at a time, in
    /// enqueue order. Written by `#[job(resource = "field")]` (the field's `to_string()`).
    fn resource(&self) -> Option<String> {
        None
    }

    /// The unique key: while a job of this type with this key is live, enqueuing another
    /// answers the live one's id. Written by `#[job(unique = "field")]` or
    /// `#[job(unique = ["a", "b"])]` (the fields' values as a JSON array).
    fn unique_key(&self) -> Option<String> {
        None
    }
}

/// What a job does to its resource, checked at enqueue against the jobs queued ahead of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Effect {
    /// Creates the resource: accepted whether or not it exists.
    Create,
    /// Needs the resource: refused at enqueue unless it exists or a create is queued ahead.
    Update,
    /// Deletes the resource: needs it, and jobs that need it are refused behind it.
    Delete,
}

impl Effect {
    /// Returns the name stored in Redis.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

/// How long a unique key holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum UniqueWhile {
    /// While the job is queued, delayed or running: the key is freed when it ends.
    #[default]
    Live,
    /// While the job waits: the key is freed when a worker starts it, so one more may be
    /// enqueued while it runs.
    Queued,
}

impl UniqueWhile {
    /// Returns the name stored in Redis.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Queued => "queued",
        }
    }
}

/// A job type's policy, as set by `#[job(...)]` attributes or per enqueue.
///
/// ```
/// use std::time::Duration;
/// use job_core::{Backoff, JobOptions};
///
/// const MAIL: JobOptions = JobOptions::new().with_max_attempts(14).with_backoff(Backoff::Smtp);
/// assert_eq!(MAIL.lease(), None); // the worker's lease
/// assert_eq!(MAIL.with_lease(Duration::from_secs(5)).lease(), Some(Duration::from_secs(5)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobOptions {
    max_attempts: u32,
    backoff: Backoff,
    lease: Option<Duration>,
    priority: i8,
    timeout: Option<Duration>,
    max_defers: u32,
    effect: Option<Effect>,
    unique_while: UniqueWhile,
    requires: &'static [&'static str],
    keep: [Option<Keep>; 3],
}

/// How long a job is kept after it ends with one outcome, overriding the namespace's retention
/// (`Config::keep_completed` and the like, which bound a count and an age) for that job.
///
/// ```
/// # extern crate job_core as job;
/// use std::time::Duration;
/// use job_core::{Ended, JobOptions, Keep};
///
/// const REPORT: JobOptions = JobOptions::new()
///     .with_keep(Ended::Completed, Keep::For(Duration::from_secs(30 * 86_400)))
///     .with_keep(Ended::Failed, Keep::None);
/// assert_eq!(REPORT.keep(Ended::Completed), Some(Keep::For(Duration::from_secs(30 * 86_400))));
/// assert_eq!(REPORT.keep(Ended::Cancelled), None); // the namespace's policy
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Keep {
    /// Deleted as soon as it ends.
    None,
    /// Kept this long after it ends (not counted against the namespace's count).
    For(Duration),
}

impl Keep {
    /// As the backend stores it: milliseconds, 0 for [`Keep::None`] (a kept job, at least 1).
    #[must_use]
    pub fn millis(self) -> u64 {
        match self {
            Self::None => 0,
            Self::For(age) => crate::millis(age).max(1),
        }
    }
}

/// How a job ended, for retention: each outcome has its own policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Ended {
    /// Completed (or replaced by its children).
    Completed,
    /// Failed for good.
    Failed,
    /// Cancelled before it started.
    Cancelled,
}

impl Ended {
    /// Every outcome: completed, failed, cancelled.
    pub const ALL: [Self; 3] = [Self::Completed, Self::Failed, Self::Cancelled];

    const fn index(self) -> usize {
        match self {
            Self::Completed => 0,
            Self::Failed => 1,
            Self::Cancelled => 2,
        }
    }

    /// The outcome's name: `completed`, `failed` or `cancelled`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

impl JobOptions {
    /// The defaults: 25 attempts, exponential backoff, the worker's lease, priority 0, no
    /// timeout, 100 defers.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            max_attempts: 25,
            backoff: Backoff::DEFAULT,
            lease: None,
            priority: 0,
            timeout: None,
            max_defers: 100,
            effect: None,
            unique_while: UniqueWhile::Live,
            requires: &[],
            keep: [None; 3],
        }
    }

    /// Overrides how long jobs of this type are kept after they end with `ended` (default: the
    /// namespace's policy).
    #[must_use]
    pub const fn with_keep(mut self, ended: Ended, keep: Keep) -> Self {
        self.keep[ended.index()] = Some(keep);
        self
    }

    /// Returns how long a job that ended with `ended` is kept, when it overrides the
    /// namespace's policy.
    #[must_use]
    pub const fn keep(&self, ended: Ended) -> Option<Keep> {
        self.keep[ended.index()]
    }

    /// Sets how many attempts a job gets before it fails for good (at least 1).
    #[must_use]
    pub const fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = if max_attempts == 0 { 1 } else { max_attempts };
        self
    }

    /// Sets the delay schedule between attempts.
    #[must_use]
    pub const fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets how long a grabbed job is held before another worker may take it (renewed by
    /// heartbeats while the handler runs); without it, the worker's lease applies (60 s by
    /// default). Clamped into [`MIN_LEASE`](crate::limits::MIN_LEASE)`..=`
    /// [`MAX_LEASE`](crate::limits::MAX_LEASE).
    #[must_use]
    pub const fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = Some(crate::limits::clamp_lease(lease));
        self
    }

    /// Sets the priority: higher runs first; equal priorities run in enqueue order.
    #[must_use]
    pub const fn with_priority(mut self, priority: i8) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the longest a handler may run; past it the attempt fails and is retried. At most
    /// [`MAX_TIMEOUT`](crate::limits::MAX_TIMEOUT).
    #[must_use]
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(crate::limits::clamp_timeout(timeout));
        self
    }

    /// Sets how many times a job may defer itself before it fails for good.
    #[must_use]
    pub const fn with_max_defers(mut self, max_defers: u32) -> Self {
        self.max_defers = max_defers;
        self
    }

    /// Declares what jobs of this type do to their resource.
    #[must_use]
    pub const fn with_effect(mut self, effect: Effect) -> Self {
        self.effect = Some(effect);
        self
    }

    /// Sets how long a unique key holds (default: while the job is live).
    #[must_use]
    pub const fn with_unique_while(mut self, unique_while: UniqueWhile) -> Self {
        self.unique_while = unique_while;
        self
    }

    /// Sets the capabilities a worker needs to take jobs of this type, like `"gpu"` or
    /// `"region=eu"`.
    #[must_use]
    pub const fn with_requires(mut self, requires: &'static [&'static str]) -> Self {
        self.requires = requires;
        self
    }

    /// Returns the effect on the resource, if declared.
    #[must_use]
    pub const fn effect(&self) -> Option<Effect> {
        self.effect
    }

    /// Returns how long a unique key holds.
    #[must_use]
    pub const fn unique_while(&self) -> UniqueWhile {
        self.unique_while
    }

    /// Returns the capabilities a worker needs.
    #[must_use]
    pub const fn requires(&self) -> &'static [&'static str] {
        self.requires
    }

    /// Returns the attempts a job gets.
    #[must_use]
    pub const fn max_attempts(&self) -> u32 {
        self.max_attempts
    }
}

impl JobOptions {
    /// Returns the backoff schedule.
    #[must_use]
    pub const fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// Returns the type's lease, if it sets one.
    #[must_use]
    pub const fn lease(&self) -> Option<Duration> {
        self.lease
    }

    /// Returns the priority.
    #[must_use]
    pub const fn priority(&self) -> i8 {
        self.priority
    }

    /// Returns the handler timeout, if any.
    #[must_use]
    pub const fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Returns the defer limit.
    #[must_use]
    pub const fn max_defers(&self) -> u32 {
        self.max_defers
    }
}

impl Default for JobOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// A job encoded and ready to insert: arguments serialized once, with its id, policy and
/// start time. Built from any [`Job`]; REPLACE children are `NewJob`s of any types.
///
/// ```
/// # extern crate job_core as job;
/// use std::time::Duration;
/// use serde::{Deserialize, Serialize};
/// use job_core::{Job, NewJob};
///
/// #[derive(Job, Serialize, Deserialize)]
/// struct Resize { width: u32 }
///
/// let job = NewJob::new(&Resize { width: 64 })?.with_delay(Duration::from_secs(5)).with_priority(3);
/// assert_eq!(job.name(), "Resize");
/// assert_eq!(job.payload(), br#"{"width":64}"#);
/// # Ok::<(), job_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct NewJob {
    id: JobId,
    name: String,
    payload: Vec<u8>,
    options: JobOptions,
    start: Start,
    resource: Option<String>,
    unique_key: Option<String>,
    requires: Vec<String>,
    attributes: Vec<(String, String)>,
}

/// When a new job may first run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Start {
    /// As soon as a worker is free.
    Now,
    /// This long after the insert, by the Redis clock.
    After(Duration),
    /// At this wall-clock time.
    At(SystemTime),
}

impl NewJob {
    /// Encodes `job` with the type's name and policy, under a fresh id.
    ///
    /// # Errors
    ///
    /// [`Error::Encode`] when serde cannot serialize the arguments.
    pub fn new<J: Job>(job: &J) -> Result<Self, Error> {
        let payload = serde_json::to_vec(job).map_err(|source| Error::Encode {
            job_type: J::NAME.to_owned(),
            source,
        })?;
        let mut new = Self::from_parts(J::NAME, payload, J::OPTIONS);
        new.resource = job.resource();
        new.unique_key = job.unique_key();
        Ok(new)
    }

    /// Builds a job of type `name` from JSON arguments, with the default options, for tools
    /// that do not know the Rust type (a command line, an HTTP API, another language).
    ///
    /// # Errors
    ///
    /// [`Error::Encode`] when the value does not serialize (it always does for a JSON value
    /// built by serde_json).
    pub fn from_json(name: impl Into<String>, args: &serde_json::Value) -> Result<Self, Error> {
        let name = name.into();
        let payload = serde_json::to_vec(args).map_err(|source| Error::Encode {
            job_type: name.clone(),
            source,
        })?;
        Ok(Self::from_parts(name, payload, JobOptions::new()))
    }

    /// Replaces the job's options (its type's, for a job built from parts).
    #[must_use]
    pub fn with_options(mut self, options: JobOptions) -> Self {
        self.options = options;
        self
    }

    /// Builds a job from an already-encoded payload, for tools that do not know the Rust type
    /// (a command line, an HTTP API).
    #[must_use]
    pub fn from_parts(name: impl Into<String>, payload: Vec<u8>, options: JobOptions) -> Self {
        Self {
            id: JobId::new(),
            name: name.into(),
            payload,
            options,
            start: Start::Now,
            resource: None,
            unique_key: None,
            requires: options.requires().iter().map(|r| (*r).to_owned()).collect(),
            attributes: Vec::new(),
        }
    }

    /// Sets the id, for an insert that must be idempotent across retries of the caller.
    #[must_use]
    pub fn with_id(mut self, id: JobId) -> Self {
        self.id = id;
        self
    }

    /// Delays the first run by `delay` (at most [`MAX_DELAY`](crate::limits::MAX_DELAY)).
    #[must_use]
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.start = Start::After(crate::limits::clamp_delay(delay));
        self
    }

    /// Holds the first run until `at`.
    #[must_use]
    pub fn with_start_at(mut self, at: SystemTime) -> Self {
        self.start = Start::At(at);
        self
    }

    /// Overrides the type's priority for this job.
    #[must_use]
    pub fn with_priority(mut self, priority: i8) -> Self {
        self.options = self.options.with_priority(priority);
        self
    }

    /// Overrides how long this job is kept after it ends with `ended`.
    #[must_use]
    pub fn with_keep(mut self, ended: Ended, keep: Keep) -> Self {
        self.options = self.options.with_keep(ended, keep);
        self
    }

    /// Overrides the type's attempt limit for this job.
    #[must_use]
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.options = self.options.with_max_attempts(max_attempts);
        self
    }

    /// Binds the job to a resource: jobs bound to one resource run one at a time, in enqueue
    /// order.
    #[must_use]
    pub fn with_resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Declares what the job does to its resource, overriding its type.
    #[must_use]
    pub fn with_effect(mut self, effect: Effect) -> Self {
        self.options = self.options.with_effect(effect);
        self
    }

    /// Sets the unique key (scoped to the job's type): while a job with it is live, inserting
    /// another answers [`Inserted::Duplicate`](crate::Inserted::Duplicate) with the live job's id.
    #[must_use]
    pub fn with_unique_key(mut self, key: impl Into<String>) -> Self {
        self.unique_key = Some(key.into());
        self
    }

    /// Adds a capability a worker needs to take this job, beyond its type's.
    #[must_use]
    pub fn with_requirement(mut self, capability: impl Into<String>) -> Self {
        self.requires.push(capability.into());
        self
    }

    /// Sets an attribute a low-level grab can filter on (see [`Grab::filter`](crate::Grab)).
    #[must_use]
    pub fn with_attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.push((name.into(), value.into()));
        self
    }

    /// Returns the resource the job is bound to.
    #[must_use]
    pub fn resource(&self) -> Option<&str> {
        self.resource.as_deref()
    }

    /// Returns the unique key.
    #[must_use]
    pub fn unique_key(&self) -> Option<&str> {
        self.unique_key.as_deref()
    }

    /// Returns the capabilities a worker needs, sorted and without repeats.
    #[must_use]
    pub fn requires(&self) -> Vec<&str> {
        let mut requires: Vec<&str> = self.requires.iter().map(String::as_str).collect();
        requires.sort_unstable();
        requires.dedup();
        requires
    }

    /// Returns the attributes set for filtered grabs.
    #[must_use]
    pub fn attributes(&self) -> &[(String, String)] {
        &self.attributes
    }

    /// Returns the id.
    #[must_use]
    pub fn id(&self) -> JobId {
        self.id
    }

    /// Returns the wire name of the job's type.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the encoded arguments.
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Returns the policy.
    #[must_use]
    pub fn options(&self) -> &JobOptions {
        &self.options
    }

    /// Returns when the job may first run.
    #[must_use]
    pub fn start(&self) -> Start {
        self.start
    }
}
