extern crate job_core as job;

use job::Job;
use serde::{Deserialize, Serialize};

#[derive(Job, Serialize, Deserialize)]
#[job(name = "ping")]
struct Ping;

#[derive(Job, Serialize, Deserialize)]
#[job(name = "ping")]
struct Pong;

#[derive(job::JobSet)]
enum AppJob {
    Ping(Ping),
    Pong(Pong),
}

fn main() {}
