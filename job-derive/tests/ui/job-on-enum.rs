extern crate job_core as job;

use job::Job;
use serde::{Deserialize, Serialize};

#[derive(Job, Serialize, Deserialize)]
enum AppJob {
    Ping,
}

fn main() {}
