//! One static per Lua file (each file one atomic transition), with the shared helpers of
//! `common.lua` prepended. `Script::invoke_async` reloads a script on NOSCRIPT and retries once,
//! so a `SCRIPT FLUSH` or a restarted Redis costs a round trip; only a second flush landing
//! between that reload and the retry surfaces as an error (which the worker retries).

use std::sync::LazyLock;

use redis::Script;

macro_rules! script {
    ($name:ident, $file:literal) => {
        script!($name, $file, "#!lua\n");
    };
    ($name:ident, $file:literal, $shebang:literal) => {
        pub(crate) static $name: LazyLock<Script> = LazyLock::new(|| {
            Script::new(concat!(
                $shebang,
                include_str!("../lua/common.lua"),
                include_str!(concat!("../lua/", $file))
            ))
        });
    };
}

script!(INSERT, "insert.lua");
script!(GRAB, "grab.lua");
script!(COMPLETE, "complete.lua");
script!(TEMP_FAIL, "temp_fail.lua");
script!(PERM_FAIL, "perm_fail.lua");
script!(REPLACE, "replace.lua");
script!(HEARTBEAT, "heartbeat.lua");
script!(RELEASE, "release.lua");
script!(CANCEL, "cancel.lua");
script!(RETRY, "retry.lua");
script!(DETAILS, "details.lua", "#!lua flags=no-writes\n");
script!(RESOURCE, "resource.lua", "#!lua flags=no-writes\n");
