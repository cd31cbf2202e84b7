//! Spatial index over tiles, splits, and few-shot task sampling and loading.
//!
//! From a [`crate::catalog::Catalog`]: [`Splits`] decide each region's split,
//! [`TileIndex`] holds the EPSG:4326 footprints in an R-tree with the facts tasks
//! are drawn by, [`TaskSampler`] draws seeded n-way k-shot [`Task`]s (one (season,
//! region) each; no query tile overlaps a support tile), and [`TaskLoader`] reads a
//! task's windows into a [`TaskBatch`] of normalised `ndarray`s.
//!
//! ```no_run
//! use geomaml::catalog::{Catalog, Split};
//! use geomaml::tasks::{LoaderOptions, SamplerConfig, SplitStrategy, Splits, TaskLoader, TaskSampler, TileIndex};
//! use rand::SeedableRng;
//!
//! # fn main() -> geomaml::Result<()> {
//! let catalog = Catalog::load("catalog.json")?;
//! let splits = Splits::for_catalog(&catalog, &SplitStrategy::Default)?;
//! let index = TileIndex::new(&catalog, &splits);
//! let sampler = TaskSampler::new(&index, SamplerConfig { way: 4, shot: 2, query: 2, split: Some(Split::Train) })?;
//! let loader = TaskLoader::new(&catalog, LoaderOptions::for_kind(catalog.kind))?;
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let task = sampler.sample(&mut rng)?;
//! let batch = loader.load(&task)?; // support_x: [8, 15, 128, 128], support_y: [8, 1]
//! # let _ = batch; Ok(())
//! # }
//! ```

pub mod augment;
pub mod batch;
pub mod kmeans;
pub mod loader;
pub mod points;
pub mod sampler;
pub mod split;
mod task;
pub mod tile_index;

pub use batch::{TaskBatch, IGNORE_INDEX};
pub use kmeans::kmeans;
pub use loader::{load_task, LoaderOptions, TaskLoader};
pub use points::PointLabels;
pub use sampler::{SamplerConfig, TaskSampler};
pub use split::{SplitFile, SplitStrategy, Splits};
pub use task::{Task, TaskItem, TaskKind};
pub use tile_index::{TileIndex, TileKey, TileQuery};
