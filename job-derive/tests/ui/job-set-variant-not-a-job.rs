extern crate job_core as job;

struct NotAJob;

#[derive(job::JobSet)]
enum AppJob {
    NotAJob(NotAJob),
}

fn main() {}
