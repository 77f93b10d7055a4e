//! The Redis backend of the `job` framework: every state change is one atomic Lua script
//! (INSERT, GRAB, COMPLETE, TEMP_FAIL, PERM_FAIL, REPLACE, HEARTBEAT, RELEASE, DETAILS, CANCEL,
//! RETRY), with fenced leases and the Redis clock.
//!
//! Users reach it through the `job` facade as `job::redis`. [`Client`] enqueues and inspects
//! jobs and implements [`job_core::Backend`] for the worker runtime, on one Redis or a Redis
//! Cluster (a URL naming several nodes; see [`Config::shards`]). `rediss://` URLs need the
//! `tls` feature.
//!
#![doc = include_str!("../docs/key-layout.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
mod config;
mod conn;
mod error;
mod keys;
mod reply;
mod schedule;
mod scripts;
mod server;
#[cfg(feature = "testing")]
pub mod testing;

pub use client::Client;
pub use config::{Config, Retention};
pub use error::{Error, Result};
pub use schedule::{Fire, FireOutcome, ScheduleInfo, Upserted};
pub use scripts::Loading;
