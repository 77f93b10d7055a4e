//! The worker runtime: a fetch driver that grabs as many jobs as it has free slots, one task per
//! job, a heartbeat task, batched acknowledgements and graceful shutdown.

mod ack;
mod decide;
mod execute;
mod heartbeat;
mod measure;

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::error::chain;
use crate::run::LeaseOps;
use crate::{Backend, Dispatch, Error, Grab, Holder};

pub(crate) use self::heartbeat::Leases;

/// Runs the jobs of a [`JobSet`](crate::JobSet) `S` with shared state `State`, on backend `B`.
///
/// It grabs only the types in `S`, at most `concurrency` at a time, renews their leases, and
/// on shutdown stops grabbing, waits for running jobs up to the grace period, then hands the
/// unfinished ones back without spending an attempt.
///
/// ```no_run
/// # use job_core::{Backend, Dispatch, Worker};
/// # async fn run<AppJob: Dispatch<()>, B: Backend>(backend: B) -> Result<(), job_core::Error> {
/// Worker::<AppJob, (), B>::new(backend, ())
///     .concurrency(64)
///     .run_until(std::future::pending()) // or a shutdown signal, like `tokio::signal::ctrl_c()`
///     .await
/// # }
/// ```
pub struct Worker<S, State, B> {
    backend: B,
    state: Arc<State>,
    config: WorkerConfig,
    holder: Holder,
    set: PhantomData<fn() -> S>,
}

/// Settings of a [`Worker`], set through its builder methods.
#[derive(Clone, Debug)]
pub(crate) struct WorkerConfig {
    /// Jobs run at once.
    pub(crate) concurrency: usize,
    /// How long shutdown waits for running jobs before handing them back.
    pub(crate) grace: Duration,
    /// The longest an idle worker blocks before it looks again (bounds a missed wake-up).
    pub(crate) poll: Duration,
    /// The most jobs one grab takes.
    pub(crate) max_grab: usize,
    /// The lease of jobs whose type sets none.
    pub(crate) lease: Duration,
    /// What this worker can do; it takes only jobs whose requirements these cover.
    pub(crate) capabilities: Vec<String>,
    /// Whether it runs a scheduler of the backend's schedules too.
    pub(crate) schedules: bool,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 10,
            grace: Duration::from_secs(30),
            poll: Duration::from_secs(5),
            max_grab: 200,
            lease: Duration::from_secs(60),
            capabilities: Vec::new(),
            schedules: true,
        }
    }
}

impl<S, State, B> fmt::Debug for Worker<S, State, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("config", &self.config)
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

