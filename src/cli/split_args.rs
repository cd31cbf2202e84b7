//! The split options that `tasks`, `train` and `evaluate` share, so a run can be
//! trained and evaluated on the same random or clustered split without a split file.

use crate::tasks::SplitStrategy;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// How regions (or DeepGlobe images) are split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Strategy {
    /// Sen12MS: the paper author's region split; DeepGlobe: random.
    Default,
    /// Seeded random split in 500/150/153 proportions.
    Random,
    /// DeepGlobe: k-means on image features into 6 clusters (454/166/183).
    Clustered,
}

/// `--split-strategy`, `--split-seed`, `--splits`.
#[derive(Debug, Clone, Args)]
pub struct SplitArgs {
    /// How regions are split into meta-train, meta-val and meta-test.
    #[arg(long, value_enum, default_value_t = Strategy::Default)]
    pub split_strategy: Strategy,
    /// Seed of the random and clustered splits.
    #[arg(long, default_value_t = 0)]
    pub split_seed: u64,
    /// A split file (`{"train": [ids], "val": [...], "test": [...]}`); overrides
    /// --split-strategy.
    #[arg(long, alias = "split-file", value_name = "FILE")]
    pub splits: Option<PathBuf>,
}

impl SplitArgs {
    /// The strategy these options name.
    pub fn strategy(&self) -> SplitStrategy {
        match (&self.splits, self.split_strategy) {
            (Some(p), _) => SplitStrategy::File(p.clone()),
            (None, Strategy::Default) => SplitStrategy::Default,
            (None, Strategy::Random) => SplitStrategy::Random {
                seed: self.split_seed,
            },
            (None, Strategy::Clustered) => SplitStrategy::Clustered {
                seed: self.split_seed,
            },
        }
    }
}
