//! The scripts, one per atomic transition, and one typed call each: the only place that writes
//! a script's KEYS and ARGV and decodes its reply. KEYS[1] of every script is its shard's
//! prefix; every script that writes takes the client's settings as ARGV[1] (see
//! `Config::script_settings`).
//!
//! Each Lua file lists the shared parts it uses (`--@include <part>`, from `lua/include/`).
//! A script runs one of two ways ([`Loading`]): `EVALSHA` of the file with its parts prepended
//! (a script defines every helper it is given on every call, so it is given only what it uses),
//! or `FCALL` of a function in one library of every script (the parts defined once, when the
//! library loads). Either way a script the server lacks (a restart without persistence, a
//! `SCRIPT FLUSH`, a `FUNCTION FLUSH`) is loaded and the call sent again, once; only a second
//! flush landing between the two surfaces as an error (which the worker retries).

use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use job_core::limits::{clamp_delay, clamp_lease};
use job_core::{
    Ack, Completion, Details, FailureNote, Grab, Grabbed, GrabbedJob, Inserted, JobId, JobState,
    Lease, NewJob, Release, ResourceState,
};
use redis::{Cmd, Script, ToRedisArgs, Value};

use crate::conn::Conn;
use crate::keys::Shards;
use crate::reply::Reply;
use crate::{Error, Result};

mod details;
mod rows;
mod source;

pub(crate) use self::rows::{MAX_REPLACE_WEIGHT, MAX_ROWS, by_weight, run_lengths, weight};

/// One script: its name (`lua/<name>.lua`, and its function's in the library), its Lua, and
/// whether it only reads.
pub(crate) struct Lua {
    name: &'static str,
    body: &'static str,
    read_only: bool,
    /// The file with its parts, for `EVALSHA`.
    script: LazyLock<Script>,
    /// Its function's name in the library, for `FCALL`.
    function: LazyLock<String>,
}

macro_rules! script {
    ($name:ident, $file:literal, $read_only:literal) => {
        static $name: Lua = Lua {
            name: $file,
            body: include_str!(concat!("../../lua/", $file, ".lua")),
            read_only: $read_only,
            script: std::sync::LazyLock::new(|| {
                let shebang = if $read_only {
                    "#!lua flags=no-writes"
                } else {
                    "#!lua"
                };
                redis::Script::new(&$crate::scripts::source::assemble(
                    shebang,
                    include_str!(concat!("../../lua/", $file, ".lua")),
                ))
            }),
            function: std::sync::LazyLock::new(|| {
                $crate::scripts::source::function_name(&$crate::scripts::LIBRARY.version, $file)
            }),
        };
    };
}

script!(INSERT, "insert", false);
script!(GRAB, "grab", false);
script!(COMPLETE, "complete", false);
script!(TEMP_FAIL, "temp_fail", false);
script!(PERM_FAIL, "perm_fail", false);
script!(REPLACE, "replace", false);
script!(HEARTBEAT, "heartbeat", false);
script!(RELEASE, "release", false);
script!(CANCEL, "cancel", false);
script!(RETRY, "retry", false);
script!(DETAILS, "details", true);
script!(RESOURCE, "resource", true);

pub(crate) mod admin;
pub(crate) mod schedules;

/// Every script of this module (the schedule scripts are in `schedules`).
static ALL: [&Lua; 12] = [
    &INSERT, &GRAB, &COMPLETE, &TEMP_FAIL, &PERM_FAIL, &REPLACE, &HEARTBEAT, &RELEASE, &CANCEL,
    &RETRY, &DETAILS, &RESOURCE,
];

/// Every script as one Redis Functions library, with the version that names it and its
/// functions (from a hash of the source: each build has its own).
struct Library {
    version: String,
    source: String,
}

