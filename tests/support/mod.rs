//! Shared test harness: a fresh namespace per test, and polling with a deadline.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::future::Future;
use std::time::Duration;

pub use job_redis::testing::TestQueue;

/// A queue in a namespace of its own; panics with a clear message when Redis does not answer.
pub async fn queue(name: &str) -> TestQueue {
    TestQueue::new(name).await.unwrap_or_else(|error| {
        panic!(
            "this test needs Redis at ${} (default redis://127.0.0.1:6379): {}",
            job_redis::testing::REDIS_URL_VAR,
            chain(&error)
        )
    })
}

/// Like [`queue`], with settings.
pub async fn queue_with(name: &str, config: job::redis::Config) -> TestQueue {
    TestQueue::with_config(name, config)
        .await
        .unwrap_or_else(|error| {
            panic!(
                "this test needs Redis at ${}: {}",
                job_redis::testing::REDIS_URL_VAR,
                chain(&error)
            )
        })
}

/// Polls `check` until it returns `Some`, failing the test after `deadline`.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() > end {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An error with its causes.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

/// A holder for low-level grabs in tests.
pub fn holder() -> job::Holder {
    job::Holder::current()
}
