//! Support windows ("shots") cut from a scene around labelled points/polygons, and
//! unlabelled windows for batch-norm statistics.
//!
//! A shot is a `tile_size` window centred on a label pixel, normalised like the
//! model's training data. Its per-pixel labels carry every label pixel that falls
//! inside it (a point marks one pixel, a polygon all its pixels); the classifier
//! uses the class of the centre label. Windows are in pixel space of the scene.

use crate::card::ModelCard;
use crate::error::{Error, Result};
use crate::index::IGNORE_INDEX;
use crate::labels::{LabelPixel, LabelSet};
use crate::raster::{Raster, Window};
use ndarray::{s, Array2, Array3, Array4};
use rand::{Rng, SeedableRng};

/// Fraction of a window that may be nodata before it is refused.
pub const MAX_NODATA_FRACTION: f64 = 0.5;

/// Normalised support windows with their labels.
#[derive(Debug, Clone)]
pub struct Shots {
    /// Images `[n, bands, tile, tile]`.
    pub x: Array4<f32>,
    /// Class id of each shot's centre label.
    pub class_ids: Vec<u16>,
    /// Per-pixel class ids `[n, tile*tile]` (0 where unlabelled).
    pub pixel_class_ids: Array2<u16>,
    /// Feature id each shot came from.
    pub fids: Vec<u64>,
}

/// Reads a window of `bands`, normalised with the card; returns the array and the
/// fraction of pixels that are nodata in any band (also set to 0 in the array).
pub fn read_normalised(
    scene: &Raster,
    bands: &[usize],
    card: &ModelCard,
    window: Window,
) -> Result<(Array3<f32>, f64)> {
    let mut x = scene.read_window(bands, window, f32::NAN)?;
    let (h, w) = (window.height, window.width);
    let mut invalid = vec![false; h * w];
    for (i, &b) in bands.iter().enumerate() {
        let nodata = scene.nodata(b);
        let norm = card.normalisation[i];
        for r in 0..h {
            for c in 0..w {
                let v = x[[i, r, c]];
                if !v.is_finite() || nodata.is_some_and(|nd| v as f64 == nd) {
                    invalid[r * w + c] = true;
                }
                x[[i, r, c]] = norm.apply(v);
            }
        }
    }
    for (k, bad) in invalid.iter().enumerate() {
        if *bad {
            x.slice_mut(s![.., k / w, k % w]).fill(0.0);
        }
    }
    let frac = invalid.iter().filter(|b| **b).count() as f64 / (h * w) as f64;
    Ok((x, frac))
}

/// Cuts one shot per label pixel (points; polygon pixels on a grid of
/// `tile_size / 2`). Fails, naming the feature, when a label lies outside the
/// scene or its window is mostly nodata.
pub fn cut_shots(
    scene: &Raster,
    bands: &[usize],
    card: &ModelCard,
    labels: &LabelSet,
) -> Result<Shots> {
    let tile = card.spec.tile_size;
    let gt = scene.geo_transform();
    let (sw, sh) = scene.size();
    let all = labels.pixels(&gt, tile / 2);
    let dense = labels.pixels(&gt, 1);
    if all.is_empty() {
        return Err(Error::labels(
            &labels.path,
            "no label falls on a pixel of the scene",
        ));
    }
    let n = all.len();
    let mut x = Array4::<f32>::zeros((n, bands.len(), tile, tile));
    let mut pixel_ids = Array2::<u16>::zeros((n, tile * tile));
    for (k, p) in all.iter().enumerate() {
        if p.col < 0 || p.row < 0 || p.col as usize >= sw || p.row as usize >= sh {
            return Err(Error::labels(
                &labels.path,
                format!(
                    "feature {} ({}) lies outside the scene {}",
                    p.fid,
                    class_name(card, p),
                    scene.path().display()
                ),
            ));
        }
        let win = Window::centred(p.col, p.row, tile);
        let (arr, nodata) = read_normalised(scene, bands, card, win)?;
        let centre = scene.read_window(bands, Window::new(p.col, p.row, 1, 1), f32::NAN)?;
        let centre_missing = bands.iter().enumerate().any(|(i, &b)| {
            let v = centre[[i, 0, 0]];
            !v.is_finite() || scene.nodata(b).is_some_and(|nd| v as f64 == nd)
        });
        if centre_missing || nodata > MAX_NODATA_FRACTION {
            return Err(Error::labels(
                &labels.path,
                format!(
                    "feature {} ({}) lies on nodata pixels of the scene ({:.0}% of its {tile} px window is nodata)",
                    p.fid,
                    class_name(card, p),
                    100.0 * nodata
                ),
            ));
        }
        x.slice_mut(s![k, .., .., ..]).assign(&arr);
        for q in dense.iter().filter(|q| win_contains(&win, q)) {
            pixel_ids[[
                k,
                (q.row - win.y) as usize * tile + (q.col - win.x) as usize,
            ]] = q.class_id;
        }
    }
    Ok(Shots {
        x,
        class_ids: all.iter().map(|p| p.class_id).collect(),
        pixel_class_ids: pixel_ids,
        fids: all.iter().map(|p| p.fid).collect(),
    })
}

fn win_contains(w: &Window, p: &LabelPixel) -> bool {
    p.col >= w.x
        && p.row >= w.y
        && p.col < w.x + w.width as isize
        && p.row < w.y + w.height as isize
}

fn class_name(card: &ModelCard, p: &LabelPixel) -> String {
    card.classes
        .iter()
        .find(|c| c.id == p.class_id)
        .map(|c| c.name.clone())
        .unwrap_or_else(|| p.class_id.to_string())
}

/// Up to `count` random windows of the scene with at most 10 % nodata, for
/// estimating batch-norm statistics on the target scene.
pub fn unlabelled_windows(
    scene: &Raster,
    bands: &[usize],
    card: &ModelCard,
    count: usize,
    seed: u64,
) -> Result<Array4<f32>> {
    let tile = card.spec.tile_size;
    let (sw, sh) = scene.size();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut kept = Vec::new();
    if sw >= tile && sh >= tile {
        for _ in 0..count * 4 {
            if kept.len() == count {
                break;
            }
            let win = Window::new(
                rng.random_range(0..=sw - tile) as isize,
                rng.random_range(0..=sh - tile) as isize,
                tile,
                tile,
            );
            let (arr, nodata) = read_normalised(scene, bands, card, win)?;
            if nodata <= 0.1 {
                kept.push(arr);
            }
        }
    }
    let mut x = Array4::<f32>::zeros((kept.len(), bands.len(), tile, tile));
    for (k, a) in kept.iter().enumerate() {
        x.slice_mut(s![k, .., .., ..]).assign(a);
    }
    Ok(x)
}

/// Per-pixel labels as indices into `classes` (IGNORE_INDEX where unlabelled).
pub fn pixel_targets(shots: &Shots, classes: &[u16]) -> Array2<i64> {
    shots.pixel_class_ids.mapv(|id| {
        classes
            .iter()
            .position(|&c| c == id && id != 0)
            .map(|i| i as i64)
            .unwrap_or(IGNORE_INDEX)
    })
}
