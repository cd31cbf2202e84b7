//! Models as functions over named parameters.
//!
//! `arch` (each architecture written once against layer operations), `spec`
//! (architecture and sizes) need no tensor library (checkpoints are
//! [`crate::checkpoint`]); the tch
//! forward passes (`functional` for one model, `stacked` for a meta-batch) sit
//! behind the `train` feature.

pub mod arch;
pub mod spec;
pub mod tensors;

/// Batch-norm statistics estimated on data, for export.
#[cfg(feature = "train")]
pub mod bn_stats;
/// One model's forward pass in tch.
#[cfg(feature = "train")]
pub mod functional;
/// Layers as pure functions.
#[cfg(feature = "train")]
pub mod layers;
/// Cross-entropy and accuracy.
#[cfg(feature = "train")]
pub mod loss;
/// Named tensors on a device.
#[cfg(feature = "train")]
pub mod params;
/// The head started from class prototypes (Proto-MAML's adaptation).
#[cfg(feature = "train")]
pub mod prototype_head;
/// `T` models of one spec in one forward pass (MAML's meta-batch).
#[cfg(feature = "train")]
pub mod stacked;
/// Task batches as tensors.
#[cfg(feature = "train")]
pub mod task_tensors;

pub use spec::{Arch, ModelSpec};
pub use tensors::{HostTensor, NamedTensors};

#[cfg(feature = "train")]
pub use bn_stats::estimate_bn_stats;
#[cfg(feature = "train")]
pub use functional::forward;
#[cfg(feature = "train")]
pub use layers::BnMode;
#[cfg(feature = "train")]
pub use params::Params;
#[cfg(feature = "train")]
pub use task_tensors::TaskTensors;
