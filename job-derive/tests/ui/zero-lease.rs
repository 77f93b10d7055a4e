extern crate job_core as job;

use job::Job;
use serde::{Deserialize, Serialize};

#[derive(Job, Serialize, Deserialize)]
#[job(lease = "0s")]
struct Ping;

fn main() {}
