//! Derive macros for the `job` framework: `#[derive(Job)]` and `#[derive(JobSet)]`.
//!
//! Use them through the `job` crate, which re-exports both next to their traits.
use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

mod attr;
mod expand;
mod set;

/// Implements `Job` for a struct: its wire name and its `JobOptions`.
///
/// | Attribute | Value | Default |
/// |---|---|---|
/// | `name = "mail.send"` | the wire name: 1 to 128 bytes, without `\|`, `,` or control characters | the type's name: renaming the struct needs an explicit `name` to keep queued jobs |
/// | `max_attempts = 5` | integer, at least 1 | 25 |
/// | `backoff = "exponential"` / `"smtp"` | a named schedule | `"exponential"` (1 s doubling, capped at 1 h) |
/// | `backoff(fixed = "30s")` | the same delay every time | |
/// | `backoff(exponential = "2s", max = "10m")` | doubling from `exponential`, capped at `max` (default 1 h) | |
/// | `backoff(table = ["2s", "0s", "1m"])` | one delay per attempt, the last repeating; at least one step | |
/// | `lease = "60s"` | duration, from 30 ms to 24 h | 60 s |
/// | `timeout = "30s"` | duration, above zero, at most 365 d | none |
/// | `priority = -2` | integer from -128 to 127, higher first | 0 |
/// | `max_defers = 10` | integer | 100 |
/// | `resource = "account_id"` | a field whose `to_string()` names the job's resource (its index, like `"0"`, on a tuple struct): jobs on one resource run one at a time, in enqueue order | none (or given at enqueue) |
/// | `effect = "create"` / `"update"` / `"delete"` | what the job does to its resource, checked at enqueue | none |
/// | `unique = "user_id"` / `unique = ["user_id", "day"]` | fields whose values, as a JSON array, make the unique key: while a job of the type with that key is live, enqueuing another answers the live one's id | none |
/// | `unique_while = "live"` / `"queued"` | how long the unique key holds: until the job ends, or until a worker starts it; needs `unique` | `"live"` |
/// | `requires = ["gpu", "region=eu"]` | capabilities a worker needs to take the job: 1 to 128 bytes, no spaces, `\|`, `,` or control characters, no repeats | none |
/// | `crate = "::job"` | path to the `job` crate | `::job` |
///
/// Durations are an integer and a unit: `ms`, `s`, `m`, `h` or `d` (`"500ms"`, `"2d"`); a
/// `backoff` delay is at most 3650 d. The name, capability and duration rules are job-core's
/// (`NameKind`, `limits`): a literal that breaks one fails to compile, with the error on it.
/// A `resource` field must implement `Display`; `unique` fields must implement `Serialize`.
///
/// ```compile_fail
/// # extern crate job_core as job;
/// #[derive(job::Job, serde::Serialize, serde::Deserialize)]
/// #[job(lease = "30")] // error: `lease` expects a duration like "30s" or "500ms"
/// struct Ping;
/// # fn main() {}
/// ```
#[proc_macro_derive(Job, attributes(job))]
pub fn derive_job(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    debug("Job", expand::derive(&input))
}

/// Implements `JobSet`, `From<Type>` per variant and `Dispatch<State>` for an enum whose
/// variants each hold one job type.
///
/// | Attribute | Value | Default |
/// |---|---|---|
/// | `crate = "::job"` | path to the `job` crate | `::job` |
///
/// ```compile_fail
/// # extern crate job_core as job;
/// # #[derive(job::Job, serde::Serialize, serde::Deserialize)] struct Ping;
/// #[derive(job::JobSet)]
/// enum AppJob {
///     Ping, // error: each `JobSet` variant holds exactly one job type
/// }
/// # fn main() {}
/// ```
#[proc_macro_derive(JobSet, attributes(job))]
pub fn derive_job_set(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    debug("JobSet", set::derive(&input))
}

/// Turns errors into `compile_error!`s and prints the expansion when `JOB_DERIVE_DEBUG` is set.
fn debug(derive: &str, output: syn::Result<proc_macro2::TokenStream>) -> TokenStream {
    let output = output.unwrap_or_else(syn::Error::into_compile_error);
    if std::env::var_os("JOB_DERIVE_DEBUG").is_some() {
        eprintln!("#[derive({derive})] expands to:\n{output}");
    }
    output.into()
}
