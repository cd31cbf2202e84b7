//! The adaptation flags `adapt`, `map --labels` and `suggest` share, turned into
//! the library's adaptation options in one place.

use crate::error::Result;
use clap::Args;
use std::path::{Path, PathBuf};

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
    /// Inner-loop steps [default: the count meta-validation chose for the model, else
    /// the card's and at least 20; at least 50 for a per-pixel network started from
    /// class prototypes; `geomaml info` says how many].
    #[arg(long)]
    pub inner_steps: Option<usize>,
    /// Start the head from the labels' class prototypes (the mean features of each
    /// class's labelled pixels) before the inner-loop steps [default: true for
    /// per-pixel networks meta-trained with MAML and models meta-trained with
    /// --prototype-head true, false otherwise].
    #[arg(long, value_name = "BOOL")]
    pub prototype_head: Option<bool>,
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

impl AdaptFlags {
    /// The adaptation these flags ask for of `model` on `scene` (none without
    /// --labels).
    ///
    /// # Errors
    /// A bad --device, or --labels in a build without libtorch.
    pub(crate) fn adaptation(
        &self,
        model: &Path,
        scene: &Path,
        bands: Option<String>,
    ) -> Result<Option<crate::map_model::Adaptation>> {
        let Some(labels) = &self.labels else {
            return Ok(None);
        };
        if !crate::map_model::is_checkpoint(model) {
            return Err(crate::Error::config(
                "--labels",
                format!(
                    "adapts a meta-trained .safetensors model; {} is not one",
                    model.display()
                ),
            ));
        }
        #[cfg(feature = "train")]
        {
            Ok(Some(crate::adapt::AdaptOptions {
                model: model.to_path_buf(),
                scene: scene.to_path_buf(),
                labels: labels.clone(),
                label_options: crate::labels::LabelOptions {
                    class_field: self.class_field.clone(),
                    layer: self.layer.clone(),
                },
                min_valid: self.min_valid,
                bands,
                classes: self.classes.clone(),
                inner_lr: self.inner_lr,
                inner_steps: self.inner_steps,
                prototype_head: self.prototype_head,
                bn_windows: self.bn_windows,
                estimate: crate::adapt::AccuracyEstimate::from_flags(
                    !self.no_cross_validation,
                    self.full_cross_validation,
                ),
                device: crate::train::device::parse_device(&self.device)?,
                seed: self.seed,
                progress: crate::progress::Progress::for_stderr(
                    "{msg} [{bar:30}] {pos}/{len} {elapsed}",
                ),
            }))
        }
        #[cfg(not(feature = "train"))]
        {
            let _ = (model, scene, bands, labels);
            Err(super::feature_missing("--labels", "train"))
        }
    }
}
