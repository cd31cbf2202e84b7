//! Spatial index over tiles, splits, and few-shot task sampling.

pub mod batch;

pub use batch::{TaskBatch, IGNORE_INDEX};
