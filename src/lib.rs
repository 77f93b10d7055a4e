//! Typed background jobs for Rust, on Redis.
pub use job_core::*;
