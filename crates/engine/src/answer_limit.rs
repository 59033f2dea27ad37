//! The answer-size policy: an all-pairs answer that would not fit in memory (about 100 bytes a pair or group
//! entry) is refused with a message that says how to ask instead, rather than left to grow until the machine gives
//! out. One function, called once on each path that lists pairs.

use crate::Analysis;

/// The limit unless the user raises it (the CLI's `NETSEG_MAX_PAIRS`).
pub const DEFAULT_MAX_PAIRS: u64 = 10_000_000;

/// Which all-pairs answer a command holds: workload pairs (audit, blast-radius) or the entries of reach's groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    WorkloadPairs,
    GroupEntries,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the answer is too large to hold: more than {limit} {what} (the limit; NETSEG_MAX_PAIRS=N raises it, at about \
     100 bytes a pair); {hint}"
)]
pub struct AnswerTooLarge {
    pub limit: u64,
    what: &'static str,
    hint: &'static str,
}

/// Refuses the answer `holds` names when it has more than `limit` entries. Counting stops at the limit, and an
/// answer under it is kept for the questions that follow.
pub fn refuse_over(analysis: &Analysis<'_>, holds: Holds, limit: u64) -> Result<(), AnswerTooLarge> {
    let size = analysis.answer_size(limit);
    let (count, what, hint) = match holds {
        Holds::WorkloadPairs => (
            size.workload_pairs,
            "allowed workload pairs",
            "`netseg reach` answers it as groups and `netseg can` answers any one pair",
        ),
        Holds::GroupEntries => {
            (size.group_entries, "destinations in the grouped answer", "`netseg can` answers any one pair")
        }
    };
    if count > limit {
        return Err(AnswerTooLarge { limit, what, hint });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use netseg_model::{load_bytes, Cluster, Inventory};
    use std::sync::Arc;

    #[test]
    fn a_flat_answer_over_the_limit_is_refused_with_what_to_ask_instead() {
        let pods: String =
            (0..4).map(|i| format!("kind: Pod\nmetadata: {{name: p{i}, namespace: a}}\n---\n")).collect();
        let mut inventory = Inventory::default();
        load_bytes(&mut inventory, Arc::from("t.yaml"), pods.as_bytes(), false);
        let cluster = Cluster::from_inventory(inventory);
        let analysis = Analysis::new(&cluster);
        // Four pods of one profile reaching each other: counted as 4 x 4 pairs (an upper bound).
        assert!(refuse_over(&analysis, Holds::WorkloadPairs, 16).is_ok());
        let refused = refuse_over(&analysis, Holds::WorkloadPairs, 15).expect_err("16 pairs are more than 15");
        assert!(refused
            .to_string()
            .starts_with("the answer is too large to hold: more than 15 allowed workload pairs"));
        assert!(refused.to_string().ends_with("`netseg can` answers any one pair"));
    }
}
