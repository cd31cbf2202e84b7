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
use crate::pixels::{PixelReader, Pixels};
use crate::raster::{PixelLocator, Window};
use ndarray::{s, Array2, Array4};
use std::collections::BTreeMap;

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
    /// Polygons used in part (outside the scene or over nodata), each named with
    /// the share of its pixels dropped.
    pub warnings: Vec<String>,
}

/// Cuts one shot per label pixel (points; polygon pixels on a grid of
/// `tile_size / 2`), placed on the scene by `at`.
///
/// A point must lie on a valid scene pixel whose window has at least `min_valid`
/// valid pixels, or it is refused naming the feature. A polygon drawn a little
/// past the scene's edge or over a cloud mask still marks land cover where it is
/// valid, so only its pixels inside the scene over valid data are used (its shots
/// and per-pixel labels); a warning names the feature and the share dropped, and
/// only a polygon with no usable pixel (or no usable window) is refused.
pub fn cut_shots(
    reader: &PixelReader,
    at: &PixelLocator,
    card: &ModelCard,
    labels: &LabelSet,
    min_valid: f64,
) -> Result<Shots> {
    let tile = card.spec.tile_size;
    let scene = reader.raster();
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
    let areas = polygon_parts(reader, labels, &dense)?;
    let mut warnings = Vec::new();
    let mut chosen: Vec<(LabelPixel, Pixels)> = Vec::new();
    for (fid, part) in &areas {
        let example = dense
            .iter()
            .find(|p| p.fid == *fid)
            .expect("a pixel per part");
        let name = class_name(&labels.legend, example);
        if part.usable.is_empty() {
            return Err(Error::labels(
                &labels.path,
                format!(
                    "feature {fid} ({name}) has no pixel inside the scene {} over valid data ({})",
                    scene.path().display(),
                    part.shares()
                ),
            ));
        }
        if part.usable.len() < part.total {
            warnings.push(format!(
                "feature {fid} ({name}): {:.0}% of its pixels dropped ({}); its other pixels are used",
                100.0 * (1.0 - part.usable.len() as f64 / part.total as f64),
                part.shares()
            ));
        }
    }
    // Polygon windows left out for too few valid pixels: (left out, tried) per feature.
    let mut thin: BTreeMap<u64, (usize, usize)> = BTreeMap::new();
    for p in &all {
        let Some(part) = areas.get(&p.fid) else {
            chosen.push((*p, point_shot(reader, labels, p, tile, min_valid)?));
            continue;
        };
        if !part.usable.contains(&(p.col, p.row)) {
            continue;
        }
        let win = Window::centred(p.col, p.row, tile);
        let px = reader.read(win)?;
        let counts = thin.entry(p.fid).or_default();
        counts.1 += 1;
        if px.valid_fraction(win) >= min_valid {
            chosen.push((*p, px));
        } else {
            counts.0 += 1;
        }
    }
    for (fid, (left_out, tried)) in thin.iter().filter(|(_, c)| c.0 > 0) {
        let example = dense.iter().find(|p| p.fid == *fid).expect("a pixel");
        warnings.push(format!(
            "feature {fid} ({}): {left_out} of its {tried} shot windows have fewer than the {:.0}% \
             valid pixels --min-valid asks for and were left out",
            class_name(&labels.legend, example),
            100.0 * min_valid
        ));
    }
    // A polygon whose grid pixels all fell on dropped parts: the usable pixel
    // nearest to their middle whose window is valid enough, among tries spread
    // over the polygon.
    for (fid, part) in &areas {
        if chosen.iter().any(|(p, _)| p.fid == *fid) {
            continue;
        }
        let n = part.usable.len() as f64;
        let (mc, mr) = part.usable.iter().fold((0.0, 0.0), |(c, r), &(pc, pr)| {
            (c + pc as f64 / n, r + pr as f64 / n)
        });
        let mut order: Vec<&(isize, isize)> = part.usable.iter().collect();
        order.sort_by(|a, b| {
            let d = |q: &(isize, isize)| (q.0 as f64 - mc).powi(2) + (q.1 as f64 - mr).powi(2);
            d(a).total_cmp(&d(b)).then(a.cmp(b))
        });
        // Tries spread from the middle outwards over the whole polygon, so that a
        // cloud over its middle does not hide windows valid elsewhere.
        let stride = order.len().div_ceil(MAX_FALLBACK_TRIES).max(1);
        let mut found = None;
        for &&(col, row) in order.iter().step_by(stride).take(MAX_FALLBACK_TRIES) {
            let win = Window::centred(col, row, tile);
            let px = reader.read(win)?;
            if px.valid_fraction(win) >= min_valid {
                let example = dense.iter().find(|p| p.fid == *fid).expect("a pixel");
                found = Some((
                    LabelPixel {
                        col,
                        row,
                        ..*example
                    },
                    px,
                ));
                break;
            }
        }
        let Some(shot) = found else {
            let example = dense.iter().find(|p| p.fid == *fid).expect("a pixel");
            return Err(Error::labels(
                &labels.path,
                format!(
                    "feature {fid} ({}) lies on nodata pixels of the scene {}: no window around its \
                     valid pixels has the {:.0}% valid pixels --min-valid asks for",
                    class_name(&labels.legend, example),
                    scene.path().display(),
                    100.0 * min_valid
                ),
            ));
        };
        chosen.push(shot);
    }
    // Per-pixel labels only where the label holds: points' pixels and the usable
    // pixels of polygons.
    let labelled: Vec<&LabelPixel> = dense
        .iter()
        .filter(|q| {
            areas
                .get(&q.fid)
                .is_none_or(|part| part.usable.contains(&(q.col, q.row)))
        })
        .collect();
    let n = chosen.len();
    let mut x = Array4::<f32>::zeros((n, reader.inputs().len(), tile, tile));
    let mut pixel_ids = Array2::<u16>::zeros((n, tile * tile));
    for (k, (_, px)) in chosen.iter().enumerate() {
        let win = px.window;
        x.slice_mut(s![k, .., .., ..]).assign(&px.data);
        for q in labelled.iter().filter(|q| win_contains(&win, q)) {
            pixel_ids[[
                k,
                (q.row - win.y) as usize * tile + (q.col - win.x) as usize,
            ]] = q.class_id;
        }
    }
    Ok(Shots {
        x,
        class_ids: chosen.iter().map(|(p, _)| p.class_id).collect(),
        pixel_class_ids: pixel_ids,
        fids: chosen.iter().map(|(p, _)| p.fid).collect(),
        positions: chosen.iter().map(|(p, _)| (p.col, p.row)).collect(),
        warnings,
    })
}

