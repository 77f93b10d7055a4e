//! Items the derive macros' output and the workspace's other crates use. Not public API: no
//! semver guarantees.

use std::time::Duration;

use crate::limits;

pub use crate::error::chain;
pub use crate::name::{NameKind, assert_name};
pub use crate::set::{decode, has_duplicate};
pub use serde_json;

/// Fails compilation, on the caller's span, unless `lease` is within
/// `limits::MIN_LEASE..=limits::MAX_LEASE`: the derive's check of `lease = ".."`.
#[track_caller]
#[allow(
    clippy::panic,
    reason = "a compile-time assertion: its panic is the compile error"
)]
pub const fn assert_lease(lease: Duration) {
    if !limits::lease_in_range(lease) {
        panic!("{}", limits::LEASE_OUT_OF_RANGE);
    }
}

/// Fails compilation, on the caller's span, unless `timeout` is at most
/// `limits::MAX_TIMEOUT`: the derive's check of `timeout = ".."`.
#[track_caller]
#[allow(
    clippy::panic,
    reason = "a compile-time assertion: its panic is the compile error"
)]
pub const fn assert_timeout(timeout: Duration) {
    if !limits::timeout_in_range(timeout) {
        panic!("{}", limits::TIMEOUT_TOO_LONG);
    }
}

/// Fails compilation, on the caller's span, unless `delay` is at most `limits::MAX_DELAY`:
/// the derive's check of each delay of `backoff(..)`.
#[track_caller]
#[allow(
    clippy::panic,
    reason = "a compile-time assertion: its panic is the compile error"
)]
pub const fn assert_backoff_delay(delay: Duration) {
    if !limits::delay_in_range(delay) {
        panic!("{}", limits::DELAY_TOO_LONG);
    }
}
