//! A script's source: its body with the shared parts it includes. A line `--@include <part>`
//! in a script or a part names a file of `lua/include/`; each part comes once, after the parts it
//! includes itself, and all of them before the body. Or every script at once, as one Redis
//! Functions library: the parts once, each script a function.

/// The shared Lua parts, by the name a `--@include` line gives.
const PARTS: &[(&str, &str)] = &[
    ("keys", include_str!("../../lua/include/keys.lua")),
    ("base", include_str!("../../lua/include/base.lua")),
    ("queues", include_str!("../../lua/include/queues.lua")),
    ("history", include_str!("../../lua/include/history.lua")),
    ("resources", include_str!("../../lua/include/resources.lua")),
    ("finish", include_str!("../../lua/include/finish.lua")),
    ("leases", include_str!("../../lua/include/leases.lua")),
    ("complete", include_str!("../../lua/include/complete.lua")),
    ("rows", include_str!("../../lua/include/rows.lua")),
    ("schedules", include_str!("../../lua/include/schedules.lua")),
];

/// The line that includes a part.
const INCLUDE: &str = "--@include ";

/// `shebang`, the parts `body` includes (and theirs), then `body`. A part no file of
/// `lua/include/` holds becomes a Lua error that names it, so the script fails when called,
/// with a clear message (a test keeps every script free of them).
pub(super) fn assemble(shebang: &str, body: &str) -> String {
    let mut source = format!("{shebang}\n");
    let mut added = Vec::new();
    add_includes(body, &mut added, &mut source);
    source.push_str(body);
    source
}

/// A Redis Functions library of `scripts` (name, body, read-only), for `FUNCTION LOAD`: every
/// part once, then each script as the function [`function_name`]`(version, name)`, which first
/// points the parts' per-call state (the keys and arguments, the shard prefix, the key helper,
/// the settings, the resource-check budget) at its call. `version` names the library and its
/// functions, so clients of different builds never call each other's code.
pub(super) fn library(version: &str, scripts: &[(&str, &str, bool)]) -> String {
    let mut source = format!("#!lua name=job_{version}\nlocal KEYS, ARGV = {{}}, {{}}\n");
    let every_part: String = PARTS
        .iter()
        .map(|(name, _)| format!("{INCLUDE}{name}\n"))
        .collect();
    add_includes(&every_part, &mut Vec::new(), &mut source);
    source.push_str(
        "local function enter(keys, args)\n  \
         KEYS, ARGV, P, K, S, NOW, heads_left = keys, args, keys[1], nil, nil, nil, 60\n  \
         K = new_keys()\nend\n",
    );
    for (name, body, read_only) in scripts {
        let flags = if *read_only {
            ", flags = { 'no-writes' }"
        } else {
            ""
        };
        source.push_str(&format!(
            "redis.register_function{{ function_name = '{}'{flags}, callback = function(keys, args)\n\
             enter(keys, args)\n{body}\nend }}\n",
            function_name(version, name)
        ));
    }
    source
}

/// The name of script `name`'s function in the library of `version`.
pub(super) fn function_name(version: &str, name: &str) -> String {
    format!("job_{version}_{name}")
}

/// Appends each part `text` includes that is not `added` yet, after its own includes.
fn add_includes(text: &str, added: &mut Vec<&'static str>, source: &mut String) {
    for name in includes(text) {
        let Some(&(name, part)) = PARTS.iter().find(|(known, _)| *known == name) else {
            source.push_str(&format!("error('ERR job: no Lua part named `{name}`')\n"));
            continue;
        };
        if added.contains(&name) {
            continue;
        }
        added.push(name);
        add_includes(part, added, source);
        source.push_str(part);
    }
}

/// The parts a Lua text includes, in order.
fn includes(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .filter_map(|line| line.strip_prefix(INCLUDE))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every script, as the scripts module loads it.
    const SCRIPTS: &[&str] = &[
        include_str!("../../lua/insert.lua"),
        include_str!("../../lua/grab.lua"),
        include_str!("../../lua/complete.lua"),
        include_str!("../../lua/temp_fail.lua"),
        include_str!("../../lua/perm_fail.lua"),
        include_str!("../../lua/replace.lua"),
        include_str!("../../lua/heartbeat.lua"),
        include_str!("../../lua/release.lua"),
        include_str!("../../lua/cancel.lua"),
        include_str!("../../lua/retry.lua"),
        include_str!("../../lua/details.lua"),
        include_str!("../../lua/resource.lua"),
        include_str!("../../lua/schedule_upsert.lua"),
        include_str!("../../lua/schedule_due.lua"),
        include_str!("../../lua/schedule_fire.lua"),
        include_str!("../../lua/schedule_change.lua"),
        include_str!("../../lua/schedule_list.lua"),
        include_str!("../../lua/pause.lua"),
        include_str!("../../lua/progress.lua"),
        include_str!("../../lua/register.lua"),
        include_str!("../../lua/workers.lua"),
    ];

    #[test]
    fn every_part_a_script_includes_exists_and_comes_once_after_its_own() {
        for script in SCRIPTS {
            let source = assemble("#!lua", script);
            assert!(!source.contains("no Lua part named"), "{source}");
            let mut at = Vec::new();
            for (name, part) in PARTS {
                if let Some(offset) = source.find(part) {
                    assert_eq!(source.matches(part).count(), 1, "{name} twice");
                    at.push((name, offset));
                }
            }
            for (name, offset) in &at {
                let part = PARTS.iter().find(|(n, _)| n == *name).map(|(_, p)| p);
                for need in includes(part.copied().unwrap_or_default()) {
                    let need_at = at.iter().find(|(n, _)| **n == need).map(|(_, o)| *o);
                    assert!(
                        need_at.is_some_and(|need_at| need_at < *offset),
                        "{name} needs {need} before it"
                    );
                }
            }
        }
    }

    #[test]
    fn every_part_is_used() {
        for (name, _) in PARTS {
            assert!(
                SCRIPTS
                    .iter()
                    .any(|script| assemble("#!lua", script).contains(&format!("-- {name}.lua"))),
                "no script includes {name}"
            );
        }
    }

    #[test]
    fn an_unknown_part_is_a_named_error() {
        let source = assemble("#!lua", "--@include nothing\nreturn 1");
        assert!(source.contains("no Lua part named `nothing`"));
    }
}
