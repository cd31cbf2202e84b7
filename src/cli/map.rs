//! `geomaml map --model M.onnx SCENE.tif -o MAP.tif`: a georeferenced land-cover map.
//!
//! With `--manifest SCENES -o OUT_DIR` it maps many scenes (batch mode, see
//! [`crate::bulk`]): COGs plus sidecars in OUT_DIR, idempotent, sharded with
//! `--shard I/N` or the array index of Kubernetes, Slurm or AWS Batch.

#[cfg(feature = "infer")]
mod manifest;

use crate::error::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

mod scene;

/// Options of `geomaml map`.
#[derive(Debug, Args)]
pub struct MapArgs {
    /// The model: an exported .onnx, or a meta-trained .safetensors together with
    /// --labels (adapt and map in one go).
    #[arg(long)]
    model: PathBuf,
    /// The scene to map (any raster GDAL reads); not with --manifest.
    #[arg(required_unless_present = "manifest", conflicts_with = "manifest")]
    scene: Option<PathBuf>,
    /// The map to write (GeoTIFF); with --manifest, the output folder.
    #[arg(short, long)]
    output: PathBuf,
    /// Batch mode: map every scene of this manifest (a text file of paths/URLs, one
    /// per line, or a STAC ItemCollection/Item JSON) into the folder given by -o,
    /// as COGs with sidecar JSONs; scenes already mapped with the same model are
    /// skipped.
    #[arg(long, value_name = "SCENES")]
    manifest: Option<PathBuf>,
    /// With --manifest: the STAC asset to map [default: the first GeoTIFF asset,
    /// else `data` or `visual`].
    #[arg(long, conflicts_with = "scene")]
    asset: Option<String>,
    /// With --manifest: map only shard I of N (0-based), e.g. 2/8 [default: from
    /// JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID or AWS_BATCH_JOB_ARRAY_INDEX, else
    /// everything].
    #[arg(long, conflicts_with = "scene", value_name = "I/N", value_parser = shard_arg)]
    shard: Option<String>,
    /// With --manifest: the number of shards N when the index comes from the
    /// scheduler (JOB_COMPLETION_INDEX, AWS_BATCH_JOB_ARRAY_INDEX) [default:
    /// GEOMAML_SHARDS, or SLURM_ARRAY_TASK_COUNT under Slurm].
    #[arg(long, conflicts_with = "scene", value_name = "N")]
    shards: Option<usize>,
    /// With --manifest: map scenes again even when they are done.
    #[arg(long, conflicts_with = "scene")]
    force: bool,
    /// How the scene is mapped.
    #[command(flatten)]
    map: super::map_flags::MapFlags,
    /// Also write <stem>.probabilities.tif: one confidence band per class (percent,
    /// named p_<class>).
    #[arg(long)]
    probabilities: bool,
    /// Also write <stem>.confidence.tif: how sure the map is per cell, the margin
    /// between the two most likely classes in percent (0 = a tie, 100 = certain;
    /// nodata 255 where no class could be computed, such as scene gaps). Label where
    /// it is low.
    #[arg(long)]
    confidence: bool,
    /// Write a Cloud-Optimised GeoTIFF with overviews.
    #[arg(long)]
    cog: bool,
    /// Cells whose two most likely classes are closer than this many percent are
    /// left nodata in the map (their probabilities and confidence are still
    /// written); 0 maps every cell.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    min_confidence: u8,
    /// Replace the output if it exists.
    #[arg(long)]
    overwrite: bool,
    /// Print the run summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Few-shot adaptation before mapping (with a .safetensors model).
    #[command(flatten)]
    adapt: super::adapt_flags::AdaptFlags,
}

/// Checks `--shard I/N` while parsing, so that a malformed or out-of-range shard is
/// a usage error (exit 2, with clap's usage line) rather than a failed run.
fn shard_arg(text: &str) -> std::result::Result<String, String> {
    #[cfg(feature = "infer")]
    crate::bulk::shard::parse_shard_arg(text)?;
    Ok(text.to_string())
}
