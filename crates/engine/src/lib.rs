//! API sketch; implementation lands next.
