//! `map_scene`: a whole scene through a model, into a land-cover GeoTIFF, in
//! bounded memory.
//!
//! Three stages run concurrently with bounded channels between them, so at most a
//! few blocks are in memory whatever the scene size: a reader thread (windowed
//! GDAL reads, normalisation, nodata mask), inference on the calling thread (ONNX
//! Runtime, batches of windows), and a writer thread (GeoTIFF blocks, progress).
//! The request is checked and opened by [`OpenedMap::open`], as for every other
//! map front end; the geometry (output grid, window placement, blocks) is in
//! [`super::plan`]; the work on one block and the nodata rules in `engine.rs`;
//! the files' layout in [`super::layout`], written by [`super::sink`].
//! Classifier maps share the convolutional feature maps of overlapping windows
//! ([`super::shared`]) unless `exact` is set.

use super::engine::{Engine, Finished, Prepared};
use super::layout::MapFile;
use super::open::OpenedMap;
use super::request::MapRequest;
use super::sink::MapSink;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::time::Instant;

/// GDAL block cache size (MB) while mapping, unless `GDAL_CACHEMAX` is set.
pub const GDAL_CACHE_MB: &str = "64";

/// A map to write: the request and where its files go.
#[derive(Debug, Clone)]
pub struct MapConfig {
    /// What to map, and how.
    pub request: MapRequest,
    /// The map to write (GeoTIFF); companions go beside it
    /// ([`super::layout::file_path`]).
    pub output: PathBuf,
    /// Write Cloud-Optimised GeoTIFFs.
    pub cog: bool,
    /// Replace existing outputs.
    pub overwrite: bool,
    /// Print the scene's warnings and show a progress bar (drawn only when stderr
    /// is a terminal, or as lines with `GEOMAML_PROGRESS=lines`).
    pub progress: bool,
}

/// Checks, before anything is computed, that the map at `output` and its
/// companions can be written: a GeoTIFF name, none of them one of `inputs` (also
/// when reached through the scene, a VRT for instance), not existing unless
/// `overwrite`, and a folder that takes files.
///
/// # Errors
/// The first output at fault, by name.
pub fn check_outputs(output: &Path, overwrite: bool, scene: &Path, inputs: &[&Path]) -> Result<()> {
    super::layout::check_map_extension(output)?;
    let scene_files = crate::vsi::raster_files(scene);
    for file in [
        MapFile::Classes,
        MapFile::Probabilities,
        MapFile::Confidence,
    ] {
        let out = super::layout::file_path(output, file);
        crate::output::refuse_input(&out, inputs)?;
        crate::output::refuse_reached_input(&out, scene, scene_files.iter().cloned())?;
    }
    crate::output::check_new_output(output, overwrite, inputs)
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

/// Maps `cfg.request` into `cfg.output`.
pub fn map_scene(cfg: &MapConfig) -> Result<MapSummary> {
    let start = Instant::now();
    // GDAL's block cache defaults to 5 % of RAM and would grow with the scene;
    // blocks are read once (plus a halo), so a small cache is enough.
    if std::env::var_os("GDAL_CACHEMAX").is_none() {
        gdal::config::set_config_option("GDAL_CACHEMAX", GDAL_CACHE_MB)
            .map_err(|e| Error::runtime_source("setting GDAL_CACHEMAX", e))?;
    }
    let OpenedMap {
        reader,
        georef,
        plan,
        layout,
        engine,
        warnings,
        predictor,
        shared,
        ..
    } = OpenedMap::open(&cfg.request)?;
    if cfg.progress {
        for w in &warnings {
            eprintln!("warning: {w}");
        }
    }
    let mut sink = MapSink::create(
        &cfg.output,
        cfg.overwrite,
        plan.output,
        &plan.georef(&georef),
        &layout,
        &cfg.request.options,
        cfg.cog,
    )?;
    let bar = crate::progress::bar(
        plan.len() as u64,
        "{msg} {bar:40} {pos}/{len} blocks, {elapsed} (eta {eta})",
        format!("mapping {}", cfg.request.scene.display()),
        cfg.progress,
    );
    let predictor = predictor.ok_or_else(|| Error::runtime("the model session is missing"))?;
    let mut engine = Engine::new(predictor, shared, &plan, engine);
    let (windows, sink) = std::thread::scope(|scope| -> Result<(usize, MapSink)> {
        // A rendezvous: the reader reads the next block while one computes and hands
        // it over when the engine takes it. Two blocks read ahead cost 70 MiB more
        // on a 15-band 2048² scene and were no faster.
        let (read_tx, read_rx) = sync_channel::<Result<Prepared>>(0);
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
        // A reader that panicked sent fewer blocks than the plan has: never a map
        // with holes.
        reader
            .join()
            .map_err(|_| Error::runtime("the map reader panicked"))?;
        let sink = writer
            .join()
            .map_err(|_| Error::runtime("the map writer panicked"))??;
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
