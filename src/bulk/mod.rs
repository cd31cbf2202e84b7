//! Batch mapping (`geomaml map --manifest`): many scenes, many processes.
//!
//! A manifest ([`manifest`]) lists scenes (paths, URLs, or a STAC ItemCollection);
//! a process maps the scenes of its shard ([`shard`]: `--shard I/N` or the array
//! index of Kubernetes, Slurm or AWS Batch) into one output folder, one COG and
//! one sidecar JSON per scene, skipping scenes already done with the same model
//! ([`run`]). Shards never share a scene, so N processes need no coordination and
//! together write exactly what one process would.

pub mod manifest;
pub mod run;
pub mod shard;
pub mod sidecar;
mod stac;
pub mod stac_bands;

pub use crate::infer::MapOptions;
pub use manifest::{read_manifest, read_manifest_for, Scene};
pub use run::{run_batch, BatchConfig, BatchSummary};
pub use shard::Shard;
