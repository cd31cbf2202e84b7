//! `ModelSpec`: the architecture of a model, independent of any tensor library.
//!
//! The spec fixes parameter names and shapes, so the tch forward pass
//! (`model::cnn`, `model::unet`), checkpoints and the ONNX writer agree by
//! construction. Two architectures:
//!
//! - `Cnn`, the paper's classifier (Russwurm et al. 2020): `depth` blocks of
//!   [conv 3x3 (padding 1) -> batch norm -> ReLU -> max-pool 2], then the mean over
//!   the remaining pixels (1x1 for 128 px and 7 blocks, so it equals the paper's
//!   flatten) and a linear head. Names: `blocks.{i}.conv.{weight,bias}`,
//!   `blocks.{i}.bn.{weight,bias}`, `head.{weight,bias}`.
//! - `Unet` (Ronneberger et al. 2015): encoder levels `enc{l}` (l < depth), each two
//!   [conv 3x3 -> bn -> ReLU] then max-pool 2; a bottleneck `mid`; decoder levels
//!   `dec{l}` (l = depth-1 .. 0), each a 2x2 stride-2 transposed conv `up`
//!   (c_{l+1} -> c_l), concatenation [up, skip] and two [conv 3x3 -> bn -> ReLU];
//!   a 1x1 conv `head`. Level l has `width * 2^l` channels.
//!
//! Batch-norm layers carry running statistics as buffers `*.bn*.running_{mean,var}`
//! (not parameters): MAML runs with batch statistics, and the frozen statistics
//! for export are estimated on the user's data. Batch-norm epsilon is [`BN_EPS`].

use serde::{Deserialize, Serialize};

/// Batch-norm epsilon used by training, export and inference alike.
pub const BN_EPS: f64 = 1e-5;

/// The two architectures geomaml trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// Tile classifier: one class per input tile (Sen12MS).
    Cnn,
    /// Segmentation network: one class per pixel (DeepGlobe).
    Unet,
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
    /// Hidden channels (CNN) or channels of the first level (U-Net).
    pub width: usize,
    /// Number of conv blocks (CNN) or down-sampling levels (U-Net).
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
            width: 64,
            depth: 7,
            tile_size: 128,
        }
    }

    /// A U-Net with four levels and 32 channels at the first level.
    pub fn default_unet(in_channels: usize, num_classes: usize, tile_size: usize) -> Self {
        ModelSpec {
            arch: Arch::Unet,
            in_channels,
            num_classes,
            width: 32,
            depth: 4,
            tile_size,
        }
    }

    /// Checks that the shape is usable (non-zero sizes, tile divisible by 2^depth).
    pub fn validate(&self) -> Result<(), String> {
        use crate::limits::{MAX_CHANNELS, MAX_DEPTH, MAX_TILE, MAX_WIDTH};
        if self.in_channels == 0 || self.num_classes == 0 || self.width == 0 || self.depth == 0 {
            return Err("in_channels, num_classes, width and depth must be positive".into());
        }
        for (name, v, max) in [
            ("in_channels", self.in_channels, MAX_CHANNELS),
            ("num_classes", self.num_classes, MAX_CHANNELS),
            ("width", self.width, MAX_WIDTH),
            ("depth", self.depth, MAX_DEPTH),
            ("tile_size", self.tile_size, MAX_TILE),
        ] {
            if v > max {
                return Err(format!("{name} {v} is above the limit of {max}"));
            }
        }
        let factor = 1usize << self.depth;
        if self.tile_size < factor || self.tile_size % factor != 0 {
            return Err(format!(
                "tile_size {} must be a positive multiple of 2^depth = {factor}",
                self.tile_size
            ));
        }
        Ok(())
    }

    /// Whether the model outputs one class per pixel (`true`) or per tile.
    pub fn is_segmentation(&self) -> bool {
        self.arch == Arch::Unet
    }

    /// Channels at U-Net level `l`.
    pub fn level_width(&self, l: usize) -> usize {
        self.width << l
    }

    /// All tensors in a fixed order: parameters and batch-norm buffers.
    pub fn tensors(&self) -> Vec<TensorSpec> {
        let mut t = Vec::new();
        match self.arch {
            Arch::Cnn => {
                let mut cin = self.in_channels;
                for i in 0..self.depth {
                    conv(&mut t, &format!("blocks.{i}.conv"), cin, self.width, 3);
                    bn(&mut t, &format!("blocks.{i}.bn"), self.width);
                    cin = self.width;
                }
                param(&mut t, "head.weight", vec![self.num_classes, self.width]);
                param(&mut t, "head.bias", vec![self.num_classes]);
            }
            Arch::Unet => {
                let mut cin = self.in_channels;
                for l in 0..self.depth {
                    double_conv(&mut t, &format!("enc{l}"), cin, self.level_width(l));
                    cin = self.level_width(l);
                }
                double_conv(&mut t, "mid", cin, self.level_width(self.depth));
                for l in (0..self.depth).rev() {
                    let (hi, lo) = (self.level_width(l + 1), self.level_width(l));
                    param(&mut t, &format!("dec{l}.up.weight"), vec![hi, lo, 2, 2]);
                    param(&mut t, &format!("dec{l}.up.bias"), vec![lo]);
                    double_conv(&mut t, &format!("dec{l}"), 2 * lo, lo);
                }
                conv(&mut t, "head", self.width, self.num_classes, 1);
            }
        }
        t
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

fn param(t: &mut Vec<TensorSpec>, name: &str, shape: Vec<usize>) {
    t.push(TensorSpec {
        name: name.into(),
        shape,
        trainable: true,
    });
}

fn conv(t: &mut Vec<TensorSpec>, prefix: &str, cin: usize, cout: usize, k: usize) {
    param(t, &format!("{prefix}.weight"), vec![cout, cin, k, k]);
    param(t, &format!("{prefix}.bias"), vec![cout]);
}

fn bn(t: &mut Vec<TensorSpec>, prefix: &str, c: usize) {
    param(t, &format!("{prefix}.weight"), vec![c]);
    param(t, &format!("{prefix}.bias"), vec![c]);
    for buf in ["running_mean", "running_var"] {
        t.push(TensorSpec {
            name: format!("{prefix}.{buf}"),
            shape: vec![c],
            trainable: false,
        });
    }
}

fn double_conv(t: &mut Vec<TensorSpec>, prefix: &str, cin: usize, cout: usize) {
    conv(t, &format!("{prefix}.conv1"), cin, cout, 3);
    bn(t, &format!("{prefix}.bn1"), cout);
    conv(t, &format!("{prefix}.conv2"), cout, cout, 3);
    bn(t, &format!("{prefix}.bn2"), cout);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_cnn_has_231818_parameters() {
        assert_eq!(ModelSpec::paper_cnn(15, 10).parameter_count(), 231_818);
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
