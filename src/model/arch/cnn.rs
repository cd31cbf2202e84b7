//! The paper's tile classifier.
//!
//! Reference: M. Russwurm, S. Wang, M. Korner, D. Lobell, "Meta-Learning for
//! Few-Shot Land Cover Classification", CVPR EarthVision 2020, section 4: `depth`
//! (7) blocks of [conv 3x3, 64 filters (padding 1) -> batch norm -> ReLU -> max-pool
//! 2], then a linear layer to the classes; 231,818 parameters at 15 bands and 10
//! classes. After the blocks the remaining pixels are averaged (1x1 at 128 px, where
//! this equals the paper's flatten), so the network runs on any tile divisible by
//! `2^depth`. Names: `blocks.{i}.conv`, `blocks.{i}.bn`, `head`.

use super::{conv_bn_relu, Layers, HEAD};
use crate::model::spec::ModelSpec;

/// The paper's filters per block.
pub const WIDTH: usize = 64;
/// The paper's number of blocks.
pub const MAX_DEPTH: usize = 7;

/// `[n, bands, h, w]` -> logits `[n, classes]`.
pub fn build<L: Layers>(spec: &ModelSpec, l: &mut L, input: L::Value) -> L::Value {
    let mut h = input;
    for i in 0..spec.depth {
        let block = format!("blocks.{i}");
        let r = conv_bn_relu(
            l,
            &h,
            &format!("{block}.conv"),
            &format!("{block}.bn"),
            &block,
            spec.width,
        );
        h = l.max_pool2(&r, &block);
    }
    let pooled = l.global_mean(&h, HEAD);
    l.linear(&pooled, HEAD, spec.num_classes)
}
