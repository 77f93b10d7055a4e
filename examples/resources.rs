//! Run with: cargo run --example resources
//!
//! Expects Redis at `REDIS_URL` (default `redis://127.0.0.1:6379`).
//!
//! Jobs bound to one resource run one at a time, in enqueue order, and an enqueue for a resource
//! that will not exist is refused at once: create an instance, queue an upgrade right behind the
//! create (accepted before the create has run), delete it, and show an upgrade enqueued after the
//! delete refused, as a web app would answer 404.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::panic
)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use job::{Context, Failure, Job, JobSet, Outcome, Run};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

#[derive(Job, Serialize, Deserialize)]
#[job(name = "vm.create", resource = "instance", effect = "create")]
struct CreateInstance {
    instance: String,
    size: String,
}

#[derive(Job, Serialize, Deserialize)]
#[job(name = "vm.upgrade", resource = "instance", effect = "update")]
struct UpgradeInstance {
    instance: String,
    version: String,
}

#[derive(Job, Serialize, Deserialize)]
#[job(name = "vm.delete", resource = "instance", effect = "delete")]
struct DeleteInstance {
    instance: String,
}

#[derive(JobSet)]
enum VmJob {
    Create(CreateInstance),
    Upgrade(UpgradeInstance),
    Delete(DeleteInstance),
}

#[derive(Default)]
struct Cloud {
    done: AtomicUsize,
    changed: Notify,
}

impl Cloud {
    fn step(&self, what: String) {
        println!("  {what}");
        self.done.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_one();
    }
}

impl Run<Cloud> for CreateInstance {
    async fn run(self, cx: &Context<Cloud>) -> Result<Outcome, Failure> {
        tokio::time::sleep(Duration::from_millis(50)).await; // provisioning takes a while
        cx.state()
            .step(format!("created {} ({})", self.instance, self.size));
        Ok(Outcome::complete())
    }
}

impl Run<Cloud> for UpgradeInstance {
    async fn run(self, cx: &Context<Cloud>) -> Result<Outcome, Failure> {
        cx.state()
            .step(format!("upgraded {} to {}", self.instance, self.version));
        Ok(Outcome::complete())
    }
}

impl Run<Cloud> for DeleteInstance {
    async fn run(self, cx: &Context<Cloud>) -> Result<Outcome, Failure> {
        cx.state().step(format!("deleted {}", self.instance));
        Ok(Outcome::complete())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let client =
        job::redis::Client::connect_with(&url, job::redis::Config::new().namespace("resources"))
            .await?;
    let instance = "vm-42".to_owned();

    // The web app: each request enqueues and answers at once.
    let create = CreateInstance {
        instance: instance.clone(),
        size: "small".into(),
    };
    println!(
        "POST /instances            -> {}",
        client.enqueue(create).await?
    );
    let upgrade = UpgradeInstance {
        instance: instance.clone(),
        version: "2.0".into(),
    };
    println!(
        "POST /{instance}/upgrade -> {} (accepted: a create is queued ahead)",
        client.enqueue(upgrade).await?
    );
    println!(
        "DELETE /{instance}       -> {}",
        client
            .enqueue(DeleteInstance {
                instance: instance.clone()
            })
            .await?
    );
    let late = UpgradeInstance {
        instance: instance.clone(),
        version: "3.0".into(),
    };
    match client.enqueue(late).await {
        Err(job::redis::Error::ResourceNotFound { resource, .. }) => {
            println!(
                "POST /{instance}/upgrade -> 404: `{resource}` will not exist (a delete is queued ahead)"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let state = client.resource(&instance).await?;
    let queued: Vec<String> = state.queued.iter().map(ToString::to_string).collect();
    println!(
        "{instance}: exists={}, queued in order: {}",
        state.exists,
        queued.join(", ")
    );

    // The worker: four slots, but the three jobs of one instance run one at a time, in order.
    let cloud = std::sync::Arc::new(Cloud::default());
    let all_done = {
        let cloud = cloud.clone();
        async move {
            while cloud.done.load(Ordering::SeqCst) < 3 {
                cloud.changed.notified().await;
            }
        }
    };
    let worker = job::Worker::<VmJob, Cloud>::new(client.clone(), cloud).concurrency(4);
    tokio::time::timeout(Duration::from_secs(30), worker.run_until(all_done)).await??;
    let state = client.resource(&instance).await?;
    println!(
        "{instance}: exists={}, {} queued",
        state.exists, state.total
    );
    Ok(())
}
