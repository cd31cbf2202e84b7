//! A map computed block by block on demand, without writing a file.
//!
//! [`WindowMapper`] is [`super::map_scene`] minus the GeoTIFF: the same request
//! opened by the same function ([`OpenedMap::open`]: output grid, stride, block
//! size, layout) and the same block engine (`engine.rs`: reads with halo,
//! normalisation, nodata rules, shared classifier features, segmentation
//! blending) run on one block at a time. Block `k` here is block `k` of
//! `geomaml map`, pixel for pixel.
//!
//! The block partition matters for classifier maps: shared feature maps are
//! computed once per block, so a window's classes depend (slightly) on which block
//! it is computed in. Callers therefore ask for whole plan blocks
//! ([`WindowMapper::block`]); the GDAL plugin uses [`Plan::block`] as its raster
//! block size for that reason.

use super::engine::Prepared;
use super::layout::MapLayout;
use super::open::OpenedMap;
use super::plan::{MapKind, Plan};
use super::request::MapRequest;
use crate::card::ModelCard;
use crate::error::{Error, Result};
use crate::raster::{Georef, Window};

/// Overview factors (2, 4, 8, ...) of a map of `size` pixels: every level whose
/// longer side is at least 32 pixels (none for smaller maps).
pub fn overview_factors(size: (usize, usize)) -> Vec<usize> {
    let longer = size.0.max(size.1);
    let mut factors = Vec::new();
    let mut f = 2;
    while longer.div_ceil(f) >= 32 && f <= 1 << 16 {
        factors.push(f);
        f *= 2;
    }
    factors
}

/// One overview level of a map: its grid, and the plan that computes it.
///
/// - Classifier: `plan` is the map's plan decimated by `factor` ([`Plan::overview`]):
///   pixel `(i, j)` is exactly the map's pixel `(i f, j f)` computed window by
///   window, as `geomaml map --exact` computes it (no shared feature maps, which
///   would need every window in between).
/// - Segmentation: every pixel needs the windows covering it, so an overview cannot
///   skip windows. `plan` is a full-resolution plan with non-overlapping windows
///   (stride = tile) whose block `k` covers overview block `k`; pixel `(i, j)` is
///   that plan's pixel `(i f, j f)`: the map `geomaml map --stride TILE` writes,
///   subsampled. It costs `(stride / tile)^2` of the full map (a quarter at the
///   default stride) at every level, and differs from the blended map only near
///   window seams. An exact plan (per-pixel models, [`Plan::margin`]) keeps its
///   own windows, which give disjoint pixels: its overviews are the map itself,
///   subsampled, for at most the map's cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Overview {
    /// Pixels of the map per overview pixel along each axis.
    pub factor: usize,
    /// Overview size `(width, height)`: `ceil(map / factor)`.
    pub output: (usize, usize),
    /// Block edge in overview pixels.
    pub block: usize,
    /// The plan whose block `k` gives overview block `k`.
    pub plan: Plan,
}

impl Overview {
    /// Number of blocks `(across, down)`: those of [`Overview::plan`], whose block
    /// `k` is overview block `k`.
    pub fn grid(&self) -> (usize, usize) {
        self.plan.grid()
    }
}

/// What [`WindowMapper::block_outputs`] computes for one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockOutput {
    /// Class ids, row-major `width x height`.
    pub classes: Vec<u8>,
    /// Per-class percentages `classes x height x width`, when asked for.
    pub probabilities: Option<Vec<u8>>,
    /// Confidence in percent, row-major `width x height`, when asked for.
    pub confidence: Option<Vec<u8>>,
}

/// A model and a scene, ready to compute any block of the map on request.
#[derive(Debug)]
pub struct WindowMapper {
    map: OpenedMap,
}

impl WindowMapper {
    /// Checks and opens `request` ([`OpenedMap::open`]); errors (missing files,
    /// band mismatches, bad options) name the file or option.
    pub fn open(request: &MapRequest) -> Result<Self> {
        Ok(WindowMapper {
            map: OpenedMap::open(request)?,
        })
    }

