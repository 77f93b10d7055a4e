use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// A job's identity: a ULID made by the client, so a retried insert is recognised, never doubled.
///
/// ULIDs sort by creation time and print as 26 characters of Crockford base32; ids made by one
/// process are strictly increasing, even within one millisecond.
///
/// ```
/// use job_core::JobId;
/// let id = JobId::new();
/// assert_eq!(id.to_string().parse::<JobId>().unwrap(), id);
/// assert!(JobId::new() > id);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct JobId(ulid::Ulid);

impl JobId {
    /// Makes a new, unique id.
    #[must_use]
    pub fn new() -> Self {
        static GENERATOR: Mutex<ulid::Generator> = Mutex::new(ulid::Generator::new());
        let next = GENERATOR
            .lock()
            .ok()
            .and_then(|mut generator| generator.generate().ok());
        // The generator overflows only after 2^80 ids in one millisecond.
        Self(next.unwrap_or_else(ulid::Ulid::generate))
    }
}

impl JobId {
    /// The id of the job that `key`'s tick at `millis` (ms since the Unix epoch) makes: the
    /// same key and time give the same id, in every process and build, so a tick inserted
    /// twice is stored once. Ids made this way sort by their time, as fresh ids do.
    #[must_use]
    pub fn for_tick(key: &str, millis: u64) -> Self {
        // Two FNV-1a hashes with different bases: 128 stable bits, of which the id keeps 80.
        let fnv = |basis: u64| {
            key.bytes().fold(basis, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
            })
        };
        let random =
            (u128::from(fnv(0xcbf2_9ce4_8422_2325)) << 64) | u128::from(fnv(0x6c62_272e_07bb_0142));
        Self(ulid::Ulid::from_parts(millis, random))
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JobId({})", self.0)
    }
}

/// The error for a string that is not a job id.
#[derive(Debug, thiserror::Error)]
#[error("invalid job id `{input}`")]
pub struct ParseJobIdError {
    input: String,
}

impl FromStr for JobId {
    type Err = ParseJobIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ulid::Ulid::from_string(s)
            .map(Self)
            .map_err(|_| ParseJobIdError {
                input: s.to_owned(),
            })
    }
}

impl From<JobId> for String {
    fn from(id: JobId) -> Self {
        id.to_string()
    }
}

impl TryFrom<String> for JobId {
    type Error = ParseJobIdError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}
