//! Model metadata in ONNX `metadata_props`: the model card, and the keys the
//! Deepness QGIS plugin reads.
//!
//! - `geomaml.card`: the full [`ModelCard`] as JSON ([`CARD_KEY`]); `bn_frozen` is
//!   always `true` in an exported card, since the graph uses running statistics.
//! - Deepness (the contract is written out in `docs/deepness.md`): on graphs it can
//!   run (the U-Net, and the CNN exported with `--deepness`), the keys listed at
//!   [`metadata_props`]. Deepness scales 8-bit input to [0, 1] and then computes
//!   `(x - mean) / std`; the card's `raw * scale + offset` equals that with
//!   `std = 1 / (255 scale)` and `mean = -offset std`, exact for 8-bit imagery.

use super::proto::{ModelProto, StringStringEntryProto};
use crate::card::{ModelCard, CARD_KEY};
use crate::error::{Error, Result};
use prost::Message;
use std::collections::BTreeMap;
use std::path::Path;

fn entry(key: &str, value: String) -> StringStringEntryProto {
    StringStringEntryProto {
        key: key.into(),
        value,
    }
}

/// Tile overlap in percent that Deepness should use: the part of a tile not covered
/// by `geomaml map`'s default stride (tile/4 for classifiers, 75 %; tile/2 for
/// segmentation, 50 %), so that Deepness keeps the same centre of each window.
pub fn deepness_overlap_percent(card: &ModelCard) -> u32 {
    if card.spec.is_segmentation() {
        50
    } else {
        75
    }
}

/// `metadata_props` of an exported model: the card, and, when the graph is one
/// Deepness can run (`deepness`), the keys its "Load default parameters" reads:
/// `model_type` `"Segmentor"`, `class_names` (output channel -> name), `resolution`
/// (cm/px), `tile_size`, `tiles_overlap` (percent), `standardization_mean/std` (so
/// that its `(x / 255 - mean) / std` equals the card's `x * scale + offset`), and
/// `seg_thresh` 0 and `seg_small_segment` 0 (no probability threshold and no median
/// filter, which would otherwise turn low-confidence pixels into its background).
pub fn metadata_props(card: &ModelCard, deepness: bool) -> Vec<StringStringEntryProto> {
    let mut props = vec![entry(CARD_KEY, card.to_json())];
    // A model of standardised bands never adapted has no fixed normalisation to
    // give Deepness (only `geomaml` standardises over the scene it maps).
    if !deepness || card.standardise_bands {
        return props;
    }
    let class_names: serde_json::Map<String, serde_json::Value> = card
        .classes
        .iter()
        .enumerate()
        .map(|(i, c)| (i.to_string(), c.name.clone().into()))
        .collect();
    let std: Vec<f64> = card
        .normalisation
        .iter()
        .map(|n| 1.0 / (255.0 * n.scale as f64))
        .collect();
    let mean: Vec<f64> = card
        .normalisation
        .iter()
        .zip(&std)
        .map(|(n, s)| -(n.offset as f64) * s)
        .collect();
    props.extend([
        entry("model_type", "\"Segmentor\"".into()),
        entry(
            "class_names",
            serde_json::Value::Object(class_names).to_string(),
        ),
        entry("resolution", format!("{}", card.resolution_m * 100.0)),
        entry("tile_size", card.spec.tile_size.to_string()),
        entry("tiles_overlap", deepness_overlap_percent(card).to_string()),
        entry(
            "standardization_mean",
            serde_json::to_string(&mean).expect("floats"),
        ),
        entry(
            "standardization_std",
            serde_json::to_string(&std).expect("floats"),
        ),
        entry("seg_thresh", "0".into()),
        entry("seg_small_segment", "0".into()),
    ]);
    props
}

/// Decodes an ONNX file, with errors naming it.
pub fn read_model(path: impl AsRef<Path>) -> Result<ModelProto> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_model(&bytes, path)
}

