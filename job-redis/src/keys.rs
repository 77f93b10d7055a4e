//! The key layout: the only place in Rust where key names are spelled. The scripts spell them
//! once too, in `lua/include/keys.lua`; a test pins the two lists together, and
//! `docs/key-layout.md` describes every key.

/// Every key suffix of a shard: after the shard prefix, then a job id, queue, type or resource
/// for the per-item keys (those ending in `:`). Rust reads only a few of them; the rest are
/// listed so the layout is whole here.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod suffix {
    /// hash: a job's fields.
    pub(crate) const JOB: &str = "j:";
    /// string: a job's arguments, when kept apart from its hash.
    pub(crate) const ARGS: &str = "a:";
    /// list: a job's failure records.
    pub(crate) const HISTORY: &str = "e:";
    /// list: a queue's ready priority-0 jobs, FIFO.
    pub(crate) const LIST: &str = "l:";
    /// zset: a queue's ready prioritized jobs.
    pub(crate) const READY: &str = "r:";
    /// zset: a queue's wake markers, which blocked workers wait on.
    pub(crate) const WAKE: &str = "w:";
    /// set: a type's requirement sets in use.
    pub(crate) const SETS: &str = "q:";
    /// zset: a resource's jobs by position.
    pub(crate) const FIFO: &str = "res:";
    /// zset: a resource's creates and deletes among them.
    pub(crate) const EFFECTS: &str = "rfx:";
    /// zset: running jobs by lease deadline.
    pub(crate) const LEASES: &str = "leases";
    /// zset: delayed jobs by run-at.
    pub(crate) const DELAYED: &str = "delayed";
    /// zset: completed and cancelled jobs kept, by end time.
    pub(crate) const DONE: &str = "done";
    /// zset: failed jobs kept, by end time.
    pub(crate) const FAILED: &str = "failed";
    pub(crate) const CANCELLED: &str = "cancelled";
    pub(crate) const KEPT: &str = "kept";
    /// string: the counter of sequence numbers and fencing tokens.
    pub(crate) const SEQ: &str = "seq";
    /// hash: unique key to the live job that holds it.
    pub(crate) const UNIQ: &str = "uniq";
    /// zset: job types by when a worker last asked for them.
    pub(crate) const SEEN: &str = "seen";
    /// list: REPLACE children waiting to be forwarded to their shards.
    pub(crate) const OUTBOX: &str = "outbox";
    /// zset: ids of forwarded REPLACE children, by when they arrived.
    pub(crate) const FWD: &str = "fwd";
    /// set: resources that exist.
    pub(crate) const RX: &str = "rx";
    /// hash: resource to the create or delete that left its FIFO without completing.
    pub(crate) const RC: &str = "rc";
    /// zset: resources whose blocked heads still need a check.
    pub(crate) const RV: &str = "rv";
    pub(crate) const SCHEDULE: &str = "s:";
    pub(crate) const FIRES: &str = "sf:";
    pub(crate) const DUE: &str = "sd";
    pub(crate) const SCHEDULES: &str = "sn";
    pub(crate) const TICK: &str = "sw";
    pub(crate) const PAUSED: &str = "paused";
    pub(crate) const WORKERS: &str = "wk";
    pub(crate) const WORKERS_SEEN: &str = "wl";
    pub(crate) const TYPES: &str = "ty";

    /// All of them.
    #[cfg(test)]
    pub(crate) const ALL: &[&str] = &[
        JOB,
        ARGS,
        HISTORY,
        LIST,
        READY,
        WAKE,
        SETS,
        FIFO,
        EFFECTS,
        LEASES,
        DELAYED,
        DONE,
        FAILED,
        CANCELLED,
        KEPT,
        SEQ,
        UNIQ,
        SEEN,
        OUTBOX,
        FWD,
        RX,
        RC,
        RV,
        SCHEDULE,
        FIRES,
        DUE,
        SCHEDULES,
        TICK,
        PAUSED,
        WORKERS,
        WORKERS_SEEN,
        TYPES,
    ];
}

/// A job's queue: its type, plus the capabilities it requires (`<type>|gpu,region=eu`), as
/// `queue_of` in `keys.lua` names it. Each queue has its own ready list, ready set and wake
/// markers.
pub(crate) fn queue(job_type: &str, requirements: &str) -> String {
    if requirements.is_empty() {
        job_type.to_owned()
    } else {
        format!("{job_type}|{requirements}")
    }
}

