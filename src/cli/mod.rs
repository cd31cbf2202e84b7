//! Command-line interface: one subcommand per file, each with `Args::run()`.
//!
//! clap types stay here; library code never sees them. Exit codes: 0 success,
//! 1 failure (one `geomaml: ...` line), 2 bad usage (clap).

mod doctor;
mod schemas;

use crate::error::Result;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Few-shot land-cover mapping: meta-train with MAML, adapt from a handful of labels,
/// write georeferenced land-cover maps.
#[derive(Debug, Parser)]
#[command(name = "geomaml", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Report versions of GDAL, PROJ, libtorch (CUDA), ONNX Runtime, and what is missing.
    Doctor(doctor::DoctorArgs),
    /// Write the JSON Schemas of geomaml's file formats into a folder.
    Schemas(schemas::SchemasArgs),
}

impl Cli {
    /// Runs the chosen subcommand.
    pub fn run(self) -> Result<ExitCode> {
        match self.command {
            Command::Doctor(a) => a.run(),
            Command::Schemas(a) => a.run(),
        }
    }
}

/// Builds the error for a command whose feature this build lacks.
#[allow(dead_code)]
pub(crate) fn feature_missing(command: &str, feature: &str) -> crate::Error {
    crate::Error::FeatureMissing {
        command: command.into(),
        feature: feature.into(),
    }
}
