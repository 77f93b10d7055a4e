extern crate job_core as job;

use job::Job;
use serde::{Deserialize, Serialize};

#[derive(Job, Serialize, Deserialize)]
#[job(requires = ["gpu,cpu"])]
struct Render;

fn main() {}
