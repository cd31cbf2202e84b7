//! Descriptor files (`*.geomaml`, JSON): a model, a scene and `geomaml map`'s
//! options, so that file dialogs (QGIS's) can open a map computed on read.

use geomaml::infer::{MapOptions, MapRequest};
use std::path::{Path, PathBuf};

/// A descriptor file (`*.geomaml`, JSON): the model, the scene and the options of
/// `geomaml map`; relative paths are relative to the descriptor's folder.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Descriptor {
    model: PathBuf,
    scene: PathBuf,
    #[serde(default)]
    stride: Option<usize>,
    #[serde(default)]
    bands: Option<String>,
    #[serde(default)]
    exact: bool,
    #[serde(default)]
    batch_size: Option<usize>,
    #[serde(default)]
    threads: Option<usize>,
    /// `"classes"` (default), `"probabilities"` (one band per class, percent) or
    /// `"confidence"` (one band: margin between the two most likely classes, percent).
    #[serde(default)]
    output: Option<String>,
    /// Smallest valid fraction of a window for its cell to be mapped.
    #[serde(default)]
    min_valid: Option<f64>,
    /// Segmentation: the block edge in pixels (default [`SEGMENT_BLOCK`]).
    #[serde(default)]
    block: Option<usize>,
}

/// The driver's segmentation block edge in pixels: a map view reads the blocks it
/// overlaps, so blocks are smaller than `geomaml map`'s 1024 (the classes are the
/// same; windows straddling blocks are computed for each).
pub(crate) const SEGMENT_BLOCK: usize = 512;

/// The map of `scene` by `model` as the driver serves it: `geomaml map`'s
/// defaults, with the driver's segmentation block.
pub(crate) fn driver_request(model: &Path, scene: &Path) -> MapRequest {
    MapRequest {
        segment_block: Some(SEGMENT_BLOCK),
        ..MapRequest::new(model, scene)
    }
}

/// Reads a descriptor file into the map it describes.
pub(crate) fn read_descriptor(path: &Path) -> Result<MapRequest, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("GEOMAML: {}: {e}", path.display()))?;
    let d: Descriptor = serde_json::from_str(&text).map_err(|e| {
        format!(
            "GEOMAML: {}: not a geomaml descriptor ({{\"model\": ..., \"scene\": ..., \"stride\": ...}}): {e}",
            path.display()
        )
    })?;
    let dir = path.parent().unwrap_or(Path::new(""));
    let (probabilities, confidence) = match d.output.as_deref() {
        None | Some("classes") => (false, false),
        Some("probabilities") => (true, false),
        Some("confidence") => (false, true),
        Some(other) => {
            return Err(format!(
                "GEOMAML: {}: output must be \"classes\", \"probabilities\" or \"confidence\", got {other:?}",
                path.display()
            ))
        }
    };
    let defaults = driver_request(&dir.join(&d.model), &dir.join(&d.scene));
    Ok(MapRequest {
        options: MapOptions {
            stride: d.stride,
            bands: d.bands,
            exact: d.exact,
            probabilities,
            confidence,
            min_valid: d.min_valid.unwrap_or(defaults.options.min_valid),
        },
        batch_size: d.batch_size.unwrap_or(defaults.batch_size),
        threads: d.threads.unwrap_or(defaults.threads),
        segment_block: d.block.or(defaults.segment_block),
        ..defaults
    })
}
