//! `Predictor`: an ONNX Runtime session over an exported model and its card.
//!
//! The card is read from the file's `metadata_props` before the session is built,
//! so a file that is not an ONNX model, or one without a card, fails with a message
//! naming the file instead of an ONNX Runtime error. Input batches are normalised
//! `[N, bands, H, W]` arrays; the output is the `probabilities` tensor
//! (`[N, classes]` for classifiers, `[N, classes, H, W]` for segmentation).

use super::runtime;
use crate::card::ModelCard;
use crate::error::{Error, Result};
use crate::export::{metadata, LOGITS, PROBABILITIES};
use ndarray::{ArrayD, ArrayView4, ArrayViewD};
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;
use std::path::{Path, PathBuf};

/// A loaded model ready to run batches.
pub struct Predictor {
    path: PathBuf,
    card: ModelCard,
    session: Session,
}

impl std::fmt::Debug for Predictor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Predictor")
            .field("path", &self.path)
            .finish()
    }
}

impl Predictor {
    /// Opens `path` with `threads` intra-op threads (0 = ONNX Runtime's default).
    pub fn open(path: impl AsRef<Path>, threads: usize) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let proto = metadata::decode_model(&bytes, &path)?;
        let card = metadata::card_of(&proto, &path)?;
        let session = session_from_bytes(&bytes, threads)
            .map_err(|e| Error::model(&path, format!("ONNX Runtime: {e}")))?;
        if !session.outputs().iter().any(|o| o.name() == PROBABILITIES) {
            return Err(Error::model(
                &path,
                format!("has no `{PROBABILITIES}` output"),
            ));
        }
        Ok(Predictor {
            path,
            card,
            session,
        })
    }

    /// The model card.
    pub fn card(&self) -> &ModelCard {
        &self.card
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs a normalised batch and returns the class probabilities.
    pub fn predict(&mut self, batch: ArrayView4<'_, f32>) -> Result<ArrayD<f32>> {
        self.run(batch, PROBABILITIES)
    }

    /// Runs a normalised batch and returns the logits (before softmax).
    pub fn logits(&mut self, batch: ArrayView4<'_, f32>) -> Result<ArrayD<f32>> {
        self.run(batch, LOGITS)
    }

    fn run(&mut self, batch: ArrayView4<'_, f32>, output: &str) -> Result<ArrayD<f32>> {
        let expected = self.card.spec.in_channels;
        if batch.shape()[1] != expected {
            let msg = format!(
                "batch of shape {:?}; the model reads {expected} bands",
                batch.shape()
            );
            return Err(Error::model(&self.path, msg));
        }
        run_session(
            &mut self.session,
            crate::export::INPUT,
            batch.into_dyn(),
            output,
        )
        .map_err(|e| Error::model(&self.path, e))
    }
}

/// A session over ONNX bytes with `threads` intra-op threads (0 = default).
pub(crate) fn session_from_bytes(bytes: &[u8], threads: usize) -> Result<Session> {
    let env = runtime::environment()?;
    let ort_err = |e: ort::Error| Error::Other(e.to_string());
    let mut builder = Session::builder(&env)
        .map_err(ort_err)?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| Error::Other(e.to_string()))?;
    if threads > 0 {
        builder = builder
            .with_intra_threads(threads)
            .map_err(|e| Error::Other(e.to_string()))?;
    }
    builder.commit_from_memory(bytes).map_err(ort_err)
}

/// Runs `session` on one f32 input and returns one output, as owned arrays.
pub(crate) fn run_session(
    session: &mut Session,
    input: &str,
    x: ArrayViewD<'_, f32>,
    output: &str,
) -> std::result::Result<ArrayD<f32>, String> {
    let contiguous = x.as_standard_layout();
    let tensor =
        TensorRef::from_array_view(contiguous.view()).map_err(|e| format!("input tensor: {e}"))?;
    let outputs = session
        .run(ort::inputs![input => tensor])
        .map_err(|e| format!("inference failed: {e}"))?;
    let value = outputs[output]
        .try_extract_array::<f32>()
        .map_err(|e| format!("reading {output}: {e}"))?;
    Ok(value.to_owned())
}
