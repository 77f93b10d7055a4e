extern crate job_core as job;

use job::Job;
use serde::{Deserialize, Serialize};

#[derive(Job, Serialize, Deserialize)]
#[job(unique = [])]
struct Digest {
    user: u64,
}

fn main() {}