impl<S, State, B> Worker<S, State, B>
where
    S: Dispatch<State>,
    State: Send + Sync + 'static,
    B: Backend,
{
    /// Builds a worker over `backend`, sharing `state` (a value or an `Arc` of it) with every
    /// handler.
    #[must_use]
    pub fn new(backend: B, state: impl Into<Arc<State>>) -> Self {
        Self {
            backend,
            state: state.into(),
            config: WorkerConfig::default(),
            holder: Holder::current(),
            set: PhantomData,
        }
    }

    /// Sets how many jobs run at once (default 10; 1 to
    /// [`MAX_CONCURRENCY`](crate::limits::MAX_CONCURRENCY)).
    #[must_use]
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.config.concurrency = concurrency.clamp(1, crate::limits::MAX_CONCURRENCY);
        self
    }

    /// Sets whether this worker also runs a scheduler, which fires the ticks of the backend's
    /// [`Schedule`](crate::Schedule)s (default: on). Any number may run: each tick fires once.
    /// Turn it off where a dedicated process runs the scheduler.
    #[must_use]
    pub fn schedules(mut self, run: bool) -> Self {
        self.config.schedules = run;
        self
    }

    /// Sets how long shutdown waits for running jobs (default 30 s).
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> Self {
        self.config.grace = grace;
        self
    }

    /// Sets the longest an idle worker blocks before it looks again (default 5 s).
    #[must_use]
    pub fn poll(mut self, poll: Duration) -> Self {
        self.config.poll = poll.max(Duration::from_millis(2));
        self
    }

    /// Sets the lease of jobs whose type sets none (default 60 s): how long a worker that
    /// stopped heartbeating keeps a job before another may take it. Clamped into
    /// [`MIN_LEASE`](crate::limits::MIN_LEASE)`..=`[`MAX_LEASE`](crate::limits::MAX_LEASE).
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.config.lease = crate::limits::clamp_lease(lease);
        self
    }

    /// Sets the most jobs one grab takes (default 200; at least 1). A grab takes at most the
    /// free slots, so this matters only at a concurrency above it: lower it to spread a
    /// backlog over more workers, raise it to take fewer round trips.
    #[must_use]
    pub fn max_grab(mut self, max_grab: usize) -> Self {
        self.config.max_grab = max_grab.max(1);
        self
    }

    /// Declares what this worker can do, like `"gpu"` or `"region=eu"`: it takes jobs whose
    /// required capabilities are all among these (and jobs that require none).
    #[must_use]
    pub fn capabilities<I, C>(mut self, capabilities: I) -> Self
    where
        I: IntoIterator<Item = C>,
        C: Into<String>,
    {
        self.config.capabilities = capabilities.into_iter().map(Into::into).collect();
        self
    }

    /// Returns who this worker is, as recorded on the jobs it holds.
    #[must_use]
    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// Runs jobs until `shutdown` resolves, then shuts down gracefully.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] at once for a job type or capability that breaks the name rules
    /// (nothing runs). Backend errors are logged and retried with backoff, so a Redis that
    /// goes away and comes back is survived.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
        self.check_names()?;
        let stop = CancellationToken::new();
        let runtime = Arc::new(Runtime::start(self, stop.clone(), true));
        {
            // The driver checks `stop` between steps, so a grab in flight always completes and
            // its jobs run; only its waits are cut short.
            let fetch = on_runtime(
                runtime.clone(),
                |runtime| async move { runtime.run().await },
            );
            let signal = async {
                shutdown.await;
                tracing::info!("shutdown requested; no more grabs");
                stop.cancel();
                std::future::pending::<()>().await;
            };
            tokio::select! {
                _ = fetch => {}
                () = signal => {}
            }
        }
        // The loop's task has ended and dropped its share.
        if let Some(runtime) = Arc::into_inner(runtime) {
            runtime.shut_down().await;
        }
        Ok(())
    }

    /// Runs jobs until none is ready; for tests. Returns how many jobs ran.
    ///
    /// It runs every job that is ready now, and every job that becomes ready while it runs:
    /// REPLACE children, retries and defers with no delay, a resource's next job, and a
    /// delayed job (or retry) whose time comes before the drain ends. It does not wait for a
    /// job that is still delayed when nothing else is left to run.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] when the backend fails, [`Error::DrainLimit`] when more than `limit`
    /// jobs ran (a job that keeps re-enqueueing itself), and [`Error::InvalidName`] as for
    /// [`Worker::run_until`].
    pub async fn drain(self, limit: usize) -> Result<usize, Error> {
        self.check_names()?;
        let runtime = Arc::new(Runtime::start(self, CancellationToken::new(), false));
        let ran = on_runtime(runtime.clone(), |runtime| async move {
            runtime.drain(limit).await
        })
        .await;
        if let Some(runtime) = Arc::into_inner(runtime) {
            runtime.shut_down().await;
        }
        match ran {
            Ok(ran) if ran > limit => Err(Error::DrainLimit { limit }),
            other => other,
        }
    }
}

impl<S, State, B> Worker<S, State, B>
where
    S: Dispatch<State>,
{
    /// Refuses job types and capabilities that break the name rules: a type with `|` would
    /// share a queue with another type's capability queue.
    fn check_names(&self) -> Result<(), Error> {
        for name in S::NAMES {
            crate::check_name(crate::NameKind::JobType, name)?;
        }
        for capability in &self.config.capabilities {
            crate::check_name(crate::NameKind::Capability, capability)?;
        }
        Ok(())
    }
}

/// Runs a loop of `runtime` as a task of its own, and waits for it; dropping the wait stops it.
///
/// A loop polled where `run_until` was awaited would run on the caller's thread, often the
/// thread blocked in `block_on` outside the runtime's workers: every hand-off between it and
/// the job tasks would then wake a thread (half the client's CPU per job at concurrency 1).
async fn on_runtime<R, F, Fut, T>(runtime: Arc<R>, body: F) -> T
where
    R: Send + Sync + 'static,
    F: FnOnce(Arc<R>) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let task = AbortOnDropHandle::new(tokio::spawn(body(runtime)));
    match task.await {
        Ok(value) => value,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        // Cancelled: only the runtime shutting down cancels it, and that drops this caller too.
        Err(_) => std::future::pending().await,
    }
}