/// One shard of a namespace: a hash tag that holds every key of its jobs, so one script can
/// touch all of them atomically, on a single Redis or a Cluster alike.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Shard {
    prefix: String,
    slot: u16,
}

impl Shard {
    /// A shard of namespace `namespace` with hash tag `tag`: keys `<namespace>:{<tag>}:<suffix>`.
    pub(crate) fn new(namespace: &str, tag: u32) -> Self {
        Self {
            prefix: format!("{namespace}:{{{tag}}}:"),
            slot: u16::try_from(slot(tag.to_string().as_bytes())).unwrap_or(0),
        }
    }

    /// The cluster slot of every key of the shard.
    pub(crate) fn slot(&self) -> u16 {
        self.slot
    }

    /// The prefix every key of the shard starts with; KEYS[1] of every script.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The shard's key with `suffix` (one of [`suffix`]) and `item` after it.
    fn key(&self, suffix: &str, item: &str) -> String {
        format!("{}{suffix}{item}", self.prefix)
    }

    /// `j:<id>`: a job's fields.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn job(&self, id: &str) -> String {
        self.key(suffix::JOB, id)
    }

    /// `w:<queue>`: the wake markers blocked workers wait on.
    pub(crate) fn wake(&self, queue: &str) -> String {
        self.key(suffix::WAKE, queue)
    }

    /// `q:<type>`: the requirement sets in use for a type (each has its own queue; see
    /// [`queue`]).
    pub(crate) fn requirement_sets(&self, job_type: &str) -> String {
        self.key(suffix::SETS, job_type)
    }

    /// `l:<queue>`: the ready list of a queue (its priority-0 jobs, FIFO).
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn ready_list(&self, queue: &str) -> String {
        self.key(suffix::LIST, queue)
    }

    /// `r:<queue>`: the ready set of a queue (its prioritized jobs).
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn ready(&self, queue: &str) -> String {
        self.key(suffix::READY, queue)
    }

    /// `outbox`: REPLACE children waiting to be forwarded to their own shards.
    /// The schedulers' wake marker: set when a schedule changes.
    pub(crate) fn tick(&self) -> String {
        self.key(suffix::TICK, "")
    }

    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn schedule(&self, name: &str) -> String {
        self.key(suffix::SCHEDULE, name)
    }

    /// The job types' options as workers register them.
    pub(crate) fn types(&self) -> String {
        self.key(suffix::TYPES, "")
    }

    /// The job types no grab takes jobs of.
    pub(crate) fn paused(&self) -> String {
        self.key(suffix::PAUSED, "")
    }

    /// Unpaused schedules by when a scheduler should look at them.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn due(&self) -> String {
        self.key(suffix::DUE, "")
    }

    pub(crate) fn outbox(&self) -> String {
        self.key(suffix::OUTBOX, "")
    }

    /// `delayed`: jobs waiting for their start time or their next attempt.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn delayed(&self) -> String {
        self.key(suffix::DELAYED, "")
    }
}

/// `items` grouped by the shard `shard_of` gives each, the groups in the order their first item
/// came, and each group's items in their order.
pub(crate) fn group_by_shard<T>(
    items: impl IntoIterator<Item = T>,
    shard_of: impl Fn(&T) -> usize,
) -> Vec<(usize, Vec<T>)> {
    let mut groups: Vec<(usize, Vec<T>)> = Vec::new();
    for item in items {
        let shard = shard_of(&item);
        match groups.iter_mut().find(|(s, _)| *s == shard) {
            Some((_, group)) => group.push(item),
            None => groups.push((shard, vec![item])),
        }
    }
    groups
}

/// The Redis Cluster slot count.
const SLOTS: u32 = 16_384;

/// The Redis Cluster slot of a key or hash tag: CRC16 (XMODEM) modulo 16384.
fn slot(tag: &[u8]) -> u32 {
    u32::from(crc16::State::<crc16::XMODEM>::calculate(tag)) % SLOTS
}

/// Every shard of a namespace: a fixed count whose hash tags spread evenly over the cluster's
/// slots, so each master holds its share. Shard `i`'s tag is the smallest number whose slot
/// falls in the `i`-th of `count` equal slot ranges; one shard has tag `0` (`<ns>:{0}:`).
#[derive(Debug)]
pub(crate) struct Shards {
    shards: Vec<Shard>,
}

