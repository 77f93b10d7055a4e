//! A stalled connection (one that hangs, not one that breaks) never lets two workers run one
//! job at once: the worker whose renewals hang stops its handler by the lease's local deadline.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use job::backend::{Ack, Backend, Completion, Lease};
use job::redis::{Client, Config};
use job::{Context, Failure, JobSet, JobState, Outcome, Run};
use serde::{Deserialize, Serialize};
use support::{PrivateRedis, StallProxy, eventually};
use tokio_util::sync::CancellationToken;

/// One execution of the job: when it started and ended (by this process's clock), and its lease.
#[derive(Clone, Copy, Debug)]
struct Execution {
    lease: Lease,
    start: Instant,
    end: Option<Instant>,
}

#[derive(Default)]
struct Runs(Mutex<Vec<Execution>>);

impl Runs {
    fn all(&self) -> Vec<Execution> {
        self.0.lock().unwrap().clone()
    }
}

/// Records its execution's end however the handler stops: returns, or is dropped (aborted).
struct EndGuard<'a> {
    runs: &'a Runs,
    index: usize,
}

impl Drop for EndGuard<'_> {
    fn drop(&mut self) {
        self.runs.0.lock().unwrap()[self.index].end = Some(Instant::now());
    }
}

/// The first execution works for 8 s and never looks at `cx.cancelled()`; later ones are quick.
#[derive(job::Job, Serialize, Deserialize)]
#[job(name = "stall.stubborn", lease = "2s")]
struct Stubborn;

impl Run<Runs> for Stubborn {
    async fn run(self, cx: &Context<Runs>) -> Result<Outcome, Failure> {
        let runs = cx.state();
        let index = {
            let mut all = runs.0.lock().unwrap();
            all.push(Execution {
                lease: cx.lease(),
                start: Instant::now(),
                end: None,
            });
            all.len() - 1
        };
        let _end = EndGuard { runs, index };
        let work = if index == 0 { 8_000 } else { 100 };
        tokio::time::sleep(Duration::from_millis(work)).await;
        Ok(Outcome::complete())
    }
}

#[derive(JobSet)]
enum Set {
    Stubborn(Stubborn),
}

#[tokio::test]
async fn a_stalled_connection_never_lets_two_workers_run_one_job() {
    let redis = PrivateRedis::start().await;
    let proxy = StallProxy::start(SocketAddr::from(([127, 0, 0, 1], redis.port())))
        .await
        .unwrap();
    let config = || Config::new().namespace("stalls");
    // Worker A reaches Redis through the proxy; worker B and the test go directly.
    let through_proxy = Client::connect_with(&proxy.url(), config()).await.unwrap();
    let direct = Client::connect_with(&redis.url(), config()).await.unwrap();
    let id = direct.enqueue(Stubborn).await.unwrap();

    let runs = std::sync::Arc::new(Runs::default());
    let stop = CancellationToken::new();
    let a = tokio::spawn(
        job::Worker::<Set, Runs>::new(through_proxy.clone(), runs.clone())
            .run_until(stop.clone().cancelled_owned()),
    );
    eventually(
        Duration::from_secs(10),
        "worker A to start the job",
        || async { (!runs.all().is_empty()).then_some(()) },
    )
    .await;
    proxy.stall(); // before A's first renewal (a quarter lease in): none gets through
    let b = tokio::spawn(
        job::Worker::<Set, Runs>::new(direct.clone(), runs.clone())
            .run_until(stop.clone().cancelled_owned()),
    );
    eventually(
        Duration::from_secs(10),
        "worker B to complete the job",
        || async {
            let state = direct.details(id).await.unwrap().map(|d| d.state);
            (state == Some(JobState::Completed)).then_some(())
        },
    )
    .await;
    let runs_seen = eventually(Duration::from_secs(10), "A's handler to stop", || async {
        let all = runs.all();
        all.iter().all(|run| run.end.is_some()).then_some(all)
    })
    .await;
    proxy.resume();

    let [first, second] = runs_seen[..] else {
        panic!("expected two executions, got {runs_seen:?}");
    };
    let (first_end, second_end) = (first.end.unwrap(), second.end.unwrap());
    assert!(
        first_end < second.start,
        "the runs overlap by {:?}: A ran {:?} after its start, B started {:?} after A",
        first_end - second.start,
        first_end - first.start,
        second.start - first.start
    );
    assert!(
        first_end - first.start < Duration::from_secs(2),
        "A ran {:?}, past its 2 s lease",
        first_end - first.start
    );
    assert!(second_end > second.start);
    assert!(second.lease.token > first.lease.token);
    // A's outcome, written late through its own (now flowing) connection, is refused.
    let acks = through_proxy
        .complete(&[Completion::new(first.lease, None)])
        .await
        .unwrap();
    assert_eq!(acks, [Ack::Lost]);
    let details = direct.details(id).await.unwrap().unwrap();
    assert_eq!(
        (details.state, details.lease_expiries),
        (JobState::Completed, 1)
    );
    stop.cancel();
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
}
