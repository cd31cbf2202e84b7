//! The per-pixel mapping network: every pixel of the input classified at the
//! imagery's resolution, from its own spectrum and a small neighbourhood.
//!
//! Two paths meet before the head, as in hypercolumns (B. Hariharan, P. Arbeláez,
//! R. Girshick, J. Malik, "Hypercolumns for Object Segmentation and Fine-grained
//! Localization", CVPR 2015), which classify a pixel from features of several
//! receptive fields stacked at that pixel:
//!
//! - `spectral`: a 1x1 convolution -> batch norm -> ReLU, the pixel's own spectrum on
//!   a short path, so class edges stay where the imagery puts them;
//! - `context.{i}` (`depth` of them): 3x3 convolution -> batch norm -> ReLU, texture
//!   and surroundings over a (2 depth + 1) px window;
//! - `fuse`: their concatenation through a 1x1 convolution -> batch norm -> ReLU, and
//!   the 1x1 convolution `head` to the classes.
//!
//! No pooling: the output is `[n, classes, h, w]` for any input size, and a map
//! window needs a margin of only `depth` px. Batch norm runs on batch statistics
//! while meta-training (each task's own) and is frozen from the target scene when a
//! model is adapted, which normalises away a scene's radiometric offset and gain:
//! what METEOR (Rußwurm et al., 2024) gets from instance normalisation.

use super::{conv_bn_relu, Layers, HEAD};
use crate::model::spec::ModelSpec;

/// Channels of each path.
pub const WIDTH: usize = 32;
/// 3x3 context convolutions.
pub const DEPTH: usize = 2;
/// Map window of an adapted model, in pixels (any size works; larger windows
/// waste less on their margins).
pub const TILE: usize = 128;

/// `[n, bands, h, w]` -> logits `[n, classes, h, w]`.
pub fn build<L: Layers>(spec: &ModelSpec, l: &mut L, input: L::Value) -> L::Value {
    let w = spec.width;
    let h = l.conv(&input, "spectral.conv", w, 1);
    let h = l.batch_norm(&h, "spectral.bn");
    let spectral = l.relu(&h, "spectral");
    let mut context = input;
    for i in 0..spec.depth {
        let block = format!("context.{i}");
        context = conv_bn_relu(
            l,
            &context,
            &format!("{block}.conv"),
            &format!("{block}.bn"),
            &block,
            w,
        );
    }
    let both = l.concat(&spectral, &context, "fuse");
    let h = l.conv(&both, "fuse.conv", w, 1);
    let h = l.batch_norm(&h, "fuse.bn");
    let h = l.relu(&h, "fuse");
    l.conv(&h, HEAD, spec.num_classes, 1)
}
