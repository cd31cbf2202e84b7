//! `map_scene`: a whole scene through a model, into a land-cover GeoTIFF, in
//! bounded memory.
//!
//! Three stages run concurrently with bounded channels between them, so at most a
//! few blocks are in memory whatever the scene size: a reader thread (windowed
//! GDAL reads, normalisation, nodata mask), inference on the calling thread (ONNX
//! Runtime, batches of windows), and a writer thread (GeoTIFF blocks, progress).
//! The geometry (output grid, window placement, blocks) is in [`super::plan`];
//! the work on one block and the nodata rules in `engine.rs`; file layout,
//! nodata value and class names in [`super::sink`]. Classifier maps share the
//! convolutional feature maps of overlapping windows ([`super::shared`]) unless
//! `exact` is set.

use super::engine::{Engine, EngineOptions, Finished, Prepared};
use super::plan::{MapKind, Plan};
use super::shared::SharedCnn;
use super::sink::{MapSink, SinkOptions};
use super::Predictor;
use crate::error::{Error, Result};
use crate::pixels::checks::scene_warnings;
use crate::pixels::{check_min_valid, BandInput, PixelReader};
use crate::raster::band_match::{resolve_bands, scene_bands, taken_by_position};
use crate::raster::Raster;
use std::path::PathBuf;
use std::sync::mpsc::sync_channel;
use std::time::Instant;

/// GDAL block cache size (MB) while mapping, unless `GDAL_CACHEMAX` is set.
pub const GDAL_CACHE_MB: &str = "64";

/// Everything `geomaml map` needs, validated by [`map_scene`].
#[derive(Debug, Clone)]
pub struct MapConfig {
    /// The exported model (.onnx with a card).
    pub model: PathBuf,
    /// The scene to map.
    pub scene: PathBuf,
    /// The map to write.
    pub output: PathBuf,
    /// Window step in source pixels (default: tile/4 classifier, tile/2 segmentation).
    pub stride: Option<usize>,
    /// Windows per inference batch.
    pub batch_size: usize,
    /// Also write the per-class probability file (`<stem>.probabilities.tif`).
    pub probabilities: bool,
    /// Also write the confidence band (`<stem>.confidence.tif`, see [`super::sink`]).
    pub confidence: bool,
    /// Write a Cloud-Optimised GeoTIFF.
    pub cog: bool,
    /// Scene bands for the card's bands, in card order (indices or names).
    pub bands: Option<String>,
    /// Replace an existing output.
    pub overwrite: bool,
    /// ONNX Runtime intra-op threads (0 = its default).
    pub threads: usize,
    /// Show a progress bar (only drawn when stderr is a terminal).
    pub progress: bool,
    /// Classifiers: run every window separately (exactly as a sliding window)
    /// instead of sharing feature maps between overlapping windows ([`SharedCnn`]).
    pub exact: bool,
    /// Smallest valid fraction of a window for its cell to be mapped
    /// (`--min-valid`, default [`crate::pixels::MIN_VALID`]).
    pub min_valid: f64,
}

/// What a run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MapSummary {
    /// The written map.
    pub output: PathBuf,
    /// Scene size `(width, height)`.
    pub scene_size: (usize, usize),
    /// Map size `(width, height)`.
    pub map_size: (usize, usize),
    /// Windows run through the network.
    pub windows: usize,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Scene megapixels per second.
    pub megapixels_per_s: f64,
    /// What the scene checks found ([`crate::pixels::checks`]): bands taken by
    /// position, units or resolution other than the model's. Printed on stderr
    /// before mapping when `progress` is set.
    pub warnings: Vec<String>,
}

