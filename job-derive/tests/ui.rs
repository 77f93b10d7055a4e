//! Compile errors of the derives: one mistake per file in `tests/ui`, with the `.stderr`
//! checked in. Bless with `TRYBUILD=overwrite cargo test -p job-derive --test ui`.
#![allow(missing_docs)]

#[test]
fn ui() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
