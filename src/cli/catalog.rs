//! `geomaml catalog ROOT -o catalog.json`: scans a Sen12MS or DeepGlobe tree.

use crate::catalog::{self, DatasetKind, ScanOptions};
use crate::error::{Error, Result};
use crate::progress::Progress;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `geomaml catalog`.
#[derive(Debug, Args)]
pub struct CatalogArgs {
    /// Dataset folder (a Sen12MS `ROIs*` tree or a DeepGlobe folder).
    root: PathBuf,
    /// Where to write the catalog.
    #[arg(short, long, default_value = "catalog.json")]
    output: PathBuf,
    /// Dataset layout: `sen12ms` or `deepglobe` (detected when omitted).
    #[arg(long)]
    kind: Option<DatasetKind>,
    /// Sen12MS tile edge in pixels (128 cuts a 256 px patch into four tiles).
    #[arg(long, default_value_t = 128)]
    tile_size: u32,
    /// A tile with fewer labelled pixels than this share gets no label.
    #[arg(long, default_value_t = 0.5)]
    min_valid: f32,
    /// Seed of the DeepGlobe support/query draw of sub-images.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Replace an existing output.
    #[arg(long)]
    overwrite: bool,
}

impl CatalogArgs {
    /// Scans, writes the catalog, prints a summary on stderr.
    pub fn run(&self) -> Result<ExitCode> {
        if !(0.0..=1.0).contains(&self.min_valid) {
            return Err(Error::config("--min-valid", "must be between 0 and 1"));
        }
        crate::output::refuse_input(&self.output, &[&self.root])?;
        if self.output.exists() && !self.overwrite {
            return Err(Error::OutputExists {
                path: self.output.clone(),
            });
        }
        let options = ScanOptions {
            tile_size: self.tile_size,
            min_valid_fraction: self.min_valid,
            seed: self.seed,
            progress: Progress::for_stderr("{msg} {bar:30} {pos}/{len} ({eta})"),
        };
        let cat = catalog::scan(&self.root, self.kind, &options)?;
        crate::output::refuse_reached_input(&self.output, &self.root, cat.files())?;
        let path = cat.save(&self.output, self.overwrite)?;
        eprintln!("{}", cat.describe());
        eprintln!("wrote {}", path.display());
        Ok(ExitCode::SUCCESS)
    }
}
