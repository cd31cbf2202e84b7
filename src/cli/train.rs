//! `geomaml train CATALOG --method maml|pretrain -o MODEL.safetensors`: meta-training
//! and the pretraining baseline.
//!
//! Settings come from `--config FILE` (JSON, schema `train_config.schema.json`,
//! unknown keys rejected) with the paper's defaults; flags given here override it.
//! Needs the `train` feature (libtorch); without it the command explains that.

use crate::error::Result;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

mod run;

/// Training method, as a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    /// Model-agnostic meta-learning (second order unless --first-order).
    Maml,
    /// Regular training on the same tasks, support and query merged.
    Pretrain,
}

/// What the model file keeps (clap's copy of `train::config::Selection`, which
/// builds without the `train` feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SelectArg {
    /// The lowest meta-validation loss.
    Loss,
    /// The highest meta-validation accuracy.
    Accuracy,
    /// The last step.
    Last,
}

/// Options of `geomaml train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// catalog.json written by `geomaml catalog`.
    catalog: PathBuf,
    /// Training method (overrides the config's `method`).
    #[arg(long, value_enum)]
    method: Option<MethodArg>,
    /// JSON training config; defaults follow the paper.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Read the dataset files even when a tile store (`geomaml store`) is beside the
    /// catalog.
    #[arg(long)]
    no_store: bool,
    /// The model to write (.safetensors): the best meta-validated parameters.
    /// `<stem>.last.safetensors` (resume state) and `<stem>.log.jsonl` go beside it.
    #[arg(short = 'o', long = "output", value_name = "MODEL")]
    output: PathBuf,
    /// Classes per task (n-way).
    #[arg(long)]
    way: Option<usize>,
    /// Support examples per class (k-shot).
    #[arg(long)]
    shot: Option<usize>,
    /// Query examples per class.
    #[arg(long)]
    query: Option<usize>,
    /// Total meta-steps (MAML) or gradient steps (pretrain).
    #[arg(long)]
    steps: Option<u64>,
    /// Tasks per meta-step.
    #[arg(long)]
    meta_batch: Option<usize>,
    /// Inner-loop step size alpha.
    #[arg(long)]
    inner_lr: Option<f64>,
    /// Inner-loop gradient steps.
    #[arg(long)]
    inner_steps: Option<usize>,
    /// First-order MAML (cheaper, approximate gradient).
    #[arg(long)]
    first_order: bool,
    /// MAML tasks adapted together in one batched pass (1: one task at a time, the
    /// reference path; 0: the whole meta-batch; default 16 on CUDA, 1 on CPU).
    #[arg(long, value_name = "N")]
    task_group: Option<usize>,
    /// Input bands by name or shorthand: `s2`, `s1,s2`, `B02,B03,B04,B08`.
    #[arg(long)]
    bands: Option<String>,
    /// Architecture: `cnn` (the paper's tile classifier), `unet` (segmentation) or
    /// `pixel` (maps every pixel; trained on point tasks) [default: cnn for Sen12MS,
    /// unet for DeepGlobe].
    #[arg(long, value_enum)]
    arch: Option<ArchArg>,
    /// Standardise each band over each task while training, and over the scene when
    /// the model is adapted [default: true for `pixel`, false otherwise].
    #[arg(long, value_name = "BOOL")]
    standardise_bands: Option<bool>,
    /// Start each task's inner loop with the head from the support's class
    /// prototypes (Proto-MAML), as `adapt` does for per-pixel models [default: false].
    #[arg(long, value_name = "BOOL")]
    prototype_head: Option<bool>,
    /// `auto`, `cpu` or `cuda:N`.
    #[arg(long)]
    device: Option<String>,
    /// libtorch CPU threads (default: one per core; on a busy shared machine 1 can be
    /// much faster).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Meta-validate every N steps (0: never).
    #[arg(long, value_name = "N")]
    val_every: Option<u64>,
    /// What the model file keeps: the lowest meta-val loss, the highest meta-val
    /// accuracy, or the last step (config default: loss).
    #[arg(long, value_enum)]
    select: Option<SelectArg>,
    /// Continue from a checkpoint (usually `<stem>.last.safetensors`).
    #[arg(long, value_name = "CKPT")]
    resume: Option<PathBuf>,
    /// Where to write the JSONL log (default `<stem>.log.jsonl`).
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    #[command(flatten)]
    splits: super::split_args::SplitArgs,
    /// Replace existing outputs.
    #[arg(long)]
    overwrite: bool,
    /// Seed of initialisation and task sampling.
    #[arg(long)]
    seed: Option<u64>,
    /// Meta-batches to read ahead while a step trains (0: off; config default 2).
    #[arg(long, value_name = "N")]
    prefetch: Option<usize>,
}

/// `--arch` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ArchArg {
    Cnn,
    Unet,
    Pixel,
}

impl ArchArg {
    #[cfg_attr(not(feature = "train"), allow(dead_code))]
    fn arch(self) -> crate::model::spec::Arch {
        match self {
            ArchArg::Cnn => crate::model::spec::Arch::Cnn,
            ArchArg::Unet => crate::model::spec::Arch::Unet,
            ArchArg::Pixel => crate::model::spec::Arch::Pixel,
        }
    }
}
