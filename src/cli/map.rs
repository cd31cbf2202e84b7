//! `geomaml map --model M.onnx SCENE.tif -o MAP.tif`: a georeferenced land-cover map.
//!
//! With `--manifest SCENES -o OUT_DIR` it maps many scenes (batch mode, see
//! [`crate::bulk`]): COGs plus sidecars in OUT_DIR, idempotent, sharded with
//! `--shard I/N` or the array index of Kubernetes, Slurm or AWS Batch.

use crate::error::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Work left for after the map is written.
#[cfg(feature = "infer")]
type AfterMap = Box<dyn FnOnce() -> Result<()>>;

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
    #[arg(long, conflicts_with = "scene", value_name = "I/N")]
    shard: Option<String>,
    /// With --manifest: the number of shards N when the index comes from the
    /// scheduler (JOB_COMPLETION_INDEX, AWS_BATCH_JOB_ARRAY_INDEX) [default:
    /// GEOMAML_SHARDS, or SLURM_ARRAY_TASK_COUNT under Slurm].
    #[arg(long, conflicts_with = "scene", value_name = "N")]
    shards: Option<usize>,
    /// With --manifest: map scenes again even when they are done.
    #[arg(long, conflicts_with = "scene")]
    force: bool,
    /// Window step in scene pixels; classifiers write one class per step
    /// [default: tile/4 for classifiers, tile/2 for segmentation].
    #[arg(long)]
    stride: Option<usize>,
    /// Windows per inference batch.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Also write <stem>.probabilities.tif: one confidence band per class (percent,
    /// named p_<class>).
    #[arg(long)]
    probabilities: bool,
    /// Also write <stem>.confidence.tif: how sure the map is per cell, the margin
    /// between the two most likely classes in percent (0 = a tie, 100 = certain;
    /// nodata 255 where the map has none). Label where it is low.
    #[arg(long)]
    confidence: bool,
    /// Write a Cloud-Optimised GeoTIFF with overviews.
    #[arg(long)]
    cog: bool,
    /// Scene bands feeding the model's bands, in the model's order: 1-based indices
    /// or band names, comma-separated (default: match by name).
    #[arg(long)]
    bands: Option<String>,
    /// Classifiers: run every window on its own, exactly like a plain sliding window,
    /// instead of computing shared convolutional feature maps once per block.
    #[arg(long)]
    exact: bool,
    /// ONNX Runtime threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Replace the output if it exists.
    #[arg(long)]
    overwrite: bool,
    /// Print the run summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Few-shot adaptation before mapping (with a .safetensors model).
    #[command(flatten)]
    adapt: super::adapt::AdaptFlags,
}

