//! One model's forward pass in tch: the architecture descriptions of
//! [`model::arch`](crate::model::arch) run on tensors.
//!
//! A model is a pure function of its parameters (the form MAML needs, Finn et al.
//! 2017): the weights come from the [`Params`] given, so meta-parameters and fast
//! weights go through the same code, twice differentiable.

use crate::model::arch::{Layers, HEAD};
use crate::model::layers::{
    batch_norm, conv2d, conv_transpose2x2, global_mean_pool, linear, max_pool2, BnMode,
};
use crate::model::params::Params;
use tch::Tensor;

/// The layer operations on one model's tensors, batch norm in mode `bn`; the
/// input of the layer named [`HEAD`] is kept in `head_input`.
struct Single<'p, 'b> {
    params: &'p Params,
    bn: BnMode<'b>,
    head_input: Option<Tensor>,
}

impl Single<'_, '_> {
    fn weight_bias(&self, name: &str) -> (&Tensor, &Tensor) {
        (
            self.params.get(&format!("{name}.weight")),
            self.params.get(&format!("{name}.bias")),
        )
    }

    fn keep_head_input(&mut self, x: &Tensor, name: &str) {
        if name == HEAD {
            self.head_input = Some(x.shallow_clone());
        }
    }
}

impl Layers for Single<'_, '_> {
    type Value = Tensor;

    fn conv(&mut self, x: &Tensor, name: &str, _out: usize, kernel: usize) -> Tensor {
        self.keep_head_input(x, name);
        let (w, b) = self.weight_bias(name);
        conv2d(x, w, b, (kernel / 2) as i64)
    }

    fn batch_norm(&mut self, x: &Tensor, name: &str) -> Tensor {
        batch_norm(x, self.params, name, self.bn)
    }

    fn relu(&mut self, x: &Tensor, _name: &str) -> Tensor {
        x.relu()
    }

    fn max_pool2(&mut self, x: &Tensor, _name: &str) -> Tensor {
        max_pool2(x)
    }

    fn up_conv2(&mut self, x: &Tensor, name: &str, _out: usize) -> Tensor {
        let (w, b) = self.weight_bias(name);
        conv_transpose2x2(x, w, b)
    }

    fn concat(&mut self, a: &Tensor, b: &Tensor, _name: &str) -> Tensor {
        Tensor::cat(&[a, b], 1)
    }

    fn global_mean(&mut self, x: &Tensor, _name: &str) -> Tensor {
        global_mean_pool(x)
    }

    fn linear(&mut self, x: &Tensor, name: &str, _out: usize) -> Tensor {
        self.keep_head_input(x, name);
        let (w, b) = self.weight_bias(name);
        linear(x, w, b)
    }
}

/// The features the model's last layer (`head`, see [`HEAD`]) reads for a batch
/// `x`: `[n, c]` for a classifier, `[n, c, h, w]` for a segmentation network.
pub fn head_input(params: &Params, x: &Tensor, bn: BnMode<'_>) -> Tensor {
    let spec = params.spec();
    let mut l = Single {
        params,
        bn,
        head_input: None,
    };
    let _ = spec.arch.build(spec, &mut l, x.shallow_clone());
    l.head_input
        .expect("every architecture ends in a layer named head")
}

/// The last layer on features from [`head_input`], with head weights `w` and `b`
/// (`[classes, c]` linear, or `[classes, c, 1, 1]` 1x1 convolution): the logits.
pub fn head_logits(features: &Tensor, w: &Tensor, b: &Tensor) -> Tensor {
    if features.dim() == 2 {
        linear(features, w, b)
    } else {
        conv2d(features, w, b, 0)
    }
}

/// Logits of the network `params.spec()` names for a batch `x` of
/// `[n, bands, h, w]`: `[n, classes]` for a classifier, `[n, classes, h, w]` for a
/// segmentation network.
pub fn forward(params: &Params, x: &Tensor, bn: BnMode<'_>) -> Tensor {
    let spec = params.spec();
    spec.arch.build(
        spec,
        &mut Single {
            params,
            bn,
            head_input: None,
        },
        x.shallow_clone(),
    )
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
        let y = tch::no_grad(|| forward(&p, &x, BnMode::Batch));
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
        let frozen = forward(&p, &x, BnMode::Frozen);
        let batch = forward(&p, &x, BnMode::Batch);
        assert_eq!(frozen.size(), [4, 5]);
        assert!(frozen.isfinite().all().int64_value(&[]) == 1);
        // Different statistics, different outputs: the modes are really distinct.
        assert!(f64::try_from((frozen - batch).abs().max()).unwrap() > 1e-6);
    }

    #[test]
    fn the_head_on_its_input_gives_the_logits() {
        for spec in [
            ModelSpec {
                width: 4,
                depth: 2,
                tile_size: 8,
                ..ModelSpec::paper_cnn(3, 5)
            },
            ModelSpec {
                width: 4,
                depth: 2,
                ..ModelSpec::default_unet(3, 5, 8)
            },
        ] {
            let p = Params::init(&spec, Device::Cpu, Kind::Double, 3).unwrap();
            let x = Tensor::randn([4, 3, 8, 8], (Kind::Double, Device::Cpu));
            let f = head_input(&p, &x, BnMode::Frozen);
            let logits = head_logits(&f, p.get("head.weight"), p.get("head.bias"));
            let direct = forward(&p, &x, BnMode::Frozen);
            assert_eq!(logits.size(), direct.size());
            let err = (logits - direct).abs().max().double_value(&[]);
            assert!(err < 1e-12, "{err}");
        }
    }

    #[test]
    fn unet_keeps_the_tile_size() {
        let spec = ModelSpec {
            width: 4,
            ..ModelSpec::default_unet(3, 7, 32)
        };
        let p = Params::init(&spec, Device::Cpu, Kind::Float, 0).unwrap();
        let x = Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu));
        let y = tch::no_grad(|| forward(&p, &x, BnMode::Batch));
        assert_eq!(y.size(), [2, 7, 32, 32]);
    }
}
