//! Tasks from a catalog: the [`TaskSource`] behind `geomaml train`.
//!
//! Wraps the index's [`TaskSampler`] (one per split) and [`TaskLoader`]; both
//! borrow the catalog and its [`TileIndex`], which the caller owns. Meta-validation
//! draws from the val split; when the catalog has no val tasks the error is kept
//! and only reported if validation is asked for.

use crate::bands::default_normalisation;
use crate::catalog::{Catalog, Split};
use crate::error::{Error, Result};
use crate::tasks::{LoaderOptions, SamplerConfig, TaskBatch, TaskLoader, TaskSampler, TileIndex};
use crate::train::source::{DataInfo, TaskSource};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::sync::Arc;

/// Few-shot tasks of one catalog.
#[derive(Debug)]
pub struct CatalogSource<'a> {
    info: DataInfo,
    train: TaskSampler<'a>,
    /// The meta-validation sampler, or why there is none (shared: given to every
    /// draw that asks for one).
    val: std::result::Result<TaskSampler<'a>, Arc<Error>>,
    loader: TaskLoader<'a>,
    train_rng: ChaCha8Rng,
    val_rng: ChaCha8Rng,
}

impl<'a> CatalogSource<'a> {
    /// Point tasks instead of tile tasks ([`crate::tasks::points`]): per-pixel labels,
    /// so the model must output per pixel.
    pub fn with_points(mut self, points: Option<crate::tasks::PointLabels>) -> Self {
        if points.is_some() {
            self.info.segmentation = true;
        }
        self.loader.set_points(points);
        self
    }

    /// Standardises each band over each task ([`crate::tasks::TaskBatch::standardise_bands`]).
    pub fn with_standardised_bands(mut self, on: bool) -> Self {
        self.loader.set_standardise_bands(on);
        self
    }

    /// Band names read, in model order.
    pub fn bands(&self) -> &[String] {
        self.loader.bands()
    }

    /// Reads tiles from a tile store (or from the files, with `None`).
    pub fn set_store(
        &mut self,
        store: Option<std::sync::Arc<crate::store::TileStore>>,
    ) -> Result<()> {
        self.loader.set_store(store)
    }

    /// `way`-way `shot`-shot tasks with `query` query examples per class, reading
    /// `bands` (the dataset's default bands when `None`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        catalog: &'a Catalog,
        catalog_path: &str,
        index: &'a TileIndex,
        bands: Option<Vec<String>>,
        (way, shot, query): (usize, usize, usize),
        seed: u64,
    ) -> Result<Self> {
        let mut options = LoaderOptions::for_kind(catalog.kind);
        if let Some(b) = bands {
            options.bands = b;
        }
        options.seed = seed;
        let loader = TaskLoader::new(catalog, options)?;
        let config = |split| SamplerConfig {
            way,
            shot,
            query,
            split: Some(split),
        };
        let train = TaskSampler::new(index, config(Split::Train))
            .map_err(|e| Error::catalog_source(catalog_path, "no meta-training tasks", e))?;
        let val = TaskSampler::new(index, config(Split::Val)).map_err(Arc::new);
        let dataset = catalog.kind.dataset();
        let (classes, resolution_m, segmentation) = (
            dataset.task_classes(),
            dataset.resolution_m(),
            dataset.per_pixel_labels(),
        );
        let bands = loader.bands().to_vec();
        let info = DataInfo {
            normalisation: bands.iter().map(|b| default_normalisation(b)).collect(),
            bands,
            classes,
            tile_size: catalog.tile_size as usize,
            segmentation,
            resolution_m,
            catalog: Some(catalog_path.to_string()),
        };
        Ok(CatalogSource {
            info,
            train,
            val,
            loader,
            train_rng: ChaCha8Rng::seed_from_u64(seed),
            val_rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5641_4c00),
        })
    }
}

impl TaskSource for CatalogSource<'_> {
    fn info(&self) -> &DataInfo {
        &self.info
    }

    fn sample(&mut self, split: Split, count: usize) -> Result<Vec<TaskBatch>> {
        let (sampler, rng) = match split {
            Split::Val => (
                self.val.as_ref().map_err(|e| {
                    Error::catalog_source(
                        self.info.catalog.as_deref().unwrap_or_default(),
                        "no meta-validation tasks",
                        Arc::clone(e),
                    )
                })?,
                &mut self.val_rng,
            ),
            Split::Train => (&self.train, &mut self.train_rng),
            Split::Test => return Err(Error::runtime("training never draws meta-test tasks")),
        };
        // Draw in order (the random stream decides the tasks), then read all of a
        // meta-batch's windows at once rather than one task after another.
        let tasks = (0..count)
            .map(|_| sampler.sample(rng))
            .collect::<Result<Vec<_>>>()?;
        tasks
            .par_iter()
            .map(|task| self.loader.load(task))
            .collect()
    }

    fn reseed(&mut self, seed: u64) {
        self.train_rng = ChaCha8Rng::seed_from_u64(seed);
    }
}
