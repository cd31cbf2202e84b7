//! `ModelSpec`: the architecture and shape of a model, independent of any tensor
//! library.
//!
//! The layers, parameter names and shapes of each architecture are written once in
//! [`model::arch`](crate::model::arch) (`cnn.rs`, `unet.rs`); the spec names the
//! architecture and its sizes, and [`ModelSpec::tensors`] is what that description
//! implies, so the tch passes, checkpoints and the ONNX writer agree by
//! construction. Batch-norm layers carry running statistics as buffers
//! `*.running_{mean,var}` (not parameters): MAML runs with batch statistics, and the
//! frozen statistics for export are estimated on the user's data. Batch-norm
//! epsilon is [`BN_EPS`].

use serde::{Deserialize, Serialize};

/// Batch-norm epsilon used by training, export and inference alike.
pub const BN_EPS: f64 = 1e-5;

/// A model whose shape or tensors cannot be what its spec says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidModel {
    /// A zero size.
    #[error("in_channels, num_classes, width and depth must be positive")]
    ZeroSize,
    /// A size above [`crate::limits`].
    #[error("{name} {value} is above the limit of {max}")]
    AboveLimit {
        /// The spec field.
        name: &'static str,
        /// Its value.
        value: usize,
        /// The limit.
        max: usize,
    },
    /// A tile the network cannot down-sample `depth` times.
    #[error(
        "tile_size {tile} must be a positive multiple of the network's down-sampling, {factor}"
    )]
    TileSize {
        /// The tile size.
        tile: usize,
        /// `2^depth`.
        factor: usize,
    },
    /// A tensor the spec names is absent.
    #[error("tensor {0} is missing")]
    MissingTensor(String),
    /// A tensor of another shape than the spec's.
    #[error("tensor {name} has shape {got:?}, the card says {want:?}")]
    TensorShape {
        /// Tensor name.
        name: String,
        /// Its shape.
        got: Vec<usize>,
        /// The spec's shape.
        want: Vec<usize>,
    },
    /// A tensor whose data does not fill its shape.
    #[error("tensor {name} has {values} values for shape {shape:?}")]
    TensorData {
        /// Tensor name.
        name: String,
        /// Values present.
        values: usize,
        /// Its shape.
        shape: Vec<usize>,
    },
}

/// The architectures geomaml trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// Tile classifier: one class per input tile (Sen12MS).
    Cnn,
    /// Segmentation network: one class per pixel (DeepGlobe).
    Unet,
    /// Per-pixel mapping network: every pixel from its spectrum and a small
    /// neighbourhood, at the imagery's resolution (maps from points).
    Pixel,
}

/// Architecture and shape of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Which network.
    pub arch: Arch,
    /// Number of input bands.
    pub in_channels: usize,
    /// Number of output classes.
    pub num_classes: usize,
    /// Hidden channels (CNN, pixel network) or channels of the first level (U-Net).
    pub width: usize,
    /// Number of conv blocks (CNN), down-sampling levels (U-Net) or 3x3 context
    /// convolutions (pixel network).
    pub depth: usize,
    /// Input tile size in pixels (square).
    pub tile_size: usize,
}

/// One named tensor of a model: a parameter (trained) or a buffer (statistics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// Name, e.g. `blocks.0.conv.weight`.
    pub name: String,
    /// Shape in PyTorch layout (conv weights `[out, in, kh, kw]`).
    pub shape: Vec<usize>,
    /// `true` for trained parameters, `false` for batch-norm running statistics.
    pub trainable: bool,
}

impl ModelSpec {
    /// The paper's classifier: 7 blocks of 64 filters on 128 px tiles.
    pub fn paper_cnn(in_channels: usize, num_classes: usize) -> Self {
        ModelSpec {
            arch: Arch::Cnn,
            in_channels,
            num_classes,
            width: crate::model::arch::cnn::WIDTH,
            depth: crate::model::arch::cnn::MAX_DEPTH,
            tile_size: 128,
        }
    }

    /// A U-Net with four levels and 32 channels at the first level (see
    /// [`arch::unet`](crate::model::arch::unet)).
    pub fn default_unet(in_channels: usize, num_classes: usize, tile_size: usize) -> Self {
        ModelSpec {
            arch: Arch::Unet,
            in_channels,
            num_classes,
            width: crate::model::arch::unet::WIDTH,
            depth: crate::model::arch::unet::MAX_DEPTH,
            tile_size,
        }
    }