impl Shards {
    pub(crate) fn new(namespace: &str, count: u16) -> Self {
        let count = u32::from(count.max(1));
        let shards = (0..count)
            .map(|i| {
                let range = (i * SLOTS / count)..((i + 1) * SLOTS / count);
                // A range of at least one slot is hit within a few hundred thousand tries.
                let tag = (0u32..)
                    .find(|tag| range.contains(&slot(tag.to_string().as_bytes())))
                    .unwrap_or(i);
                Shard::new(namespace, tag)
            })
            .collect();
        Self { shards }
    }

    /// How many shards there are.
    pub(crate) fn len(&self) -> usize {
        self.shards.len()
    }

    /// Shard `index` (wrapping).
    pub(crate) fn get(&self, index: usize) -> &Shard {
        &self.shards[index % self.shards.len()]
    }

    /// Every shard with its index.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &Shard)> {
        self.shards.iter().enumerate()
    }

    /// The shard that owns `key` (a resource key, a unique key, or a job id): the same on
    /// every client of a namespace with this shard count.
    pub(crate) fn owner(&self, key: &str) -> usize {
        let count = u32::try_from(self.shards.len()).unwrap_or(1);
        usize::try_from(slot(key.as_bytes()) % count).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_pinned() {
        let shard = Shard::new("app", 0);
        assert_eq!(shard.prefix(), "app:{0}:");
        assert_eq!(shard.wake("mail.send"), "app:{0}:w:mail.send");
        assert_eq!(shard.ready("mail.send"), "app:{0}:r:mail.send");
        assert_eq!(shard.ready_list("mail.send"), "app:{0}:l:mail.send");
        assert_eq!(shard.delayed(), "app:{0}:delayed");
        assert_eq!(shard.requirement_sets("render"), "app:{0}:q:render");
        assert_eq!(shard.job("01J"), "app:{0}:j:01J");
        assert_eq!(shard.outbox(), "app:{0}:outbox");
    }

    /// The suffixes `lua/include/keys.lua` spells: the values of its `SHARD_KEYS` and
    /// `ITEM_KEYS` tables.
    fn lua_suffixes() -> Vec<String> {
        let lua = include_str!("../lua/include/keys.lua");
        let mut found = Vec::new();
        for table in ["local SHARD_KEYS = {", "local ITEM_KEYS = {"] {
            let body = lua
                .split(table)
                .nth(1)
                .and_then(|rest| rest.split("\n}").next())
                .unwrap_or_default();
            found.extend(body.lines().filter_map(|line| {
                let (_, value) = line.split_once('=')?;
                value.split('\'').nth(1).map(str::to_owned)
            }));
        }
        found.sort();
        found
    }

    #[test]
    fn lua_and_rust_name_the_same_keys() {
        let mut rust: Vec<String> = suffix::ALL.iter().map(|s| (*s).to_owned()).collect();
        rust.sort();
        assert_eq!(lua_suffixes(), rust);
        assert_eq!(queue("render", ""), "render");
        assert_eq!(queue("render", "gpu,region=eu"), "render|gpu,region=eu");
    }

    #[test]
    fn shard_tags_spread_over_the_slots_and_never_move() {
        assert_eq!(Shards::new("app", 1).get(0).prefix(), "app:{0}:");
        let shards = Shards::new("app", 16);
        let slots: Vec<u32> = shards
            .iter()
            .map(|(_, shard)| {
                let prefix = shard.prefix();
                let tag = &prefix[prefix.find('{').unwrap() + 1..prefix.find('}').unwrap()];
                slot(tag.as_bytes())
            })
            .collect();
        for (i, slot) in slots.iter().enumerate() {
            let i = u32::try_from(i).unwrap();
            assert!(
                (i * 1024..(i + 1) * 1024).contains(slot),
                "shard {i}: slot {slot}"
            );
        }
        // The tags are part of the stored layout: pin them (a change would orphan live data).
        let tags: Vec<&str> = shards.iter().map(|(_, shard)| shard.prefix()).collect();
        assert_eq!(
            tags,
            [
                "app:{10}:",
                "app:{3}:",
                "app:{61}:",
                "app:{43}:",
                "app:{11}:",
                "app:{2}:",
                "app:{60}:",
                "app:{42}:",
                "app:{12}:",
                "app:{1}:",
                "app:{63}:",
                "app:{41}:",
                "app:{13}:",
                "app:{0}:",
                "app:{62}:",
                "app:{40}:"
            ]
        );
        assert_eq!(
            slot(b"123456789"),
            0x31C3 % SLOTS,
            "CRC16/XMODEM check value"
        );
        assert_eq!(shards.owner("customer:42"), shards.owner("customer:42"));
    }
}
