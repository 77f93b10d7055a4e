//! Items the derive macros' output uses. Not public API: no semver guarantees.

pub use crate::name::{NameKind, assert_name};
pub use crate::set::{decode, has_duplicate};
pub use serde_json;
