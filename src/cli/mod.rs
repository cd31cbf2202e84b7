//! Command-line interface: one subcommand per file, each with `Args::run()`.
//!
//! clap types stay here; library code never sees them. Exit codes: 0 success,
//! 1 failure (one `geomaml: ...` line), 2 bad usage (clap), 3 a batch run that
//! finished with some scenes failed ([`EXIT_SOME_FAILED`]), 130/143 interrupted by
//! SIGINT/SIGTERM.

mod adapt;
mod adapt_flags;
mod adapt_report;
mod assess;
mod catalog;
mod doctor;
pub mod entry;
mod evaluate;
mod export;
mod info;
mod map;
mod map_flags;
mod panics;
mod schemas;
mod split_args;
mod store;
mod suggest;
mod synth;
mod tasks;
mod train;

use crate::error::Result;
use clap::{Parser, Subcommand};

/// Exit code of `map --manifest` when the run finished but some scenes failed
/// (listed in its summary), as opposed to 1 for a run that failed as a whole.
pub const EXIT_SOME_FAILED: u8 = 3;
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
    /// Write synthetic data in the real layouts: a Sen12MS tree, DeepGlobe pairs, or a
    /// scene of a held-out region with labelled points.
    Synth(synth::SynthArgs),
    /// Scan a Sen12MS or DeepGlobe tree into catalog.json (tiles, labels, footprints).
    Catalog(catalog::CatalogArgs),
    /// Decode every tile of a catalog once into a tile store beside it
    /// (`catalog.store/`), which train and evaluate then read instead of the files.
    Store(store::StoreArgs),
    /// Print sampled few-shot tasks of a catalog as JSON lines.
    Tasks(tasks::TasksArgs),
    /// Meta-train (MAML) or pretrain a model on a catalog's tasks; writes a checkpoint
    /// with its model card and a JSONL log.
    Train(Box<train::TrainArgs>),
    /// Few-shot evaluation on meta-test tasks: fine-tune each model on k shots,
    /// score the query sets; writes report.json, curves.csv and curves.svg.
    Evaluate(Box<evaluate::EvaluateArgs>),
    /// Export a checkpoint to ONNX (model card in its metadata, Deepness keys too).
    Export(export::ExportArgs),
    /// Adapt a meta-trained model to a new scene from a few labelled points or
    /// polygons; writes the adapted model as ONNX.
    Adapt(adapt::AdaptArgs),
    /// Map a scene into a georeferenced land-cover GeoTIFF (ONNX model, or a
    /// checkpoint adapted on the fly with --labels).
    Map(Box<map::MapArgs>),
    /// Suggest where to label next: uncertain places spread over the scene and its
    /// classes, as a point layer (GeoJSON or GeoPackage).
    Suggest(Box<suggest::SuggestArgs>),
    /// Assess a land-cover map against a reference raster or labelled points/polygons.
    Assess(assess::AssessArgs),
    /// Print the model card of a .safetensors checkpoint or an .onnx model.
    Info(info::InfoArgs),
    /// Write the JSON Schemas of geomaml's file formats into a folder.
    Schemas(schemas::SchemasArgs),
}

impl Cli {
    /// Runs the chosen subcommand.
    pub fn run(self) -> Result<ExitCode> {
        match self.command {
            Command::Doctor(a) => a.run(),
            Command::Synth(a) => a.run(),
            Command::Catalog(a) => a.run(),
            Command::Store(a) => a.run(),
            Command::Tasks(a) => a.run(),
            Command::Train(a) => a.run(),
            Command::Evaluate(a) => a.run(),
            Command::Export(a) => a.run(),
            Command::Adapt(a) => a.run(),
            Command::Map(a) => a.run(),
            Command::Suggest(a) => a.run(),
            Command::Assess(a) => a.run(),
            Command::Info(a) => a.run(),
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
