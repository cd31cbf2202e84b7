//! Support windows ("shots") cut from a scene around labelled points/polygons, and
//! unlabelled windows for batch-norm statistics.
//!
//! A shot is a `tile_size` window centred on a label pixel, normalised like the
//! model's training data. Its per-pixel labels carry every label pixel that falls
//! inside it (a point marks one pixel, a polygon all its pixels); the classifier
//! uses the class of the centre label. Windows are in pixel space of the scene.

use crate::card::ModelCard;
use crate::error::{Error, Result};
use crate::labels::{LabelPixel, LabelSet};
use crate::pixels::PixelReader;
use crate::raster::{PixelLocator, Window};
use crate::tasks::IGNORE_INDEX;
use ndarray::{s, Array2, Array4};
use rand::{Rng, SeedableRng};

/// Smallest valid fraction of an unlabelled window used for batch-norm statistics.
pub const BN_MIN_VALID: f64 = 0.9;

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
    /// Scene pixel (column, row) of each shot's centre label.
    pub positions: Vec<(isize, isize)>,
}

/// Cuts one shot per label pixel (points; polygon pixels on a grid of
/// `tile_size / 2`), placed on the scene by `at`. Fails, naming the feature, when a
/// label lies outside the scene, on an invalid pixel, or its window's valid
/// fraction is below `min_valid`.
pub fn cut_shots(
    reader: &PixelReader,
    at: &PixelLocator,
    card: &ModelCard,
    labels: &LabelSet,
    min_valid: f64,
) -> Result<Shots> {
    let tile = card.spec.tile_size;
    let scene = reader.raster();
    let (sw, sh) = scene.size();
    let all = labels.pixels(at, tile / 2);
    let dense = labels.pixels(at, 1);
    if all.is_empty() {
        return Err(Error::labels(
            &labels.path,
            "no label falls on a pixel of the scene",
        ));
    }
    let mut seen = std::collections::HashMap::new();
    for p in &all {
        if let Some(q) = seen.insert((p.col, p.row), *p) {
            if q.class_id != p.class_id {
                return Err(Error::labels(
                    &labels.path,
                    format!(
                        "features {} ({}) and {} ({}) label the same scene pixel ({}, {}) with different classes; fix or remove one",
                        q.fid,
                        class_name(&labels.legend, &q),
                        p.fid,
                        class_name(&labels.legend, p),
                        p.col,
                        p.row
                    ),
                ));
            }
        }
    }
    let n = all.len();
    let mut x = Array4::<f32>::zeros((n, reader.inputs().len(), tile, tile));
    let mut pixel_ids = Array2::<u16>::zeros((n, tile * tile));
    for (k, p) in all.iter().enumerate() {
        if p.col < 0 || p.row < 0 || p.col as usize >= sw || p.row as usize >= sh {
            return Err(Error::labels(
                &labels.path,
                format!(
                    "feature {} ({}) lies outside the scene {}",
                    p.fid,
                    class_name(&labels.legend, p),
                    scene.path().display()
                ),
            ));
        }
        let win = Window::centred(p.col, p.row, tile);
        let px = reader.read(win)?;
        let valid = px.valid_fraction(win);
        if !px.is_valid(p.col, p.row) || valid < min_valid {
            return Err(Error::labels(
                &labels.path,
                format!(
                    "feature {} ({}) lies on nodata pixels of the scene {} ({})",
                    p.fid,
                    class_name(&labels.legend, p),
                    scene.path().display(),
                    if px.is_valid(p.col, p.row) {
                        format!(
                            "{:.0}% of its {tile} px window inside the scene is nodata; --min-valid asks for {:.0}% valid",
                            100.0 * (1.0 - valid),
                            100.0 * min_valid
                        )
                    } else {
                        "its own pixel is nodata".to_string()
                    }
                ),
            ));
        }
        x.slice_mut(s![k, .., .., ..]).assign(&px.data);
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
        positions: all.iter().map(|p| (p.col, p.row)).collect(),
    })
}

fn win_contains(w: &Window, p: &LabelPixel) -> bool {
    p.col >= w.x
        && p.row >= w.y
        && p.col < w.x + w.width as isize
        && p.row < w.y + w.height as isize
}

fn class_name(legend: &[crate::legend::ClassInfo], p: &LabelPixel) -> String {
    legend
        .iter()
        .find(|c| c.id == p.class_id)
        .map(|c| c.name.clone())
        .unwrap_or_else(|| p.class_id.to_string())
}

/// Up to `count` random windows of the scene at least [`BN_MIN_VALID`] valid, for
/// estimating batch-norm statistics on the target scene.
pub fn unlabelled_windows(
    reader: &PixelReader,
    card: &ModelCard,
    count: usize,
    seed: u64,
) -> Result<Array4<f32>> {
    let tile = card.spec.tile_size;
    let (sw, sh) = reader.raster().size();
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
            let px = reader.read(win)?;
            if px.valid_fraction(win) >= BN_MIN_VALID {
                kept.push(px.data);
            }
        }
    }
    let mut x = Array4::<f32>::zeros((kept.len(), reader.inputs().len(), tile, tile));
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
