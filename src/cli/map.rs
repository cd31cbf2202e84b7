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

impl MapArgs {
    /// Maps the scene; prints a summary.
    #[cfg(feature = "infer")]
    pub fn run(&self) -> Result<ExitCode> {
        if let Some(manifest) = &self.manifest {
            return self.run_batch(manifest);
        }
        let scene = self.scene()?;
        let mut inputs = vec![self.model.as_path(), scene.as_path()];
        inputs.extend(self.adapt.labels.as_deref());
        crate::infer::mapper::check_outputs(&self.output, self.overwrite, scene, &inputs)?;
        // A .safetensors model is adapted to the scene first; the adapted ONNX model
        // lives beside the output only while mapping.
        let adaptation = self
            .adapt
            .adaptation(&self.model, scene, self.map.bands.clone())?;
        let mut model = super::adapt_report::resolve_model(
            &self.model,
            adaptation,
            crate::map_model::Unadapted::Refuse,
            &self.output,
        )?;
        let cfg = crate::infer::MapConfig {
            request: crate::infer::MapRequest {
                recorded_model: Some(self.model.clone()),
                ..self.map.request(&model.onnx, scene, self.options())
            },
            output: self.output.clone(),
            cog: self.cog,
            overwrite: self.overwrite,
            progress: true,
        };
        let s = crate::infer::map_scene(&cfg)?;
        eprintln!(
            "mapped {}x{} px into {}x{} ({} windows) in {:.1} s, {:.2} Mpx/s: {}",
            s.scene_size.0,
            s.scene_size.1,
            s.map_size.0,
            s.map_size.1,
            s.windows,
            s.seconds,
            s.megapixels_per_s,
            s.output.display()
        );
        // The adaptation's accuracy estimate, once the map is written.
        super::adapt_report::report_model_accuracy(&mut model)?;
        if self.json {
            println!("{}", serde_json::to_string(&s).expect("summary serialises"));
        }
        Ok(ExitCode::SUCCESS)
    }

    /// The map options the flags ask for.
    #[cfg(feature = "infer")]
    fn options(&self) -> crate::infer::MapOptions {
        let outputs = crate::infer::MapOptions {
            probabilities: self.probabilities,
            confidence: self.confidence,
            min_confidence: self.min_confidence,
            ..Default::default()
        };
        self.map.options(self.adapt.min_valid, outputs)
    }

    /// The scene (clap requires it unless --manifest is given).
    #[cfg(feature = "infer")]
    fn scene(&self) -> Result<&PathBuf> {
        self.scene
            .as_ref()
            .ok_or_else(|| crate::Error::config("SCENE", "give the scene to map, or --manifest"))
    }

    /// Without the `infer` feature: a clear error.
    #[cfg(not(feature = "infer"))]
    pub fn run(&self) -> Result<ExitCode> {
        Err(super::feature_missing("map", "infer"))
    }
}