/// Usable pixels of a polygon tried as a shot's centre when none of its grid
/// pixels is usable: each try reads one window.
const MAX_FALLBACK_TRIES: usize = 16;

/// The window of a point label, refused (naming the feature) outside the scene, on
/// an invalid pixel, or with fewer valid pixels than `min_valid`.
fn point_shot(
    reader: &PixelReader,
    labels: &LabelSet,
    p: &LabelPixel,
    tile: usize,
    min_valid: f64,
) -> Result<Pixels> {
    let scene = reader.raster();
    let (sw, sh) = scene.size();
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
    Ok(px)
}

/// The pixels of one polygon (or line) label on the scene.
#[derive(Debug, Default)]
struct Part {
    /// Its pixels, inside the scene or not.
    total: usize,
    /// Those outside the scene.
    outside: usize,
    /// Those inside the scene over invalid pixels.
    nodata: usize,
    /// Those inside the scene over valid pixels.
    usable: std::collections::BTreeSet<(isize, isize)>,
}

impl Part {
    /// The shares outside the scene and over nodata, in words.
    fn shares(&self) -> String {
        let pct = |n: usize| 100.0 * n as f64 / self.total.max(1) as f64;
        format!(
            "{:.0}% outside the scene, {:.0}% on nodata",
            pct(self.outside),
            pct(self.nodata)
        )
    }
}

/// The pixels (`dense`: every pixel centre inside) of each label that is not a
/// point, split into outside the scene, on nodata and usable.
fn polygon_parts(
    reader: &PixelReader,
    labels: &LabelSet,
    dense: &[LabelPixel],
) -> Result<BTreeMap<u64, Part>> {
    let areal: std::collections::BTreeSet<u64> = labels
        .labels
        .iter()
        .filter(|l| {
            !matches!(
                l.geometry,
                geo::Geometry::Point(_) | geo::Geometry::MultiPoint(_)
            )
        })
        .map(|l| l.fid)
        .collect();
    let (sw, sh) = reader.raster().size();
    let mut parts: BTreeMap<u64, Part> = BTreeMap::new();
    let mut inside = Vec::new();
    for p in dense.iter().filter(|p| areal.contains(&p.fid)) {
        let part = parts.entry(p.fid).or_default();
        part.total += 1;
        if p.col < 0 || p.row < 0 || p.col as usize >= sw || p.row as usize >= sh {
            part.outside += 1;
        } else {
            inside.push(*p);
        }
    }
    for (p, ok) in inside.iter().zip(valid_at(reader, &inside)?) {
        let part = parts.get_mut(&p.fid).expect("counted above");
        if ok {
            part.usable.insert((p.col, p.row));
        } else {
            part.nodata += 1;
        }
    }
    Ok(parts)
}

/// Side of the blocks [`valid_at`] reads, in pixels: a block of all model bands
/// in `f32` stays a few MB whatever the polygon's size.
const VALID_BLOCK: isize = 256;

/// Whether each of `pixels` (inside the scene) is valid, read block by block.
fn valid_at(reader: &PixelReader, pixels: &[LabelPixel]) -> Result<Vec<bool>> {
    let mut blocks: BTreeMap<(isize, isize), Vec<usize>> = BTreeMap::new();
    for (i, p) in pixels.iter().enumerate() {
        blocks
            .entry((p.col.div_euclid(VALID_BLOCK), p.row.div_euclid(VALID_BLOCK)))
            .or_default()
            .push(i);
    }
    let mut out = vec![false; pixels.len()];
    for members in blocks.values() {
        let (c0, c1, r0, r1) = members.iter().fold(
            (isize::MAX, isize::MIN, isize::MAX, isize::MIN),
            |(a, b, c, d), &i| {
                let p = &pixels[i];
                (a.min(p.col), b.max(p.col), c.min(p.row), d.max(p.row))
            },
        );
        let win = Window::new(c0, r0, (c1 - c0 + 1) as usize, (r1 - r0 + 1) as usize);
        let px = reader.read(win)?;
        for &i in members {
            out[i] = px.is_valid(pixels[i].col, pixels[i].row);
        }
    }
    Ok(out)
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
