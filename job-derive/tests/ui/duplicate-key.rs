extern crate job_core as job;

use job::Job;
use serde::{Deserialize, Serialize};

#[derive(Job, Serialize, Deserialize)]
#[job(lease = "30s")]
#[job(name = "ping", lease = "60s")]
struct Ping;

fn main() {}
