extern crate job_core as job;

use job::Job;
use serde::{Deserialize, Serialize};

#[derive(Job, Serialize, Deserialize)]
#[job(backoff(table = ["1s", "3651d"]))]
struct Render;

fn main() {}