/// How the loops pace their grabs.
#[derive(Default)]
struct Pace {
    /// The last grab filled every slot it asked for: more work is likely waiting.
    backlog: bool,
    /// The loop already let finishing jobs free their slots once.
    lingered: bool,
}

/// A running worker: its parts and their tasks.
struct Runtime<S, State, B> {
    worker: Worker<S, State, B>,
    types: Vec<&'static str>,
    slots: Arc<Semaphore>,
    leases: Arc<Leases>,
    meters: Arc<measure::Meters>,
    tasks: tokio::sync::Mutex<JoinSet<()>>,
    acks: Arc<ack::Acks>,
    background: JoinSet<()>,
    /// Fires when shutdown's grace period is over: running handlers stop, jobs go back.
    abort: CancellationToken,
    stop_heartbeat: CancellationToken,
    stop: CancellationToken,
}

impl<S, State, B> Runtime<S, State, B>
where
    S: Dispatch<State>,
    State: Send + Sync + 'static,
    B: Backend,
{
    /// Starts a worker's background tasks; its scheduler too when `scheduling` (a run, not a
    /// drain) and the worker runs one.
    fn start(worker: Worker<S, State, B>, stop: CancellationToken, scheduling: bool) -> Self {
        let acks = Arc::new(ack::Acks::new(worker.config.concurrency));
        let leases = Arc::new(Leases::default());
        let stop_heartbeat = CancellationToken::new();
        let mut background = JoinSet::new();
        background.spawn(ack::run(worker.backend.clone(), acks.clone()));
        background.spawn(heartbeat::run(
            worker.backend.clone(),
            leases.clone(),
            stop_heartbeat.clone(),
        ));
        if scheduling && worker.config.schedules {
            let backend = worker.backend.clone();
            let stop = stop.clone();
            background.spawn(async move {
                if let Err(error) = backend.run_scheduler(stop).await {
                    tracing::error!(error = %chain(&error), "the scheduler stopped");
                }
            });
        }
        background.spawn(register(
            worker.backend.clone(),
            crate::WorkerInfo::new(
                worker.holder.clone(),
                S::NAMES.iter().map(|name| (*name).to_owned()).collect(),
                worker.config.capabilities.clone(),
                worker.config.concurrency,
            ),
            S::NAMES
                .iter()
                .map(|name| crate::TypeInfo::of(name, &S::options(name).unwrap_or_default()))
                .collect(),
            stop_heartbeat.clone(),
        ));
        background.spawn(report_warnings(
            worker.backend.clone(),
            stop_heartbeat.clone(),
        ));
        tracing::info!(worker.id = %worker.holder.worker, types = ?S::NAMES, concurrency = worker.config.concurrency, "worker started");
        Self {
            types: S::NAMES.to_vec(),
            slots: Arc::new(Semaphore::new(worker.config.concurrency)),
            worker,
            leases,
            meters: Arc::default(),
            tasks: tokio::sync::Mutex::new(JoinSet::new()),
            acks,
            background,
            abort: CancellationToken::new(),
            stop_heartbeat,
            stop,
        }
    }

    /// The run loop: grabs as many jobs as there are free slots, or blocks on the wake markers
    /// when none is ready, until the stop token fires. A failed backend call is logged and
    /// tried again after a pause.
    async fn run(&self) {
        let config = &self.worker.config;
        let (mut pace, mut failures) = (Pace::default(), 0u32);
        while !self.stop.is_cancelled() {
            let Some(free) = self.free_slots(&mut pace).await else {
                continue;
            };
            let grab = self.grab_of(free);
            // At concurrency 1, the job that finished since the last grab is completed by this
            // one.
            let done = self.acks.for_grab();
            let sent = tokio::time::Instant::now();
            let answer = self.worker.backend.complete_and_grab(&done, &grab).await;
            let answer = answer.map(|(answers, grabbed)| {
                ack::report(&done, &answers);
                grabbed
            });
            match answer {
                Err(error) => {
                    // The ack task writes them while the loop pauses, retrying while the
                    // backend is away.
                    self.acks.put_back(done);
                    tracing::warn!(error = %chain(&error), "grab failed; retrying");
                    self.acks.set_idle(true);
                    self.back_off(&mut failures).await;
                    self.acks.set_idle(false);
                }
                Ok(grabbed) if grabbed.jobs.is_empty() => {
                    failures = 0;
                    pace.backlog = false;
                    let wait = grabbed
                        .next_wake
                        .map_or(config.poll, |due| due.min(config.poll));
                    tracing::trace!(?wait, "nothing ready; waiting for a wake-up");
                    // Jobs that finish meanwhile are completed by the ack task.
                    self.acks.set_idle(true);
                    let waited = tokio::select! {
                        waited = self.worker.backend.wait(&grab, wait) => waited,
                        () = self.stop.cancelled() => Ok(()),
                    };
                    if let Err(error) = waited {
                        tracing::warn!(error = %chain(&error), "waiting for jobs failed; retrying");
                        self.back_off(&mut failures).await;
                    }
                    self.acks.set_idle(false);
                }
                Ok(grabbed) => {
                    failures = 0;
                    pace.backlog = grabbed.jobs.len() == grab.limit;
                    self.launch(grabbed.jobs, sent, true).await;
                }
            }
        }
    }

    /// The drain loop: as the run loop, until nothing is ready and nothing runs. Returns how
    /// many jobs ran: more than `limit` ends it (a job that keeps making more due jobs never
    /// ends). A failed backend call ends it with the error.
    async fn drain(&self, limit: usize) -> Result<usize, Error> {
        let concurrency = self.worker.config.concurrency;
        let (mut pace, mut ran) = (Pace::default(), 0usize);
        while ran <= limit {
            let Some(free) = self.free_slots(&mut pace).await else {
                continue;
            };
            let grab = self.grab_of(free);
            let sent = tokio::time::Instant::now();
            let grabbed = self
                .worker
                .backend
                .grab(&grab)
                .await
                .map_err(|error| Error::Backend(Box::new(error)))?;
            pace.backlog = grabbed.jobs.len() == grab.limit;
            if !grabbed.jobs.is_empty() {
                ran += self.launch(grabbed.jobs, sent, false).await;
                continue;
            }
            // Done only if nothing ran while we grabbed: a job that ended meanwhile may have
            // made more jobs due.
            if free == concurrency {
                return Ok(ran);
            }
            if self.slots.available_permits() != concurrency {
                // Jobs still run and may make more jobs due: wait for one to finish.
                let _ = self.tasks.lock().await.join_next().await;
            }
        }
        Ok(ran)
    }

    /// How many slots are free to grab for, once there is one; `None` when the loop should
    /// look again first (it waited for a slot, or for finishing jobs to free more).
    async fn free_slots(&self, pace: &mut Pace) -> Option<usize> {
        let free = self.slots.available_permits();
        if free == 0 {
            // Every slot is busy: wait for one to free up.
            tokio::select! {
                _ = self.slots.acquire() => {}
                () = self.stop.cancelled() => {}
            }
            pace.lingered = false;
            return None;
        }
        if pace.backlog && !pace.lingered && free < (self.worker.config.concurrency / 4).max(1) {
            // Work is waiting but few slots are free: let the jobs that are finishing right now
            // finish first, so one grab takes many jobs instead of many grabs one each.
            pace.lingered = true;
            tokio::task::yield_now().await;
            return None;
        }
        pace.lingered = false;
        Some(free)
    }

    /// A grab of the worker's types for up to `free` jobs.
    fn grab_of(&self, free: usize) -> Grab<'_> {
        let config = &self.worker.config;
        Grab::new(
            &self.types,
            free.min(config.max_grab),
            config.lease,
            &self.worker.holder,
        )
        .with_capabilities(&config.capabilities)
    }

    /// Starts a task per grabbed job (its grab `sent` then), each holding a slot;
    /// completions go through the batching ack task when `batched` (a drain writes each
    /// itself, so it knows when every write is done). Returns how many it started.
    async fn launch(
        &self,
        jobs: Vec<crate::GrabbedJob>,
        sent: tokio::time::Instant,
        batched: bool,
    ) -> usize {
        let mut tasks = self.tasks.lock().await;
        let mut started = 0;
        for job in jobs {
            let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                // Cannot happen (we took no more than the free slots); hand the job back.
                let _ = self
                    .worker
                    .backend
                    .release(&job.lease, &crate::Release::shutdown())
                    .await;
                continue;
            };
            started += 1;
            let ops: Arc<dyn LeaseOps> = Arc::new(self.worker.backend.clone());
            let run = execute::Execution::<S, State, B> {
                job,
                sent,
                backend: self.worker.backend.clone(),
                state: self.worker.state.clone(),
                ops,
                leases: self.leases.clone(),
                meters: self.meters.clone(),
                acks: batched.then(|| self.acks.clone()),
                abort: self.abort.clone(),
                worker_id: self.worker.holder.worker.clone(),
                set: PhantomData,
            };
            tasks.spawn(async move {
                run.execute().await;
                drop(permit);
            });
        }
        // Reap finished tasks so the set does not grow.
        while tasks.try_join_next().is_some() {}
        started
    }

    /// Waits before the next try after a failed backend call (longer each time in a row), or
    /// until the worker stops.
    async fn back_off(&self, failures: &mut u32) {
        *failures += 1;
        tokio::select! {
            () = tokio::time::sleep(retry_delay(*failures)) => {}
            () = self.stop.cancelled() => {}
        }
    }

    /// Stops grabbing, waits for running jobs up to the grace period, hands the rest back,
    /// flushes acknowledgements, and stops the heartbeat.
    async fn shut_down(self) {
        let Self {
            worker,
            tasks,
            acks,
            mut background,
            abort,
            stop_heartbeat,
            ..
        } = self;
        // No grab comes any more: the ack task writes the completions of the jobs finishing.
        acks.set_idle(true);
        let mut tasks = tasks.into_inner();
        let drained = tokio::time::timeout(worker.config.grace, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                running = tasks.len(),
                "grace period over; handing unfinished jobs back"
            );
            abort.cancel();
            while tasks.join_next().await.is_some() {}
        }
        acks.close();
        stop_heartbeat.cancel();
        while background.join_next().await.is_some() {}
        tracing::info!(worker.id = %worker.holder.worker, "worker stopped");
    }
}

