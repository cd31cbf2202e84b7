//! `geomaml adapt`: few-shot adaptation of a meta-trained model to a new scene, in
//! the analyst's own classes, written as ONNX (`.onnx`, also for Deepness) or as an
//! adapted checkpoint (`.safetensors`).

use crate::error::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `geomaml adapt` (shared with `geomaml map --labels`).
#[derive(Debug, Clone, Args)]
pub struct AdaptFlags {
    /// Labelled points or polygons (GeoJSON, GeoPackage, Shapefile, any CRS).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Attribute holding the class (name or id); default: class, label, ...
    #[arg(long)]
    pub class_field: Option<String>,
    /// Layer of the label file [default: its only layer, or the one layer with a
    /// class field].
    #[arg(long)]
    pub layer: Option<String>,
    /// Smallest fraction of valid (not nodata, not masked) pixels in a shot's window.
    #[arg(long, default_value_t = crate::pixels::MIN_VALID)]
    pub min_valid: f64,
    /// Classes the map must have, comma-separated; each needs at least one label.
    #[arg(long, value_delimiter = ',')]
    pub classes: Option<Vec<String>>,
    /// Inner-loop step size (default: the model card's).
    #[arg(long)]
    pub inner_lr: Option<f64>,
    /// Inner-loop steps [default: the model card's, at least 20; `geomaml info`
    /// says how many].
    #[arg(long)]
    pub inner_steps: Option<usize>,
    /// Unlabelled scene windows used to estimate batch-norm statistics.
    #[arg(long, default_value_t = 64)]
    pub bn_windows: usize,
    /// Skip the cross-validated accuracy estimate over the labels.
    #[arg(long)]
    pub no_cross_validation: bool,
    /// Cross-validate adapting the whole network per fold, as the model was (one
    /// adaptation per fold), not its last layer only (see docs/analyst_loop.md).
    #[arg(long, conflicts_with = "no_cross_validation")]
    pub full_cross_validation: bool,
    /// Where to compute: auto, cpu or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Seed for the unlabelled window draw.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

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
    flags: AdaptFlags,
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
    /// Adapts, exports and reports.
    #[cfg(feature = "train")]
    pub fn run(&self) -> Result<ExitCode> {
        use crate::error::Error;
        let mut inputs = vec![self.model.as_path(), self.scene.as_path()];
        inputs.extend(self.flags.labels.as_deref());
        crate::output::refuse_input(&self.output, &inputs)?;
        let form = self.output_form()?;
        if self.output.exists() && !self.overwrite {
            return Err(Error::OutputExists {
                path: self.output.clone(),
            });
        }
        // Before the adaptation: minutes of work must not end in "cannot write".
        crate::output::check_writable(&self.output)?;
        let labels = self
            .flags
            .labels
            .clone()
            .ok_or_else(|| Error::config("--labels", "is required"))?;
        let mut adapted = run_adaptation(
            &self.flags,
            &self.model,
            &self.scene,
            &labels,
            self.bands.clone(),
        )?;
        // The model first: the accuracy estimate takes several adaptations and
        // must not hold it up.
        match form {
            Some(form) => {
                crate::export::export_file_as(
                    &adapted.checkpoint,
                    &self.output,
                    self.overwrite,
                    form,
                )?;
            }
            None => adapted.checkpoint.save(&self.output, self.overwrite)?,
        }
        eprintln!("wrote {}", self.output.display());
        report_accuracy(&mut adapted)?;
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&adapted.report).expect("report serialises")
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    /// The ONNX form `-o` asks for, or `None` for an adapted checkpoint; refuses any
    /// other extension before the work starts.
    #[cfg(feature = "train")]
    fn output_form(&self) -> Result<Option<crate::export::Form>> {
        let ext = self
            .output
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        match (ext.as_str(), self.deepness) {
            ("onnx", false) => Ok(Some(crate::export::Form::Native)),
            ("onnx", true) => Ok(Some(crate::export::Form::Deepness)),
            ("safetensors", false) => Ok(None),
            ("safetensors", true) => Err(crate::error::Error::config(
                "--deepness",
                "writes ONNX: name the output .onnx (export the .safetensors later with geomaml export --deepness)",
            )),
            _ => Err(crate::error::Error::config(
                "--output",
                format!(
                    "{}: name it .onnx (an ONNX model) or .safetensors (an adapted checkpoint)",
                    self.output.display()
                ),
            )),
        }
    }

