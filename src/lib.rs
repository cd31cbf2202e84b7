//! geomaml: few-shot land-cover mapping.
//!
//! Implements "Meta-Learning for Few-Shot Land Cover Classification" (Russwurm et
//! al., CVPR EarthVision 2020) as a tool. The data flow:
//!
//! ```text
//! dataset tree ──catalog──▶ Catalog (tiles, EPSG:4326 footprints)
//!      ──index──▶ TileIndex (rstar) ──TaskSampler──▶ tasks ──loader──▶ arrays
//!      ──train (tch: MAML | pretrain)──▶ checkpoint.safetensors + ModelCard
//!      ──adapt (few labelled points of a new scene)──▶ fast weights
//!      ──export──▶ model.onnx (+ card in metadata_props)
//!      ──infer (ONNX Runtime, tiled windows)──▶ land-cover GeoTIFF (raster)
//! ```
//!
//! Modules that need libtorch sit behind the `train` feature; ONNX Runtime behind
//! `infer`; the command line (clap) behind `cli`, which the executables enable and
//! the GDAL plugin does not. Catalog, tasks, raster, synth and the ONNX writer need
//! none of them.

#![deny(missing_docs)]
// Unsafe code only where a function says so (`#[allow(unsafe_code)]`), each use
// with its SAFETY note: GDAL calls the gdal crate does not wrap, and signals.
#![deny(unsafe_code)]

#[cfg(feature = "train")]
pub mod adapt;
pub mod bands;
#[cfg(feature = "infer")]
pub mod bulk;
pub mod card;
pub mod catalog;
pub mod checkpoint;
#[cfg(feature = "cli")]
pub mod cli;
pub mod doctor;
pub mod error;
pub mod eval;
pub mod export;
pub mod gdal_messages;
#[cfg(feature = "infer")]
pub mod infer;
#[cfg(feature = "train")]
pub mod inner_loop;
pub mod labels;
pub mod legend;
pub mod limits;
pub mod map_model;
pub mod model;
pub mod output;
pub mod pixels;
pub mod progress;
pub mod raster;
pub mod schemas;
pub mod store;
#[cfg(feature = "infer")]
pub mod suggest;
pub mod synth;
pub mod tasks;
#[cfg(feature = "train")]
pub mod train;
pub mod vsi;

// The library's entry points, one per step of the pipeline (each module's own
// `pub use` lists the rest).
pub use card::ModelCard;
pub use catalog::{scan, Catalog, Dataset, DatasetKind, ScanOptions};
pub use checkpoint::Checkpoint;
pub use error::{Error, Result};
pub use eval::{assess_labels, assess_raster, Assessment};
pub use export::{export_file, Form};
pub use labels::{read_labels, ClassSource, LabelOptions};
pub use model::{Arch, ModelSpec};
pub use raster::{GeoTransform, Georef};
pub use tasks::{SplitStrategy, Splits, TaskBatch, TaskLoader, TaskSampler, TileIndex};

#[cfg(feature = "train")]
pub use adapt::{adapt, AccuracyEstimate, AdaptOptions, Adapted};
#[cfg(feature = "train")]
pub use eval::run::{evaluate, EvaluatePlan};
#[cfg(feature = "train")]
pub use train::{train_catalog, TrainConfig, TrainPlan};

#[cfg(feature = "infer")]
pub use bulk::{run_batch, BatchConfig};
#[cfg(feature = "infer")]
pub use infer::{map_scene, MapConfig, MapOptions, MapRequest, WindowMapper};
#[cfg(feature = "infer")]
pub use suggest::{suggest, SuggestConfig};
