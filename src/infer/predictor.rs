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
use crate::export::{metadata, PROBABILITIES};
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

/// The fixed sizes of value `name` among `values` (`None` for symbolic ones).
fn declared_dims(
    values: &[crate::export::proto::ValueInfoProto],
    name: &str,
) -> Option<Vec<Option<i64>>> {
    let v = values.iter().find(|v| v.name == name)?;
    let shape = v.r#type.as_ref()?.tensor_type.as_ref()?.shape.as_ref()?;
    Some(shape.dim.iter().map(|d| d.dim_value).collect())
}

/// Fails, naming the file, when the graph's declared input or output shape
/// disagrees with its card (bands, tile size, classes): such a model would fail
/// or index out of bounds while mapping.
fn check_declared_shapes(
    proto: &crate::export::proto::ModelProto,
    card: &ModelCard,
    path: &Path,
) -> Result<()> {
    let Some(graph) = proto.graph.as_ref() else {
        return Err(Error::model(path, "has no graph"));
    };
    let spec = &card.spec;
    let t = spec.tile_size as i64;
    let input = graph
        .input
        .first()
        .map(|v| v.name.clone())
        .unwrap_or_default();
    let mismatch = |what: &str, got: &[Option<i64>], want: &[Option<i64>]| {
        let show = |d: &[Option<i64>]| {
            d.iter()
                .map(|v| v.map_or("?".to_string(), |v| v.to_string()))
                .collect::<Vec<_>>()
                .join(" x ")
        };
        Error::model(
            path,
            format!(
                "its graph declares {what} {}, but its card describes {} ({} bands, {} px tiles, {} classes)",
                show(got),
                show(want),
                spec.in_channels,
                spec.tile_size,
                spec.num_classes
            ),
        )
    };
    let agrees = |got: &[Option<i64>], want: &[Option<i64>]| {
        got.len() == want.len()
            && got
                .iter()
                .zip(want)
                .all(|(g, w)| g.is_none() || w.is_none() || g == w)
    };
    let want_in = [None, Some(spec.in_channels as i64), Some(t), Some(t)];
    if let Some(got) = declared_dims(&graph.input, &input) {
        if !agrees(&got, &want_in) {
            return Err(mismatch("input", &got, &want_in));
        }
    }
    let want_out: Vec<Option<i64>> = if spec.is_segmentation() {
        vec![None, Some(spec.num_classes as i64), Some(t), Some(t)]
    } else {
        vec![None, Some(spec.num_classes as i64)]
    };
    if let Some(got) = declared_dims(&graph.output, PROBABILITIES) {
        if !spec.is_segmentation() && got.len() == 4 {
            return Err(Error::model(
                path,
                "is a tile classifier exported for Deepness (`geomaml export --deepness`); export it without --deepness for geomaml",
            ));
        }
        if !agrees(&got, &want_out) {
            return Err(mismatch("output", &got, &want_out));
        }
    }
    Ok(())
}

impl Predictor {
    /// Opens `path` with `threads` intra-op threads (0 = ONNX Runtime's default).
    pub fn open(path: impl AsRef<Path>, threads: usize) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let proto = metadata::decode_model(&bytes, &path)?;
        let card = metadata::card_of(&proto, &path)?;
        check_declared_shapes(&proto, &card, &path)?;
        let session = session_from_bytes(&bytes, threads)
            .map_err(|e| Error::model_source(&path, "ONNX Runtime", e))?;
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

    fn run(&mut self, batch: ArrayView4<'_, f32>, output: &str) -> Result<ArrayD<f32>> {
        let expected = self.card.spec.in_channels;
        if batch.shape()[1] != expected {
            let msg = format!(
                "batch of shape {:?}; the model reads {expected} bands",
                batch.shape()
            );
            return Err(Error::model(&self.path, msg));
        }
        let (n, h, w) = (batch.shape()[0], batch.shape()[2], batch.shape()[3]);
        let out = run_session(
            &mut self.session,
            crate::export::INPUT,
            batch.into_dyn(),
            output,
        )
        .map_err(|e| Error::model_source(&self.path, "", e))?;
        let k = self.card.spec.num_classes;
        let expected: Vec<usize> = if self.card.spec.is_segmentation() {
            vec![n, k, h, w]
        } else {
            vec![n, k]
        };
        check_output(&self.path, output, &out, &expected)?;
        Ok(out)
    }
}

