//! The key layout: the only place key names are spelled (scripts build the same names from the
//! shard prefix; `docs/key-layout.md` lists them all).

/// One shard of a namespace: a hash tag that holds every key of its jobs, so one script can
/// touch all of them atomically, on a single Redis or a Cluster alike.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Shard {
    prefix: String,
}

impl Shard {
    /// Shard `index` of namespace `namespace`: keys `<namespace>:{<index>}:<suffix>`.
    pub(crate) fn new(namespace: &str, index: u16) -> Self {
        Self {
            prefix: format!("{namespace}:{{{index}}}:"),
        }
    }

    /// The prefix every key of the shard starts with; KEYS[1] of every script.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `w:<type>`: the wake markers blocked workers wait on.
    pub(crate) fn wake(&self, job_type: &str) -> String {
        format!("{}w:{job_type}", self.prefix)
    }

    /// `q:<type>`: the requirement sets in use for a type (each has its own ready set
    /// `r:<type>|<set>` and markers `w:<type>|<set>`).
    pub(crate) fn requirement_sets(&self, job_type: &str) -> String {
        format!("{}q:{job_type}", self.prefix)
    }

    /// `l:<type>`: the ready list of a type (its priority-0 jobs, FIFO).
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn ready_list(&self, job_type: &str) -> String {
        format!("{}l:{job_type}", self.prefix)
    }

    /// `r:<type>`: the ready set of a type (its prioritized jobs).
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn ready(&self, job_type: &str) -> String {
        format!("{}r:{job_type}", self.prefix)
    }

    /// `delayed`: jobs waiting for their start time or their next attempt.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn delayed(&self) -> String {
        format!("{}delayed", self.prefix)
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
    }
}