impl MapArgs {
    /// Maps the scene; prints a summary.
    #[cfg(feature = "infer")]
    pub fn run(&self) -> Result<ExitCode> {
        if let Some(manifest) = &self.manifest {
            return self.run_batch(manifest);
        }
        let mut inputs = vec![self.model.as_path(), self.scene()?.as_path()];
        inputs.extend(self.adapt.labels.as_deref());
        let probabilities = crate::infer::sink::probabilities_path(&self.output);
        let confidence = crate::infer::sink::confidence_path(&self.output);
        for out in [&self.output, &probabilities, &confidence] {
            crate::output::refuse_input(out, &inputs)?;
        }
        if self.output.exists() && !self.overwrite {
            return Err(crate::Error::OutputExists {
                path: self.output.clone(),
            });
        }
        // A .safetensors model is adapted to the scene first; the adapted ONNX model
        // lives beside the output only while mapping.
        let (adapted, after_map) = match self.adapted_model()? {
            Some((temp, after)) => (Some(temp), Some(after)),
            None => (None, None),
        };
        let model = adapted
            .as_ref()
            .map(|p| p.temp_path().to_path_buf())
            .unwrap_or_else(|| self.model.clone());
        let cfg = crate::infer::MapConfig {
            model,
            scene: self.scene()?.clone(),
            output: self.output.clone(),
            stride: self.stride,
            batch_size: self.batch_size,
            probabilities: self.probabilities,
            confidence: self.confidence,
            cog: self.cog,
            bands: self.bands.clone(),
            overwrite: self.overwrite,
            threads: self.threads,
            progress: true,
            exact: self.exact,
            min_valid: self.adapt.min_valid,
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
        if let Some(after) = after_map {
            after()?;
        }
        if self.json {
            println!("{}", serde_json::to_string(&s).expect("summary serialises"));
        }
        Ok(ExitCode::SUCCESS)
    }

    /// The scene (clap requires it unless --manifest is given).
    #[cfg(feature = "infer")]
    fn scene(&self) -> Result<&PathBuf> {
        self.scene
            .as_ref()
            .ok_or_else(|| crate::Error::config("SCENE", "give the scene to map, or --manifest"))
    }

    /// Batch mode: every scene of the manifest (this shard's) into the folder -o.
    #[cfg(feature = "infer")]
    fn run_batch(&self, manifest: &std::path::Path) -> Result<ExitCode> {
        use crate::bulk::{run_batch, BatchConfig, MapOptions, Shard};
        use crate::Error;
        if self.adapt.labels.is_some() {
            return Err(Error::config(
                "--labels",
                "adapts one model to one scene; with --manifest, adapt first (geomaml adapt -o M.onnx) and map with --model M.onnx",
            ));
        }
        if self.overwrite {
            return Err(Error::config(
                "--overwrite",
                "with --manifest, use --force to map scenes that are done again",
            ));
        }
        let shard = Shard::resolve(self.shard.as_deref(), self.shards, |k| {
            std::env::var(k).ok()
        })?;
        let cfg = BatchConfig {
            model: self.model.clone(),
            manifest: manifest.to_path_buf(),
            asset: self.asset.clone(),
            out_dir: self.output.clone(),
            shard,
            force: self.force,
            options: MapOptions {
                stride: self.stride,
                bands: self.bands.clone(),
                exact: self.exact,
                probabilities: self.probabilities,
                confidence: self.confidence,
                min_valid: self.adapt.min_valid,
            },
            batch_size: self.batch_size,
            threads: self.threads,
        };
        let s = run_batch(&cfg)?;
        eprintln!(
            "shard {}: {} mapped, {} skipped, {} failed of {} scenes in {:.1} s; summary {}",
            s.shard,
            s.mapped,
            s.skipped,
            s.failed,
            s.scenes,
            s.seconds,
            s.summary.display()
        );
        if self.json {
            println!("{}", serde_json::to_string(&s).expect("summary serialises"));
        }
        if s.failed > 0 {
            // The run itself finished: a scheduler can tell this from a crash (1).
            eprintln!(
                "geomaml: {} of {} scenes failed (see {})",
                s.failed,
                s.scenes,
                s.summary.display()
            );
            return Ok(ExitCode::from(super::EXIT_SOME_FAILED));
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Adapts a .safetensors model with --labels, exported to a temporary .onnx;
    /// also returns what to run once the map is written (the accuracy estimate).
    #[cfg(feature = "infer")]
    fn adapted_model(&self) -> Result<Option<(crate::output::PendingOutput, AfterMap)>> {
        use crate::Error;
        let is_checkpoint = self
            .model
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
        match (&self.adapt.labels, is_checkpoint) {
            (None, false) => Ok(None),
            (Some(_), false) => Err(Error::config(
                "--labels",
                format!(
                    "adapts a meta-trained .safetensors model; {} is not one",
                    self.model.display()
                ),
            )),
            (None, true) => Err(Error::config(
                "--model",
                format!(
                    "{} is a checkpoint: give --labels to adapt it, or export it to .onnx first",
                    self.model.display()
                ),
            )),
            #[cfg(feature = "train")]
            (Some(labels), true) => {
                let mut adapted = super::adapt::run_adaptation(
                    &self.adapt,
                    &self.model,
                    self.scene()?,
                    labels,
                    self.bands.clone(),
                )?;
                let stem = self
                    .output
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_default();
                let temp = crate::output::PendingOutput::new(
                    self.output.with_file_name(format!("{stem}.adapted.onnx")),
                    true,
                )?;
                crate::export::export_file(&adapted.checkpoint, temp.temp_path(), false)?;
                let after: AfterMap = Box::new(move || super::adapt::report_accuracy(&mut adapted));
                Ok(Some((temp, after)))
            }
            #[cfg(not(feature = "train"))]
            (Some(_), true) => Err(super::feature_missing("map --labels", "train")),
        }
    }

    /// Without the `infer` feature: a clear error.
    #[cfg(not(feature = "infer"))]
    pub fn run(&self) -> Result<ExitCode> {
        Err(super::feature_missing("map", "infer"))
    }
}
