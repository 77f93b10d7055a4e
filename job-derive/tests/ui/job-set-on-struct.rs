extern crate job_core as job;

use job::JobSet;

#[derive(JobSet)]
struct AppJob {
    ping: u8,
}

fn main() {}
