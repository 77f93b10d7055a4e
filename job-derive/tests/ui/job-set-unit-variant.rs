extern crate job_core as job;

use job::Job;
use serde::{Deserialize, Serialize};

#[derive(Job, Serialize, Deserialize)]
struct Ping;

#[derive(job::JobSet)]
enum AppJob {
    Ping(Ping),
    Idle,
}

fn main() {}
