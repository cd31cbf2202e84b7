//! The flags of a map that `map` and `suggest` share, turned into a
//! [`crate::infer::MapRequest`] in one place.

use clap::Args;
use std::path::Path;

/// How the scene is mapped (`geomaml map`, `geomaml suggest`).
#[derive(Debug, Clone, Args)]
pub struct MapFlags {
    /// Window step in scene pixels; classifiers write one class per step
    /// [default: tile/4 for classifiers, tile/2 for the U-Net, the tile less 2 x its
    /// context depth for the pixel network, also its largest: its map is exact at
    /// any stride].
    #[arg(long)]
    pub stride: Option<usize>,
    /// Windows per inference batch (per-pixel models: at most 32,768 pixels' worth,
    /// 2 windows of 128 px).
    #[arg(long, default_value_t = crate::infer::request::DEFAULT_BATCH)]
    pub batch_size: usize,
    /// Scene bands feeding the model's bands, in the model's order: 1-based indices
    /// or band names, comma-separated (default: match by name).
    #[arg(long)]
    pub bands: Option<String>,
    /// Classifiers: run every window on its own, exactly like a plain sliding window,
    /// instead of computing shared convolutional feature maps once per block.
    #[arg(long)]
    pub exact: bool,
    /// ONNX Runtime threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

impl MapFlags {
    /// The map options these flags ask for, with `min_valid` (a flag shared with
    /// adaptation) and the options of `outputs` only `map` has.
    #[cfg(feature = "infer")]
    pub(crate) fn options(
        &self,
        min_valid: f64,
        outputs: crate::infer::MapOptions,
    ) -> crate::infer::MapOptions {
        crate::infer::MapOptions {
            stride: self.stride,
            bands: self.bands.clone(),
            exact: self.exact,
            min_valid,
            ..outputs
        }
    }

    /// The map of `scene` by `model` with `options`, computed as these flags say.
    #[cfg(feature = "infer")]
    pub(crate) fn request(
        &self,
        model: &Path,
        scene: &Path,
        options: crate::infer::MapOptions,
    ) -> crate::infer::MapRequest {
        crate::infer::MapRequest {
            options,
            batch_size: self.batch_size,
            threads: self.threads,
            ..crate::infer::MapRequest::new(model, scene)
        }
    }
}
