//! Knock's recipient preferences: preference sets, their request parsing and merging, the merge
//! hierarchy (environment, tenant, recipient) and the per-send evaluation.

mod evaluate;
mod hierarchy;
mod parse;
mod set;

pub use evaluate::{evaluate, Target, Verdict};
pub use hierarchy::{merge_levels, Hierarchy};
pub use parse::Persistence;
pub use set::{PreferenceSet, Setting, CHANNEL_TYPES};

#[cfg(test)]
mod tests;
