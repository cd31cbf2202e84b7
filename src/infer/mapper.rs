//! `map_scene`: a whole scene through a model, into a land-cover GeoTIFF, in
//! bounded memory.
//!
//! Three stages run concurrently with bounded channels between them, so at most a
//! few blocks are in memory whatever the scene size: a reader thread (windowed
//! GDAL reads, normalisation, nodata mask), inference on the calling thread (ONNX
//! Runtime, batches of windows), and a writer thread (GeoTIFF blocks, progress).
//! The geometry (output grid, window placement, blocks) is in [`super::plan`];
//! file layout, nodata value and class names in [`super::sink`].
//!
//! Nodata: a source pixel is nodata when every model band is the band's declared
//! nodata value or NaN; such pixels enter the network as 0. A classifier cell is
//! nodata when fewer than half of its pixels inside the raster are valid (its
//! window is then not computed); a segmentation pixel is nodata when it is.

use super::bands::{resolve_bands, SceneBand};
use super::blend;
use super::plan::{Block, MapKind, Plan};
use super::shared::SharedCnn;
use super::sink::{MapSink, SinkOptions, PROBABILITY_NODATA};
use super::Predictor;
use crate::error::{Error, Result};
use crate::raster::Raster;
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{s, Array2, Array3, Array4, Axis};
use std::io::IsTerminal;
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
}

/// A block read and normalised: `[bands, h, w]` over `block.read`, and the valid mask.
struct Prepared {
    block: Block,
    data: Array3<f32>,
    valid: Array2<bool>,
}

/// A block's results, ready to write.
struct Finished {
    block: Block,
    classes: Vec<u8>,
    probabilities: Option<Vec<u8>>,
}

fn stride_for(cfg: &MapConfig, kind: MapKind, tile: usize) -> Result<usize> {
    let default = match kind {
        MapKind::Classify => (tile / 4).max(1),
        MapKind::Segment => (tile / 2).max(1),
    };
    let stride = cfg.stride.unwrap_or(default);
    if stride == 0 || (kind == MapKind::Segment && stride > tile) {
        return Err(Error::config(
            "--stride",
            format!("must be between 1 and the tile size {tile}, got {stride}"),
        ));
    }
    Ok(stride)
}