    /// The per-pixel network (see [`arch::pixel`](crate::model::arch::pixel)) with
    /// its default width, context depth and map window.
    pub fn default_pixel(in_channels: usize, num_classes: usize) -> Self {
        ModelSpec {
            arch: Arch::Pixel,
            in_channels,
            num_classes,
            width: crate::model::arch::pixel::WIDTH,
            depth: crate::model::arch::pixel::DEPTH,
            tile_size: crate::model::arch::pixel::TILE,
        }
    }

    /// Checks that the shape is usable (non-zero sizes, tile divisible by the
    /// network's down-sampling, 2^depth for the CNN and the U-Net).
    pub fn validate(&self) -> Result<(), InvalidModel> {
        use crate::limits::{MAX_CHANNELS, MAX_DEPTH, MAX_TILE, MAX_WIDTH};
        if self.in_channels == 0 || self.num_classes == 0 || self.width == 0 || self.depth == 0 {
            return Err(InvalidModel::ZeroSize);
        }
        for (name, v, max) in [
            ("in_channels", self.in_channels, MAX_CHANNELS),
            ("num_classes", self.num_classes, MAX_CHANNELS),
            ("width", self.width, MAX_WIDTH),
            ("depth", self.depth, MAX_DEPTH),
            ("tile_size", self.tile_size, MAX_TILE),
        ] {
            if v > max {
                return Err(InvalidModel::AboveLimit {
                    name,
                    value: v,
                    max,
                });
            }
        }
        let factor = crate::model::arch::trace(self).max_scale;
        if self.tile_size < factor || self.tile_size % factor != 0 {
            return Err(InvalidModel::TileSize {
                tile: self.tile_size,
                factor,
            });
        }
        Ok(())
    }

    /// Whether the model outputs one class per pixel (`true`) or per tile.
    pub fn is_segmentation(&self) -> bool {
        crate::model::arch::trace(self).per_pixel
    }

    /// Channels at U-Net level `l`.
    pub fn level_width(&self, l: usize) -> usize {
        self.width << l
    }

    /// All tensors in a fixed (forward) order: parameters and batch-norm buffers,
    /// as the architecture's description names and shapes them.
    pub fn tensors(&self) -> Vec<TensorSpec> {
        crate::model::arch::trace(self).tensors
    }

    /// Number of trainable parameters.
    pub fn parameter_count(&self) -> usize {
        self.tensors()
            .iter()
            .filter(|t| t.trainable)
            .map(|t| t.shape.iter().product::<usize>())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_cnn_has_231818_parameters() {
        assert_eq!(ModelSpec::paper_cnn(15, 10).parameter_count(), 231_818);
    }

    #[test]
    fn the_pixel_network_keeps_every_pixel_and_takes_any_tile() {
        let spec = ModelSpec::default_pixel(15, 10);
        assert!(spec.is_segmentation());
        for tile in [7, 32, 33] {
            assert!(ModelSpec {
                tile_size: tile,
                ..spec.clone()
            }
            .validate()
            .is_ok());
        }
        // spectral 15*32+32, bn 64, 2 context convs (15*32*9+32, 32*32*9+32), 2 bn,
        // fuse 64*32+32, bn, head 32*10+10.
        let want = (15 * 32 + 32)
            + 64
            + (15 * 32 * 9 + 32)
            + 64
            + (32 * 32 * 9 + 32)
            + 64
            + (64 * 32 + 32)
            + 64
            + (32 * 10 + 10);
        assert_eq!(spec.parameter_count(), want);
        assert!(crate::model::arch::trace(&spec).cuts.is_empty());
    }

    #[test]
    fn unet_names_are_unique_and_tile_size_is_checked() {
        let spec = ModelSpec::default_unet(3, 7, 64);
        let names: std::collections::HashSet<_> =
            spec.tensors().into_iter().map(|t| t.name).collect();
        assert_eq!(names.len(), spec.tensors().len());
        assert!(spec.validate().is_ok());
        assert!(ModelSpec {
            tile_size: 40,
            ..spec
        }
        .validate()
        .is_err());
    }
}
