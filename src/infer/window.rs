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
use crate::pixels::{check_min_valid, BandInput, PixelReader, MIN_VALID};
use crate::raster::band_match::{resolve_bands, scene_bands};
use crate::raster::{Georef, Raster, LEGEND_KEY};
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
        }
    }
}

/// The stride `geomaml map` uses for `kind` and `tile` when none is given, checked.
pub fn resolve_stride(kind: MapKind, tile: usize, stride: Option<usize>) -> Result<usize> {
    let default = match kind {
        MapKind::Classify => (tile / 4).max(1),
        MapKind::Segment => (tile / 2).max(1),
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
        MapKind::Segment => 1024.max(4 * tile),
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
        crate::limits::check_threads("--threads", opts.threads)?;
        if !model.is_file() {
            return Err(Error::raster(model, "model: no such file"));
        }
        let raster = Raster::open(scene)?;
        let predictor = Predictor::open(model, opts.threads)?;
        let card = predictor.card().clone();
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
        let stride = resolve_stride(kind, tile, opts.stride)?;
        let plan = Plan::new(
            kind,
            raster.size(),
            tile,
            stride,
            block_pixels(kind, tile, stride),
        );
        let shared = match (kind, opts.exact) {
            (MapKind::Classify, false) => SharedCnn::open(model, &card, stride, opts.threads)?,
            _ => None,
        };
        let inputs = BandInput::list(&bands, &card.bands, &card.normalisation);
        let reader = PixelReader::new(raster, inputs)?;
        Ok(WindowMapper {
            reader,
            georef,
            model: model.to_path_buf(),
            class_nodata: nodata_value(&card),
            card,
            plan,
            min_valid,
            stride,
            batch_size: opts.batch_size,
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
        let prepared = Prepared::read(&self.reader, self.plan.block(k))?;
        let predictor = self.predictor.take().ok_or_else(|| {
            Error::Other("the model session was lost after an earlier failure".into())
        })?;
        let ids = self.card.classes.iter().map(|c| c.id as u8).collect();
        let mut engine = Engine::new(
            predictor,
            self.shared.take(),
            &self.plan,
            EngineOptions {
                batch_size: self.batch_size,
                probabilities: self.probabilities,
                confidence: self.confidence,
                ids,
                nodata: self.class_nodata,
                min_valid: self.min_valid,
            },
        );
        let result = engine.run(&prepared);
        let Engine {
            predictor, shared, ..
        } = engine;
        self.predictor = Some(predictor);
        self.shared = shared;
        result.map(|(_, finished)| BlockOutput {
            classes: finished.classes,
            probabilities: finished.probabilities,
            confidence: finished.confidence,
        })
    }
}
