//! `geomaml adapt`: few-shot adaptation of a meta-trained model to a new scene, in
//! the analyst's own classes, written as ONNX (`.onnx`, also for Deepness) or as an
//! adapted checkpoint (`.safetensors`).

use crate::error::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `geomaml adapt`.
#[derive(Debug, Args)]
pub struct AdaptArgs {
    /// Meta-trained model (.safetensors).
    #[arg(long)]
    model: PathBuf,
    /// Scene of the new region (any raster GDAL reads).
    #[arg(long)]
    scene: PathBuf,
    /// Scene bands feeding the model, in the card's order (indices or names).
    #[arg(long)]
    bands: Option<String>,
    #[command(flatten)]
    flags: super::adapt_flags::AdaptFlags,
    /// The adapted model: `.onnx` (for `map`, the GDAL driver, QGIS) or
    /// `.safetensors` (an adapted checkpoint that `map`, `export` and `info` take).
    #[arg(short, long)]
    output: PathBuf,
    /// Write the ONNX model in the contract of the Deepness QGIS plugin (see
    /// `geomaml export --deepness`); `-o` must end in .onnx.
    #[arg(long)]
    deepness: bool,
    /// Replace an existing output.
    #[arg(long)]
    overwrite: bool,
    /// Print the adaptation report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

impl AdaptArgs {
    /// Adapts, writes the model, then estimates its accuracy and reports.
    #[cfg(feature = "train")]
    pub fn run(&self) -> Result<ExitCode> {
        use crate::error::Error;
        let mut inputs = vec![self.model.as_path(), self.scene.as_path()];
        inputs.extend(self.flags.labels.as_deref());
        // Before the adaptation: minutes of work must not end in "cannot write".
        crate::output::check_new_output(&self.output, self.overwrite, &inputs)?;
        let form = crate::export::form_for(&self.output, self.deepness)?;
        let options = self
            .flags
            .adaptation(&self.model, &self.scene, self.bands.clone())?
            .ok_or_else(|| Error::config("--labels", "is required"))?;
        let t0 = std::time::Instant::now();
        let mut adapted = crate::adapt::adapt(&options)?;
        super::adapt_report::print_adaptation(&adapted.report, t0.elapsed().as_secs_f64());
        // The model first: the accuracy estimate takes several adaptations and
        // must not hold it up.
        crate::export::write_model(&adapted.checkpoint, &self.output, self.overwrite, form)?;
        eprintln!("wrote {}", self.output.display());
        super::adapt_report::report_accuracy(&mut adapted)?;
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&adapted.report).expect("report serialises")
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Without libtorch there is no adaptation.
    #[cfg(not(feature = "train"))]
    pub fn run(&self) -> Result<ExitCode> {
        Err(super::feature_missing("adapt", "train"))
    }
}
