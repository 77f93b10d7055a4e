/// The errors of the Redis backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Redis could not be reached, or refused the connection (bad password, ACL).
    #[error("cannot connect to Redis at {url}")]
    Connect {
        /// The URL, with any password hidden.
        url: String,
        /// The cause.
        #[source]
        source: redis::RedisError,
    },
    /// The Redis server is older than 7.0, the least this crate runs on (script flags, Redis
    /// Functions); nothing was sent.
    #[error("Redis at {url} is version {version}; job needs Redis 7.0 or later")]
    ServerTooOld {
        /// The server (password hidden).
        url: String,
        /// The version it reported (the oldest, on a Cluster).
        version: String,
    },
    /// A command failed.
    #[error("redis command failed{}", at(server.as_deref()))]
    Redis {
        /// The server (the client's URL, password hidden), when known.
        server: Option<String>,
        /// The cause.
        #[source]
        source: redis::RedisError,
    },
    /// The Redis user's ACL forbids a command (or a key) the library needs: retrying cannot
    /// help until the ACL changes.
    #[error(
        "the Redis user lacks permission for a command the job library needs: its ACL must \
         allow EVALSHA, SCRIPT LOAD, BZPOPMIN, SMEMBERS, PING and INFO, plus every command \
         the scripts run (`+@all` does), on every key of the namespace"
    )]
    Permission {
        /// The refusal (`NOPERM ...`, or a script's command refused by the ACL).
        #[source]
        source: redis::RedisError,
    },
    /// A script answered with a reply of a shape it never gives: a protocol error, not a panic.
    #[error("unexpected reply from script `{script}`: {detail}")]
    Protocol {
        /// The script.
        script: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A job's arguments are over the configured limit; nothing was stored.
    #[error(
        "job {id} of type `{job_type}` has {size}-byte arguments, over the limit of {limit} bytes"
    )]
    PayloadTooLarge {
        /// The job.
        id: job_core::JobId,
        /// The wire name of its type.
        job_type: String,
        /// The encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A completion's result is over `Config::max_result`; nothing of the call was written.
    #[error("the result of job {id} is {size} bytes, over the limit of {limit} bytes")]
    ResultTooLarge {
        /// The job.
        id: job_core::JobId,
        /// The result's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// No job with this id is stored (never inserted, or deleted after its retention).
    #[error("job {id} not found")]
    NotFound {
        /// The job.
        id: job_core::JobId,
    },
    /// The job's state does not allow the operation (cancel a running job, retry one that has
    /// not failed).
    #[error("cannot {operation} job {id}: it is {}", state.as_str())]
    WrongState {
        /// The job.
        id: job_core::JobId,
        /// The operation refused.
        operation: &'static str,
        /// The job's state.
        state: job_core::JobState,
    },
    /// The job needs a resource that does not exist and that no job queued ahead creates (or
    /// that a job queued ahead deletes): refused at once, nothing stored.
    #[error("job {id} of type `{job_type}` needs resource `{resource}`, which will not exist")]
    ResourceNotFound {
        /// The job refused (in a batch: the first one).
        id: job_core::JobId,
        /// The wire name of its type.
        job_type: String,
        /// The resource.
        resource: String,
    },
    /// A job's type, resource, unique key, capability or attribute breaks the name rules;
    /// nothing was stored.
    #[error("job {id} of type `{job_type}` was not stored: a name is invalid")]
    InvalidJob {
        /// The job.
        id: job_core::JobId,
        /// The wire name of its type (as given).
        job_type: String,
        /// Which name, and why.
        #[source]
        source: job_core::InvalidName,
    },
    /// A setting or an argument (the namespace, a type or capability of a grab) breaks the
    /// name rules.
    #[error(transparent)]
    InvalidName(#[from] job_core::InvalidName),
    /// An insert got no answer (Redis timed out or the connection broke after the call may
    /// have reached it), also when tried again for `Config::insert_retry`: the jobs may or may
    /// not be stored. Inserting them again with the same ids is safe (a stored one answers
    /// `Inserted::Exists`); `Client::details` tells.
    #[error(
        "the outcome of inserting job {} is unknown{}: Redis did not answer (the same ids are safe to insert again)",
        ids.first().map(ToString::to_string).unwrap_or_default(),
        if ids.len() > 1 { format!(" (and {} more)", ids.len() - 1) } else { String::new() }
    )]
    Unconfirmed {
        /// The jobs whose insert is unconfirmed.
        ids: Vec<job_core::JobId>,
        /// The last failure.
        #[source]
        source: Box<Error>,
    },
    /// A call asks for more than one call may carry.
    #[error("too many {what}: {count}, at most {max}")]
    TooMany {
        /// What there are too many of.
        what: String,
        /// How many were given.
        count: usize,
        /// The most allowed.
        max: usize,
    },
    /// Redis refused to store the job as it is (a key it needs holds another type: a stray
    /// write under the namespace); nothing of it was stored.
    #[error("job {id} of type `{job_type}` was not stored: {reason}")]
    Refused {
        /// The job.
        id: job_core::JobId,
        /// The wire name of its type.
        job_type: String,
        /// Why.
        reason: String,
    },
    /// Encoding or decoding a job failed.
    #[error(transparent)]
    Job(#[from] job_core::Error),
}

impl Error {
    /// Whether the error is about the connection (unreachable, dropped, timed out): the
    /// operation may be retried once Redis answers again. A refused password or ACL user is not:
    /// retrying cannot help.
    #[must_use]
    pub fn is_connection(&self) -> bool {
        match self {
            Self::Connect { source, .. } => source.kind() != redis::ErrorKind::AuthenticationFailed,
            Self::Unconfirmed { .. } => true,
            Self::Redis { source: error, .. } => {
                error.is_io_error()
                    || error.is_connection_dropped()
                    || error.is_connection_refusal()
                    || error.is_timeout()
            }
            _ => false,
        }
    }
}

impl Error {
    /// Whether the failed call may still have run in Redis: it timed out, or its connection
    /// broke after it was sent (a refused connection never sent it).
    pub(crate) fn may_have_run(&self) -> bool {
        match self {
            Self::Redis { source: error, .. } => {
                error.is_timeout() || error.is_connection_dropped() || error.is_io_error()
            }
            _ => false,
        }
    }
}

impl From<redis::RedisError> for Error {
    /// A refusal by the user's ACL becomes [`Error::Permission`]; anything else is
    /// [`Error::Redis`].
    fn from(error: redis::RedisError) -> Self {
        if is_permission(&error) {
            Self::Permission { source: error }
        } else {
            Self::Redis {
                server: None,
                source: error,
            }
        }
    }
}

/// Whether Redis refused a command by its ACL: `NOPERM` for a command called directly, or, for
/// a command a script runs, an `ERR` that says so (Redis 7.0: "The user executing the script
/// can't run this command or subcommand" or "... can't access at least one of the keys";
/// Redis 7.2 and later: "ACL failure in script: ...").
fn is_permission(error: &redis::RedisError) -> bool {
    match error.kind() {
        redis::ErrorKind::Server(redis::ServerErrorKind::NoPerm) => true,
        redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError) => {
            error.detail().is_some_and(|detail| {
                detail.starts_with("The user executing the script can't")
                    || detail.starts_with("ACL failure in script")
            })
        }
        _ => false,
    }
}

