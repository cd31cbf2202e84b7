//! [`OpenedMap`]: a [`MapRequest`] checked and opened, by the one function every
//! map front end goes through ([`OpenedMap::open`]).
//!
//! Opening checks the request (batch size, threads, stride, `min_valid`, block
//! size, the tile against the scene, the bands against the card, the class ids),
//! opens the scene through the pixel pipeline and the model in ONNX Runtime,
//! plans the output grid ([`Plan`]) and fixes the map's [`MapLayout`]. What runs
//! the blocks is the caller's: [`super::map_scene`] streams them into a GeoTIFF,
//! [`super::WindowMapper`] computes them on request.

use super::engine::{Engine, EngineOptions};
use super::layout::MapLayout;
use super::plan::{MapKind, Plan};
use super::request::{resolve_batch, resolve_block, resolve_stride, MapRequest};
use super::shared::SharedCnn;
use super::Predictor;
use crate::card::ModelCard;
use crate::error::{Error, Result};
use crate::pixels::checks::scene_warnings;
use crate::pixels::{check_min_valid, BandInput, PixelReader};
use crate::raster::band_match::{resolve_bands, scene_bands, taken_by_position};
use crate::raster::{Georef, Raster};

/// A checked map request with its scene and model open.
pub(crate) struct OpenedMap {
    /// The request as given.
    pub(crate) request: MapRequest,
    /// The scene's pixels, normalised for the card.
    pub(crate) reader: PixelReader,
    /// The scene's georeferencing (the map's is [`Plan::georef`] of it).
    pub(crate) georef: Georef,
    /// The model's card.
    pub(crate) card: ModelCard,
    /// The output grid and its blocks.
    pub(crate) plan: Plan,
    /// The files' layout.
    pub(crate) layout: MapLayout,
    /// How blocks are computed and coded.
    pub(crate) engine: EngineOptions,
    /// What the scene checks found ([`crate::pixels::checks`]).
    pub(crate) warnings: Vec<String>,
    /// The model session; `None` only after a failed block left it unusable.
    pub(crate) predictor: Option<Predictor>,
    /// Classifiers' shared feature maps (none with `exact`).
    pub(crate) shared: Option<SharedCnn>,
}

impl std::fmt::Debug for OpenedMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedMap")
            .field("request", &self.request)
            .field("plan", &self.plan)
            .finish()
    }
}

impl OpenedMap {
    /// Checks and opens `request`. Nothing is written.
    ///
    /// # Errors
    /// Bad options (naming the flag), a missing or unreadable model or scene, a
    /// tile larger than the scene, bands the scene lacks (naming the scene and
    /// the model), class ids the map cannot hold.
    pub(crate) fn open(request: &MapRequest) -> Result<Self> {
        let (model, scene, o) = (&request.model, &request.scene, &request.options);
        crate::limits::check_range("--batch-size", request.batch_size, crate::limits::MAX_BATCH)?;
        let threads = crate::limits::check_threads("--threads", request.threads)?;
        if !model.is_file() {
            return Err(Error::raster(model, "model: no such file"));
        }
        let raster = Raster::open(scene)?;
        let predictor = Predictor::open(model, threads)?;
        let card = predictor.card().clone();
        crate::limits::check_tile_for_scene(model, card.spec.tile_size, scene, raster.size())?;
        let scene_bands = scene_bands(&raster);
        let bands = resolve_bands(&card.bands, &scene_bands, o.bands.as_deref()).map_err(|e| {
            Error::raster_source(scene, format!("input of model {}", model.display()), e)
        })?;
        let by_position = taken_by_position(&card.bands, &scene_bands, o.bands.as_deref());
        let min_valid = check_min_valid(o.min_valid)?;
        if o.min_confidence > 100 {
            return Err(Error::config(
                "--min-confidence",
                format!("is a percentage (0 to 100), got {}", o.min_confidence),
            ));
        }
        let georef = raster.georef()?;
        let kind = if card.spec.is_segmentation() {
            MapKind::Segment
        } else {
            MapKind::Classify
        };
        let tile = card.spec.tile_size;
        let stride = resolve_stride(&card.spec, o.stride)?;
        let block = resolve_block(kind, tile, stride, request.segment_block, raster.size())?;
        let recorded = request.recorded_model.as_deref().unwrap_or(model);
        let layout = MapLayout::new(&card, recorded, stride)?.with_min_confidence(o.min_confidence);
        let plan = Plan::new(kind, raster.size(), tile, stride, block)
            .with_margin(super::request::exact_margin(&card.spec));
        let inputs = BandInput::list(&bands, &card.bands, &card.normalisation);
        // Types checked and the fill computed here, before any output exists.
        let reader = PixelReader::new(raster, inputs)?;
        let warnings = scene_warnings(&reader, &georef, &card, by_position);
        // A model never adapted that reads standardised bands reads them over this
        // scene (adapted models have the statistics of theirs folded in).
        let (card, reader) = crate::pixels::standardise::scene_input(&card, reader, scene)?;
        let shared = match (kind, o.exact) {
            (MapKind::Classify, false) => SharedCnn::open(model, &card, stride, threads)?,
            _ => None,
        };
        let engine = EngineOptions {
            batch_size: resolve_batch(&card.spec, request.batch_size),
            probabilities: o.probabilities,
            confidence: o.confidence,
            ids: card.classes.iter().map(|c| c.id as u8).collect(),
            nodata: layout.class_nodata(),
            min_valid,
            min_confidence: o.min_confidence,
        };
        Ok(OpenedMap {
            request: request.clone(),
            reader,
            georef,
            card,
            plan,
            layout,
            engine,
            warnings,
            predictor: Some(predictor),
            shared,
        })
    }

    /// Lends the model sessions to an [`Engine`] for `plan` (with the shared
    /// feature maps when `shared` is set and the map has them) for one call of
    /// `work`, and takes them back.
    ///
    /// # Errors
    /// `work`'s, or a session lost to an earlier failure.
    pub(crate) fn with_engine<T>(
        &mut self,
        plan: &Plan,
        shared: bool,
        work: impl FnOnce(&mut Engine<'_>) -> Result<T>,
    ) -> Result<T> {
        let predictor = self
            .predictor
            .take()
            .ok_or_else(|| Error::runtime("the model session was lost after an earlier failure"))?;
        let kept = if shared { None } else { self.shared.take() };
        let lent = if shared { self.shared.take() } else { None };
        let mut engine = Engine::new(predictor, lent, plan, self.engine.clone());
        let result = work(&mut engine);
        let Engine {
            predictor, shared, ..
        } = engine;
        self.predictor = Some(predictor);
        self.shared = shared.or(kept);
        result
    }
}
