//! `geomaml map --model M.safetensors --labels L`: adapt, then map.

use super::{AfterMap, MapArgs};
use crate::error::Result;

impl MapArgs {
    /// Adapts a .safetensors model with --labels, exported to a temporary .onnx;
    /// also returns what to run once the map is written (the accuracy estimate).
    pub(super) fn adapted_model(&self) -> Result<Option<(crate::output::PendingOutput, AfterMap)>> {
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
            (None, true) => {
                let ckpt = crate::checkpoint::Checkpoint::load(&self.model)?;
                if ckpt.card.adaptation.is_none() {
                    return Err(Error::config(
                        "--model",
                        format!(
                            "{} is a checkpoint that was not adapted: give --labels to adapt it, \
                             or export it to .onnx first",
                            self.model.display()
                        ),
                    ));
                }
                // An adapted checkpoint (`adapt -o X.safetensors`): map it as its export.
                let temp = self.temporary_onnx()?;
                crate::export::export_file(&ckpt, temp.temp_path(), false)?;
                Ok(Some((temp, Box::new(|| Ok(())))))
            }
            #[cfg(feature = "train")]
            (Some(labels), true) => {
                let mut adapted = crate::cli::adapt::run_adaptation(
                    &self.adapt,
                    &self.model,
                    self.scene()?,
                    labels,
                    self.bands.clone(),
                )?;
                let temp = self.temporary_onnx()?;
                crate::export::export_file(&adapted.checkpoint, temp.temp_path(), false)?;
                let after: AfterMap =
                    Box::new(move || crate::cli::adapt::report_accuracy(&mut adapted));
                Ok(Some((temp, after)))
            }
            #[cfg(not(feature = "train"))]
            (Some(_), true) => Err(crate::cli::feature_missing("map --labels", "train")),
        }
    }

    /// A temporary `.onnx` beside the output for a model exported on the way.
    fn temporary_onnx(&self) -> Result<crate::output::PendingOutput> {
        let stem = self
            .output
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let temp = crate::output::PendingOutput::new(
            self.output.with_file_name(format!("{stem}.adapted.onnx")),
            true,
        )?;
        // Written beside the map only while mapping, never kept: a failure to
        // write or read it is a failure of the map the user asked for.
        temp.shown_as(&self.output);
        Ok(temp)
    }
}
