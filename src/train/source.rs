//! Where training tasks come from: the [`TaskSource`] trait.
//!
//! The trainer only needs "n tasks of this split" plus what the model card must
//! record about the data (bands, normalisation, legend, tile size). The catalog-backed
//! source lives with the CLI glue; [`RandomSource`] draws Gaussian tiles for
//! benchmarks and tests of the loop itself.

use crate::bands::Normalisation;
use crate::catalog::classes::ClassInfo;
use crate::error::Result;
use crate::tasks::TaskBatch;
use ndarray::{Array2, Array4};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

pub use crate::catalog::Split;

/// What the model card records about the training data.
#[derive(Debug, Clone, PartialEq)]
pub struct DataInfo {
    /// Input band names in model order.
    pub bands: Vec<String>,
    /// Normalisation per band.
    pub normalisation: Vec<Normalisation>,
    /// Class legend: the model's output index i is `classes[i]`.
    pub classes: Vec<ClassInfo>,
    /// Tile side in pixels.
    pub tile_size: usize,
    /// One label per pixel (`true`, U-Net) or per tile (`false`, CNN).
    pub segmentation: bool,
    /// Ground sampling distance in metres.
    pub resolution_m: f64,
    /// The catalog file, for provenance.
    pub catalog: Option<String>,
}

/// A supply of few-shot tasks; `Send` so that training can read the next tasks on a
/// background thread.
pub trait TaskSource: Send {
    /// The data as the model card describes it.
    fn info(&self) -> &DataInfo;
    /// Draws `count` tasks of `split`; task-local labels 0..way.
    fn sample(&mut self, split: Split, count: usize) -> Result<Vec<TaskBatch>>;
    /// Restarts the random stream of the training split (resumed runs draw new tasks).
    fn reseed(&mut self, _seed: u64) {}
}

/// Gaussian tiles whose mean depends on the class: a learnable toy problem with the
/// real shapes, for benchmarks and loop tests.
#[derive(Debug)]
pub struct RandomSource {
    info: DataInfo,
    way: usize,
    shot: usize,
    query: usize,
    rng: rand_chacha::ChaCha8Rng,
}

impl RandomSource {
    /// `way`-way `shot`-shot tasks with `query` query samples per class.
    pub fn new(info: DataInfo, way: usize, shot: usize, query: usize, seed: u64) -> Self {
        RandomSource {
            info,
            way,
            shot,
            query,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed),
        }
    }

    fn set(&mut self, per_class: usize, classes: &[usize], s: usize) -> (Array4<f32>, Array2<i64>) {
        let b = self.info.bands.len();
        let n = self.way * per_class;
        let mut x = Array4::<f32>::zeros((n, b, s, s));
        let pixels = if self.info.segmentation { s * s } else { 1 };
        let mut y = Array2::<i64>::zeros((n, pixels));
        for i in 0..n {
            let local = i / per_class;
            let class = classes[local];
            for c in 0..b {
                let mean = if c % self.info.classes.len().max(1) == class {
                    1.0
                } else {
                    0.0
                };
                for v in x.slice_mut(ndarray::s![i, c, .., ..]).iter_mut() {
                    let z: f32 = StandardNormal.sample(&mut self.rng);
                    *v = mean + z;
                }
            }
            y.row_mut(i).fill(local as i64);
        }
        (x, y)
    }
}

impl TaskSource for RandomSource {
    fn info(&self) -> &DataInfo {
        &self.info
    }

    fn reseed(&mut self, seed: u64) {
        self.rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    }

    fn sample(&mut self, _split: Split, count: usize) -> Result<Vec<TaskBatch>> {
        use rand::seq::SliceRandom;
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let mut all: Vec<usize> = (0..self.info.classes.len()).collect();
            all.shuffle(&mut self.rng);
            let classes = &all[..self.way.min(all.len())];
            // Segmentation support shots are half-size crops, as the loader cuts them.
            let tile = self.info.tile_size;
            let shot_edge = if self.info.segmentation {
                tile / 2
            } else {
                tile
            };
            let (support_x, support_y) = self.set(self.shot, classes, shot_edge);
            let (query_x, query_y) = self.set(self.query, classes, tile);
            let ids = classes.iter().map(|&c| self.info.classes[c].id).collect();
            out.push(TaskBatch {
                support_x,
                support_y,
                query_x,
                query_y,
                classes: ids,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::bands::{default_normalisation, sen12ms_bands};
    use crate::catalog::classes::dfc2020;

    /// Sen12MS-like data info with `bands` bands and `tile` px tiles.
    pub(crate) fn info(bands: usize, tile: usize) -> DataInfo {
        let names: Vec<String> = sen12ms_bands().into_iter().take(bands).collect();
        DataInfo {
            normalisation: names.iter().map(|b| default_normalisation(b)).collect(),
            bands: names,
            classes: dfc2020(),
            tile_size: tile,
            segmentation: false,
            resolution_m: 10.0,
            catalog: None,
        }
    }

    #[test]
    fn random_tasks_have_the_requested_shapes() {
        let mut src = RandomSource::new(info(4, 8), 3, 2, 1, 0);
        let t = &src.sample(Split::Train, 2).unwrap()[1];
        assert_eq!(t.support_x.shape(), &[6, 4, 8, 8]);
        assert_eq!(t.query_y.shape(), &[3, 1]);
        assert_eq!(t.classes.len(), 3);
    }
}
