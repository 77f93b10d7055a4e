extern crate job_core as job;

use job::Job;
use serde::{Deserialize, Serialize};

#[derive(Job, Serialize, Deserialize)]
struct Ping;

#[derive(Job, Serialize, Deserialize)]
struct Pong;

#[derive(job::JobSet)]
enum AppJob {
    Ping(Ping),
    Both(Ping, Pong),
}

fn main() {}
