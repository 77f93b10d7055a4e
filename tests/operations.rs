//! The low-level operations, one atomic script each, through `Backend` and `Client`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use job::backend::{Ack, Backend, FailureNote, Grab, Release};
use job::{FailureKind, Inserted, Job, JobState, NewJob};
use serde::{Deserialize, Serialize};
use support::{holder, queue, queue_with};

#[derive(Job, Serialize, Deserialize, Debug, PartialEq)]
#[job(name = "test.a")]
struct A {
    n: u32,
}

#[derive(Job, Serialize, Deserialize, Debug, PartialEq)]
#[job(name = "test.b", max_attempts = 2)]
struct B {
    n: u32,
}

const LEASE: Duration = Duration::from_secs(30);

/// Asserts that an operation was refused because of the job's state.
fn assert_wrong_state(error: &job::redis::Error, expected: JobState) {
    assert!(
        matches!(error, job::redis::Error::WrongState { state, .. } if *state == expected),
        "expected a refusal for state {expected:?}, got: {error}"
    );
}

/// Grabs the one ready job of `job_type`, failing the test when there is none.
async fn grab_one(
    c: &job::redis::Client,
    job_type: &str,
    lease: Duration,
    h: &job::Holder,
) -> job::backend::GrabbedJob {
    let mut grabbed = c.grab(&Grab::new(&[job_type], 1, lease, h)).await.unwrap();
    assert_eq!(grabbed.jobs.len(), 1, "expected one ready `{job_type}` job");
    grabbed.jobs.remove(0)
}