/// Maps `cfg.scene` with `cfg.model` into `cfg.output`.
pub fn map_scene(cfg: &MapConfig) -> Result<MapSummary> {
    let start = Instant::now();
    // GDAL's block cache defaults to 5 % of RAM and would grow with the scene;
    // blocks are read once (plus a halo), so a small cache is enough.
    if std::env::var_os("GDAL_CACHEMAX").is_none() {
        gdal::config::set_config_option("GDAL_CACHEMAX", GDAL_CACHE_MB)
            .map_err(|e| Error::Other(format!("setting GDAL_CACHEMAX: {e}")))?;
    }
    if cfg.batch_size == 0 {
        return Err(Error::config("--batch-size", "must be at least 1"));
    }
    let raster = Raster::open(&cfg.scene)?;
    let mut predictor = Predictor::open(&cfg.model, cfg.threads)?;
    let card = predictor.card().clone();
    let scene_bands: Vec<SceneBand> = (1..=raster.band_count())
        .map(|b| {
            let band = raster.dataset().rasterband(b).ok();
            SceneBand {
                description: raster.band_descriptions()[b - 1].clone(),
                color: band
                    .map(|b| b.color_interpretation().name())
                    .unwrap_or_default(),
            }
        })
        .collect();
    let bands = resolve_bands(&card.bands, &scene_bands, cfg.bands.as_deref())
        .map_err(|e| Error::raster(&cfg.scene, format!("{e} (model {})", cfg.model.display())))?;
    let nodata: Vec<Option<f64>> = bands.iter().map(|&b| raster.nodata(b)).collect();
    let kind = if card.spec.is_segmentation() {
        MapKind::Segment
    } else {
        MapKind::Classify
    };
    let tile = card.spec.tile_size;
    let stride = stride_for(cfg, kind, tile)?;
    let block_px = match kind {
        MapKind::Classify => 512.max(4 * stride),
        MapKind::Segment => 1024.max(4 * tile),
    };
    let plan = Plan::new(kind, raster.size(), tile, stride, block_px);
    let mut shared = match (kind, cfg.exact) {
        (MapKind::Classify, false) => SharedCnn::open(&cfg.model, &card, stride, cfg.threads)?,
        _ => None,
    };
    let options = SinkOptions {
        probabilities: cfg.probabilities,
        cog: cfg.cog,
    };
    let gt = plan.geo_transform(&raster.geo_transform());
    let mut sink = MapSink::create(
        &cfg.output,
        cfg.overwrite,
        plan.output,
        gt,
        &raster.crs_wkt(),
        &card,
        options,
    )?;
    sink.set_metadata("GEOMAML_MODEL", &cfg.model.display().to_string())?;
    sink.set_metadata("GEOMAML_STRIDE", &stride.to_string())?;
    drop(raster);

    let bar = if cfg.progress && std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(plan.len() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} {bar:40} {pos}/{len} blocks, {elapsed} (eta {eta})",
            )
            .expect("valid template"),
        );
        bar.set_message(format!("mapping {}", cfg.scene.display()));
        bar
    } else {
        ProgressBar::hidden()
    };
    let norm = card.normalisation.clone();
    let nodata_out = sink.nodata;
    let ids: Vec<u8> = card.classes.iter().map(|c| c.id as u8).collect();
    let weights = blend::weights(tile);

    let (windows, sink) = std::thread::scope(|scope| -> Result<(usize, MapSink)> {
        let (read_tx, read_rx) = sync_channel::<Result<Prepared>>(2);
        let (write_tx, write_rx) = sync_channel::<Finished>(2);
        let plan_ref = &plan;
        let scene = &cfg.scene;
        let reader = scope.spawn(move || {
            let raster = match Raster::open(scene) {
                Ok(r) => r,
                Err(e) => return drop(read_tx.send(Err(e))),
            };
            for k in 0..plan_ref.len() {
                let block = plan_ref.block(k);
                let prepared = raster
                    .read_window(&bands, block.read, f32::NAN)
                    .map(|mut data| {
                        let valid = normalise(&mut data, &nodata, &norm);
                        Prepared { block, data, valid }
                    });
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
                )?;
                bar_ref.inc(1);
            }
            Ok(sink)
        });
        let mut windows = 0;
        let mut failure = None;
        for prepared in read_rx {
            let result = prepared.and_then(|p| match kind {
                MapKind::Classify => classify(
                    &mut predictor,
                    shared.as_mut(),
                    plan_ref,
                    &p,
                    cfg,
                    &ids,
                    nodata_out,
                ),
                MapKind::Segment => segment(
                    &mut predictor,
                    plan_ref,
                    &p,
                    cfg,
                    &ids,
                    nodata_out,
                    &weights,
                ),
            });
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
    })
}

/// Normalises `data` in place (nodata -> 0) and returns the valid-pixel mask.
fn normalise(
    data: &mut Array3<f32>,
    nodata: &[Option<f64>],
    norm: &[crate::bands::Normalisation],
) -> Array2<bool> {
    let (_, h, w) = data.dim();
    let mut valid = Array2::from_elem((h, w), false);
    for (b, mut plane) in data.axis_iter_mut(Axis(0)).enumerate() {
        let nd = nodata[b].map(|v| v as f32);
        for (v, ok) in plane.iter_mut().zip(valid.iter_mut()) {
            if v.is_nan() || Some(*v) == nd {
                *v = 0.0;
            } else {
                *ok = true;
                *v = norm[b].apply(*v);
            }
        }
    }
    valid
}