static LIBRARY: LazyLock<Library> = LazyLock::new(|| {
    let scripts: Vec<(&str, &str, bool)> = ALL
        .iter()
        .chain(schedules::ALL.iter())
        .chain(admin::ALL.iter())
        .map(|lua| (lua.name, lua.body, lua.read_only))
        .collect();
    let draft = source::library("0", &scripts);
    let version = Script::new(&draft).get_hash()[..12].to_owned();
    Library {
        source: source::library(&version, &scripts),
        version,
    }
});

/// How a client runs its scripts (see [`Config::loading`](crate::Config::loading)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Loading {
    /// `FCALL` of a function of one library of every script, loaded with `FUNCTION LOAD` on
    /// every master when a server lacks it: the shared Lua is defined once per load, not on
    /// every call (measured in BENCHMARKS.md). The library is named `job_<version>`, a hash of
    /// its source, so clients of different builds share a server safely; an old build's
    /// library stays until `FUNCTION DELETE` removes it.
    #[default]
    Functions,
    /// `EVALSHA` of each script with the parts it uses, loaded with `SCRIPT LOAD` when a
    /// server lacks it: for servers where an ACL or a managed service refuses `FUNCTION`.
    Eval,
}

/// One call of a script, its arguments being added.
pub(crate) struct Call {
    cmd: Cmd,
    lua: &'static Lua,
}

impl Call {
    /// Adds an argument (a value that writes several, such as a slice, adds each).
    pub(crate) fn arg(&mut self, arg: impl ToRedisArgs) -> &mut Self {
        self.cmd.arg(arg);
        self
    }
}

/// How many ready jobs a filtered grab looks at, over all its queues (an equal share each).
const FILTER_WINDOW: usize = 1000;
/// Failure messages are cut to this many bytes.
const MESSAGE_MAX: usize = 4096;

/// Where every script of a namespace goes: its shards, on the one command connection, with the
/// client's settings; shared by the client and its parts.
pub(crate) struct Sites {
    conn: Conn,
    shards: Shards,
    settings: String,
    server: String,
    loading: Loading,
}

impl Sites {
    /// The namespace's `shards` on `conn`, with `settings` (ARGV[1] of every script that
    /// writes), on the server named `server` in errors (password hidden).
    pub(crate) fn new(
        conn: Conn,
        shards: Shards,
        settings: String,
        server: String,
        loading: Loading,
    ) -> Self {
        Self {
            conn,
            shards,
            settings,
            server,
            loading,
        }
    }

    /// Where a script for shard `shard` goes.
    pub(crate) fn site(&self, shard: usize) -> Site<'_> {
        Site {
            conn: &self.conn,
            prefix: self.shards.get(shard).prefix(),
            settings: &self.settings,
            server: &self.server,
            loading: self.loading,
        }
    }

    /// The namespace's shards.
    pub(crate) fn shards(&self) -> &Shards {
        &self.shards
    }

    /// The command connection (clones share its socket).
    pub(crate) fn conn(&self) -> Conn {
        self.conn.clone()
    }

    /// The server, for errors (password hidden).
    pub(crate) fn server(&self) -> &str {
        &self.server
    }

    /// A failure, naming the server when it is a command's that names none yet.
    pub(crate) fn at_server(&self, error: impl Into<Error>) -> Error {
        error.into().at(Some(&self.server))
    }
}

/// Where a script call goes: one shard (its key prefix) on a connection, with the client's
/// settings, and the server to name in errors.
#[derive(Clone, Copy)]
pub(crate) struct Site<'a> {
    pub(crate) conn: &'a Conn,
    pub(crate) prefix: &'a str,
    pub(crate) settings: &'a str,
    pub(crate) server: &'a str,
    pub(crate) loading: Loading,
}