/// Maps `cfg.scene` with `cfg.model` into `cfg.output`.
pub fn map_scene(cfg: &MapConfig) -> Result<MapSummary> {
    let start = Instant::now();
    // GDAL's block cache defaults to 5 % of RAM and would grow with the scene;
    // blocks are read once (plus a halo), so a small cache is enough.
    if std::env::var_os("GDAL_CACHEMAX").is_none() {
        gdal::config::set_config_option("GDAL_CACHEMAX", GDAL_CACHE_MB)
            .map_err(|e| Error::runtime_source("setting GDAL_CACHEMAX", e))?;
    }
    crate::limits::check_range("--batch-size", cfg.batch_size, crate::limits::MAX_BATCH)?;
    let threads = crate::limits::check_threads("--threads", cfg.threads)?;
    let raster = Raster::open(&cfg.scene)?;
    let predictor = Predictor::open(&cfg.model, threads)?;
    let card = predictor.card().clone();
    crate::limits::check_tile_for_scene(
        &cfg.model,
        card.spec.tile_size,
        &cfg.scene,
        raster.size(),
    )?;
    let scene_bands = scene_bands(&raster);
    let bands = resolve_bands(&card.bands, &scene_bands, cfg.bands.as_deref())
        .map_err(|e| Error::raster(&cfg.scene, format!("{e} (model {})", cfg.model.display())))?;
    let by_position = taken_by_position(&card.bands, &scene_bands, cfg.bands.as_deref());
    let min_valid = check_min_valid(cfg.min_valid)?;
    let georef = raster.georef()?;
    let inputs = BandInput::list(&bands, &card.bands, &card.normalisation);
    let kind = if card.spec.is_segmentation() {
        MapKind::Segment
    } else {
        MapKind::Classify
    };
    let tile = card.spec.tile_size;
    let stride = super::window::resolve_stride(&card.spec, cfg.stride)?;
    let block_px = super::window::block_pixels(kind, tile, stride);
    let plan = Plan::new(kind, raster.size(), tile, stride, block_px);
    let shared = match (kind, cfg.exact) {
        (MapKind::Classify, false) => SharedCnn::open(&cfg.model, &card, stride, threads)?,
        _ => None,
    };
    let options = SinkOptions {
        probabilities: cfg.probabilities,
        confidence: cfg.confidence,
        cog: cfg.cog,
    };
    let map_georef = plan.georef(&georef);
    // Opened (types checked, fill computed) before any output is created.
    let reader = PixelReader::new(raster, inputs)?;
    let warnings = scene_warnings(&reader, &georef, &card, by_position);
    if cfg.progress {
        for w in &warnings {
            eprintln!("warning: {w}");
        }
    }
    let mut sink = MapSink::create(
        &cfg.output,
        cfg.overwrite,
        plan.output,
        &map_georef,
        &card,
        options,
    )?;
    sink.set_metadata("GEOMAML_MODEL", &cfg.model.display().to_string())?;
    sink.set_metadata("GEOMAML_STRIDE", &stride.to_string())?;

    let bar = crate::progress::bar(
        plan.len() as u64,
        "{msg} {bar:40} {pos}/{len} blocks, {elapsed} (eta {eta})",
        format!("mapping {}", cfg.scene.display()),
        cfg.progress,
    );
    let ids: Vec<u8> = card.classes.iter().map(|c| c.id as u8).collect();
    let mut engine = Engine::new(
        predictor,
        shared,
        &plan,
        EngineOptions {
            batch_size: super::window::resolve_batch(&card.spec, cfg.batch_size),
            probabilities: cfg.probabilities,
            confidence: cfg.confidence,
            ids,
            nodata: sink.nodata,
            min_valid,
        },
    );

    let (windows, sink) = std::thread::scope(|scope| -> Result<(usize, MapSink)> {
        let (read_tx, read_rx) = sync_channel::<Result<Prepared>>(2);
        let (write_tx, write_rx) = sync_channel::<Finished>(2);
        let plan_ref = &plan;
        let reader = scope.spawn(move || {
            for k in 0..plan_ref.len() {
                let prepared = Prepared::read(&reader, plan_ref.block(k));
                if read_tx.send(prepared).is_err() {
                    return;
                }
            }
        });
        let bar_ref = &bar;
        let writer = scope.spawn(move || -> Result<MapSink> {
            for f in write_rx {
                let (o, w, h) = (f.block.out, f.block.out.width, f.block.out.height);
                sink.write_block(
                    (o.x as usize, o.y as usize),
                    (w, h),
                    f.classes,
                    f.probabilities,
                    f.confidence,
                )?;
                bar_ref.inc(1);
            }
            Ok(sink)
        });
        let mut windows = 0;
        let mut failure = None;
        for prepared in read_rx {
            let result = prepared.and_then(|p| engine.run(&p));
            match result {
                Ok((n, finished)) => {
                    windows += n;
                    if write_tx.send(finished).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        drop(write_tx);
        let _ = reader.join();
        let sink = writer
            .join()
            .map_err(|_| Error::Other("the map writer panicked".into()))??;
        match failure {
            Some(e) => Err(e),
            None => Ok((windows, sink)),
        }
    })?;
    bar.finish_and_clear();
    let output = sink.finish()?;
    let seconds = start.elapsed().as_secs_f64();
    let (w, h) = plan.source;
    Ok(MapSummary {
        output,
        scene_size: plan.source,
        map_size: plan.output,
        windows,
        seconds,
        megapixels_per_s: (w * h) as f64 / 1e6 / seconds.max(1e-9),
        warnings,
    })
}
