//! The ONNX model a map is made with, from the model a user gave (`map` and
//! `suggest`; `adapt` writes its adapted model itself):
//!
//! - an exported `.onnx` is used as it is;
//! - a checkpoint (`.safetensors`) with labels is adapted on them, then exported;
//! - a checkpoint without labels is exported as it is: one adapted earlier
//!   (`adapt -o X.safetensors`) always, one never adapted only where the caller
//!   accepts it ([`Unadapted`]).
//!
//! An export is a temporary beside the caller's output (`<stem>.adapted.onnx`,
//! named as that output in messages, removed when the [`MapModel`] is dropped),
//! so it lands on the output's file system and never outlives the run. The
//! adaptation's accuracy estimate is deferred ([`MapModel::estimate_accuracy`]):
//! the map comes first.

use crate::error::{Error, Result};
use crate::output::PendingOutput;
use std::path::{Path, PathBuf};

/// How to adapt a checkpoint before mapping (`AdaptOptions` with the `train`
/// feature; without it no adaptation can be asked for).
#[cfg(feature = "train")]
pub type Adaptation = crate::adapt::AdaptOptions;
/// How to adapt a checkpoint before mapping (`AdaptOptions` with the `train`
/// feature; without it no adaptation can be asked for).
#[cfg(not(feature = "train"))]
pub type Adaptation = std::convert::Infallible;

/// What a checkpoint that was never adapted means to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unadapted {
    /// Mapped as it is (`suggest`: where to label first, from any model).
    Map,
    /// Refused: its classes mean nothing for this scene yet (`map`).
    Refuse,
}

/// The model to map with, and the adaptation made for it.
#[derive(Debug)]
pub struct MapModel {
    /// The `.onnx` to open: the user's, or the temporary export.
    pub onnx: PathBuf,
    /// The temporary export, removed on drop.
    _temporary: Option<PendingOutput>,
    /// The adaptation, when one was made.
    #[cfg(feature = "train")]
    pub adapted: Option<crate::adapt::Adapted>,
}

impl MapModel {
    /// Resolves `model` for a map written at `output` (see the module doc),
    /// adapting it with `adaptation` when given (its report is in
    /// [`MapModel::adapted`]).
    ///
    /// # Errors
    /// `--labels` with a model that is not a checkpoint, an unadapted checkpoint
    /// where [`Unadapted::Refuse`], and the adaptation's and export's errors.
    pub fn resolve(
        model: &Path,
        adaptation: Option<Adaptation>,
        unadapted: Unadapted,
        output: &Path,
    ) -> Result<MapModel> {
        if !is_checkpoint(model) {
            if adaptation.is_some() {
                return Err(Error::config(
                    "--labels",
                    format!(
                        "adapts a meta-trained .safetensors model; {} is not one",
                        model.display()
                    ),
                ));
            }
            return Ok(MapModel {
                onnx: model.to_path_buf(),
                _temporary: None,
                #[cfg(feature = "train")]
                adapted: None,
            });
        }
        let temporary = temporary_onnx(output)?;
        let onnx = temporary.temp_path().to_path_buf();
        match adaptation {
            None => {
                let ckpt = crate::checkpoint::Checkpoint::load(model)?;
                if ckpt.card.adaptation.is_none() && unadapted == Unadapted::Refuse {
                    return Err(Error::config(
                        "--model",
                        format!(
                            "{} is a checkpoint that was not adapted: give --labels to adapt it, \
                             or export it to .onnx first",
                            model.display()
                        ),
                    ));
                }
                crate::export::export_file(&ckpt, &onnx, false)?;
                Ok(MapModel {
                    onnx,
                    _temporary: Some(temporary),
                    #[cfg(feature = "train")]
                    adapted: None,
                })
            }
            #[cfg(feature = "train")]
            Some(options) => {
                let adapted = crate::adapt::adapt(&options)?;
                crate::export::export_file(&adapted.checkpoint, &onnx, false)?;
                Ok(MapModel {
                    onnx,
                    _temporary: Some(temporary),
                    adapted: Some(adapted),
                })
            }
            #[cfg(not(feature = "train"))]
            Some(never) => match never {},
        }
    }

    /// The adaptation's held-out accuracy and fold count
    /// ([`crate::adapt::Adapted::estimate_accuracy`]), once the map is written;
    /// `None` without an adaptation or an estimate.
    #[cfg(feature = "train")]
    pub fn estimate_accuracy(&mut self) -> Result<Option<(f64, usize)>> {
        match self.adapted.as_mut() {
            Some(a) => a.estimate_accuracy(),
            None => Ok(None),
        }
    }
}

/// Whether `model` names a checkpoint (`.safetensors`) rather than an ONNX model.
pub fn is_checkpoint(model: &Path) -> bool {
    model
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
}

/// A temporary `<stem>.adapted.onnx` beside `output`, named as `output` in
/// messages: a failure to write or read it is a failure of that output.
fn temporary_onnx(output: &Path) -> Result<PendingOutput> {
    // The folder's faults are the output's, said with its name.
    crate::output::check_writable(output)?;
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let temp = PendingOutput::new(output.with_file_name(format!("{stem}.adapted.onnx")), true)?;
    temp.shown_as(output);
    Ok(temp)
}