impl Site<'_> {
    /// A call of `lua` on this shard, with the settings when the script writes.
    fn call(&self, lua: &'static Lua, writes: bool) -> Call {
        let mut cmd = match self.loading {
            Loading::Eval => {
                let mut cmd = redis::cmd("EVALSHA");
                cmd.arg(lua.script.get_hash());
                cmd
            }
            Loading::Functions => {
                let mut cmd = redis::cmd("FCALL");
                cmd.arg(lua.function.as_str());
                cmd
            }
        };
        cmd.arg(1).arg(self.prefix);
        if writes {
            cmd.arg(self.settings);
        }
        Call { cmd, lua }
    }

    /// Sends `call`; when the server lacks the script, loads it and sends the call again.
    async fn run(&self, call: &Call) -> Result<Value> {
        let mut conn = self.conn.clone();
        let at = |error: redis::RedisError| Error::from(error).at(Some(self.server));
        match call.cmd.query_async(&mut conn).await {
            Err(error) if self.lacks_script(&error) => {
                self.load(&mut conn, call.lua).await.map_err(at)?;
                call.cmd.query_async(&mut conn).await.map_err(at)
            }
            answer => answer.map_err(at),
        }
    }

    /// Whether `error` says the server lacks the script called.
    fn lacks_script(&self, error: &redis::RedisError) -> bool {
        match self.loading {
            Loading::Eval => {
                error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript)
            }
            Loading::Functions => error.to_string().contains("Function not found"),
        }
    }

    /// Loads `lua` (or the library) on every master.
    async fn load(&self, conn: &mut Conn, lua: &Lua) -> redis::RedisResult<()> {
        match self.loading {
            Loading::Eval => lua.script.prepare_invoke().load_async(conn).await.map(drop),
            Loading::Functions => redis::cmd("FUNCTION")
                .arg("LOAD")
                .arg("REPLACE")
                .arg(&LIBRARY.source)
                .query_async::<Value>(conn)
                .await
                .map(drop),
        }
    }
}

/// INSERT: `jobs`, all or nothing when `atomic` (a refused row refuses the call), else each
/// row on its own. One answer per job, in order.
pub(crate) async fn insert(
    site: Site<'_>,
    atomic: bool,
    jobs: &[&NewJob],
) -> Result<Vec<Result<Inserted>>> {
    let mut invocation = site.call(&INSERT, true);
    invocation.arg(u8::from(atomic)).arg(jobs.len());
    for job in jobs {
        rows::push_row(&mut invocation, job, None, None);
    }
    let reply = Reply::of("insert");
    rows::decode_inserted(&reply, site.run(&invocation).await?, jobs.iter().copied())?
        .ok_or_else(|| reply.error("unexpected `lost`"))
}

/// INSERT of one row a REPLACE left in an outbox: its arguments as stored there. An id already
/// inserted answers `exists`, which is success here.
pub(crate) async fn forward(site: Site<'_>, row: &[String]) -> Result<()> {
    let mut invocation = site.call(&INSERT, true);
    invocation.arg(0).arg(1).arg(row);
    site.run(&invocation).await.map(drop)
}

