//! Models as functions over named parameters.
//!
//! `spec` (architecture, names, shapes) and `host` (checkpoints) need no tensor
//! library; the forward passes need tch and sit behind the `train` feature.

pub mod host;
pub mod spec;

pub use host::{Checkpoint, HostTensor, NamedTensors};
pub use spec::{Arch, ModelSpec};
