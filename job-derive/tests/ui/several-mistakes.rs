extern crate job_core as job;

use job::Job;
use serde::{Deserialize, Serialize};

#[derive(Job, Serialize, Deserialize)]
#[job(nmae = "ping", lease = "soon")]
struct Ping;

// The stub impl keeps uses of the type free of further errors.
fn main() {
    let _ = Ping::NAME;
    let _ = Ping::OPTIONS;
}