/// GRAB: completes `done` (jobs of this shard), then leases up to `limit` jobs of `grab`'s
/// types from the shard numbered `shard`; answers a flag per completion (as
/// [`complete`]), the jobs, and when the next delayed job there is due.
pub(crate) async fn grab(
    site: Site<'_>,
    shard: u16,
    grab: &Grab<'_>,
    limit: usize,
    done: &[&Completion],
) -> Result<(Vec<bool>, Grabbed)> {
    /// Fields per job in the reply: id, type, arguments, attempt, max attempts, token, lease,
    /// ready since (ms).
    const FIELDS: usize = 8;
    let reply = Reply::of("grab");
    let holder = serde_json::to_string(grab.holder).map_err(|e| reply.error(e.to_string()))?;
    let mut invocation = site.call(&GRAB, true);
    invocation
        .arg(limit)
        .arg(millis(clamp_lease(grab.lease)))
        .arg(holder)
        .arg(grab.capabilities.join(","))
        .arg(filter_json(grab.filter))
        .arg(FILTER_WINDOW)
        .arg(done.len());
    for completion in done {
        completion_row(&mut invocation, completion);
    }
    for job_type in grab.types {
        invocation.arg(*job_type);
    }
    let items = reply.array(site.run(&invocation).await?)?;
    let (head, rest) = items
        .split_first()
        .ok_or_else(|| reply.error("empty reply"))?;
    let (count, rest) = rest
        .split_first()
        .ok_or_else(|| reply.error("no completion count"))?;
    let count = usize::try_from(reply.int(count)?).unwrap_or(usize::MAX);
    if count != done.len() || rest.len() < count {
        return Err(reply.error(format!(
            "{count} completion answers for {} completions",
            done.len()
        )));
    }
    let (flags, rows) = rest.split_at(count);
    let flags = flags
        .iter()
        .map(|flag| Ok(reply.int(flag)? == 1))
        .collect::<Result<Vec<bool>>>()?;
    if rows.len() % FIELDS != 0 {
        return Err(reply.error(format!(
            "{} row fields is not a multiple of {FIELDS}",
            rows.len()
        )));
    }
    let next_wake = u64::try_from(reply.int(head)?)
        .ok()
        .map(Duration::from_millis);
    let count = |v: &Value| -> Result<u32> { Ok(u32::try_from(reply.int(v)?).unwrap_or(u32::MAX)) };
    let mut jobs = Vec::with_capacity(rows.len() / FIELDS);
    for row in rows.chunks(FIELDS) {
        let id = job_id(&reply, row[0].clone())?;
        let token =
            u64::try_from(reply.int(&row[5])?).map_err(|_| reply.error("negative token"))?;
        let lease = Duration::from_millis(u64::try_from(reply.int(&row[6])?).unwrap_or(0));
        let ready_since = u64::try_from(reply.int(&row[7])?).unwrap_or(0);
        jobs.push(
            GrabbedJob::new(
                Lease::new(id, token, lease).on_shard(shard),
                reply.string(row[1].clone())?,
                reply.bytes(row[2].clone())?,
                count(&row[3])?,
                count(&row[4])?,
            )
            .ready_since(UNIX_EPOCH + Duration::from_millis(ready_since)),
        );
    }
    Ok((flags, Grabbed::new(jobs, next_wake)))
}

/// COMPLETE: one flag per completion, true where its lease still held.
pub(crate) async fn complete(site: Site<'_>, done: &[&Completion]) -> Result<Vec<bool>> {
    let mut invocation = site.call(&COMPLETE, true);
    invocation.arg(done.len());
    for completion in done {
        completion_row(&mut invocation, completion);
    }
    Reply::of("complete").flags(site.run(&invocation).await?, done.len())
}

/// A completion's row: id, token, result ('' for none).
fn completion_row(invocation: &mut Call, completion: &Completion) {
    invocation
        .arg(completion.lease.id.to_string())
        .arg(completion.lease.token)
        .arg(completion.result.as_deref().unwrap_or_default());
}

/// HEARTBEAT: renews `leases`; one flag per lease, true where it still held.
pub(crate) async fn heartbeat(site: Site<'_>, leases: &[&Lease]) -> Result<Vec<bool>> {
    let mut invocation = site.call(&HEARTBEAT, false);
    invocation.arg(leases.len());
    for lease in leases {
        invocation
            .arg(lease.id.to_string())
            .arg(lease.token)
            .arg(millis(clamp_lease(lease.duration)));
    }
    Reply::of("heartbeat").flags(site.run(&invocation).await?, leases.len())
}

