//! The functional-model interface: `forward(params, x, bn) -> logits`.
//!
//! A model is a pure function of its parameters (the form MAML needs, Finn et al.
//! 2017): nothing is stored in the model value itself, so meta-parameters and fast
//! weights go through the same code. [`forward`] picks the implementation from the
//! spec's architecture.

use crate::model::cnn::Cnn;
use crate::model::layers::BnMode;
use crate::model::params::Params;
use crate::model::spec::Arch;
use crate::model::unet::Unet;
use tch::Tensor;

/// A network written as a function of explicit parameters.
pub trait FunctionalModel {
    /// Logits for a batch `x` of `[n, bands, h, w]`: `[n, classes]` for a
    /// classifier, `[n, classes, h, w]` for a segmentation network.
    fn forward(&self, params: &Params, x: &Tensor, bn: BnMode<'_>) -> Tensor;
}

/// Runs the network that `params.spec()` names.
pub fn forward(params: &Params, x: &Tensor, bn: BnMode<'_>) -> Tensor {
    match params.spec().arch {
        Arch::Cnn => Cnn.forward(params, x, bn),
        Arch::Unet => Unet.forward(params, x, bn),
    }
}
