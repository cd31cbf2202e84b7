//! `geomaml evaluate CATALOG --model M [--model M2 ...|random] --shots 0,1,2,5,10 -o DIR`:
//! few-shot evaluation on meta-test tasks (Russwurm et al. 2020, figure 5).
//!
//! The options become a checked [`crate::eval::run::EvaluatePlan`]; the work is
//! [`crate::eval::run::evaluate`]. Needs the `train` feature (libtorch); without it
//! the command explains that.

use crate::error::Result;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

mod run;

/// Grid searched for the adaptation step size and steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GridArg {
    /// Step sizes {0.01, 0.05, 0.1, 0.32, 0.5, 1} x steps {1, 5, 10, 20}: minutes on CPU.
    Small,
    /// The paper's: 13 step sizes 0.001 .. 1 x steps {1, 2, 5, 10, 50, 100}.
    Paper,
}

/// Options of `geomaml evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// catalog.json written by `geomaml catalog`.
    catalog: PathBuf,
    /// A checkpoint (.safetensors) to evaluate, or `random` for the randomly
    /// initialised network; repeat for several models.
    #[arg(long = "model", value_name = "MODEL", required = true)]
    models: Vec<String>,
    /// Shot counts (support examples per class; 0: no adaptation).
    #[arg(long, value_delimiter = ',', default_value = "0,1,2,5,10")]
    shots: Vec<usize>,
    /// Meta-test tasks (the same for every model and shot count).
    #[arg(long, default_value_t = 100)]
    tasks: usize,
    /// Classes per task (n-way; ignored for DeepGlobe).
    #[arg(long, default_value_t = 4)]
    way: usize,
    /// Query examples per class (DeepGlobe: query sub-images per task).
    #[arg(long, default_value_t = 10)]
    query: usize,
    /// Split the tasks come from.
    #[arg(long, default_value = "test")]
    split: String,
    #[command(flatten)]
    splits: super::split_args::SplitArgs,
    /// Fixed adaptation step size (with --inner-steps; skips the grid search).
    #[arg(long, requires = "inner_steps")]
    inner_lr: Option<f64>,
    /// Fixed adaptation steps (with --inner-lr).
    #[arg(long, requires = "inner_lr")]
    inner_steps: Option<usize>,
    /// Grid searched on meta-validation tasks when no fixed settings are given.
    #[arg(long, value_enum, default_value_t = GridArg::Small)]
    grid: GridArg,
    /// Step sizes to search instead of the grid's (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "LRS")]
    grid_lrs: Option<Vec<f64>>,
    /// Step counts to search instead of the grid's (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "STEPS")]
    grid_steps: Option<Vec<usize>>,
    /// Meta-validation tasks the grid search scores on.
    #[arg(long, default_value_t = 10)]
    grid_tasks: usize,
    /// Seed of the task draw (and of the random initialisation).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// libtorch CPU threads (default: one per core; on a busy shared machine 1 can be
    /// much faster).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// `auto`, `cpu` or `cuda:N`.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Tasks adapted together in one batched pass, in the grid search and the
    /// scoring (1: one task at a time; 0: all tasks at once; default 16 on CUDA, 1 on
    /// CPU). Results agree to float rounding.
    #[arg(long, value_name = "N")]
    task_group: Option<usize>,
    /// Also adapt every model to every task at the largest shot count and write
    /// trajectories.json, trajectories_pca.svg/.png (PCA of the adapted weights,
    /// coloured by region) and trajectories_loss.svg/.png (query loss and accuracy
    /// at step sizes 0..1 along the support gradient).
    #[arg(long)]
    trajectories: bool,
    /// Read the dataset files even when a tile store (`geomaml store`) is beside the
    /// catalog.
    #[arg(long)]
    no_store: bool,
    /// Output folder (report.json, curves.csv, curves.svg, curves.png).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: PathBuf,
    /// Write into an existing, non-empty output folder, replacing its files.
    #[arg(long)]
    overwrite: bool,
}
