//! ONNX export: a checkpoint becomes an `.onnx` file ONNX Runtime (and QGIS
//! Deepness) can run, with the model card in its metadata.
//!
//! libtorch has no ONNX exporter, so geomaml writes the graph itself from the
//! layer semantics documented in [`crate::model::spec`]: opset [`OPSET`], IR version
//! [`IR_VERSION`] (ONNX Runtime 1.31 loads IR <= 13). No tch and no ort here: the
//! protobuf messages are declared with prost ([`proto`]).

pub mod graph;
pub mod metadata;
pub mod proto;
pub mod random;
pub mod split;

pub use graph::{build_graph, Form, INPUT, PROBABILITIES};
pub use metadata::{read_card, read_metadata, read_model};
pub use random::{random_checkpoint, random_tensors};

use crate::card::CardError;
use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use prost::Message;
use proto::{ModelProto, OperatorSetIdProto};
use std::path::{Path, PathBuf};

/// ONNX operator set version written.
pub const OPSET: i64 = 17;
/// ONNX IR version written.
pub const IR_VERSION: i64 = 8;

/// The ONNX model of a checkpoint in the form `geomaml map` reads; its card says
/// `bn_frozen: true`.
pub fn to_model(ckpt: &Checkpoint) -> std::result::Result<ModelProto, CardError> {
    to_model_as(ckpt, Form::Native)
}

/// The ONNX model of a checkpoint with its output shaped for `form`. Deepness keys
/// are written on every graph Deepness can run: the U-Net always, the CNN in the
/// [`Form::Deepness`] form.
///
/// Errors: tensors that do not match the card's spec, or a card that contradicts
/// itself.
pub fn to_model_as(ckpt: &Checkpoint, form: Form) -> std::result::Result<ModelProto, CardError> {
    ckpt.validate()?;
    let mut card = ckpt.card.clone();
    card.bn_frozen = true;
    card.validate()?;
    Ok(ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "geomaml".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        domain: "org.geomaml".into(),
        model_version: 1,
        doc_string: format!(
            "geomaml {:?} model ({} bands -> {} classes)",
            card.spec.arch,
            card.bands.len(),
            card.classes.len()
        ),
        graph: Some(build_graph(&card.spec, &ckpt.tensors, form)),
        metadata_props: metadata::metadata_props(
            &card,
            card.spec.is_segmentation() || form == Form::Deepness,
        ),
    })
}

/// The serialised ONNX model of a checkpoint.
pub fn to_onnx_bytes(ckpt: &Checkpoint) -> std::result::Result<Vec<u8>, CardError> {
    Ok(to_model(ckpt)?.encode_to_vec())
}

/// Writes the ONNX model of `ckpt` to `path` atomically (`overwrite` to replace).
pub fn export_file(ckpt: &Checkpoint, path: impl AsRef<Path>, overwrite: bool) -> Result<PathBuf> {
    export_file_as(ckpt, path, overwrite, Form::Native)
}

/// How a model is written, by the output's name: `.onnx` in `form` (Deepness's
/// when `deepness`), or `.safetensors`, a checkpoint (`None`).
///
/// # Errors
/// Another extension (`--output`), or `deepness` with a checkpoint (`--deepness`).
pub fn form_for(output: &Path, deepness: bool) -> Result<Option<Form>> {
    let ext = output
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    match (ext.as_str(), deepness) {
        ("onnx", false) => Ok(Some(Form::Native)),
        ("onnx", true) => Ok(Some(Form::Deepness)),
        ("safetensors", false) => Ok(None),
        ("safetensors", true) => Err(Error::config(
            "--deepness",
            "writes ONNX: name the output .onnx (export the .safetensors later with geomaml export --deepness)",
        )),
        _ => Err(Error::config(
            "--output",
            format!(
                "{}: name it .onnx (an ONNX model) or .safetensors (an adapted checkpoint)",
                output.display()
            ),
        )),
    }
}

/// Writes `ckpt` as [`form_for`] says: ONNX in `form`, or the checkpoint itself.
pub fn write_model(
    ckpt: &Checkpoint,
    output: &Path,
    overwrite: bool,
    form: Option<Form>,
) -> Result<PathBuf> {
    match form {
        Some(form) => export_file_as(ckpt, output, overwrite, form),
        None => {
            ckpt.save(output, overwrite)?;
            Ok(output.to_path_buf())
        }
    }
}

/// [`export_file`] with the output shaped for `form`.
pub fn export_file_as(
    ckpt: &Checkpoint,
    path: impl AsRef<Path>,
    overwrite: bool,
    form: Form,
) -> Result<PathBuf> {
    let path = path.as_ref();
    let bytes = to_model_as(ckpt, form)
        .map(|m| m.encode_to_vec())
        .map_err(|e| Error::model_source(path, "", e))?;
    crate::output::write_atomic(path, &bytes, overwrite)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::tests::sample_card;
    use crate::model::ModelSpec;

    #[test]
    fn exported_files_carry_a_frozen_card() {
        let mut card = sample_card();
        card.spec = ModelSpec {
            width: 4,
            depth: 2,
            tile_size: 8,
            ..card.spec
        };
        let ckpt = random_checkpoint(card.clone(), 3);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.onnx");
        export_file(&ckpt, &p, false).unwrap();
        let back = read_card(&p).unwrap();
        assert!(back.bn_frozen);
        assert_eq!(back.spec, card.spec);
        assert!(matches!(
            export_file(&ckpt, &p, false),
            Err(Error::OutputExists { .. })
        ));
        let model = read_model(&p).unwrap();
        assert_eq!(
            (model.ir_version, model.opset_import[0].version),
            (IR_VERSION, OPSET)
        );
    }
}
