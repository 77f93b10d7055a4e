//! One static per Lua file (each file one atomic transition), with the shared helpers of
//! `common.lua` prepended, and those of `rows.lua` for the scripts that insert jobs (a script
//! defines every helper it is given on every call: the fewer, the cheaper).
//! `Script::invoke_async` reloads a script on NOSCRIPT and retries once, so a `SCRIPT FLUSH` or
//! a restarted Redis costs a round trip; only a second flush landing between that reload and the
//! retry surfaces as an error (which the worker retries).

use std::sync::LazyLock;

use redis::Script;

macro_rules! script {
    ($name:ident, $file:literal) => {
        script!($name, $file, "#!lua\n", "");
    };
    ($name:ident, $file:literal, $shebang:literal) => {
        script!($name, $file, $shebang, "");
    };
    ($name:ident, $file:literal, $shebang:literal, $rows:expr) => {
        pub(crate) static $name: LazyLock<Script> = LazyLock::new(|| {
            Script::new(concat!(
                $shebang,
                include_str!("../lua/common.lua"),
                $rows,
                include_str!(concat!("../lua/", $file))
            ))
        });
    };
}

/// The helpers of the scripts that insert rows.
macro_rules! rows {
    () => {
        include_str!("../lua/rows.lua")
    };
}

script!(INSERT, "insert.lua", "#!lua\n", rows!());
script!(GRAB, "grab.lua");
script!(COMPLETE, "complete.lua");
script!(TEMP_FAIL, "temp_fail.lua");
script!(PERM_FAIL, "perm_fail.lua");
script!(REPLACE, "replace.lua", "#!lua\n", rows!());
script!(HEARTBEAT, "heartbeat.lua");
script!(RELEASE, "release.lua");
script!(CANCEL, "cancel.lua");
script!(RETRY, "retry.lua");
script!(DETAILS, "details.lua", "#!lua flags=no-writes\n");
script!(RESOURCE, "resource.lua", "#!lua flags=no-writes\n");
