//! Run with: cargo run --release --example chaos -- --jobs 100000
//!
//! Needs `redis-server` (and, for `--cluster`, `redis-cli`) on PATH: it starts a Redis of its
//! own on a free port, with AOF and `appendfsync always`, and never touches `REDIS_URL`.
//!
//! A chaos run: worker processes (this program again, with the `worker` argument) run jobs that
//! succeed, fail, panic, time out, REPLACE themselves, are bound to resources or unique, or work
//! past their lease, while the run kills workers with SIGKILL, restarts Redis, and stalls a busy
//! worker's connections (through a proxy that stops forwarding but keeps them open). At the end
//! it checks that every job ended exactly once, none was completed with a stale token, every
//! resource ran its jobs in order, no two executions of a job overlapped in time, and more; it
//! prints a table and one JSON line, and exits 1 on any violation.
//!
//! Options: `--jobs N` (100000), `--workers N` (4), `--concurrency N` (20), `--kills N` (10),
//! `--redis-restarts N` (2), `--stalls N` (one per 20000 jobs, at least 1), `--seed N` (also
//! `CHAOS_SEED`), `--deadline SECS` (120), `--cluster` (three masters instead of one server).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

#[path = "../tests/support/chaos.rs"]
mod chaos;

use std::process::ExitCode;

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("worker") || chaos::is_worker_process() {
        return match chaos::worker_main() {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("chaos worker: {error}");
                ExitCode::from(2)
            }
        };
    }
    let options = match chaos::Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(usage) => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    let report = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|runtime| {
            let worker = chaos::WorkerCommand::current_exe(&["worker"])?;
            runtime.block_on(chaos::run(&options, worker))
        });
    match report {
        Ok(report) => {
            report.print();
            if report.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("the chaos run could not run: {error}");
            ExitCode::from(2)
        }
    }
}
