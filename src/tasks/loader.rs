//! Turns a [`Task`] into a [`TaskBatch`]: normalised arrays read from disk.
//!
//! Only the task's windows are read (pixel space of each tile's sources), in
//! parallel with rayon; each worker thread keeps its recently opened rasters. Bands
//! are chosen by name ([`bands::parse_band_list`]; default all 15 Sen12MS bands, S1
//! first, or RGB for DeepGlobe) and read through the pixel pipeline
//! ([`crate::pixels`]: scale/offset, masks, normalisation with
//! [`bands::default_normalisation`], invalid pixels given the raster's mean), the
//! same pipeline `adapt` and `map` read scenes with. Labels are task-local indices
//! `0..way`: `[n, 1]` per tile, or `[n, h*w]` per pixel with [`IGNORE_INDEX`] for
//! Unknown, unmatched colours and classes outside the task; point tasks
//! ([`super::points`]) keep a few labelled pixels per class. Optional augmentation
//! flips and rotates each example (image and label map alike), seeded per example.
//!
//! With a tile store set ([`TaskLoader::set_store`], [`crate::store`]), windows are
//! sliced from its mapped arrays instead of read through GDAL: the same arrays, bit
//! for bit, for the same task.

use super::augment::augment;
use super::batch::{TaskBatch, IGNORE_INDEX};
use super::points::{keep_points, PointLabels};
use super::task::{Task, TaskItem, TaskKind};
use crate::bands::{self, Normalisation};
use crate::catalog::classes::{deepglobe_class_of, igbp_to_dfc};
use crate::catalog::{BandFile, Catalog, DatasetKind};
use crate::error::{Error, Result};
use crate::pixels::{BandInput, PixelReader};
use crate::raster::Raster;
use crate::store::TileStore;
use ndarray::{Array2, Array3, Array4, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Open rasters kept per worker thread before the cache is emptied.
const CACHE_LIMIT: usize = 256;

thread_local! {
    static OPEN: RefCell<HashMap<PathBuf, Raster>> = RefCell::new(HashMap::new());
    static READERS: RefCell<HashMap<(PathBuf, Vec<usize>), PixelReader>> =
        RefCell::new(HashMap::new());
}

/// How a task becomes arrays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoaderOptions {
    /// Band names in output order (`VV`, `B04`, `R`, ...).
    pub bands: Vec<String>,
    /// Random flips and 90-degree rotations per example.
    pub augment: bool,
    /// Seed of the augmentation and point draws.
    pub seed: u64,
    /// Tile tasks of a dataset with per-pixel land cover (Sen12MS) as point tasks
    /// ([`super::points`]), for models that map every pixel.
    pub points: Option<PointLabels>,
    /// Standardise each band over the task ([`TaskBatch::standardise_bands`]), for a
    /// model whose card has `standardise_bands`.
    pub standardise_bands: bool,
}

impl LoaderOptions {
    /// All 15 bands for Sen12MS, RGB for DeepGlobe; no augmentation.
    pub fn for_kind(kind: DatasetKind) -> Self {
        LoaderOptions {
            bands: bands::parse_band_list(kind.dataset().default_bands()),
            augment: false,
            seed: 0,
            points: None,
            standardise_bands: false,
        }
    }
}

/// Reads tasks of one catalog.
#[derive(Debug, Clone)]
pub struct TaskLoader<'a> {
    catalog: &'a Catalog,
    options: LoaderOptions,
    /// Per output band: its source file, 1-based band number there, normalisation.
    plan: Vec<(BandFile, usize, Normalisation)>,
    /// The tile store read instead of the files, when set ([`crate::store`]).
    store: Option<Arc<TileStore>>,
}

impl<'a> TaskLoader<'a> {
    /// Checks the band names against the catalog's dataset.
    pub fn new(catalog: &'a Catalog, options: LoaderOptions) -> Result<Self> {
        if options.bands.is_empty() {
            return Err(Error::config("--bands", "no bands selected"));
        }
        let mut plan = Vec::with_capacity(options.bands.len());
        let dataset = catalog.kind.dataset();
        for name in &options.bands {
            let (src, b) = dataset.band(name).ok_or_else(|| {
                Error::config(
                    "--bands",
                    format!("`{name}` is not a band of {} data", catalog.kind),
                )
            })?;
            plan.push((src, b, bands::default_normalisation(name)));
        }
        Ok(TaskLoader {
            catalog,
            options,
            plan,
            store: None,
        })
    }

    /// Reads tiles from `store` (or from the files, with `None`) from now on; the
    /// store must hold this loader's bands in its order and the catalog's tiles.
    pub fn set_store(&mut self, store: Option<Arc<TileStore>>) -> Result<()> {
        if let Some(s) = &store {
            if s.bands() != self.options.bands.as_slice()
                || s.manifest().tiles != self.catalog.len()
                || s.manifest().tile_size != self.catalog.tile_size
            {
                return Err(Error::catalog(
                    s.dir(),
                    format!(
                        "the tile store holds {} tiles of bands {} where {} tiles of bands {} are read",
                        s.manifest().tiles,
                        s.bands().join(","),
                        self.catalog.len(),
                        self.options.bands.join(",")
                    ),
                ));
            }
        }
        self.store = store;
        Ok(())
    }