/// Logs the backend's warnings about its settings (a Redis that may evict jobs), once, at start.
/// Failing to read them is no reason to stop: logged at debug and ignored.
async fn report_warnings<B: Backend>(backend: B, stop: CancellationToken) {
    tokio::select! {
        warnings = backend.warnings() => match warnings {
            Ok(warnings) => {
                for warning in warnings {
                    tracing::warn!("{warning}");
                }
            }
            Err(error) => {
                tracing::debug!(error = %chain(&error), "could not read the backend's warnings");
            }
        },
        () = stop.cancelled() => {}
    }
}

/// Registers the worker and its types at once and again every `REGISTER_EVERY` until `stop`,
/// then forgets it. Failing to register is no reason to stop: logged at debug and tried again.
async fn register<B: Backend>(
    backend: B,
    worker: crate::WorkerInfo,
    types: Vec<crate::TypeInfo>,
    stop: CancellationToken,
) {
    loop {
        if let Err(error) = backend.register(&worker, &types).await {
            tracing::debug!(error = %chain(&error), "could not register the worker");
        }
        tokio::select! {
            () = tokio::time::sleep(crate::REGISTER_EVERY) => {}
            () = stop.cancelled() => break,
        }
    }
    if let Err(error) = backend.unregister(&worker.holder.worker).await {
        tracing::debug!(error = %chain(&error), "could not unregister the worker");
    }
}