/// Runs `windows` (top-left in source pixels) of a prepared block in batches; calls
/// `each(window index, probabilities view [classes, ...])`.
fn run_windows(
    predictor: &mut Predictor,
    p: &Prepared,
    windows: &[(usize, (isize, isize))],
    tile: usize,
    batch_size: usize,
    mut each: impl FnMut(usize, ndarray::ArrayViewD<'_, f32>),
) -> Result<()> {
    let bands = p.data.dim().0;
    for chunk in windows.chunks(batch_size) {
        let mut batch = Array4::<f32>::zeros((chunk.len(), bands, tile, tile));
        for (i, &(_, (wx, wy))) in chunk.iter().enumerate() {
            let (x0, y0) = (
                (wx - p.block.read.x) as usize,
                (wy - p.block.read.y) as usize,
            );
            batch.slice_mut(s![i, .., .., ..]).assign(&p.data.slice(s![
                ..,
                y0..y0 + tile,
                x0..x0 + tile
            ]));
        }
        let probs = predictor.predict(batch.view())?;
        for (i, &(idx, _)) in chunk.iter().enumerate() {
            each(idx, probs.index_axis(Axis(0), i));
        }
    }
    Ok(())
}

/// [`run_windows`] through shared feature maps: the trunk runs once over the
/// region spanned by the block's windows, each window's tail on its crop.
fn run_shared(
    sh: &mut SharedCnn,
    p: &Prepared,
    windows: &[(usize, (isize, isize))],
    plan: &Plan,
    batch_size: usize,
    mut each: impl FnMut(usize, ndarray::ArrayViewD<'_, f32>),
) -> Result<()> {
    let (bw, bh) = (p.block.out.width, p.block.out.height);
    let (t, s) = (plan.tile, plan.stride);
    // Windows are row-major, so the first one is the top-left of the region.
    let (wx0, wy0) = p.block.windows[0];
    let (x0, y0) = (
        (wx0 - p.block.read.x) as usize,
        (wy0 - p.block.read.y) as usize,
    );
    let region = p
        .data
        .slice(s![.., y0..y0 + (bh - 1) * s + t, x0..x0 + (bw - 1) * s + t]);
    let features = sh.features(region)?;
    let (scale, ft, channels) = (sh.scale as isize, t / sh.scale, features.dim().0);
    for chunk in windows.chunks(batch_size) {
        let mut crops = Array4::<f32>::zeros((chunk.len(), channels, ft, ft));
        for (k, &(_, (wx, wy))) in chunk.iter().enumerate() {
            let (fx, fy) = (((wx - wx0) / scale) as usize, ((wy - wy0) / scale) as usize);
            crops
                .slice_mut(s![k, .., .., ..])
                .assign(&features.slice(s![.., fy..fy + ft, fx..fx + ft]));
        }
        let probs = sh.tail(crops.view())?;
        for (k, &(idx, _)) in chunk.iter().enumerate() {
            each(idx, probs.index_axis(Axis(0), k).into_dyn());
        }
    }
    Ok(())
}

fn argmax(v: impl Iterator<Item = f32>) -> usize {
    v.enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, x)| {
            if x > best.1 {
                (i, x)
            } else {
                best
            }
        })
        .0
}

fn percent(p: f32) -> u8 {
    (p.clamp(0.0, 1.0) * 100.0).round() as u8
}

#[allow(clippy::too_many_arguments)]
fn classify(
    predictor: &mut Predictor,
    shared: Option<&mut SharedCnn>,
    plan: &Plan,
    p: &Prepared,
    cfg: &MapConfig,
    ids: &[u8],
    nodata: u8,
) -> Result<(usize, Finished)> {
    let (bw, bh) = (p.block.out.width, p.block.out.height);
    let (s, (sw, sh)) = (plan.stride as isize, plan.source);
    let (rx, ry) = (p.block.read.x, p.block.read.y);
    // A cell counts when at least half its in-raster pixels are valid.
    let cell_valid = |i: usize| {
        let (cx, cy) = (
            (p.block.out.x + (i % bw) as isize) * s,
            (p.block.out.y + (i / bw) as isize) * s,
        );
        let (x1, y1) = ((cx + s).min(sw as isize), (cy + s).min(sh as isize));
        let view = p.valid.slice(s![
            (cy - ry) as usize..(y1 - ry) as usize,
            (cx - rx) as usize..(x1 - rx) as usize
        ]);
        let good = view.iter().filter(|v| **v).count();
        good > 0 && 2 * good >= view.len()
    };
    let todo: Vec<(usize, (isize, isize))> = p
        .block
        .windows
        .iter()
        .copied()
        .enumerate()
        .filter(|(i, _)| cell_valid(*i))
        .collect();
    let k = ids.len();
    let mut classes = vec![nodata; bw * bh];
    let mut probs = cfg
        .probabilities
        .then(|| vec![PROBABILITY_NODATA; k * bw * bh]);
    let each = |i: usize, pr: ndarray::ArrayViewD<'_, f32>| {
        classes[i] = ids[argmax(pr.iter().copied())];
        if let Some(out) = probs.as_mut() {
            for (c, v) in pr.iter().enumerate() {
                out[c * bw * bh + i] = percent(*v);
            }
        }
    };
    match shared {
        Some(sh) if !todo.is_empty() => run_shared(sh, p, &todo, plan, cfg.batch_size, each)?,
        _ => run_windows(predictor, p, &todo, plan.tile, cfg.batch_size, each)?,
    }
    Ok((
        todo.len(),
        Finished {
            block: p.block.clone(),
            classes,
            probabilities: probs,
        },
    ))
}

