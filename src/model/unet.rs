//! U-Net for DeepGlobe segmentation as a function of its parameters.
//!
//! Reference: O. Ronneberger, P. Fischer, T. Brox, "U-Net: Convolutional Networks
//! for Biomedical Image Segmentation", MICCAI 2015; used for DeepGlobe by Russwurm
//! et al. 2020. Layout and names follow [`ModelSpec`](crate::model::spec::ModelSpec):
//! `depth` encoder levels `enc{l}` of two [conv 3x3 -> bn -> ReLU] each followed by
//! max-pool 2, a bottleneck `mid`, decoder levels `dec{l}` (2x2 stride-2 transposed
//! conv `up`, concatenation `[up, skip]`, two [conv 3x3 -> bn -> ReLU]) and a 1x1
//! conv `head`. Padded convolutions keep sizes, so the output is `[n, classes, h, w]`
//! for any tile divisible by `2^depth`.

use crate::model::functional::FunctionalModel;
use crate::model::layers::{conv2d, conv_bn_relu, conv_transpose2x2, max_pool2, BnMode};
use crate::model::params::Params;
use tch::Tensor;

/// The segmentation network.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unet;

fn double_conv(x: &Tensor, p: &Params, prefix: &str, bn: BnMode<'_>) -> Tensor {
    let h = conv_bn_relu(
        x,
        p,
        &format!("{prefix}.conv1"),
        &format!("{prefix}.bn1"),
        bn,
    );
    conv_bn_relu(
        &h,
        p,
        &format!("{prefix}.conv2"),
        &format!("{prefix}.bn2"),
        bn,
    )
}

impl FunctionalModel for Unet {
    fn forward(&self, params: &Params, x: &Tensor, bn: BnMode<'_>) -> Tensor {
        let depth = params.spec().depth;
        let mut skips = Vec::with_capacity(depth);
        let mut h = x.shallow_clone();
        for l in 0..depth {
            let s = double_conv(&h, params, &format!("enc{l}"), bn);
            h = max_pool2(&s);
            skips.push(s);
        }
        h = double_conv(&h, params, "mid", bn);
        for l in (0..depth).rev() {
            let up = conv_transpose2x2(
                &h,
                params.get(&format!("dec{l}.up.weight")),
                params.get(&format!("dec{l}.up.bias")),
            );
            let cat = Tensor::cat(&[&up, &skips[l]], 1);
            h = double_conv(&cat, params, &format!("dec{l}"), bn);
        }
        conv2d(&h, params.get("head.weight"), params.get("head.bias"), 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::ModelSpec;
    use tch::{Device, Kind};

    #[test]
    fn unet_keeps_the_tile_size() {
        let spec = ModelSpec {
            width: 4,
            ..ModelSpec::default_unet(3, 7, 32)
        };
        let p = Params::init(&spec, Device::Cpu, Kind::Float, 0).unwrap();
        let x = Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu));
        let y = tch::no_grad(|| Unet.forward(&p, &x, BnMode::Batch));
        assert_eq!(y.size(), [2, 7, 32, 32]);
    }
}
