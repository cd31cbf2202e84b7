//! U-Net for DeepGlobe segmentation.
//!
//! Reference: O. Ronneberger, P. Fischer, T. Brox, "U-Net: Convolutional Networks
//! for Biomedical Image Segmentation", MICCAI 2015; used for DeepGlobe by Russwurm
//! et al. 2020. `depth` encoder levels `enc{l}` of two [conv 3x3 -> bn -> ReLU] each
//! followed by max-pool 2, a bottleneck `mid`, decoder levels `dec{l}` (l = depth-1
//! .. 0: a 2x2 stride-2 transposed conv `dec{l}.up`, concatenation `[up, skip]`, two
//! [conv 3x3 -> bn -> ReLU]) and a 1x1 conv `head`. Level l has `width * 2^l`
//! channels. Padded convolutions keep sizes, so the output is `[n, classes, h, w]`
//! for any tile divisible by `2^depth`.

use super::{conv_bn_relu, Layers, HEAD};
use crate::model::spec::ModelSpec;

/// Channels of the first level.
pub const WIDTH: usize = 32;
/// Down-sampling levels.
pub const MAX_DEPTH: usize = 4;

fn double_conv<L: Layers>(l: &mut L, x: &L::Value, level: &str, out: usize) -> L::Value {
    let h = conv_bn_relu(
        l,
        x,
        &format!("{level}.conv1"),
        &format!("{level}.bn1"),
        &format!("{level}.1"),
        out,
    );
    conv_bn_relu(
        l,
        &h,
        &format!("{level}.conv2"),
        &format!("{level}.bn2"),
        &format!("{level}.2"),
        out,
    )
}

/// `[n, bands, h, w]` -> logits `[n, classes, h, w]`.
pub fn build<L: Layers>(spec: &ModelSpec, l: &mut L, input: L::Value) -> L::Value {
    let mut skips = Vec::with_capacity(spec.depth);
    let mut h = input;
    for lv in 0..spec.depth {
        let level = format!("enc{lv}");
        let s = double_conv(l, &h, &level, spec.level_width(lv));
        h = l.max_pool2(&s, &level);
        skips.push(s);
    }
    h = double_conv(l, &h, "mid", spec.level_width(spec.depth));
    for (lv, skip) in skips.iter().enumerate().rev() {
        let level = format!("dec{lv}");
        let up = l.up_conv2(&h, &format!("{level}.up"), spec.level_width(lv));
        let cat = l.concat(&up, skip, &level);
        h = double_conv(l, &cat, &level, spec.level_width(lv));
    }
    l.conv(&h, HEAD, spec.num_classes, 1)
}
