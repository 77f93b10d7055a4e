extern crate job_core as job;

use job::Job;
use serde::{Deserialize, Serialize};

#[derive(Job, Serialize, Deserialize)]
#[job(resource = "bar")]
struct Foo {
    baz: u64,
}

fn main() {}