    /// The request this map was opened with.
    pub fn request(&self) -> &MapRequest {
        &self.map.request
    }

    /// What the scene checks found (bands taken by position, units or pixel
    /// size other than the model's), as `geomaml map` warns with them.
    pub fn warnings(&self) -> &[String] {
        &self.map.warnings
    }

    /// The output grid and its blocks.
    pub fn plan(&self) -> &Plan {
        &self.map.plan
    }

    /// The overview of `factor` (>= 2) of this map; see [`Overview`].
    pub fn overview(&self, factor: usize) -> Overview {
        let f = factor.max(1);
        let output = (
            self.map.plan.output.0.div_ceil(f),
            self.map.plan.output.1.div_ceil(f),
        );
        match self.map.plan.kind {
            MapKind::Classify => {
                // A block of an overview covers about as much of the scene as a
                // block of the map, so a read stays as large as the map's.
                let plan = self.map.plan.overview(f, (self.map.plan.block / f).max(16));
                Overview {
                    factor: f,
                    output,
                    block: plan.block,
                    plan,
                }
            }
            MapKind::Segment => {
                // An exact plan's windows keep disjoint pixels already.
                let stride = if self.map.plan.margin > 0 {
                    self.map.plan.stride
                } else {
                    self.map.plan.tile
                };
                // Blocks of whole strides at full resolution (block f a multiple
                // of the stride), so no window is computed for two blocks.
                let unit = stride / gcd(stride, f);
                let block = self.map.plan.block.div_ceil(f).div_ceil(unit).max(1) * unit;
                let plan = Plan {
                    stride,
                    block: block * f,
                    ..self.map.plan.clone()
                };
                Overview {
                    factor: f,
                    output,
                    block,
                    plan,
                }
            }
        }
    }

    /// The outputs of block `k` of `overview` (from [`WindowMapper::overview`]),
    /// laid out as [`WindowMapper::block_outputs`] lays out a map block.
    pub fn overview_outputs(&mut self, overview: &Overview, k: usize) -> Result<BlockOutput> {
        let (across, down) = overview.grid();
        if k >= across * down {
            return Err(Error::config(
                "block",
                format!("{k} is outside the overview ({} blocks)", across * down),
            ));
        }
        let block = overview.plan.block(k);
        let (bw, bh) = (block.out.width, block.out.height);
        if self.map.plan.kind == MapKind::Classify {
            if overview.plan.cell_step() < overview.plan.tile {
                return self.run(&overview.plan, block, false);
            }
            // Windows further apart than their size: reading the block's whole
            // region would read mostly pixels no window uses.
            return self.run_rows(&overview.plan, &block);
        }
        // Segmentation: only the windows that hold a pixel the overview keeps (every
        // window when f <= tile).
        let f = overview.factor;
        let fi = f as isize;
        let plan = &overview.plan;
        let keeps = |w: isize, lo: isize, n: usize| {
            // Whether the pixels window w gives, within [lo, lo + n), hold a
            // multiple of f.
            let (start, len) = plan.kept(w);
            let (a, b) = (start.max(lo), (start + len as isize).min(lo + n as isize));
            (a + fi - 1).div_euclid(fi) * fi < b
        };
        let (ox, oy) = (block.out.x, block.out.y);
        let mut block = block;
        block
            .windows
            .retain(|&(wx, wy)| keeps(wx, ox, bw) && keeps(wy, oy, bh));
        let out = self.run(&overview.plan, block, false)?;
        // Keep every f-th pixel of the full-resolution block, whose origin is a
        // multiple of f.
        let (ow, oh) = (bw.div_ceil(f), bh.div_ceil(f));
        let pick = |plane: &[u8]| -> Vec<u8> {
            (0..oh)
                .flat_map(|r| (0..ow).map(move |c| plane[r * f * bw + c * f]))
                .collect()
        };
        let planes = |v: Vec<u8>| -> Vec<u8> { v.chunks_exact(bw * bh).flat_map(pick).collect() };
        Ok(BlockOutput {
            classes: pick(&out.classes),
            probabilities: out.probabilities.map(planes),
            confidence: out.confidence.map(|c| pick(&c)),
        })
    }