impl Error {
    /// The same failure, for another caller of a shared call (errors are not `Clone`).
    pub(crate) fn for_another_caller(&self) -> Self {
        match self {
            // Through `From`, so a shared call's ACL refusal reads as one, too.
            Self::Redis { server, source } => Self::from(source.clone()).at(server.as_deref()),
            Self::Permission { source } => Self::Permission {
                source: source.clone(),
            },
            Self::Connect { url, source } => Self::Connect {
                url: url.clone(),
                source: source.clone(),
            },
            other => Self::Protocol {
                script: "insert",
                detail: other.to_string(),
            },
        }
    }
}

impl Error {
    /// The same error, naming `server` when it is a command's failure that names none yet.
    pub(crate) fn at(self, server: Option<&str>) -> Self {
        match self {
            Self::Redis {
                server: None,
                source,
            } => Self::Redis {
                server: server.map(str::to_owned),
                source,
            },
            other => other,
        }
    }
}

/// ` at <server>`, or nothing.
fn at(server: Option<&str>) -> String {
    server
        .map(|server| format!(" at {server}"))
        .unwrap_or_default()
}

/// A `Result` whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A name as error messages show it: control characters escaped, cut to 64 characters.
pub(crate) fn shown(name: &str) -> String {
    let mut text: String = name.chars().take(64).flat_map(char::escape_debug).collect();
    if name.chars().nth(64).is_some() {
        text.push('…');
    }
    text
}

/// An error with its whole cause chain (`a: b: c`), for logs: the one formatter job-core's
/// failure records and logs use.
pub(crate) use job_core::__private::chain;

/// Hides the password of a Redis URL, for error messages and logs: the user info before the
/// last `@` (`redis://user:***@host`, and `***@host` for a URL too malformed to tell the user),
/// and the value of any `password=` query parameter.
pub(crate) fn redact(url: &str) -> String {
    let hidden = match url.rsplit_once('@') {
        Some((auth, host)) => match auth.split_once("://") {
            Some((scheme, user)) => match user.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                None => format!("{scheme}://***@{host}"),
            },
            None => format!("***@{host}"),
        },
        None => url.to_owned(),
    };
    hide_query_password(&hidden)
}

/// `password=<anything up to & or #>` becomes `password=***`.
fn hide_query_password(url: &str) -> String {
    let Some((path, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let params: Vec<String> = query
        .split('&')
        .map(|param| match param.split_once('=') {
            Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}=***"),
            _ => param.to_owned(),
        })
        .collect();
    format!("{path}?{}", params.join("&"))
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_passwords_only() {
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(
            redact("redis://app:s3cret@host:6379/2"),
            "redis://app:***@host:6379/2"
        );
        assert_eq!(redact("rediss://:s3cret@host"), "rediss://:***@host");
        assert_eq!(redact("redis://s3cret@host"), "redis://***@host");
        assert_eq!(redact("redis//:s3cret@host:6379"), "***@host:6379");
        assert_eq!(
            redact("redis://host:6379/0?password=s3cret&protocol=resp3"),
            "redis://host:6379/0?password=***&protocol=resp3"
        );
        assert_eq!(
            redact("redis://u:p@ss,w0rd@a:1,b:2"),
            "redis://u:***@a:1,b:2"
        );
    }
}