/// TEMP_FAIL: the job runs again in `retry_in`, or fails for good when out of attempts.
pub(crate) async fn temp_fail(
    site: Site<'_>,
    lease: &Lease,
    retry_in: Duration,
    failure: &FailureNote,
) -> Result<Ack> {
    let mut invocation = site.call(&TEMP_FAIL, true);
    invocation
        .arg(lease.id.to_string())
        .arg(lease.token)
        .arg(millis(clamp_delay(retry_in)))
        .arg(failure.kind.as_str())
        .arg(truncate(&failure.message));
    ack("temp_fail", site.run(&invocation).await?, "retry")
}

/// PERM_FAIL: the job fails for good (`Ack::Ok`), unless its lease was lost.
pub(crate) async fn perm_fail(site: Site<'_>, lease: &Lease, failure: &FailureNote) -> Result<Ack> {
    let mut invocation = site.call(&PERM_FAIL, true);
    invocation
        .arg(lease.id.to_string())
        .arg(lease.token)
        .arg(failure.kind.as_str())
        .arg(truncate(&failure.message));
    match ack("perm_fail", site.run(&invocation).await?, "failed")? {
        Ack::Lost => Ok(Ack::Lost),
        _ => Ok(Ack::Ok),
    }
}

/// REPLACE: completes the leased job and inserts `children`, each with the prefix of the shard
/// it is forwarded to when that is not this one. `Ack::Lost` (and no children) when the lease
/// was lost.
pub(crate) async fn replace(
    site: Site<'_>,
    lease: &Lease,
    children: &[(&NewJob, Option<&str>)],
) -> Result<(Ack, Vec<Inserted>)> {
    let mut invocation = site.call(&REPLACE, true);
    invocation
        .arg(lease.id.to_string())
        .arg(lease.token)
        .arg(children.len());
    for (child, outbox) in children {
        rows::push_row(&mut invocation, child, Some(lease.id), *outbox);
    }
    let reply = Reply::of("replace");
    let jobs = children.iter().map(|(child, _)| *child);
    match rows::decode_inserted(&reply, site.run(&invocation).await?, jobs)? {
        Some(rows) => Ok((Ack::Ok, rows.into_iter().collect::<Result<Vec<_>>>()?)),
        None => Ok((Ack::Lost, Vec::new())),
    }
}

/// RELEASE: the leased job goes back to waiting without using an attempt.
pub(crate) async fn release(site: Site<'_>, lease: &Lease, release: &Release) -> Result<Ack> {
    let mut invocation = site.call(&RELEASE, true);
    invocation
        .arg(lease.id.to_string())
        .arg(lease.token)
        .arg(millis(clamp_delay(release.delay)))
        .arg(release.defer_limit.map_or(-1, i64::from));
    ack("release", site.run(&invocation).await?, "ok")
}

/// What a change of one job by id (CANCEL, RETRY) found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Changed {
    /// Done.
    Done,
    /// No such job in this shard.
    Missing,
    /// It needs a resource that will not exist by its turn.
    Refused { job_type: String, resource: String },
    /// The job is in a state the change does not apply to.
    WrongState(JobState),
}

/// CANCEL: a job that has not started.
pub(crate) async fn cancel(site: Site<'_>, id: JobId) -> Result<Changed> {
    change(site, &CANCEL, "cancel", id, "cancelled").await
}

/// RETRY: a failed or cancelled job goes back in line with fresh attempts.
pub(crate) async fn retry(site: Site<'_>, id: JobId) -> Result<Changed> {
    change(site, &RETRY, "retry", id, "ok").await
}

async fn change(
    site: Site<'_>,
    script: &'static Lua,
    name: &'static str,
    id: JobId,
    ok: &str,
) -> Result<Changed> {
    let mut invocation = site.call(script, true);
    invocation.arg(id.to_string());
    let reply = Reply::of(name);
    let answer = site.run(&invocation).await?;
    if let Value::Array(_) = answer {
        return match reply.strings(answer)?.as_mut_slice() {
            [status, job_type, resource] if status == "refused" => Ok(Changed::Refused {
                job_type: std::mem::take(job_type),
                resource: std::mem::take(resource),
            }),
            other => Err(reply.error(format!("unknown answer {other:?}"))),
        };
    }
    let answer = reply.string(answer)?;
    Ok(match answer.as_str() {
        answer if answer == ok => Changed::Done,
        "missing" => Changed::Missing,
        state => Changed::WrongState(
            JobState::from_name(state)
                .ok_or_else(|| reply.error(format!("unknown state `{state}`")))?,
        ),
    })
}

