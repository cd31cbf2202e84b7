//! `geomaml map --model M.onnx SCENE.tif -o MAP.tif`: a georeferenced land-cover map.

use crate::error::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `geomaml map`.
#[derive(Debug, Args)]
pub struct MapArgs {
    /// The exported model (.onnx with a geomaml model card).
    #[arg(long)]
    model: PathBuf,
    /// The scene to map (any raster GDAL reads).
    scene: PathBuf,
    /// The map to write (GeoTIFF).
    #[arg(short, long)]
    output: PathBuf,
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
}

impl MapArgs {
    /// Maps the scene; prints a summary.
    #[cfg(feature = "infer")]
    pub fn run(&self) -> Result<ExitCode> {
        let cfg = crate::infer::MapConfig {
            model: self.model.clone(),
            scene: self.scene.clone(),
            output: self.output.clone(),
            stride: self.stride,
            batch_size: self.batch_size,
            probabilities: self.probabilities,
            cog: self.cog,
            bands: self.bands.clone(),
            overwrite: self.overwrite,
            threads: self.threads,
            progress: true,
            exact: self.exact,
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
        if self.json {
            println!("{}", serde_json::to_string(&s).expect("summary serialises"));
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Without the `infer` feature: a clear error.
    #[cfg(not(feature = "infer"))]
    pub fn run(&self) -> Result<ExitCode> {
        Err(super::feature_missing("map", "infer"))
    }
}
