//! A map computed block by block on demand, without writing a file.
//!
//! [`WindowMapper`] is [`super::map_scene`] minus the GeoTIFF: it opens the model
//! and the scene once, fixes the same output grid ([`Plan`]: stride, block size)
//! and runs the same block engine (`engine.rs`: reads with halo, normalisation,
//! nodata rules, shared classifier features, segmentation blending) on one block
//! at a time. Block `k` here is block `k` of `geomaml map`, pixel for pixel.
//!
//! The block partition matters for classifier maps: shared feature maps are
//! computed once per block, so a window's classes depend (slightly) on which block
//! it is computed in. Callers therefore ask for whole plan blocks
//! ([`WindowMapper::block`]); the GDAL plugin uses [`Plan::block`] as its raster
//! block size for that reason.
//!
//! The defaults below (stride, block size) are those of `map_scene`; the plugin's
//! tests compare its output with `geomaml map` to keep the two in step.

use super::engine::{Engine, EngineOptions, Prepared};
use super::plan::{MapKind, Plan};
use super::shared::SharedCnn;
use super::sink::nodata_value;
use super::Predictor;
use crate::card::ModelCard;
use crate::error::{Error, Result};
use crate::model::spec::{Arch, ModelSpec};
use crate::pixels::{check_min_valid, BandInput, PixelReader, MIN_VALID};
use crate::raster::band_match::{resolve_bands, scene_bands};
use crate::raster::{Georef, Raster, Window, LEGEND_KEY};
use std::path::{Path, PathBuf};

/// Options of a [`WindowMapper`]; the defaults are those of `geomaml map`.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowOptions {
    /// Window step in source pixels (default: tile/4 classifier, tile/2 segmentation).
    pub stride: Option<usize>,
    /// Scene bands for the card's bands, in card order (indices or names).
    pub bands: Option<String>,
    /// Windows per inference batch.
    pub batch_size: usize,
    /// ONNX Runtime intra-op threads (0 = its default).
    pub threads: usize,
    /// Classifiers: every window on its own instead of shared feature maps.
    pub exact: bool,
    /// Also compute the per-class probabilities (`geomaml map --probabilities`).
    pub probabilities: bool,
    /// Also compute the confidence band (`geomaml map --confidence`).
    pub confidence: bool,
    /// Smallest valid fraction of a window for its cell to be mapped.
    pub min_valid: f64,
    /// Segmentation only: block edge in pixels (default: `geomaml map`'s, at least
    /// 1024). A pixel's class does not depend on it (every window covering a block
    /// is computed for it), only the work per block: viewers that read small parts
    /// of a map want smaller blocks. Classifier blocks stay `geomaml map`'s because
    /// shared feature maps are computed per block.
    pub segment_block: Option<usize>,
}

impl Default for WindowOptions {
    fn default() -> Self {
        WindowOptions {
            stride: None,
            bands: None,
            batch_size: 64,
            threads: 0,
            exact: false,
            probabilities: false,
            confidence: false,
            min_valid: MIN_VALID,
            segment_block: None,
        }
    }
}

/// Source pixels a per-pixel model runs at once, at most: its activations are
/// per pixel, so a batch of 64 windows of 128 px held 2 GB.
pub const SEGMENT_BATCH_PIXELS: usize = 1 << 17;

/// The windows per batch for a model of `spec`: `batch`, at most
/// [`SEGMENT_BATCH_PIXELS`] pixels' worth for segmentation models and
/// [`crate::limits::MAX_BATCH_PIXELS`] for classifiers (at least one window), so
/// a batch's memory does not grow with the card's tile.
pub fn resolve_batch(spec: &ModelSpec, batch: usize) -> usize {
    let pixels = if spec.is_segmentation() {
        SEGMENT_BATCH_PIXELS
    } else {
        crate::limits::MAX_BATCH_PIXELS
    };
    batch.min((pixels / (spec.tile_size * spec.tile_size).max(1)).max(1))
}

/// The stride `geomaml map` uses for a model of `spec` when none is given, checked:
/// a quarter tile for classifiers, half a tile for the U-Net, and for the pixel
/// network the tile less its receptive margin on both sides (`depth` px each), so
/// every pixel is computed about once and seen whole by some window.
pub fn resolve_stride(spec: &ModelSpec, stride: Option<usize>) -> Result<usize> {
    let tile = spec.tile_size;
    let default = match (spec.is_segmentation(), spec.arch) {
        (false, _) => (tile / 4).max(1),
        (true, Arch::Pixel) => tile.saturating_sub(2 * spec.depth).max(tile / 2).max(1),
        (true, _) => (tile / 2).max(1),
    };
    let stride = stride.unwrap_or(default);
    // A classifier stride above the tile would leave pixels no window sees; a
    // segmentation stride above it would leave pixels without a prediction.
    if stride == 0 || stride > tile {
        return Err(Error::config(
            "--stride",
            format!("must be between 1 and the tile size {tile}, got {stride}"),
        ));
    }
    Ok(stride)
}

