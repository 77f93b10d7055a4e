extern crate job_core as job;

use job::Job;
use serde::{Deserialize, Serialize};

#[derive(Job, Serialize, Deserialize)]
#[job(timeout = "30sec")]
struct Ping;

fn main() {}
