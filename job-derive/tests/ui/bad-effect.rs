extern crate job_core as job;

use job::Job;
use serde::{Deserialize, Serialize};

#[derive(Job, Serialize, Deserialize)]
#[job(resource = "account", effect = "remove")]
struct Close {
    account: u64,
}

fn main() {}
