extern crate job_core as job;

use job::Job;
use serde::{Deserialize, Serialize};

#[derive(Job, Serialize, Deserialize)]
#[job(resource = "account")]
struct Charge(u64, u32);

fn main() {}
