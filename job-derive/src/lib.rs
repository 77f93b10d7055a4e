//! Derive macros for the `job` framework.
use proc_macro::TokenStream;

/// Implements `Job`.
#[proc_macro_derive(Job, attributes(job))]
pub fn derive_job(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}

/// Implements `JobSet`.
#[proc_macro_derive(JobSet, attributes(job))]
pub fn derive_job_set(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}