/// Decodes ONNX bytes read from `path` (named in errors).
pub fn decode_model(bytes: &[u8], path: &Path) -> Result<ModelProto> {
    let model = ModelProto::decode(bytes).map_err(|e| {
        Error::model_source(path, "not an ONNX model (protobuf decoding failed)", e)
    })?;
    if model.graph.as_ref().is_none_or(|g| g.node.is_empty()) {
        return Err(Error::model(path, "not an ONNX model (no graph)"));
    }
    Ok(model)
}

/// All `metadata_props` of an ONNX file.
pub fn read_metadata(path: impl AsRef<Path>) -> Result<BTreeMap<String, String>> {
    Ok(read_model(path)?
        .metadata_props
        .into_iter()
        .map(|e| (e.key, e.value))
        .collect())
}

/// The model card of a decoded ONNX model; `path` is for messages.
pub fn card_of(model: &ModelProto, path: &Path) -> Result<ModelCard> {
    let json = model
        .metadata_props
        .iter()
        .find(|e| e.key == CARD_KEY)
        .ok_or_else(|| {
            Error::model(path, format!("has no model card (metadata key {CARD_KEY})"))
        })?;
    ModelCard::from_json(&json.value).map_err(|e| Error::model_source(path, "", e))
}

/// Reads the model card of an ONNX file.
pub fn read_card(path: impl AsRef<Path>) -> Result<ModelCard> {
    let path = path.as_ref();
    card_of(&read_model(path)?, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::tests::sample_card;

    #[test]
    fn deepness_keys_describe_the_model() {
        let card = sample_card();
        let props: BTreeMap<_, _> = metadata_props(&card, true)
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect();
        assert_eq!(props["model_type"], "\"Segmentor\"");
        assert_eq!(props["resolution"], "1000");
        assert_eq!(props["tile_size"], "128");
        assert_eq!(props["tiles_overlap"], "75");
        assert_eq!(
            (
                props["seg_thresh"].as_str(),
                props["seg_small_segment"].as_str()
            ),
            ("0", "0")
        );
        assert_eq!(metadata_props(&card, false).len(), 1, "only the card");
        let names: serde_json::Value = serde_json::from_str(&props["class_names"]).unwrap();
        assert_eq!(names["9"], "Water");
        let std: Vec<f64> = serde_json::from_str(&props["standardization_std"]).unwrap();
        assert_eq!(std.len(), 15);
        assert!((std[2] - 1.0 / (255.0 * 1e-4)).abs() < 1e-3);
        assert_eq!(ModelCard::from_json(&props[CARD_KEY]).unwrap(), card);
        // Standardised over each scene and not adapted: no fixed standardisation to
        // give Deepness, so no Deepness keys.
        let unadapted = ModelCard {
            standardise_bands: true,
            ..card
        };
        assert_eq!(metadata_props(&unadapted, true).len(), 1, "only the card");
    }

    #[test]
    fn models_without_a_card_are_named() {
        let mut card = sample_card();
        card.spec = crate::model::ModelSpec {
            width: 4,
            depth: 1,
            tile_size: 8,
            ..card.spec
        };
        let mut model =
            crate::export::to_model(&crate::export::random_checkpoint(card, 1)).unwrap();
        model.metadata_props.retain(|e| e.key != CARD_KEY);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bare.onnx");
        std::fs::write(&p, model.encode_to_vec()).unwrap();
        let err = read_card(&p).unwrap_err().to_string();
        assert!(
            err.contains("bare.onnx") && err.contains("has no model card"),
            "{err}"
        );
        assert!(read_metadata(&p).unwrap().is_empty());
    }

    #[test]
    fn garbage_is_not_a_model() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.onnx");
        std::fs::write(&p, b"\xff\xff\xff not protobuf").unwrap();
        let err = read_card(&p).unwrap_err().to_string();
        assert!(
            err.contains("bad.onnx") && err.contains("not an ONNX model"),
            "{err}"
        );
    }
}