    /// Whether tiles are read from a tile store.
    pub fn reads_store(&self) -> bool {
        self.store.is_some()
    }

    /// Standardises each task's bands from now on (or not); see
    /// [`LoaderOptions::standardise_bands`].
    pub fn set_standardise_bands(&mut self, on: bool) {
        self.options.standardise_bands = on;
    }

    /// Loads tile tasks as point tasks from now on (or not, with `None`).
    pub fn set_points(&mut self, points: Option<PointLabels>) {
        self.options.points = points;
    }

    /// Band names in output order.
    pub fn bands(&self) -> &[String] {
        &self.options.bands
    }

    /// Reads and normalises a task's support and query sets.
    pub fn load(&self, task: &Task) -> Result<TaskBatch> {
        let default_edge = match task.kind {
            TaskKind::Classification => self.catalog.tile_size as usize,
            TaskKind::Segmentation => (self.catalog.tile_size as usize / 2).max(1),
        };
        let (support_x, support_y) = self.load_set(task, &task.support, 0, default_edge)?;
        let (query_x, mut query_y) = self.load_set(
            task,
            &task.query,
            task.support.len(),
            self.catalog.tile_size as usize,
        )?;
        let mut support_y = support_y;
        if let (Some(p), TaskKind::Classification) = (self.options.points, task.kind) {
            let first = task.support.first().map_or(0, |i| i.tile as u64);
            let mut rng =
                ChaCha8Rng::seed_from_u64(self.options.seed ^ ((task.region as u64) << 32) ^ first);
            keep_points(&mut support_y, task.way(), p.support, &mut rng);
            keep_points(&mut query_y, task.way(), p.query, &mut rng);
        }
        let mut batch = TaskBatch {
            support_x,
            support_y,
            query_x,
            query_y,
            classes: task.classes.clone(),
        };
        if self.options.standardise_bands {
            batch.standardise_bands();
        }
        Ok(batch)
    }

    fn load_set(
        &self,
        task: &Task,
        items: &[TaskItem],
        offset: usize,
        edge: usize,
    ) -> Result<(Array4<f32>, Array2<i64>)> {
        let (h, w) = items.first().map_or((edge, edge), |i| {
            (i.window.height as usize, i.window.width as usize)
        });
        if let Some(odd) = items
            .iter()
            .find(|i| (i.window.height as usize, i.window.width as usize) != (edge, edge))
        {
            return Err(Error::catalog(
                &self.catalog.root,
                format!(
                    "tile {} has a {}x{} window where the catalog's tile size {} gives {edge}x{edge}; the catalog is inconsistent (write it again with geomaml catalog)",
                    odd.tile, odd.window.height, odd.window.width, self.catalog.tile_size
                ),
            ));
        }
        let examples: Vec<(Array3<f32>, Vec<i64>)> = items
            .par_iter()
            .enumerate()
            .map(|(i, item)| self.load_item(task, item, offset + i))
            .collect::<Result<_>>()?;
        let per_pixel = task.kind == TaskKind::Segmentation || self.options.points.is_some();
        let mut x = Array4::<f32>::zeros((items.len(), self.plan.len(), h, w));
        let mut y = Array2::<i64>::zeros((items.len(), if per_pixel { h * w } else { 1 }));
        for (n, (img, lab)) in examples.into_iter().enumerate() {
            x.index_axis_mut(Axis(0), n).assign(&img);
            y.row_mut(n).assign(&ndarray::ArrayView1::from(&lab[..]));
        }
        Ok((x, y))
    }

