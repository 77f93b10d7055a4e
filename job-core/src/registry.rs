//! What workers say about themselves, for tools: each running worker (who, what it runs, since
//! when, last seen) and each job type's options, so a tool can enqueue a type by name with its
//! real options and refuse a name no worker knows.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::{Ended, Holder, JobOptions, Keep};

/// A running worker, as it registers itself (again every [`REGISTER_EVERY`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WorkerInfo {
    /// Which machine, process and worker.
    pub holder: Holder,
    /// The version of the `job` library it runs.
    pub version: String,
    /// The job types it runs.
    pub types: Vec<String>,
    /// What it can do (jobs that require more wait for another worker).
    pub capabilities: Vec<String>,
    /// How many jobs it runs at once.
    pub concurrency: usize,
    /// When it started, ms since the Unix epoch.
    pub started_ms: u64,
    /// When it last registered, ms since the Unix epoch, by the backend's clock (set when read).
    #[serde(default)]
    pub seen_ms: u64,
}

impl WorkerInfo {
    /// A worker of `holder` running `types` with `capabilities` at `concurrency`, starting now.
    #[must_use]
    pub fn new(
        holder: Holder,
        types: Vec<String>,
        capabilities: Vec<String>,
        concurrency: usize,
    ) -> Self {
        Self {
            holder,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            types,
            capabilities,
            concurrency,
            started_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, crate::millis),
            seen_ms: 0,
        }
    }
}

/// How often a running worker registers itself again.
pub const REGISTER_EVERY: Duration = Duration::from_secs(10);

/// How long a worker counts as running after it last registered: three missed registrations.
pub const WORKER_EXPIRY: Duration = Duration::from_secs(30);

/// A job type's options, as the workers that run it register them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TypeInfo {
    /// The type's wire name.
    pub name: String,
    /// Attempts before a job fails for good.
    pub max_attempts: u32,
    /// Its priority.
    pub priority: i8,
    /// Its lease, when it sets one (ms).
    pub lease_ms: Option<u64>,
    /// Its handler timeout, when it sets one (ms).
    pub timeout_ms: Option<u64>,
    /// How often a job may defer itself.
    pub max_defers: u32,
    /// The capabilities a worker needs to take it.
    pub requires: Vec<String>,
    /// Its own retention per way a job ends (`completed`, `failed`, `cancelled`), in ms (0:
    /// none), where it overrides the namespace's.
    pub keep_ms: Vec<(String, u64)>,
}

impl TypeInfo {
    /// The registration of type `name` with `options`.
    #[must_use]
    pub fn of(name: &str, options: &JobOptions) -> Self {
        let keep_ms = Ended::ALL
            .iter()
            .filter_map(|ended| Some((ended.as_str().to_owned(), options.keep(*ended)?.millis())))
            .collect();
        Self {
            name: name.to_owned(),
            max_attempts: options.max_attempts(),
            priority: options.priority(),
            lease_ms: options.lease().map(crate::millis),
            timeout_ms: options.timeout().map(crate::millis),
            max_defers: options.max_defers(),
            requires: options.requires().iter().map(|c| (*c).to_owned()).collect(),
            keep_ms,
        }
    }

    /// The options a job of this type is stored with (those an insert carries: attempts,
    /// priority, lease, timeout, defers and retention; its requirements are the job's own, see
    /// [`NewJob::with_requirement`](crate::NewJob::with_requirement)).
    #[must_use]
    pub fn options(&self) -> JobOptions {
        let mut options = JobOptions::new()
            .with_max_attempts(self.max_attempts)
            .with_priority(self.priority)
            .with_max_defers(self.max_defers);
        if let Some(ms) = self.lease_ms {
            options = options.with_lease(Duration::from_millis(ms));
        }
        if let Some(ms) = self.timeout_ms {
            options = options.with_timeout(Duration::from_millis(ms));
        }
        for (ended, ms) in &self.keep_ms {
            let Some(ended) = Ended::ALL.iter().find(|e| e.as_str() == ended) else {
                continue;
            };
            let keep = if *ms == 0 {
                Keep::None
            } else {
                Keep::For(Duration::from_millis(*ms))
            };
            options = options.with_keep(*ended, keep);
        }
        options
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_type_registration_gives_back_the_options_an_insert_carries() {
        let options = JobOptions::new()
            .with_max_attempts(7)
            .with_priority(-3)
            .with_lease(Duration::from_secs(90))
            .with_timeout(Duration::from_secs(5))
            .with_max_defers(4)
            .with_keep(Ended::Completed, Keep::For(Duration::from_secs(3_600)))
            .with_keep(Ended::Failed, Keep::None);
        let info = TypeInfo::of("mail.send", &options);
        let json = serde_json::to_string(&info).unwrap();
        let back: TypeInfo = serde_json::from_str(&json).unwrap();
        assert_eq!(back, info);
        let again = back.options();
        assert_eq!(again.max_attempts(), 7);
        assert_eq!(again.priority(), -3);
        assert_eq!(again.lease(), Some(Duration::from_secs(90)));
        assert_eq!(again.timeout(), Some(Duration::from_secs(5)));
        assert_eq!(again.max_defers(), 4);
        assert_eq!(
            again.keep(Ended::Completed),
            Some(Keep::For(Duration::from_secs(3_600)))
        );
        assert_eq!(again.keep(Ended::Failed), Some(Keep::None));
        assert_eq!(again.keep(Ended::Cancelled), None);
    }
}