/// Fails, naming the model file, when the tensor a model actually produced is
/// not `expected` (its card's classes for the batch that went in) or holds NaN
/// or infinite values.
///
/// The declared output shape is checked when the model is opened, but a graph
/// may leave it undeclared or symbolic, or declare one shape and compute
/// another; the mapping code indexes the output by the card's classes, so a
/// tensor of other dimensions would index out of bounds (a panic) or map
/// classes that do not exist, and NaN would map every pixel to the first class.
/// The check costs one pass over the output, small beside the network itself.
pub(crate) fn check_output(
    path: &Path,
    name: &str,
    out: &ArrayD<f32>,
    expected: &[usize],
) -> Result<()> {
    let show = |d: &[usize]| {
        d.iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(" x ")
    };
    if out.shape() != expected {
        return Err(Error::model(
            path,
            format!(
                "its output `{name}` has shape {} where its card expects {} ({} classes); the graph does not compute what its card describes",
                show(out.shape()),
                show(expected),
                expected.get(1).copied().unwrap_or(0)
            ),
        ));
    }
    if let Some(v) = out.iter().find(|v| !v.is_finite()) {
        return Err(Error::model(
            path,
            format!("its output `{name}` holds non-finite values ({v}); the model is broken"),
        ));
    }
    Ok(())
}

/// A session over ONNX bytes with `threads` intra-op threads (0 = default).
pub(crate) fn session_from_bytes(bytes: &[u8], threads: usize) -> Result<Session> {
    let env = runtime::environment()?;
    let ort_err = |what: &'static str| move |e| Error::runtime_source(what, e);
    let mut builder = Session::builder(&env)
        .map_err(ort_err("ONNX Runtime session"))?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| {
            Error::runtime_source("ONNX Runtime optimisation level", ort::Error::<()>::from(e))
        })?;
    // Idle intra-op threads sleep instead of spinning: the map's reader and writer
    // threads need those cores between batches (2048² scene on 2 cores: the pixel
    // network 2.22 -> 1.97 s, the 32 px CNN 2.09 -> 1.68 s, a quarter less CPU).
    builder = builder.with_intra_op_spinning(false).map_err(|e| {
        Error::runtime_source("ONNX Runtime thread spinning", ort::Error::<()>::from(e))
    })?;
    if threads > 0 {
        builder = builder.with_intra_threads(threads).map_err(|e| {
            Error::runtime_source("ONNX Runtime threads", ort::Error::<()>::from(e))
        })?;
    }
    builder
        .commit_from_memory(bytes)
        .map_err(ort_err("loading the ONNX model"))
}

/// Runs `session` on one f32 input and returns one output, as owned arrays.
pub(crate) fn run_session(
    session: &mut Session,
    input: &str,
    x: ArrayViewD<'_, f32>,
    output: &str,
) -> std::result::Result<ArrayD<f32>, SessionError> {
    let at = |stage: &str| {
        let stage = stage.to_string();
        move |source| SessionError { stage, source }
    };
    let contiguous = x.as_standard_layout();
    let tensor = TensorRef::from_array_view(contiguous.view()).map_err(at("input tensor"))?;
    let outputs = session
        .run(ort::inputs![input => tensor])
        .map_err(at("inference failed"))?;
    let value = outputs[output]
        .try_extract_array::<f32>()
        .map_err(at(&format!("reading {output}")))?;
    Ok(value.to_owned())
}

/// ONNX Runtime failed at a stage of [`run_session`].
#[derive(Debug, thiserror::Error)]
#[error("{stage}: {source}")]
pub struct SessionError {
    /// What was being done.
    pub stage: String,
    /// ONNX Runtime's error.
    pub source: ort::Error,
}