    /// The model card.
    pub fn card(&self) -> &ModelCard {
        &self.map.card
    }

    /// The map's layout: band names, nodata, metadata, categories and colours,
    /// as `geomaml map` writes them.
    pub fn layout(&self) -> &MapLayout {
        &self.map.layout
    }

    /// The map's georeferencing: the scene's, on the map's grid (a geotransform,
    /// or GCPs scaled to the grid), with the scene's CRS.
    pub fn georef(&self) -> Georef {
        self.map.plan.georef(&self.map.georef)
    }

    /// Whether the scene pixel at each map cell's centre is valid in every band the
    /// model reads ([`crate::pixels::PixelReader::validity_sampled`] at the map's
    /// size): row-major over the map's grid.
    ///
    /// # Errors
    /// GDAL's failure to read a mask.
    pub fn centre_validity(&self) -> Result<Vec<bool>> {
        self.map.reader.validity_sampled(self.map.plan.output)
    }

    /// The classes of plan block `k` (row-major over [`Plan::grid`]): row-major
    /// `width x height` of `plan().block(k).out`, nodata where `geomaml map` writes it.
    pub fn block(&mut self, k: usize) -> Result<Vec<u8>> {
        self.block_outputs(k).map(|o| o.classes)
    }

    /// Classes and, when the request asks for them, the per-class percentages
    /// (`classes x height x width`, nodata [`super::layout::PROBABILITY_NODATA`])
    /// and the confidence of plan block `k`, as `geomaml map` writes them.
    pub fn block_outputs(&mut self, k: usize) -> Result<BlockOutput> {
        if k >= self.plan().len() {
            return Err(Error::config(
                "block",
                format!("{k} is outside the map ({} blocks)", self.plan().len()),
            ));
        }
        let plan = self.map.plan.clone();
        self.run(&plan, plan.block(k), true)
    }

    /// [`Self::run`] over a classifier `block` of `plan` one row of cells at a
    /// time, so that only the rows of pixels the windows cover are read.
    fn run_rows(&mut self, plan: &Plan, block: &super::plan::Block) -> Result<BlockOutput> {
        let (bw, bh) = (block.out.width, block.out.height);
        let n = bw * bh;
        let mut out = BlockOutput {
            classes: Vec::with_capacity(n),
            probabilities: self
                .map
                .engine
                .probabilities
                .then(|| vec![0; self.map.card.classes.len() * n]),
            confidence: self.map.engine.confidence.then(|| Vec::with_capacity(n)),
        };
        for r in 0..bh {
            let row = Window::new(block.out.x, block.out.y + r as isize, bw, 1);
            let part = self.run(plan, plan.block_at(row), false)?;
            out.classes.extend(part.classes);
            if let (Some(all), Some(c)) = (out.confidence.as_mut(), part.confidence) {
                all.extend(c);
            }
            if let (Some(all), Some(p)) = (out.probabilities.as_mut(), part.probabilities) {
                for (c, plane) in p.chunks_exact(bw).enumerate() {
                    all[c * n + r * bw..c * n + (r + 1) * bw].copy_from_slice(plane);
                }
            }
        }
        Ok(out)
    }

    /// Runs the engine on `block` of `plan`, with shared feature maps when
    /// `shared` is set and the mapper has them.
    fn run(&mut self, plan: &Plan, block: super::plan::Block, shared: bool) -> Result<BlockOutput> {
        let prepared = Prepared::read(&self.map.reader, block)?;
        self.map
            .with_engine(plan, shared, |engine| engine.run(&prepared))
            .map(|(_, finished)| BlockOutput {
                classes: finished.classes,
                probabilities: finished.probabilities,
                confidence: finished.confidence,
            })
    }
}

/// Greatest common divisor (`gcd(0, b) = b`).
fn gcd(a: usize, b: usize) -> usize {
    if a == 0 {
        b
    } else {
        gcd(b % a, a)
    }
}
