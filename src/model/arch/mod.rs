//! Architectures, each written once against a small set of layer operations.
//!
//! An architecture is a function from an input value to an output value that only
//! calls [`Layers`] operations. What a value is depends on who runs the description:
//!
//! | backend | value | used for |
//! |---|---|---|
//! | `model::functional` | a tch tensor of one model | training, adaptation, evaluation |
//! | `model::stacked` | a tch tensor of `T` models | MAML's meta-batch in one pass |
//! | `export::graph` | an ONNX value name | the exported graph |
//! | [`trace`] | channels and scale | tensor names and shapes, output kind, cut points |
//!
//! So the spec's tensor list, the tch passes, the ONNX graph and the points where
//! inference may share work between windows all follow from one description, and a
//! new architecture is one file here plus its [`Arch`] variant and `match` arms below.
//!
//! Every architecture ends in a layer named [`HEAD`] (a linear layer or a 1x1
//! convolution): adaptation slices its output rows to the labelled classes, and
//! head-only estimates train it alone on the features it reads.
//!
//! Naming: an operation with parameters takes their prefix (`blocks.0.conv` owns
//! `blocks.0.conv.weight` and `.bias`); every operation's output value is named
//! `{name}/{op}` ([`value_name`]), which is how the ONNX graph names its values.

pub mod cnn;
pub mod pixel;
pub mod trace;
pub mod unet;

use crate::model::spec::{Arch, ModelSpec};
pub use trace::{trace, Cut, Traced};

/// Name of every architecture's last layer (parameters `head.weight`, `head.bias`).
pub const HEAD: &str = "head";
/// The head's weight, `{HEAD}.weight`.
pub const HEAD_WEIGHT: &str = "head.weight";
/// The head's bias, `{HEAD}.bias`.
pub const HEAD_BIAS: &str = "head.bias";

/// The operations an architecture is written with. Shapes follow PyTorch: images
/// `[n, c, h, w]`; batch norm normalises per channel with [`BN_EPS`](crate::model::spec::BN_EPS).
pub trait Layers {
    /// What flows between operations.
    type Value;
    /// Convolution `kernel x kernel`, stride 1, zero padding `kernel / 2` (sizes kept
    /// for odd kernels) to `out` channels; parameters `{name}.weight`
    /// `[out, in, kernel, kernel]` and `{name}.bias` `[out]`.
    fn conv(&mut self, x: &Self::Value, name: &str, out: usize, kernel: usize) -> Self::Value;
    /// Batch norm; parameters `{name}.weight`, `{name}.bias` and buffers
    /// `{name}.running_mean`, `{name}.running_var`, all `[channels]`.
    fn batch_norm(&mut self, x: &Self::Value, name: &str) -> Self::Value;
    /// Rectified linear unit.
    fn relu(&mut self, x: &Self::Value, name: &str) -> Self::Value;
    /// 2x2 max-pooling, stride 2 (floor): halves height and width.
    fn max_pool2(&mut self, x: &Self::Value, name: &str) -> Self::Value;
    /// 2x2 transposed convolution, stride 2, to `out` channels: doubles height and
    /// width; parameters `{name}.weight` `[in, out, 2, 2]` and `{name}.bias` `[out]`.
    fn up_conv2(&mut self, x: &Self::Value, name: &str, out: usize) -> Self::Value;
    /// `[a, b]` along channels (same height and width).
    fn concat(&mut self, a: &Self::Value, b: &Self::Value, name: &str) -> Self::Value;
    /// Mean over height and width: `[n, c, h, w]` -> `[n, c]`.
    fn global_mean(&mut self, x: &Self::Value, name: &str) -> Self::Value;
    /// Fully connected `[n, in]` -> `[n, out]`, `x W^T + b`; parameters
    /// `{name}.weight` `[out, in]` and `{name}.bias` `[out]`.
    fn linear(&mut self, x: &Self::Value, name: &str, out: usize) -> Self::Value;
}

/// The operation kinds, as they appear in value names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// [`Layers::conv`]
    Conv,
    /// [`Layers::batch_norm`]
    BatchNorm,
    /// [`Layers::relu`]
    Relu,
    /// [`Layers::max_pool2`]
    MaxPool,
    /// [`Layers::up_conv2`]
    UpConv,
    /// [`Layers::concat`]
    Concat,
    /// [`Layers::global_mean`]
    GlobalMean,
    /// [`Layers::linear`]
    Linear,
}

impl Op {
    fn suffix(self) -> &'static str {
        match self {
            Op::Conv => "conv",
            Op::BatchNorm => "bn",
            Op::Relu => "relu",
            Op::MaxPool => "pool",
            Op::UpConv => "up",
            Op::Concat => "concat",
            Op::GlobalMean => "mean",
            Op::Linear => "linear",
        }
    }
}

/// Name of the value an operation `op` named `name` produces (`blocks.3/pool`).
pub fn value_name(name: &str, op: Op) -> String {
    format!("{name}/{}", op.suffix())
}

/// [conv 3x3 -> batch norm -> ReLU], the unit every architecture repeats.
pub fn conv_bn_relu<L: Layers>(
    l: &mut L,
    x: &L::Value,
    conv: &str,
    bn: &str,
    relu: &str,
    out: usize,
) -> L::Value {
    let h = l.conv(x, conv, out, 3);
    let h = l.batch_norm(&h, bn);
    l.relu(&h, relu)
}

impl Arch {
    /// Runs the description of this architecture for `spec` on `input` with `layers`.
    pub fn build<L: Layers>(self, spec: &ModelSpec, layers: &mut L, input: L::Value) -> L::Value {
        match self {
            Arch::Cnn => cnn::build(spec, layers, input),
            Arch::Unet => unet::build(spec, layers, input),
            Arch::Pixel => pixel::build(spec, layers, input),
        }
    }

    /// `(width, largest depth)` a new model of this architecture gets by default.
    pub fn default_shape(self) -> (usize, usize) {
        match self {
            Arch::Cnn => (cnn::WIDTH, cnn::MAX_DEPTH),
            Arch::Unet => (unet::WIDTH, unet::MAX_DEPTH),
            Arch::Pixel => (pixel::WIDTH, pixel::DEPTH),
        }
    }
}