/// The block edge in source pixels `geomaml map` plans with.
pub fn block_pixels(kind: MapKind, tile: usize, stride: usize) -> usize {
    match kind {
        MapKind::Classify => 512.max(4 * stride),
        MapKind::Segment => 512.max(4 * tile),
    }
}

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
///   window seams.
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
pub struct WindowMapper {
    reader: PixelReader,
    georef: Georef,
    model: PathBuf,
    card: ModelCard,
    plan: Plan,
    min_valid: f64,
    stride: usize,
    batch_size: usize,
    probabilities: bool,
    confidence: bool,
    class_nodata: u8,
    /// `None` only after a failed block left the engine unusable.
    predictor: Option<Predictor>,
    shared: Option<SharedCnn>,
}

impl std::fmt::Debug for WindowMapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowMapper")
            .field("model", &self.model)
            .field("scene", &self.reader.raster().path())
            .field("plan", &self.plan)
            .finish()
    }
}

impl WindowMapper {
    /// Opens `model` and `scene` and plans the map as `geomaml map` would; errors
    /// (missing files, band mismatches, bad options) name the file or option.
    pub fn open(model: &Path, scene: &Path, opts: &WindowOptions) -> Result<Self> {
        crate::limits::check_range("--batch-size", opts.batch_size, crate::limits::MAX_BATCH)?;
        let threads = crate::limits::check_threads("--threads", opts.threads)?;
        if !model.is_file() {
            return Err(Error::raster(model, "model: no such file"));
        }
        let raster = Raster::open(scene)?;
        let predictor = Predictor::open(model, threads)?;
        let card = predictor.card().clone();
        crate::limits::check_tile_for_scene(model, card.spec.tile_size, scene, raster.size())?;
        if card.classes.iter().any(|c| c.id >= 255) {
            return Err(Error::Other(format!(
                "class ids must be below 255 to be mapped (legend: {:?})",
                card.classes
            )));
        }
        let bands = resolve_bands(&card.bands, &scene_bands(&raster), opts.bands.as_deref())
            .map_err(|e| Error::raster(scene, format!("{e} (model {})", model.display())))?;
        let min_valid = check_min_valid(opts.min_valid)?;
        let georef = raster.georef()?;
        let kind = if card.spec.is_segmentation() {
            MapKind::Segment
        } else {
            MapKind::Classify
        };
        let tile = card.spec.tile_size;
        let stride = resolve_stride(&card.spec, opts.stride)?;
        let block_px = match (kind, opts.segment_block) {
            (MapKind::Segment, Some(b)) => {
                crate::limits::check_range("segment block", b, 1 << 16)?;
                // No block larger than the raster.
                let (w, h) = raster.size();
                b.min(w.max(h)).max(tile)
            }
            _ => block_pixels(kind, tile, stride),
        };
        let plan = Plan::new(kind, raster.size(), tile, stride, block_px);
        let shared = match (kind, opts.exact) {
            (MapKind::Classify, false) => SharedCnn::open(model, &card, stride, threads)?,
            _ => None,
        };
        let inputs = BandInput::list(&bands, &card.bands, &card.normalisation);
        let reader = PixelReader::new(raster, inputs)?;
        let batch_size = resolve_batch(&card.spec, opts.batch_size);
        Ok(WindowMapper {
            reader,
            georef,
            model: model.to_path_buf(),
            class_nodata: nodata_value(&card),
            card,
            plan,
            min_valid,
            stride,
            batch_size,
            probabilities: opts.probabilities,
            confidence: opts.confidence,
            predictor: Some(predictor),
            shared,
        })
    }

