//! `geomaml synth`: synthetic data sets in the real layouts, deterministic by seed.

use crate::error::Result;
use crate::progress::Progress;
use crate::synth::{choice, deepglobe, scene, sen12ms, Appearance};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

mod run;

/// Options of `geomaml synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    /// A Sen12MS tree: ROIs*_<season>/{s1,s2,lc}_<region>/..._p<N>.tif, 10 m, UTM.
    Sen12ms(Sen12msArgs),
    /// DeepGlobe pairs: <id>_sat.jpg + <id>_mask.png in the DeepGlobe colour code.
    Deepglobe(DeepGlobeArgs),
    /// A 15-band scene of a region outside meta-train: scene.tif, truth.tif,
    /// labels.geojson.
    Scene(SceneArgs),
}

#[derive(Debug, Args)]
struct Sen12msArgs {
    /// Output folder (created; must not exist or be empty unless --overwrite).
    out: PathBuf,
    /// Region ids (`57,91`) or counts per split (`train:8,val:3,test:3`).
    #[arg(long, default_value = choice::DEFAULT_REGIONS)]
    regions: String,
    /// Seasons to write.
    #[arg(long, default_value = "spring,summer,fall,winter")]
    seasons: String,
    /// Patches per region and season.
    #[arg(long, default_value_t = 4)]
    patches: usize,
    /// Patch side in pixels (10 m each).
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Appearance model: `varied` (sub-types, mixtures, mixed pixels, terrain,
    /// haze, noisy training labels) or `classic` (one spectrum per class and scene,
    /// the first synthetic world; same bytes as before).
    #[arg(long, default_value = "varied")]
    appearance: String,
    /// Replace an existing output folder.
    #[arg(long)]
    overwrite: bool,
}

#[derive(Debug, Args)]
struct DeepGlobeArgs {
    /// Output folder.
    out: PathBuf,
    /// Number of image/mask pairs.
    #[arg(long, default_value_t = 9)]
    images: usize,
    /// Image side in pixels.
    #[arg(long, default_value_t = 2448)]
    size: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Replace an existing output folder.
    #[arg(long)]
    overwrite: bool,
}

#[derive(Debug, Args)]
struct SceneArgs {
    /// Output folder (scene.tif, truth.tif, labels.geojson).
    out: PathBuf,
    /// Region id; must be a meta-val or meta-test region.
    #[arg(long, default_value_t = 91)]
    region: u32,
    /// Season.
    #[arg(long, default_value = "summer")]
    season: String,
    /// Scene side in pixels (10 m each).
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Labelled points per class.
    #[arg(long, default_value_t = 5)]
    points: usize,
    /// Seed; use the seed of the synth sen12ms tree a model was trained on.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Appearance model: `varied` (sub-types, mixtures, mixed pixels, terrain,
    /// haze, noisy training labels) or `classic` (one spectrum per class and scene,
    /// the first synthetic world; same bytes as before).
    #[arg(long, default_value = "varied")]
    appearance: String,
    /// Replace an existing output folder.
    #[arg(long)]
    overwrite: bool,
}

/// Progress of the writers: a bar on a terminal, lines with `GEOMAML_PROGRESS=lines`.
fn progress() -> Progress {
    Progress::for_stderr("{msg} [{bar:30}] {pos}/{len} {elapsed}")
}
