//! The one answer that may be refused for its size: a listing of every allowed pair, one by one (`reach --group
//! never`). Everything else (audit, blast-radius, diff, the HTML report) asks the factored answer (`answer.rs`)
//! questions and never lists pairs, so it has no limit. A listing that would not fit in memory (about 100 bytes a
//! pair) is refused with how big it is and what to ask instead, rather than left to grow until the machine gives
//! out.

/// The limit unless the user raises it (the CLI's `NETSEG_MAX_PAIRS`).
pub const DEFAULT_MAX_PAIRS: u64 = 10_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the answer is too large to list pair by pair: {pairs} allowed pairs, more than the limit of {limit} \
     (NETSEG_MAX_PAIRS=N raises it, at about 100 bytes a pair); ask for it grouped (--group auto or always), narrow \
     it with --from, --to or --port, or ask `netseg can` about one pair"
)]
pub struct AnswerTooLarge {
    pub pairs: u64,
    pub limit: u64,
}

/// Refuses to list `pairs` allowed pairs one by one when they are more than `limit`. The count comes from the
/// grouped answer (`GroupedReach::pairs`), which is known without listing them.
pub fn refuse_listing(pairs: u64, limit: u64) -> Result<(), AnswerTooLarge> {
    if pairs > limit {
        return Err(AnswerTooLarge { pairs, limit });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_over_the_limit_is_refused_with_its_size_and_what_to_ask_instead() {
        assert!(refuse_listing(16, 16).is_ok());
        let refused = refuse_listing(17, 16).expect_err("17 pairs are more than 16");
        let text = refused.to_string();
        assert!(
            text.starts_with(
                "the answer is too large to list pair by pair: 17 allowed pairs, more than the limit of 16"
            ),
            "{text}"
        );
        assert!(text.contains("--group auto") && text.ends_with("`netseg can` about one pair"), "{text}");
    }
}
