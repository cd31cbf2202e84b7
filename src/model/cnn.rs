//! The paper's tile classifier as a function of its parameters.
//!
//! Reference: M. Russwurm, S. Wang, M. Korner, D. Lobell, "Meta-Learning for
//! Few-Shot Land Cover Classification", CVPR EarthVision 2020, section 4: `depth`
//! (7) blocks of [conv 3x3, 64 filters (padding 1) -> batch norm -> ReLU -> max-pool
//! 2], then a linear layer to the classes; 231,818 parameters at 15 bands and 10
//! classes. The layer semantics and names are those of
//! [`ModelSpec`](crate::model::spec::ModelSpec): after the blocks the remaining pixels are
//! averaged (1x1 at 128 px, where this equals the paper's flatten).

use crate::model::functional::FunctionalModel;
use crate::model::layers::{conv_bn_relu, global_mean_pool, linear, max_pool2, BnMode};
use crate::model::params::Params;
use tch::Tensor;

/// The paper's classifier.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cnn;

impl FunctionalModel for Cnn {
    fn forward(&self, params: &Params, x: &Tensor, bn: BnMode<'_>) -> Tensor {
        let mut h = x.shallow_clone();
        for i in 0..params.spec().depth {
            h = conv_bn_relu(
                &h,
                params,
                &format!("blocks.{i}.conv"),
                &format!("blocks.{i}.bn"),
                bn,
            );
            h = max_pool2(&h);
        }
        linear(
            &global_mean_pool(&h),
            params.get("head.weight"),
            params.get("head.bias"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::ModelSpec;
    use tch::{Device, Kind};

    #[test]
    fn paper_cnn_maps_128px_tiles_to_class_logits() {
        let p = Params::init(&ModelSpec::paper_cnn(15, 10), Device::Cpu, Kind::Float, 0).unwrap();
        let x = Tensor::randn([2, 15, 128, 128], (Kind::Float, Device::Cpu));
        let y = tch::no_grad(|| Cnn.forward(&p, &x, BnMode::Batch));
        assert_eq!(y.size(), [2, 10]);
    }

    #[test]
    fn frozen_statistics_of_zero_mean_unit_variance_change_nothing_at_init() {
        let spec = ModelSpec {
            width: 4,
            depth: 2,
            tile_size: 8,
            ..ModelSpec::paper_cnn(3, 5)
        };
        let p = Params::init(&spec, Device::Cpu, Kind::Double, 3).unwrap();
        let x = Tensor::randn([4, 3, 8, 8], (Kind::Double, Device::Cpu));
        let frozen = Cnn.forward(&p, &x, BnMode::Frozen);
        let batch = Cnn.forward(&p, &x, BnMode::Batch);
        assert_eq!(frozen.size(), [4, 5]);
        assert!(frozen.isfinite().all().int64_value(&[]) == 1);
        // Different statistics, different outputs: the modes are really distinct.
        assert!(f64::try_from((frozen - batch).abs().max()).unwrap() > 1e-6);
    }
}
