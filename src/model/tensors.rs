//! Tensors on the host, by name: what checkpoints store and ONNX initializers are
//! built from, with no tensor library involved.

use std::collections::BTreeMap;

/// A dense f32 tensor in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    /// Shape (PyTorch layout).
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<f32>,
}

/// Tensors by name, in name order.
pub type NamedTensors = BTreeMap<String, HostTensor>;