    fn load_item(
        &self,
        task: &Task,
        item: &TaskItem,
        position: usize,
    ) -> Result<(Array3<f32>, Vec<i64>)> {
        // Faults of a tile name the dataset tree the catalog was scanned from.
        let tile_fault = |reason: String| Error::catalog(&self.catalog.root, reason);
        let rec = self.catalog.tiles.get(item.tile as usize).ok_or_else(|| {
            tile_fault(format!(
                "a task names tile {} but the catalog has {} tiles",
                item.tile,
                self.catalog.len()
            ))
        })?;
        let window = item.window.to_window();
        let (h, w) = (window.height, window.width);
        let store = self.store.as_deref();
        let mut img = match store {
            Some(s) => s.read_image(item.tile, rec, item.window)?,
            None => self.read_files(item, rec, window)?,
        };
        let read_labels = |rel: &str, bands: &[usize]| match store {
            Some(s) => s.read_labels(item.tile, rec, item.window),
            None => with_raster(&self.catalog.resolve(rel), |r| {
                r.read_window(bands, window, 0.0)
            }),
        };
        let mut labels = match task.kind {
            TaskKind::Classification if self.options.points.is_some() => {
                let rel = rec.sources.lc.as_deref().ok_or_else(|| {
                    tile_fault(format!("tile {} has no land-cover source", item.tile))
                })?;
                let lc = read_labels(rel, &[1])?;
                Array2::from_shape_fn((h, w), |(r, c)| {
                    let igbp = lc[[0, r, c]].clamp(0.0, 255.0) as u16;
                    task.local_label(igbp_to_dfc(igbp) as u16)
                        .map_or(IGNORE_INDEX, |l| l as i64)
                })
            }
            TaskKind::Classification => {
                let class = item.label.or(rec.label);
                let local = class.and_then(|c| task.local_label(c)).ok_or_else(|| {
                    tile_fault(format!(
                        "tile {} has class {class:?}, which is not one of the task's {:?}",
                        item.tile, task.classes
                    ))
                })?;
                Array2::from_elem((1, 1), local as i64)
            }
            TaskKind::Segmentation => {
                let rel = rec
                    .sources
                    .mask
                    .as_deref()
                    .ok_or_else(|| tile_fault(format!("tile {} has no mask", item.tile)))?;
                let rgb = read_labels(rel, &[1, 2, 3])?;
                Array2::from_shape_fn((h, w), |(r, c)| {
                    let px = [0, 1, 2].map(|b| rgb[[b, r, c]].clamp(0.0, 255.0) as u8);
                    task.local_label(deepglobe_class_of(px) as u16)
                        .map_or(IGNORE_INDEX, |l| l as i64)
                })
            }
        };
        if self.options.augment {
            let seed = self.options.seed
                ^ ((task.region as u64) << 32)
                ^ ((item.tile as u64) << 8)
                ^ position as u64;
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let (flip, turns) = (
                rng.random_range(0..4u8),
                if h == w { rng.random_range(0..4u8) } else { 0 },
            );
            img = augment(img.view(), flip, turns);
            if task.kind == TaskKind::Segmentation || self.options.points.is_some() {
                let l3 = labels.insert_axis(Axis(0));
                labels = augment(l3.view(), flip, turns).index_axis_move(Axis(0), 0);
            }
        }
        Ok((img, labels.iter().copied().collect()))
    }

    /// The normalised image of `item`'s window, read from the tile's files.
    fn read_files(
        &self,
        item: &TaskItem,
        rec: &crate::catalog::TileRecord,
        window: crate::raster::Window,
    ) -> Result<Array3<f32>> {
        let tile_fault = |reason: String| Error::catalog(&self.catalog.root, reason);
        let mut img = Array3::<f32>::zeros((self.plan.len(), window.height, window.width));
        for src in BandFile::ALL {
            let wanted: Vec<(usize, usize, Normalisation)> = self
                .plan
                .iter()
                .enumerate()
                .filter(|(_, p)| p.0 == src)
                .map(|(o, p)| (o, p.1, p.2))
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let path =
                self.catalog.resolve(src.path(&rec.sources).ok_or_else(|| {
                    tile_fault(format!("tile {} has no {src:?} source", item.tile))
                })?);
            let inputs: Vec<BandInput> = wanted
                .iter()
                .map(|&(out, band, norm)| BandInput {
                    band,
                    name: self.options.bands[out].clone(),
                    norm,
                })
                .collect();
            let pixels = with_reader(&path, inputs, |r| r.read(window))?;
            for (i, (out, _, _)) in wanted.iter().enumerate() {
                img.index_axis_mut(Axis(0), *out)
                    .assign(&pixels.data.index_axis(Axis(0), i));
            }
        }
        Ok(img)
    }
}

/// Runs `f` on the raster at `path`, opened once per worker thread.
pub(crate) fn with_raster<T>(
    path: &std::path::Path,
    f: impl FnOnce(&Raster) -> Result<T>,
) -> Result<T> {
    OPEN.with(|cache| {
        let mut cache = cache.borrow_mut();
        if !cache.contains_key(path) {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(path.to_path_buf(), Raster::open(path)?);
        }
        f(&cache[path])
    })
}

/// Runs `f` on a pixel reader of `inputs` of the raster at `path`, opened once per
/// worker thread.
pub(crate) fn with_reader<T>(
    path: &std::path::Path,
    inputs: Vec<BandInput>,
    f: impl FnOnce(&PixelReader) -> Result<T>,
) -> Result<T> {
    READERS.with(|cache| {
        let mut cache = cache.borrow_mut();
        let key = (path.to_path_buf(), inputs.iter().map(|i| i.band).collect());
        if !cache.contains_key(&key) {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            let reader = PixelReader::open(path, inputs)?;
            cache.insert(key.clone(), reader);
        }
        f(&cache[&key])
    })
}

/// Loads one task of `catalog` with `options` (see [`TaskLoader`]).
pub fn load_task(catalog: &Catalog, task: &Task, options: &LoaderOptions) -> Result<TaskBatch> {
    TaskLoader::new(catalog, options.clone())?.load(task)
}

#[cfg(test)]
mod tests;
