//! The worker runtime (in progress).

/// Runs jobs.
#[derive(Debug)]
pub struct Worker;

/// Worker settings.
#[derive(Debug)]
pub struct WorkerConfig;
