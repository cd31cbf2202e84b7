//! What a map is and how it is computed: the one request every map front end
//! builds (`geomaml map`, batch mapping, the GDAL driver, `suggest`, and through
//! the command line the QGIS provider).
//!
//! [`MapOptions`] are the choices that change the map's pixels; [`MapRequest`]
//! adds the model, the scene and the settings that only change how fast it is
//! computed. Both are checked once, when [`super::open::OpenedMap::open`] opens
//! them; the defaults that depend on the model (stride, windows per batch, block
//! size) are resolved here, so every front end gets the same map for the same
//! request. A new map option is a field of [`MapOptions`], its use in the
//! engine, and its flag.

use super::plan::MapKind;
use crate::error::{Error, Result};
use crate::model::spec::{Arch, ModelSpec};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The choices that change a map's pixels or files. Batch mapping records them
/// in each scene's sidecar: a scene mapped with other options is mapped again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MapOptions {
    /// Window step in scene pixels (`None`: the model's default, [`resolve_stride`]).
    pub stride: Option<usize>,
    /// Scene bands for the card's bands, in card order: 1-based indices or names,
    /// comma-separated (`None`: matched by name).
    pub bands: Option<String>,
    /// Classifiers: every window on its own instead of shared feature maps.
    pub exact: bool,
    /// Also compute the per-class probabilities (percent, one band per class).
    pub probabilities: bool,
    /// Also compute the confidence band (margin of the two most likely classes).
    #[serde(default)]
    pub confidence: bool,
    /// Smallest valid fraction of a window for its cell to be mapped, in `[0, 1]`.
    /// Sidecars written before it existed mapped with zero-filled nodata; they
    /// read as NaN, which equals no current value, so those scenes are redone.
    #[serde(default = "unrecorded")]
    pub min_valid: f64,
    /// Smallest confidence, in percent (0..=100), for a cell to get a class: cells
    /// whose two most likely classes are closer than this are nodata in the class
    /// band (their probabilities and confidence are still written). 0 maps every
    /// cell; records without it mapped every cell.
    #[serde(default)]
    pub min_confidence: u8,
}

fn unrecorded() -> f64 {
    f64::NAN
}

impl Default for MapOptions {
    fn default() -> Self {
        MapOptions {
            stride: None,
            bands: None,
            exact: false,
            probabilities: false,
            confidence: false,
            min_valid: crate::pixels::MIN_VALID,
            min_confidence: 0,
        }
    }
}

/// A map to compute: model, scene, [`MapOptions`] and the settings that do not
/// change it.
#[derive(Debug, Clone, PartialEq)]
pub struct MapRequest {
    /// The exported model (.onnx with a card).
    pub model: PathBuf,
    /// The scene (any raster GDAL opens).
    pub scene: PathBuf,
    /// What the map is.
    pub options: MapOptions,
    /// Windows per inference batch, at most [`crate::limits::MAX_BATCH`] (capped
    /// further by [`resolve_batch`]).
    pub batch_size: usize,
    /// ONNX Runtime intra-op threads (0: its default, all cores).
    pub threads: usize,
    /// The model as the map's metadata names it (`GEOMAML_MODEL`) when `model` is a
    /// temporary export of it (`map --labels` with a checkpoint); `None`: `model`.
    pub recorded_model: Option<PathBuf>,
    /// Per-pixel models: block edge in pixels (`None`: [`block_pixels`]). A pixel's
    /// class does not depend on it (every window covering a block is computed for
    /// it), only the work per block: viewers that read small parts of a map want
    /// smaller blocks. Classifier blocks stay [`block_pixels`]'s, because shared
    /// feature maps are computed per block and so decide the classes.
    pub segment_block: Option<usize>,
}

/// Windows per inference batch unless asked otherwise.
pub const DEFAULT_BATCH: usize = 64;

impl MapRequest {
    /// A request for the map of `scene` by `model` with default options.
    pub fn new(model: impl Into<PathBuf>, scene: impl Into<PathBuf>) -> Self {
        MapRequest {
            model: model.into(),
            scene: scene.into(),
            options: MapOptions::default(),
            batch_size: DEFAULT_BATCH,
            threads: 0,
            recorded_model: None,
            segment_block: None,
        }
    }
}

/// Source pixels a per-pixel model runs at once, at most: its activations are
/// per pixel, so a batch of 64 windows of 128 px held 2 GB. On a 2048² scene with
/// the pixel network, 2^15 (2 windows of 128 px) mapped 3 % faster than 2^17 and
/// peaked 150 MiB lower (380 against 530 MiB).
pub const SEGMENT_BATCH_PIXELS: usize = 1 << 15;

