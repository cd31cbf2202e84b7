//! `geomaml tasks CATALOG`: prints sampled few-shot tasks as JSON lines.

use super::split_args::SplitArgs;
use crate::catalog::{Catalog, Split};
use crate::error::{Error, Result};
use crate::tasks::{SamplerConfig, Splits, TaskSampler, TileIndex};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `geomaml tasks`.
#[derive(Debug, Args)]
pub struct TasksArgs {
    /// catalog.json written by `geomaml catalog`.
    catalog: PathBuf,
    /// Classes per task (n-way; ignored for DeepGlobe, whose tasks hold all classes).
    #[arg(long, default_value_t = 4)]
    way: usize,
    /// Support tiles per class (k-shot); DeepGlobe: support crops per image.
    #[arg(long, default_value_t = 2)]
    shot: usize,
    /// Query tiles per class; DeepGlobe: query sub-images per image.
    #[arg(long, default_value_t = 2)]
    query: usize,
    /// Split to draw from: train, val, test, or all.
    #[arg(long, default_value = "train")]
    split: String,
    #[command(flatten)]
    splits: SplitArgs,
    /// Number of tasks.
    #[arg(long, default_value_t = 10)]
    count: usize,
    /// Seed of the draw.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

impl TasksArgs {
    /// Samples and prints the tasks.
    pub fn run(&self) -> Result<ExitCode> {
        let split = match self.split.as_str() {
            "all" => None,
            s => Some(
                s.parse::<Split>()
                    .map_err(|e| Error::config_source("--split", "", e))?,
            ),
        };
        let catalog = Catalog::load(&self.catalog)?;
        let strategy = self.splits.strategy();
        let splits = Splits::for_catalog(&catalog, &strategy)?;
        let index = TileIndex::new(&catalog, &splits);
        let config = SamplerConfig {
            way: self.way,
            shot: self.shot,
            query: self.query,
            split,
        };
        let sampler = TaskSampler::new(&index, config)?;
        let tasks = sampler.sample_many(self.count, self.seed)?;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for t in &tasks {
            let line = serde_json::to_string(t)
                .map_err(|e| Error::runtime_source("writing a task as JSON", e))?;
            if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                return Ok(ExitCode::SUCCESS); // closed pipe (`| head`)
            }
        }
        eprintln!(
            "{} {:?} tasks from {} (season, region) pairs of split {}",
            tasks.len(),
            sampler.kind(),
            sampler.group_count(),
            self.split
        );
        Ok(ExitCode::SUCCESS)
    }
}
