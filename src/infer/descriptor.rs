//! Descriptor files (`*.geomaml`, JSON): a model, a scene and `geomaml map`'s
//! options, so that file dialogs (QGIS's) open a map computed on read through
//! the GDAL driver. The driver reads them with [`read_descriptor`]; the format's
//! JSON Schema is `schemas/descriptor.schema.json`.

use super::request::{MapOptions, MapRequest};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// A descriptor file: the model, the scene and the options of `geomaml map`;
/// relative paths are relative to the descriptor's folder.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Descriptor {
    /// The exported model (.onnx).
    pub model: PathBuf,
    /// The scene (any raster GDAL opens).
    pub scene: PathBuf,
    /// Window step in scene pixels (default: the model's).
    #[serde(default)]
    pub stride: Option<usize>,
    /// Scene bands for the model's bands, in the model's order: 1-based indices or
    /// names, comma-separated (default: matched by name).
    #[serde(default)]
    pub bands: Option<String>,
    /// Classifiers: every window on its own instead of shared feature maps.
    #[serde(default)]
    pub exact: bool,
    /// Windows per inference batch (default 64).
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// ONNX Runtime threads (default: all cores).
    #[serde(default)]
    pub threads: Option<usize>,
    /// `"classes"` (default), `"probabilities"` (one band per class, percent) or
    /// `"confidence"` (one band: margin between the two most likely classes, percent).
    #[serde(default)]
    pub output: Option<String>,
    /// Smallest valid fraction of a window for its cell to be mapped.
    #[serde(default)]
    pub min_valid: Option<f64>,
    /// Cells whose two most likely classes are closer than this many percent are
    /// nodata in the class band (default 0: every cell mapped).
    #[serde(default)]
    pub min_confidence: u8,
    /// Per-pixel models: the block edge in pixels (default [`SEGMENT_BLOCK`]).
    #[serde(default)]
    pub block: Option<usize>,
}

/// The driver's segmentation block edge in pixels: a map view reads the blocks it
/// overlaps, so blocks are smaller than `geomaml map`'s (the classes are the
/// same; windows straddling blocks are computed for each).
pub const SEGMENT_BLOCK: usize = 512;

/// The map of `scene` by `model` as the GDAL driver serves it: `geomaml map`'s
/// defaults, with the driver's segmentation block.
pub fn driver_request(model: &Path, scene: &Path) -> MapRequest {
    MapRequest {
        segment_block: Some(SEGMENT_BLOCK),
        ..MapRequest::new(model, scene)
    }
}

/// Reads the descriptor file at `path` into the map it describes.
///
/// # Errors
/// An unreadable file, JSON that is not a descriptor, or an unknown `output`,
/// naming the file.
pub fn read_descriptor(path: &Path) -> Result<MapRequest> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let d: Descriptor = serde_json::from_str(&text).map_err(|e| {
        Error::raster_source(
            path,
            "not a geomaml descriptor ({\"model\": ..., \"scene\": ..., \"stride\": ...})",
            e,
        )
    })?;
    let dir = path.parent().unwrap_or(Path::new(""));
    let (probabilities, confidence) = match d.output.as_deref() {
        None | Some("classes") => (false, false),
        Some("probabilities") => (true, false),
        Some("confidence") => (false, true),
        Some(other) => {
            return Err(Error::raster(
                path,
                format!(
                    "output must be \"classes\", \"probabilities\" or \"confidence\", got {other:?}"
                ),
            ))
        }
    };
    if d.min_confidence > 100 {
        return Err(Error::raster(
            path,
            format!(
                "min_confidence is a percentage (0 to 100), got {}",
                d.min_confidence
            ),
        ));
    }
    let defaults = driver_request(&dir.join(&d.model), &dir.join(&d.scene));
    Ok(MapRequest {
        options: MapOptions {
            stride: d.stride,
            bands: d.bands,
            exact: d.exact,
            probabilities,
            confidence,
            min_valid: d.min_valid.unwrap_or(defaults.options.min_valid),
            min_confidence: d.min_confidence,
        },
        batch_size: d.batch_size.unwrap_or(defaults.batch_size),
        threads: d.threads.unwrap_or(defaults.threads),
        segment_block: d.block.or(defaults.segment_block),
        ..defaults
    })
}