/// Backoff between tries of an operation while the backend is unreachable.
fn retry_delay(try_number: u32) -> Duration {
    let ms = 50u64.saturating_mul(1 << try_number.min(7));
    Duration::from_millis(ms.min(5_000))
}

/// What came of writing to the backend with [`persist`].
#[derive(Debug)]
pub(crate) enum Written<T, E> {
    /// The backend answered.
    Done(T),
    /// The backend refused the call for good (`Backend::is_permanent`): repeating it cannot
    /// succeed.
    Refused(E),
    /// The backend stayed away for two minutes: the lease runs out and the job runs again
    /// (at-least-once).
    GaveUp,
}

/// Tries an operation until it succeeds, backing off while the backend is unreachable; stops
/// at once on an error the backend calls permanent, and gives up after about two minutes.
pub(crate) async fn persist<B, T, F, Fut>(what: &str, mut op: F) -> Written<T, B::Error>
where
    B: Backend,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, B::Error>>,
{
    let started = tokio::time::Instant::now();
    let mut tries = 0;
    loop {
        match op().await {
            Ok(value) => return Written::Done(value),
            Err(error) if B::is_permanent(&error) => return Written::Refused(error),
            Err(error) => {
                tries += 1;
                if started.elapsed() > Duration::from_secs(120) {
                    tracing::error!(error = %chain(&error), "{what} failed for two minutes; giving up");
                    return Written::GaveUp;
                }
                tracing::warn!(error = %chain(&error), "{what} failed; retrying");
                tokio::time::sleep(retry_delay(tries)).await;
            }
        }
    }
}