#[tokio::test]
async fn insert_is_idempotent_and_details_show_the_job() {
    let q = queue("insert_idempotent").await;
    let c = q.client();
    let job = NewJob::new(&A { n: 1 }).unwrap();
    assert_eq!(
        c.insert(job.clone()).await.unwrap(),
        Inserted::New(job.id())
    );
    assert_eq!(
        c.insert(job.clone()).await.unwrap(),
        Inserted::Exists(job.id())
    );
    let details = c.details(job.id()).await.unwrap().unwrap();
    assert_eq!(details.name, "test.a");
    assert_eq!(details.state, JobState::Ready);
    assert_eq!(details.payload, br#"{"n":1}"#);
    assert_eq!((details.attempts, details.max_attempts), (0, 25));
    assert!(details.started.is_none() && details.finished.is_none() && details.holder.is_none());
    let grabbed = c
        .grab(&Grab::new(&["test.a"], 10, LEASE, &holder()))
        .await
        .unwrap();
    assert_eq!(
        grabbed.jobs.len(),
        1,
        "a retried insert must not make a second job"
    );
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn bulk_insert_answers_each_job_and_large_args_round_trip() {
    let q = queue("bulk_insert").await;
    let c = q.client();
    let mut jobs: Vec<NewJob> = (0..1200).map(|n| NewJob::new(&A { n }).unwrap()).collect();
    let big = "x".repeat(10_000);
    jobs.push(NewJob::from_parts(
        "test.a",
        format!(r#"{{"n":7,"pad":"{big}"}}"#).into_bytes(),
        A::OPTIONS,
    ));
    jobs.push(jobs[0].clone());
    let answers = c.insert_many(&jobs).await.unwrap();
    assert_eq!(answers.len(), 1202);
    assert!(
        answers[..1201]
            .iter()
            .all(|a| matches!(a, Inserted::New(_)))
    );
    assert_eq!(answers[1201], Inserted::Exists(jobs[0].id()));
    let details = c.details(jobs[1200].id()).await.unwrap().unwrap();
    assert_eq!(
        details.payload.len(),
        jobs[1200].payload().len(),
        "args over the inline limit live in their own key"
    );
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn oversize_payload_is_refused_and_nothing_is_stored() {
    let q = queue_with("oversize", job::redis::Config::new().max_payload(100)).await;
    let c = q.client();
    let small = NewJob::new(&A { n: 1 }).unwrap();
    let large = NewJob::from_parts("test.a", vec![b'1'; 101], A::OPTIONS);
    let error = c
        .insert_many(&[small.clone(), large.clone()])
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(
            error,
            job::redis::Error::PayloadTooLarge {
                size: 101,
                limit: 100,
                ..
            }
        ),
        "{message}"
    );
    assert!(
        message.contains(&large.id().to_string()) && message.contains("test.a"),
        "{message}"
    );
    assert!(
        c.details(small.id()).await.unwrap().is_none(),
        "a refused batch stores nothing"
    );
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn grab_takes_priority_then_fifo_per_type_and_only_those_types() {
    // Order holds within a shard; one shard makes it namespace-wide on a Cluster too.
    let q = support::queue_with("priority_fifo", job::redis::Config::new().shards(1)).await;
    let c = q.client();
    let a1 = NewJob::new(&A { n: 1 }).unwrap();
    let b1 = NewJob::new(&B { n: 2 }).unwrap();
    let a_urgent = NewJob::new(&A { n: 3 }).unwrap().with_priority(5);
    let b_urgent = NewJob::new(&B { n: 4 }).unwrap().with_priority(5);
    let a2 = NewJob::new(&A { n: 5 }).unwrap();
    let low = NewJob::new(&B { n: 6 }).unwrap().with_priority(-1);
    let other = NewJob::from_parts("test.other", b"{}".to_vec(), A::OPTIONS);
    c.insert_many(&[
        a1.clone(),
        b1.clone(),
        a_urgent.clone(),
        b_urgent.clone(),
        a2.clone(),
        low.clone(),
        other,
    ])
    .await
    .unwrap();
    let h = holder();
    let first = c
        .grab(&Grab::new(&["test.a", "test.b"], 3, LEASE, &h))
        .await
        .unwrap();
    let rest = c
        .grab(&Grab::new(&["test.a", "test.b"], 10, LEASE, &h))
        .await
        .unwrap();
    let order: Vec<_> = first
        .jobs
        .iter()
        .chain(&rest.jobs)
        .map(|j| j.lease.id)
        .collect();
    // Priority first, across types; within a priority each type is FIFO, and the types take
    // turns (which one goes first moves on with every grab).
    assert_eq!(order.len(), 6, "{order:?}");
    assert_eq!(order[..2], [a_urgent.id(), b_urgent.id()]);
    assert_eq!(order[5], low.id());
    let middle = &order[2..5];
    let at = |id| middle.iter().position(|x| *x == id).unwrap();
    assert!(at(a1.id()) < at(a2.id()), "type A stays FIFO: {middle:?}");
    assert!(middle.contains(&b1.id()));
    let tokens: Vec<_> = first
        .jobs
        .iter()
        .chain(&rest.jobs)
        .map(|j| j.lease.token)
        .collect();
    assert!(
        tokens.windows(2).all(|w| w[0] < w[1]),
        "every grab issues a new, larger token"
    );
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn types_take_turns_so_a_deep_backlog_starves_no_one() {
    // Order holds within a shard; one shard makes it namespace-wide on a Cluster too.
    let q = support::queue_with("turns", job::redis::Config::new().shards(1)).await;
    let c = q.client();
    let backlog: Vec<NewJob> = (0..200).map(|n| NewJob::new(&A { n }).unwrap()).collect();
    c.insert_many(&backlog).await.unwrap();
    let late = NewJob::new(&B { n: 1 }).unwrap();
    c.insert(late.clone()).await.unwrap();
    let h = holder();
    let grabbed = c
        .grab(&Grab::new(&["test.a", "test.b"], 10, LEASE, &h))
        .await
        .unwrap();
    let ids: Vec<_> = grabbed.jobs.iter().map(|j| j.lease.id).collect();
    assert_eq!(ids.len(), 10);
    assert!(
        ids.contains(&late.id()),
        "the one B job is taken beside the A backlog: {ids:?}"
    );
    let a_ids: Vec<_> = ids.iter().filter(|id| **id != late.id()).copied().collect();
    let expected: Vec<_> = backlog[..9].iter().map(NewJob::id).collect();
    assert_eq!(
        a_ids, expected,
        "A's backlog is taken from its front, in order"
    );
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn expired_lease_goes_to_another_worker_and_the_old_token_is_lost() {
    let q = queue("lease_expiry").await;
    let c = q.client();
    let job = NewJob::new(&A { n: 1 }).unwrap();
    c.insert(job.clone()).await.unwrap();
    let (h1, h2) = (holder(), holder());
    let short = Duration::from_millis(100);
    let first = grab_one(c, "test.a", short, &h1).await;
    let details = c.details(job.id()).await.unwrap().unwrap();
    assert_eq!(details.state, JobState::Running);
    assert_eq!(
        details.holder.as_ref(),
        Some(&h1),
        "DETAILS names the holder: host, pid, worker"
    );
    let second = support::eventually(Duration::from_secs(5), "the lease to expire", || async {
        c.grab(&Grab::new(&["test.a"], 1, LEASE, &h2))
            .await
            .unwrap()
            .jobs
            .pop()
    })
    .await;
    assert_eq!(second.lease.id, job.id());
    assert!(second.lease.token > first.lease.token);
    assert_eq!(
        second.attempt, 1,
        "a lease expiry does not spend an attempt"
    );
    let stale = job::backend::Completion::new(first.lease, None);
    assert_eq!(c.complete(&[stale]).await.unwrap(), [Ack::Lost]);
    assert_eq!(c.heartbeat(&[first.lease]).await.unwrap(), [false]);
    let note = FailureNote::new(FailureKind::Retry, "late");
    assert_eq!(
        c.temp_fail(&first.lease, Duration::ZERO, &note)
            .await
            .unwrap(),
        Ack::Lost
    );
    let details = c.details(job.id()).await.unwrap().unwrap();
    assert_eq!(
        details.state,
        JobState::Running,
        "the stale token changed nothing"
    );
    assert_eq!(details.holder.as_ref(), Some(&h2));
    assert_eq!(details.lease_expiries, 1);
    assert_eq!(
        details.failures.last().map(|f| f.kind),
        Some(FailureKind::LeaseExpired)
    );
    assert_eq!(
        c.complete(&[job::backend::Completion::new(second.lease, None)])
            .await
            .unwrap(),
        [Ack::Ok]
    );
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn heartbeats_keep_the_lease() {
    let q = queue("heartbeat").await;
    let c = q.client();
    let job = NewJob::new(&A { n: 1 }).unwrap();
    c.insert(job.clone()).await.unwrap();
    let lease = Duration::from_millis(300);
    let held = c
        .grab(&Grab::new(&["test.a"], 1, lease, &holder()))
        .await
        .unwrap()
        .jobs
        .remove(0);
    let start = tokio::time::Instant::now();
    // Renew every 100 ms for well past the lease; another worker must find nothing meanwhile.
    while start.elapsed() < Duration::from_millis(1_000) {
        assert_eq!(c.heartbeat(&[held.lease]).await.unwrap(), [true]);
        assert!(
            c.grab(&Grab::new(&["test.a"], 1, LEASE, &holder()))
                .await
                .unwrap()
                .jobs
                .is_empty()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        c.complete(&[job::backend::Completion::new(held.lease, None)])
            .await
            .unwrap(),
        [Ack::Ok]
    );
    assert_eq!(
        c.details(job.id()).await.unwrap().unwrap().state,
        JobState::Completed
    );
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn temp_fail_retries_after_the_delay_until_attempts_run_out() {
    let q = queue("temp_fail").await;
    let c = q.client();
    let job = NewJob::new(&B { n: 1 }).unwrap(); // max_attempts = 2
    c.insert(job.clone()).await.unwrap();
    let h = holder();
    let first = grab_one(c, "test.b", LEASE, &h).await;
    let note = FailureNote::new(FailureKind::Retry, "smtp 451");
    assert_eq!(
        c.temp_fail(&first.lease, Duration::from_millis(200), &note)
            .await
            .unwrap(),
        Ack::Ok
    );
    let details = c.details(job.id()).await.unwrap().unwrap();
    assert_eq!(details.state, JobState::Delayed);
    assert!(details.run_at.is_some());
    assert!(
        c.grab(&Grab::new(&["test.b"], 1, LEASE, &h))
            .await
            .unwrap()
            .jobs
            .is_empty(),
        "not before the delay"
    );
    let second = support::eventually(Duration::from_secs(5), "the retry to fall due", || async {
        c.grab(&Grab::new(&["test.b"], 1, LEASE, &h))
            .await
            .unwrap()
            .jobs
            .pop()
    })
    .await;
    assert_eq!(second.attempt, 2);
    assert_eq!(
        c.temp_fail(&second.lease, Duration::ZERO, &note)
            .await
            .unwrap(),
        Ack::Failed
    );
    let details = c.details(job.id()).await.unwrap().unwrap();
    assert_eq!(details.state, JobState::Failed);
    assert!(details.finished.is_some());
    let history: Vec<_> = details
        .failures
        .iter()
        .map(|f| (f.attempt, f.kind, f.message.as_str()))
        .collect();
    assert_eq!(
        history,
        [
            (1, FailureKind::Retry, "smtp 451"),
            (2, FailureKind::Retry, "smtp 451")
        ]
    );
    assert_eq!(details.failures[0].holder.as_ref(), Some(&h));
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn perm_fail_ends_the_job_and_retry_brings_it_back() {
    let q = queue("perm_fail_retry").await;
    let c = q.client();
    let job = NewJob::new(&A { n: 1 }).unwrap();
    c.insert(job.clone()).await.unwrap();
    let h = holder();
    let held = grab_one(c, "test.a", LEASE, &h).await;
    let note = FailureNote::new(FailureKind::Fatal, "no such user");
    assert_eq!(c.perm_fail(&held.lease, &note).await.unwrap(), Ack::Ok);
    assert_eq!(
        c.perm_fail(&held.lease, &note).await.unwrap(),
        Ack::Lost,
        "a second outcome is refused"
    );
    assert_eq!(
        c.details(job.id()).await.unwrap().unwrap().state,
        JobState::Failed
    );
    let error = c.cancel(job.id()).await.unwrap_err();
    assert_wrong_state(&error, JobState::Failed);
    c.retry(job.id()).await.unwrap();
    let details = c.details(job.id()).await.unwrap().unwrap();
    assert_eq!((details.state, details.attempts), (JobState::Ready, 0));
    assert_eq!(details.failures.len(), 1, "the history stays");
    let again = grab_one(c, "test.a", LEASE, &h).await;
    assert_eq!(again.attempt, 1);
    let error = c.retry(job.id()).await.unwrap_err();
    assert_wrong_state(&error, JobState::Running);
    let missing = job::JobId::new();
    assert!(
        matches!(c.retry(missing).await.unwrap_err(), job::redis::Error::NotFound { id } if id == missing)
    );
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn cancel_removes_a_waiting_job_but_not_a_running_one() {
    let q = queue("cancel").await;
    let c = q.client();
    let ready = NewJob::new(&A { n: 1 }).unwrap();
    let delayed = NewJob::new(&A { n: 2 })
        .unwrap()
        .with_delay(Duration::from_secs(60));
    let running = NewJob::new(&A { n: 3 }).unwrap();
    c.insert_many(&[ready.clone(), delayed.clone()])
        .await
        .unwrap();
    c.cancel(ready.id()).await.unwrap();
    c.cancel(delayed.id()).await.unwrap();
    assert_eq!(
        c.details(delayed.id()).await.unwrap().unwrap().state,
        JobState::Cancelled
    );
    c.insert(running.clone()).await.unwrap();
    let h = holder();
    let grabbed = c
        .grab(&Grab::new(&["test.a"], 10, LEASE, &h))
        .await
        .unwrap();
    assert_eq!(grabbed.jobs.len(), 1, "cancelled jobs are never grabbed");
    let error = c.cancel(running.id()).await.unwrap_err();
    assert_wrong_state(&error, JobState::Running);
    c.retry(ready.id()).await.unwrap();
    assert_eq!(
        c.grab(&Grab::new(&["test.a"], 10, LEASE, &h))
            .await
            .unwrap()
            .jobs[0]
            .lease
            .id,
        ready.id()
    );
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn replace_is_atomic_mixes_types_and_refuses_a_stale_token() {
    let q = queue("replace").await;
    let c = q.client();
    let parent = NewJob::new(&A { n: 1 }).unwrap();
    c.insert(parent.clone()).await.unwrap();
    let h = holder();
    let held = grab_one(c, "test.a", LEASE, &h).await;
    let stale = job::backend::Lease::new(held.lease.id, held.lease.token - 1, LEASE);
    let children = vec![
        NewJob::new(&A { n: 2 }).unwrap(),
        NewJob::new(&B { n: 3 }).unwrap(),
    ];
    assert_eq!(c.replace(&stale, &children).await.unwrap().0, Ack::Lost);
    for child in &children {
        assert!(
            c.details(child.id()).await.unwrap().is_none(),
            "a refused REPLACE inserts nothing"
        );
    }
    let (ack, inserted) = c.replace(&held.lease, &children).await.unwrap();
    assert_eq!(ack, Ack::Ok);
    assert_eq!(
        inserted,
        [
            Inserted::New(children[0].id()),
            Inserted::New(children[1].id())
        ]
    );
    assert_eq!(
        c.details(parent.id()).await.unwrap().unwrap().state,
        JobState::Completed
    );
    let grabbed = c
        .grab(&Grab::new(&["test.a", "test.b"], 10, LEASE, &h))
        .await
        .unwrap();
    let names: Vec<_> = grabbed.jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["test.a", "test.b"]);
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn release_hands_back_without_an_attempt_and_defers_are_limited() {
    // Order holds within a shard; one shard makes it namespace-wide on a Cluster too.
    let q = support::queue_with("release", job::redis::Config::new().shards(1)).await;
    let c = q.client();
    let job = NewJob::new(&A { n: 1 }).unwrap();
    let next = NewJob::new(&A { n: 2 }).unwrap();
    c.insert_many(&[job.clone(), next.clone()]).await.unwrap();
    let h = holder();
    let request = Grab::new(&["test.a"], 1, LEASE, &h);
    let grab = || c.grab(&request);
    let held = grab().await.unwrap().jobs.remove(0);
    assert_eq!(
        c.release(&held.lease, &Release::shutdown()).await.unwrap(),
        Ack::Ok
    );
    let held = grab().await.unwrap().jobs.remove(0);
    assert_eq!(held.lease.id, job.id(), "a hand-back goes to the front");
    assert_eq!(held.attempt, 1, "a shutdown hand-back spends no attempt");
    assert_eq!(
        c.release(&held.lease, &Release::defer(Duration::ZERO, 1))
            .await
            .unwrap(),
        Ack::Ok
    );
    let other = grab().await.unwrap().jobs.remove(0);
    assert_eq!(other.lease.id, next.id(), "a defer goes to the back");
    let held = grab().await.unwrap().jobs.remove(0);
    assert_eq!(held.lease.id, job.id());
    assert_eq!(held.attempt, 1, "a defer spends no attempt");
    assert_eq!(
        c.release(&held.lease, &Release::defer(Duration::ZERO, 1))
            .await
            .unwrap(),
        Ack::Failed
    );
    let details = c.details(job.id()).await.unwrap().unwrap();
    assert_eq!((details.state, details.defers), (JobState::Failed, 2));
    assert_eq!(
        details.failures.last().map(|f| f.kind),
        Some(FailureKind::DeferLimit)
    );
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn delayed_jobs_wait_for_their_time() {
    let q = queue("delayed").await;
    let c = q.client();
    let id = c
        .enqueue_in(Duration::from_millis(300), A { n: 1 })
        .await
        .unwrap();
    let at = c
        .enqueue_at(
            std::time::SystemTime::now() + Duration::from_secs(3600),
            A { n: 2 },
        )
        .await
        .unwrap();
    let enqueued = q.enqueued::<A>().await.unwrap();
    assert_eq!(enqueued.len(), 2);
    assert!(enqueued.iter().all(|e| e.delay.is_some()));
    let h = holder();
    assert!(
        c.grab(&Grab::new(&["test.a"], 1, LEASE, &h))
            .await
            .unwrap()
            .jobs
            .is_empty()
    );
    let grabbed = support::eventually(Duration::from_secs(5), "the delayed job", || async {
        c.grab(&Grab::new(&["test.a"], 10, LEASE, &h))
            .await
            .unwrap()
            .jobs
            .pop()
    })
    .await;
    assert_eq!(grabbed.lease.id, id);
    assert_eq!(
        c.details(at).await.unwrap().unwrap().state,
        JobState::Delayed
    );
    q.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_completion_repeated_in_one_batch_completes_once() {
    // Without retention the job's deletion waits for the batch's end, where it is shared.
    let config = job::redis::Config::new().keep_completed(job::redis::Retention::none());
    let q = queue_with("complete_twice", config).await;
    let c = q.client();
    c.insert(NewJob::new(&A { n: 1 }).unwrap()).await.unwrap();
    let held = grab_one(c, "test.a", LEASE, &holder()).await;
    let done = job::backend::Completion::new(held.lease, None);
    // The second row must see the first one's end.
    assert_eq!(
        c.complete(&[done.clone(), done]).await.unwrap(),
        [Ack::Ok, Ack::Lost]
    );
    assert!(
        c.details(held.lease.id).await.unwrap().is_none(),
        "completed and deleted"
    );
    q.cleanup().await.unwrap();
}