    /// Without libtorch there is no adaptation.
    #[cfg(not(feature = "train"))]
    pub fn run(&self) -> Result<ExitCode> {
        Err(super::feature_missing("adapt", "train"))
    }
}

/// Computes the cross-validated accuracy of an adaptation (when asked for) and
/// prints it with its time on stderr.
#[cfg(feature = "train")]
pub(crate) fn report_accuracy(adapted: &mut crate::adapt::Adapted) -> Result<()> {
    let t0 = std::time::Instant::now();
    let warned = adapted.report.warnings.len();
    if let Some((acc, folds)) = adapted.estimate_accuracy()? {
        let what = adapted.report.estimate.describe();
        eprintln!(
            "held-out accuracy over the labels ({folds} spatial folds, {what}): {:.1}% ({:.1} s)",
            100.0 * acc,
            t0.elapsed().as_secs_f64()
        );
        if let Some(b) = adapted.report.baseline_accuracy {
            eprintln!(
                "  per-pixel nearest neighbour on the same folds:       {:.1}%",
                100.0 * b
            );
        }
        for w in &adapted.report.warnings[warned..] {
            eprintln!("warning: {w}");
        }
    }
    Ok(())
}

/// Runs adaptation and prints its human summary on stderr.
#[cfg(feature = "train")]
pub(crate) fn run_adaptation(
    flags: &AdaptFlags,
    model: &std::path::Path,
    scene: &std::path::Path,
    labels: &std::path::Path,
    bands: Option<String>,
) -> Result<crate::adapt::Adapted> {
    let t0 = std::time::Instant::now();
    let opts = crate::adapt::AdaptOptions {
        model: model.to_path_buf(),
        scene: scene.to_path_buf(),
        labels: labels.to_path_buf(),
        label_options: crate::labels::LabelOptions {
            class_field: flags.class_field.clone(),
            layer: flags.layer.clone(),
        },
        min_valid: flags.min_valid,
        bands,
        classes: flags.classes.clone(),
        inner_lr: flags.inner_lr,
        inner_steps: flags.inner_steps,
        bn_windows: flags.bn_windows,
        estimate: crate::adapt::AccuracyEstimate::from_flags(
            !flags.no_cross_validation,
            flags.full_cross_validation,
        ),
        device: crate::train::device::parse_device(&flags.device)?,
        seed: flags.seed,
    };
    let adapted = crate::adapt::adapt(&opts)?;
    let r = &adapted.report;
    eprintln!(
        "classes       {}",
        r.classes
            .iter()
            .map(|c| format!("{}={} {}", c.id, c.name, c.color))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for n in &r.legend_notes {
        eprintln!("note: {n}");
    }
    if !r.new_head_rows.is_empty() {
        eprintln!(
            "new output rows (not in the model's head, started from the mean of its rows): {}",
            r.new_head_rows.join(", ")
        );
    }
    let shots: Vec<String> = r
        .shots_per_class
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    eprintln!(
        "adapted on {} shots ({})",
        r.shots_per_class.values().sum::<usize>(),
        shots.join(", ")
    );
    let kept = if r.support_loss_rose {
        format!(
            " (support loss rose: weights after step {} kept)",
            r.steps_kept
        )
    } else {
        String::new()
    };
    eprintln!(
        "inner loop    lr {} x {} steps; support loss {:.3} -> {:.3}{kept}, support accuracy {:.1}%",
        r.inner_lr,
        r.inner_steps,
        r.support_loss.0,
        r.support_loss.1,
        100.0 * r.support_accuracy
    );
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    eprintln!("adaptation took {:.1} s", t0.elapsed().as_secs_f64());
    Ok(adapted)
}
