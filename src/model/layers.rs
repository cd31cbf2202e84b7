//! Layers as pure functions over explicit tensors.
//!
//! Every function takes its weights as arguments, so the same code runs with the
//! meta-parameters and with MAML's fast weights, and stays differentiable twice
//! (Finn et al. 2017 need the gradient of a gradient step). Shapes follow PyTorch:
//! images `[n, c, h, w]`, conv weights `[out, in, kh, kw]`, transposed-conv weights
//! `[in, out, kh, kw]`. Batch norm uses [`BN_EPS`](crate::model::spec::BN_EPS) everywhere, so the ONNX export
//! (same spec doc) normalises identically.

use crate::model::params::Params;
use crate::model::spec::BN_EPS;
use std::cell::RefCell;
use tch::{Kind, Tensor};

/// Per-layer batch statistics seen by [`BnMode::Record`]: `(layer prefix, mean,
/// biased variance)` in forward order, detached.
pub type BnRecord = RefCell<Vec<(String, Tensor, Tensor)>>;

/// Which statistics batch norm normalises with.
#[derive(Debug, Clone, Copy)]
pub enum BnMode<'a> {
    /// The statistics of the current batch (the paper's MAML inner and outer loop);
    /// running buffers untouched.
    Batch,
    /// Batch statistics, and the running buffers move towards them with this
    /// momentum (PyTorch's training mode), without gradient.
    Track {
        /// Weight of the new batch in the running average.
        momentum: f64,
    },
    /// The running buffers (`*.running_mean`, `*.running_var`): export and
    /// inference mode.
    Frozen,
    /// Batch statistics, recorded per layer for [`estimate_bn_stats`](super::bn_stats::estimate_bn_stats).
    Record(&'a BnRecord),
}

/// 2-D convolution, stride 1, zero padding `padding` on every side.
pub fn conv2d(x: &Tensor, weight: &Tensor, bias: &Tensor, padding: i64) -> Tensor {
    x.conv2d(weight, Some(bias), [1, 1], [padding, padding], [1, 1], 1)
}

/// 2x2 transposed convolution with stride 2: doubles height and width.
pub fn conv_transpose2x2(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Tensor {
    x.conv_transpose2d(weight, Some(bias), [2, 2], [0, 0], [0, 0], 1, [1, 1])
}

/// Batch norm of the layer `prefix` (`blocks.0.bn`), taking its weight, bias and
/// buffers from `params`.
pub fn batch_norm(x: &Tensor, params: &Params, prefix: &str, mode: BnMode<'_>) -> Tensor {
    let w = params.get(&format!("{prefix}.weight"));
    let b = params.get(&format!("{prefix}.bias"));
    let running = || {
        (
            params.get(&format!("{prefix}.running_mean")),
            params.get(&format!("{prefix}.running_var")),
        )
    };
    match mode {
        BnMode::Batch => x.batch_norm(
            Some(w),
            Some(b),
            None::<&Tensor>,
            None,
            true,
            0.0,
            BN_EPS,
            true,
        ),
        BnMode::Track { momentum } => {
            let (rm, rv) = running();
            x.batch_norm(
                Some(w),
                Some(b),
                Some(rm),
                Some(rv),
                true,
                momentum,
                BN_EPS,
                true,
            )
        }
        BnMode::Frozen => {
            let (rm, rv) = running();
            x.batch_norm(
                Some(w),
                Some(b),
                Some(rm),
                Some(rv),
                false,
                0.0,
                BN_EPS,
                true,
            )
        }
        BnMode::Record(record) => {
            let mean = x.detach().mean_dim(&[0i64, 2, 3][..], false, Kind::Double);
            let var = x
                .detach()
                .to_kind(Kind::Double)
                .var_dim(&[0i64, 2, 3][..], false, false);
            record.borrow_mut().push((prefix.to_string(), mean, var));
            x.batch_norm(
                Some(w),
                Some(b),
                None::<&Tensor>,
                None,
                true,
                0.0,
                BN_EPS,
                true,
            )
        }
    }
}

/// 2x2 max-pooling with stride 2.
pub fn max_pool2(x: &Tensor) -> Tensor {
    x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)
}

/// Mean over height and width: `[n, c, h, w]` -> `[n, c]`.
pub fn global_mean_pool(x: &Tensor) -> Tensor {
    x.mean_dim(&[2i64, 3][..], false, None::<Kind>)
}

/// Fully connected layer, `x @ weight^T + bias`.
pub fn linear(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Tensor {
    x.linear(weight, Some(bias))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn shapes_of_the_spatial_layers() {
        let x = Tensor::randn([2, 3, 8, 8], (Kind::Float, Device::Cpu));
        let w = Tensor::randn([5, 3, 3, 3], (Kind::Float, Device::Cpu));
        let b = Tensor::zeros([5], (Kind::Float, Device::Cpu));
        assert_eq!(conv2d(&x, &w, &b, 1).size(), [2, 5, 8, 8]);
        assert_eq!(max_pool2(&x).size(), [2, 3, 4, 4]);
        let wt = Tensor::randn([3, 4, 2, 2], (Kind::Float, Device::Cpu));
        let bt = Tensor::zeros([4], (Kind::Float, Device::Cpu));
        assert_eq!(conv_transpose2x2(&x, &wt, &bt).size(), [2, 4, 16, 16]);
        assert_eq!(global_mean_pool(&x).size(), [2, 3]);
    }
}
