//! `geomaml suggest --model M SCENE -o next.gpkg`: where to label next.
//!
//! With an .onnx model the scene is mapped as it is; with a meta-trained
//! .safetensors model it is first adapted on `--labels` (or exported unadapted when
//! there are none). See [`crate::suggest`] for the choice.

use crate::error::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `geomaml suggest`.
#[derive(Debug, Args)]
pub struct SuggestArgs {
    /// The model: an adapted or exported .onnx, or a meta-trained .safetensors
    /// (adapted on --labels first, when given).
    #[arg(long)]
    model: PathBuf,
    /// The scene to label (any raster GDAL reads).
    scene: PathBuf,
    /// The point layer to write: .geojson or .gpkg.
    #[arg(short, long)]
    output: PathBuf,
    /// Places to suggest.
    #[arg(short = 'n', long = "count", default_value_t = 20)]
    count: usize,
    /// Smallest distance in scene pixels between two suggestions, and between a
    /// suggestion and a label [default: a tile classifier's tile size; 16 px for
    /// per-pixel models, whose tile is only a compute window].
    #[arg(long)]
    spacing: Option<usize>,
    /// CRS of the written points (e.g. EPSG:4326) [default: the scene's].
    #[arg(long)]
    crs: Option<String>,
    /// How the scene is mapped, as in `geomaml map`.
    #[command(flatten)]
    map: super::map_flags::MapFlags,
    /// Replace the output if it exists.
    #[arg(long)]
    overwrite: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// The labels so far (they are avoided, and their classes counted), and how
    /// to adapt a .safetensors model on them.
    #[command(flatten)]
    adapt: super::adapt_flags::AdaptFlags,
}

impl SuggestArgs {
    /// Suggests and prints a summary.
    #[cfg(feature = "infer")]
    pub fn run(&self) -> Result<ExitCode> {
        let mut inputs = vec![self.model.as_path(), self.scene.as_path()];
        inputs.extend(self.adapt.labels.as_deref());
        crate::suggest::check_before_work(
            &self.output,
            self.overwrite,
            self.count,
            self.crs.as_deref(),
            &inputs,
        )?;
        // The labels so far adapt a checkpoint (without an accuracy estimate: the
        // labels are being chosen); with an .onnx they are only avoided and counted.
        let mut flags = self.adapt.clone();
        flags.no_cross_validation = true;
        let adaptation = match crate::map_model::is_checkpoint(&self.model) {
            true => flags.adaptation(&self.model, &self.scene, self.map.bands.clone())?,
            false => None,
        };
        let model = super::adapt_report::resolve_model(
            &self.model,
            adaptation,
            crate::map_model::Unadapted::Map,
            &self.output,
        )?;
        let cfg = crate::suggest::SuggestConfig {
            map: self.map.request(
                &model.onnx,
                &self.scene,
                self.map
                    .options(self.adapt.min_valid, crate::infer::MapOptions::default()),
            ),
            labels: self.adapt.labels.clone().map(|l| {
                (
                    l,
                    crate::labels::LabelOptions {
                        class_field: self.adapt.class_field.clone(),
                        layer: self.adapt.layer.clone(),
                    },
                )
            }),
            output: self.output.clone(),
            count: self.count,
            spacing: self.spacing,
            crs: self.crs.clone(),
            seed: self.adapt.seed,
            required: self.adapt.classes.clone().unwrap_or_default(),
            overwrite: self.overwrite,
        };
        let s = crate::suggest::suggest(&cfg)?;
        let classes: Vec<String> = s
            .per_class
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        eprintln!(
            "suggested {} places ({}) in {:.1} s: {}",
            s.suggested,
            classes.join(", "),
            s.seconds,
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
        Err(super::feature_missing("suggest", "infer"))
    }
}