fn segment(
    predictor: &mut Predictor,
    plan: &Plan,
    p: &Prepared,
    cfg: &MapConfig,
    ids: &[u8],
    nodata: u8,
    weights: &Array2<f32>,
) -> Result<(usize, Finished)> {
    let (bw, bh) = (p.block.out.width, p.block.out.height);
    let (bx, by, t) = (p.block.out.x, p.block.out.y, plan.tile as isize);
    let (rx, ry) = (p.block.read.x, p.block.read.y);
    let any_valid = |&(wx, wy): &(isize, isize)| {
        let view = p.valid.slice(s![
            (wy - ry) as usize..(wy + t - ry) as usize,
            (wx - rx) as usize..(wx + t - rx) as usize
        ]);
        view.iter().any(|v| *v)
    };
    let todo: Vec<(usize, (isize, isize))> = p
        .block
        .windows
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, w)| any_valid(w))
        .collect();
    let k = ids.len();
    let mut acc = Array3::<f32>::zeros((k, bh, bw));
    let mut wsum = Array2::<f32>::zeros((bh, bw));
    let windows = &p.block.windows;
    run_windows(predictor, p, &todo, plan.tile, cfg.batch_size, |i, pr| {
        let (wx, wy) = windows[i];
        // Overlap of the window with the block, in block coordinates.
        let (x0, y0) = (wx.max(bx), wy.max(by));
        let (x1, y1) = (
            (wx + t).min(bx + bw as isize),
            (wy + t).min(by + bh as isize),
        );
        if x1 <= x0 || y1 <= y0 {
            return;
        }
        let (u0, v0, u1, v1) = (
            (x0 - wx) as usize,
            (y0 - wy) as usize,
            (x1 - wx) as usize,
            (y1 - wy) as usize,
        );
        let (a0, b0, a1, b1) = (
            (x0 - bx) as usize,
            (y0 - by) as usize,
            (x1 - bx) as usize,
            (y1 - by) as usize,
        );
        let w = weights.slice(s![v0..v1, u0..u1]);
        let pr = pr
            .into_dimensionality::<ndarray::Ix3>()
            .expect("segmentation output is [classes, h, w]");
        for c in 0..k {
            let mut dst = acc.slice_mut(s![c, b0..b1, a0..a1]);
            dst.zip_mut_with(&(&pr.slice(s![c, v0..v1, u0..u1]) * &w), |d, v| *d += v);
        }
        wsum.slice_mut(s![b0..b1, a0..a1])
            .zip_mut_with(&w, |d, v| *d += v);
    })?;
    let mut classes = vec![nodata; bw * bh];
    let mut probs = cfg
        .probabilities
        .then(|| vec![PROBABILITY_NODATA; k * bw * bh]);
    for r in 0..bh {
        for c in 0..bw {
            let valid = p.valid[[(by - ry) as usize + r, (bx - rx) as usize + c]];
            let ws = wsum[[r, c]];
            if !valid || ws <= 0.0 {
                continue;
            }
            let i = r * bw + c;
            classes[i] = ids[argmax((0..k).map(|q| acc[[q, r, c]]))];
            if let Some(out) = probs.as_mut() {
                for q in 0..k {
                    out[q * bw * bh + i] = percent(acc[[q, r, c]] / ws);
                }
            }
        }
    }
    Ok((
        todo.len(),
        Finished {
            block: p.block.clone(),
            classes,
            probabilities: probs,
        },
    ))
}