/// The windows per batch for a model of `spec`: `batch`, at most
/// [`SEGMENT_BATCH_PIXELS`] pixels' worth for segmentation models and
/// [`crate::limits::MAX_BATCH_PIXELS`] for classifiers (at least one window), so
/// a batch's memory does not grow with the card's tile.
pub fn resolve_batch(spec: &ModelSpec, batch: usize) -> usize {
    let pixels = if spec.is_segmentation() {
        SEGMENT_BATCH_PIXELS
    } else {
        crate::limits::MAX_BATCH_PIXELS
    };
    batch.min((pixels / (spec.tile_size * spec.tile_size).max(1)).max(1))
}

/// The stride for a model of `spec`, checked (`--stride`): the given one, or a
/// quarter tile for classifiers, half a tile for the U-Net, and for the pixel
/// network the tile less its receptive margin on both sides (`depth` px each), so
/// every pixel is computed once, by a window that sees its whole field.
///
/// # Errors
/// A stride of 0 or above the tile: a classifier stride above the tile would
/// leave pixels no window sees, a segmentation stride pixels without a prediction.
/// For the pixel network, a stride above the tile less its margins (some pixels'
/// fields would reach past every window), or a tile no larger than the margins.
pub fn resolve_stride(spec: &ModelSpec, stride: Option<usize>) -> Result<usize> {
    let tile = spec.tile_size;
    let margin = exact_margin(spec);
    if margin > 0 && tile <= 2 * margin {
        return Err(Error::config(
            "--model",
            format!(
                "its {tile} px tile is no larger than the {margin} px its context reaches on \
                 each side: no pixel of a window sees its whole field"
            ),
        ));
    }
    let default = match (spec.is_segmentation(), spec.arch) {
        (false, _) => (tile / 4).max(1),
        (true, Arch::Pixel) => tile.saturating_sub(2 * spec.depth),
        (true, _) => (tile / 2).max(1),
    };
    let stride = stride.unwrap_or(default);
    if stride == 0 || stride > tile {
        return Err(Error::config(
            "--stride",
            format!("must be between 1 and the tile size {tile}, got {stride}"),
        ));
    }
    if margin > 0 && stride + 2 * margin > tile {
        return Err(Error::config(
            "--stride",
            format!(
                "must be at most {} for this per-pixel model (its {tile} px windows less the {margin} px \
                 its context reaches on each side), got {stride}",
                tile - 2 * margin
            ),
        ));
    }
    Ok(stride)
}

/// How far the network's receptive field reaches around a pixel, for models whose
/// map is exact window by window ([`Plan::with_margin`](super::plan::Plan::with_margin)):
/// the pixel network's `depth` 3x3 convolutions; 0 for the others (the U-Net's
/// field spans its whole window, so its windows are blended).
pub fn exact_margin(spec: &ModelSpec) -> usize {
    match spec.arch {
        Arch::Pixel => spec.depth,
        _ => 0,
    }
}

/// The block edge in source pixels a map is planned with by default.
pub fn block_pixels(kind: MapKind, tile: usize, stride: usize) -> usize {
    match kind {
        MapKind::Classify => 512.max(4 * stride),
        MapKind::Segment => 512.max(4 * tile),
    }
}

/// The block edge of a request: [`block_pixels`], or for per-pixel models the
/// asked `segment_block` (checked, between the tile and the raster's longer side).
pub(crate) fn resolve_block(
    kind: MapKind,
    tile: usize,
    stride: usize,
    segment_block: Option<usize>,
    (w, h): (usize, usize),
) -> Result<usize> {
    match (kind, segment_block) {
        (MapKind::Segment, Some(b)) => {
            crate::limits::check_range("segment block", b, 1 << 16)?;
            Ok(b.min(w.max(h)).max(tile))
        }
        _ => Ok(block_pixels(kind, tile, stride)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pixel_networks_stride_is_at_most_its_window_less_its_margins() {
        let spec = ModelSpec::default_pixel(6, 4);
        assert_eq!((spec.tile_size, spec.depth), (128, 2));
        assert_eq!(resolve_stride(&spec, None).unwrap(), 124);
        assert_eq!(resolve_stride(&spec, Some(9)).unwrap(), 9);
        let err = resolve_stride(&spec, Some(125)).unwrap_err().to_string();
        assert!(
            err.contains("--stride") && err.contains("at most 124"),
            "{err}"
        );
        // A window no larger than the margins cannot give any pixel exactly: the
        // card is at fault, not a stride the user never gave.
        let tiny = ModelSpec {
            tile_size: 4,
            ..spec
        };
        let err = resolve_stride(&tiny, None).unwrap_err().to_string();
        assert!(
            err.contains("--model") && err.contains("4 px tile"),
            "{err}"
        );
        // Other models keep blended windows up to the tile.
        let unet = ModelSpec::default_unet(6, 4, 64);
        assert_eq!(resolve_stride(&unet, Some(64)).unwrap(), 64);
    }
}