    /// The output grid and its blocks.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The overview of `factor` (>= 2) of this map; see [`Overview`].
    pub fn overview(&self, factor: usize) -> Overview {
        let f = factor.max(1);
        let output = (
            self.plan.output.0.div_ceil(f),
            self.plan.output.1.div_ceil(f),
        );
        match self.plan.kind {
            MapKind::Classify => {
                // A block of an overview covers about as much of the scene as a
                // block of the map, so a read stays as large as the map's.
                let plan = self.plan.overview(f, (self.plan.block / f).max(16));
                Overview {
                    factor: f,
                    output,
                    block: plan.block,
                    plan,
                }
            }
            MapKind::Segment => {
                let block = self.plan.block.div_ceil(f).max(1);
                let plan = Plan {
                    stride: self.plan.tile,
                    block: block * f,
                    ..self.plan.clone()
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
            return Err(Error::Other(format!(
                "block {k} is outside the overview ({} blocks)",
                across * down
            )));
        }
        let block = overview.plan.block(k);
        let (bw, bh) = (block.out.width, block.out.height);
        if self.plan.kind == MapKind::Classify {
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
        let (fi, t) = (f as isize, overview.plan.tile as isize);
        let keeps = |w: isize, lo: isize, n: usize| {
            // Whether [max(w, lo), min(w + t, lo + n)) holds a multiple of f.
            let (a, b) = (w.max(lo), (w + t).min(lo + n as isize));
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
        &self.card
    }

    /// The map's georeferencing: the scene's, on the map's grid (a geotransform,
    /// or GCPs scaled to the grid), with the scene's CRS.
    pub fn georef(&self) -> Georef {
        self.plan.georef(&self.georef)
    }

    /// The nodata value of the class band.
    pub fn nodata(&self) -> u8 {
        self.class_nodata
    }

    /// `(class id, [r, g, b])` of every class: the map's colour table.
    pub fn colours(&self) -> Vec<(u16, [u8; 3])> {
        self.card.classes.iter().map(|c| (c.id, c.rgb())).collect()
    }

    /// Category names by pixel value `0..=max id`, as the map's band carries them.
    pub fn category_names(&self) -> Vec<String> {
        let max = self.card.classes.iter().map(|c| c.id).max().unwrap_or(0);
        (0..=max)
            .map(|v| match self.card.classes.iter().find(|c| c.id == v) {
                Some(c) => c.name.clone(),
                None if v == self.class_nodata as u16 => "no data".into(),
                None => String::new(),
            })
            .collect()
    }

    /// The dataset metadata items of the map `geomaml map` writes.
    pub fn metadata(&self) -> Vec<(String, String)> {
        let mut items = vec![
            (
                LEGEND_KEY.to_string(),
                serde_json::to_string(&self.card.classes).expect("classes serialise"),
            ),
            (
                "GEOMAML_ARCH".to_string(),
                format!("{:?}", self.card.spec.arch).to_lowercase(),
            ),
            (
                "GEOMAML_MODEL".to_string(),
                self.model.display().to_string(),
            ),
            ("GEOMAML_STRIDE".to_string(), self.stride.to_string()),
        ];
        for c in &self.card.classes {
            items.push((format!("CLASS_{}", c.id), c.name.clone()));
        }
        items
    }

    /// The classes of plan block `k` (row-major over [`Plan::grid`]): row-major
    /// `width x height` of `plan().block(k).out`, nodata where `geomaml map` writes it.
    pub fn block(&mut self, k: usize) -> Result<Vec<u8>> {
        self.block_outputs(k).map(|o| o.classes)
    }

    /// The metadata items of the probability file `geomaml map --probabilities`
    /// writes (bands named `p_<class>`, see [`super::sink`]).
    pub fn probability_metadata(&self) -> Vec<(String, String)> {
        vec![
            (
                "GEOMAML_MODEL".to_string(),
                self.model.display().to_string(),
            ),
            ("GEOMAML_STRIDE".to_string(), self.stride.to_string()),
            ("GEOMAML_UNITS".to_string(), "percent".to_string()),
        ]
    }

    /// The metadata items of the confidence file `geomaml map --confidence` writes.
    pub fn confidence_metadata(&self) -> Vec<(String, String)> {
        let mut items = self.probability_metadata();
        items.push((
            "GEOMAML_CONFIDENCE".to_string(),
            super::sink::CONFIDENCE_DEFINITION.to_string(),
        ));
        items
    }

    /// Classes and, when [`WindowOptions::probabilities`] is set, the per-class
    /// percentages of plan block `k` (`classes x height x width`, nodata
    /// [`super::sink::PROBABILITY_NODATA`]), as `geomaml map` writes them.
    pub fn block_outputs(&mut self, k: usize) -> Result<BlockOutput> {
        if k >= self.plan.len() {
            return Err(Error::Other(format!(
                "block {k} is outside the map ({} blocks)",
                self.plan.len()
            )));
        }
        let plan = self.plan.clone();
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
                .probabilities
                .then(|| vec![0; self.card.classes.len() * n]),
            confidence: self.confidence.then(|| Vec::with_capacity(n)),
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
        let prepared = Prepared::read(&self.reader, block)?;
        self.with_engine(plan, shared, |engine| engine.run(&prepared))
            .map(|(_, finished)| BlockOutput {
                classes: finished.classes,
                probabilities: finished.probabilities,
                confidence: finished.confidence,
            })
    }

    /// Lends the model sessions to an [`Engine`] for `plan` (with the shared
    /// feature maps when `shared`) for one call of `work`.
    fn with_engine<T>(
        &mut self,
        plan: &Plan,
        shared: bool,
        work: impl FnOnce(&mut Engine<'_>) -> Result<T>,
    ) -> Result<T> {
        let predictor = self.predictor.take().ok_or_else(|| {
            Error::Other("the model session was lost after an earlier failure".into())
        })?;
        let ids = self.card.classes.iter().map(|c| c.id as u8).collect();
        let kept = if shared { None } else { self.shared.take() };
        let mut engine = Engine::new(
            predictor,
            if shared { self.shared.take() } else { None },
            plan,
            EngineOptions {
                batch_size: self.batch_size,
                probabilities: self.probabilities,
                confidence: self.confidence,
                ids,
                nodata: self.class_nodata,
                min_valid: self.min_valid,
            },
        );
        let result = work(&mut engine);
        let Engine {
            predictor, shared, ..
        } = engine;
        self.predictor = Some(predictor);
        self.shared = shared.or(kept);
        result
    }
}