/// DETAILS: everything stored about a job, or `None` when this shard has no such job.
pub(crate) async fn details(site: Site<'_>, id: JobId) -> Result<Option<Details>> {
    let mut invocation = site.call(&DETAILS, false);
    invocation.arg(id.to_string());
    let reply = Reply::of("details");
    let mut parts = reply.array(site.run(&invocation).await?)?;
    if parts.is_empty() {
        return Ok(None);
    }
    if parts.len() != 4 {
        return Err(reply.error(format!("expected 4 parts, got {}", parts.len())));
    }
    let served = parts.pop().unwrap_or_default();
    let history = parts.pop().unwrap_or_default();
    let args = parts.pop().unwrap_or_default();
    let fields = parts.pop().unwrap_or_default();
    details::decode_details(id, fields, args, history, served).map(Some)
}

/// RESOURCE: whether a resource exists, its running job, and its first `limit` queued jobs.
pub(crate) async fn resource(site: Site<'_>, key: &str, limit: usize) -> Result<ResourceState> {
    let mut invocation = site.call(&RESOURCE, false);
    invocation.arg(key).arg(limit);
    let reply = Reply::of("resource");
    let items = reply.array(site.run(&invocation).await?)?;
    if items.len() < 3 {
        return Err(reply.error(format!("expected at least 3 items, got {}", items.len())));
    }
    let mut items = items.into_iter();
    let exists = reply.int(&items.next().unwrap_or_default())? == 1;
    let total = usize::try_from(reply.int(&items.next().unwrap_or_default())?).unwrap_or(0);
    let head_state = reply.string(items.next().unwrap_or_default())?;
    let queued = items
        .map(|item| job_id(&reply, item))
        .collect::<Result<Vec<JobId>>>()?;
    let running = queued.first().copied().filter(|_| head_state == "running");
    Ok(ResourceState::new(
        key.to_owned(),
        exists,
        running,
        queued,
        total,
    ))
}

/// A job id in a reply.
fn job_id(reply: &Reply, value: Value) -> Result<JobId> {
    let text = reply.string(value)?;
    text.parse()
        .map_err(|_| reply.error(format!("bad job id `{text}`")))
}

/// The status answer of a transition of one leased job: `ok` (the script's own word for
/// success), `failed` (out of attempts) or `lost` (the lease was gone).
fn ack(script: &'static str, value: Value, ok: &str) -> Result<Ack> {
    let reply = Reply::of(script);
    let answer = reply.string(value)?;
    match answer.as_str() {
        answer if answer == ok => Ok(Ack::Ok),
        "failed" => Ok(Ack::Failed),
        "lost" => Ok(Ack::Lost),
        other => Err(reply.error(format!("unknown status `{other}`"))),
    }
}

/// A duration in whole milliseconds, as the scripts take it.
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Milliseconds since the Unix epoch.
pub(crate) fn epoch_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map(millis).unwrap_or(0)
}

/// The time `millis` after the Unix epoch.
fn time_of(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis)
}

/// A failure message cut to `MESSAGE_MAX` bytes, on a character boundary.
fn truncate(message: &str) -> &str {
    if message.len() <= MESSAGE_MAX {
        return message;
    }
    let mut end = MESSAGE_MAX;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

/// A grab's filter as a JSON object, or empty for none.
fn filter_json(filter: &[(String, String)]) -> String {
    if filter.is_empty() {
        String::new()
    } else {
        rows::attributes(filter).to_string()
    }
}
