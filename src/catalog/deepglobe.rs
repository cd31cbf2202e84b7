//! DeepGlobe land-cover trees: image/mask pairs cut into sub-images.
//!
//! Layout (Demir et al. 2018): `<id>_sat.jpg` (RGB) and `<id>_mask.png` (colour mask)
//! anywhere below the root, paired by id. Masks are decoded with
//! [`classes::deepglobe_class_of`] (each channel thresholded at 128; unmatched colours
//! are ignored). As in Russwurm et al. 2020 each image is one task, cut into a 4x4
//! grid of sub-images of `min(width, height) / 4` px (612 px for 2448 px images;
//! smaller images get as large a grid as fits, at least 1 px sub-images); half of the
//! sub-images are support and half query, drawn with a seed per image. JPEGs carry no
//! georeferencing, so DeepGlobe tiles have no `bbox_wgs84`.

use super::classes::{self, DEEPGLOBE_IGNORE};
use super::dataset::Dataset;
use super::file::{Catalog, CATALOG_VERSION};
use super::kind::{relative, DatasetKind, ScanOptions};
use super::record::{BandFile, PixelWindow, Sources, TileRecord, TileRole};
use super::summary::{SkipReport, Summary};
use crate::bands;
use crate::error::{Error, Result};
use crate::legend::ClassInfo;
use crate::raster::Raster;
use crate::tasks::Splits;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// DeepGlobe class ids a segmentation task predicts (Urban .. Barren).
pub const DEEPGLOBE_TASK_CLASSES: [u16; 6] = [0, 1, 2, 3, 4, 5];

/// DeepGlobe land cover (Demir et al. 2018): RGB at 0.5 m with per-pixel masks; a
/// seeded random split of the images by default, or the clustered split.
#[derive(Debug, Clone, Copy)]
pub struct DeepGlobe;

impl Dataset for DeepGlobe {
    fn kind(&self) -> DatasetKind {
        DatasetKind::Deepglobe
    }
    fn name(&self) -> &'static str {
        "deepglobe"
    }
    fn layout(&self) -> &'static str {
        "DeepGlobe (<id>_sat.jpg)"
    }
    fn recognises(&self, file_name: &str) -> bool {
        file_name.ends_with("_sat.jpg") || file_name.ends_with("_mask.png")
    }
    fn scan(&self, root: &Path, options: &ScanOptions) -> Result<Catalog> {
        scan(root, options)
    }
    fn band(&self, name: &str) -> Option<(BandFile, usize)> {
        let i = bands::RGB_BANDS.iter().position(|b| *b == name)?;
        Some((BandFile::Image, i + 1))
    }
    fn task_classes(&self) -> Vec<ClassInfo> {
        classes::deepglobe()
            .into_iter()
            .filter(|c| DEEPGLOBE_TASK_CLASSES.contains(&c.id))
            .collect()
    }
    fn resolution_m(&self) -> f64 {
        0.5
    }
    fn per_pixel_labels(&self) -> bool {
        true
    }
    fn default_bands(&self) -> &'static str {
        "rgb"
    }
    fn default_split(&self, catalog: &Catalog) -> Splits {
        Splits::random(&catalog.regions(), 0)
    }
    fn clustered_split(&self, catalog: &Catalog, seed: u64) -> Option<Splits> {
        Some(Splits::clustered(&catalog.images, seed))
    }
}

/// Sub-images per side of an image.
pub const GRID: usize = 4;
/// Number of DeepGlobe classes including Unknown (ids 0..=6).
pub const CLASS_COUNT: usize = 7;
/// Class id of "Unknown", which never wins a sub-image.
pub const UNKNOWN: u8 = 6;

/// One DeepGlobe image: its files and what its mask holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImageRecord {
    /// Image id (`<id>_sat.jpg`).
    pub id: u32,
    /// RGB image, relative to the catalog root.
    pub image: String,
    /// Colour mask, relative to the catalog root.
    pub mask: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Share of pixels per class id 0..=6 (Urban .. Unknown).
    pub class_fractions: Vec<f32>,
    /// Share of pixels whose colour matches no class.
    pub ignored_fraction: f32,
    /// Mean R, G, B of the image scaled to 0..1 (a feature for clustered splits).
    pub mean_rgb: [f32; 3],
}

impl ImageRecord {
    /// Features for k-means: class fractions followed by mean RGB.
    pub fn features(&self) -> Vec<f64> {
        self.class_fractions
            .iter()
            .chain(self.mean_rgb.iter())
            .map(|&v| v as f64)
            .collect()
    }
}

/// Scans a DeepGlobe tree into a catalog.
pub fn scan(root: &Path, options: &ScanOptions) -> Result<Catalog> {
    let root = root.canonicalize().map_err(|e| Error::io(root, e))?;
    let mut skipped = SkipReport::default();
    let mut pairs: BTreeMap<u32, (Option<PathBuf>, Option<PathBuf>)> = BTreeMap::new();
    for entry in walkdir::WalkDir::new(&root)
        .follow_links(true)
        .into_iter()
        .filter_map(|e| e.ok())
    {
        if !entry.file_type().is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy();
        let (stem, is_mask) = match (
            name.strip_suffix("_sat.jpg"),
            name.strip_suffix("_mask.png"),
        ) {
            (Some(s), _) => (s, false),
            (_, Some(s)) => (s, true),
            _ => continue,
        };
        let Ok(id) = stem.parse::<u32>() else {
            skipped.add(
                "unknown_name",
                relative(&root, entry.path()),
                format!("`{name}`: DeepGlobe ids are integers"),
            );
            continue;
        };
        let pair = pairs.entry(id).or_default();
        let slot = if is_mask { &mut pair.1 } else { &mut pair.0 };
        if let Some(first) = slot {
            let reason = format!("id {id} also at {}", relative(&root, first));
            skipped.add("duplicate_id", relative(&root, entry.path()), reason);
            continue;
        }
        *slot = Some(entry.path().to_path_buf());
    }
    let mut complete = Vec::new();
    for (id, pair) in pairs {
        match pair {
            (Some(s), Some(m)) => complete.push((id, s, m)),
            (Some(s), None) => skipped.add(
                "missing_sibling",
                relative(&root, &s),
                format!("no {id}_mask.png"),
            ),
            (None, Some(m)) => skipped.add(
                "missing_sibling",
                relative(&root, &m),
                format!("no {id}_sat.jpg"),
            ),
            (None, None) => {}
        }
    }
    options.progress.start(complete.len() as u64, "cataloguing");
    let results: Vec<_> = complete
        .par_iter()
        .map(|(id, sat, mask)| {
            let r = cut_image(&root, *id, sat, mask, options.seed);
            options.progress.inc(1);
            r
        })
        .collect();
    options.progress.finish_and_clear();
    let (mut images, mut tiles) = (Vec::new(), Vec::new());
    for r in results {
        match r {
            Ok((image, t)) => {
                images.push(image);
                tiles.extend(t);
            }
            Err((kind, path, reason)) => skipped.add(kind, path, reason),
        }
    }
    if tiles.is_empty() {
        return Err(skipped.nothing_usable(&root, "DeepGlobe image/mask pairs"));
    }
    let tile_size = tiles[0].window.width;
    Ok(Catalog {
        version: CATALOG_VERSION,
        kind: DatasetKind::Deepglobe,
        root,
        tile_size,
        seed: options.seed,
        summary: Summary::of(&tiles),
        skipped,
        images,
        tiles,
    })
}

type ImageError = (&'static str, String, String);

/// A band that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("band {band}: {source}")]
pub(crate) struct BandReadError {
    band: usize,
    source: gdal::errors::GdalError,
}

/// Reads `bands` (1-based) of a whole raster as bytes, `[band][row * w + col]`.
pub(crate) fn read_u8(
    r: &Raster,
    bands: &[usize],
    out: (usize, usize),
) -> std::result::Result<Vec<Vec<u8>>, BandReadError> {
    let size = r.size();
    bands
        .iter()
        .map(|&b| {
            let failed = |source| BandReadError { band: b, source };
            let band = r.dataset().rasterband(b).map_err(failed)?;
            let buf = band
                .read_as::<u8>((0, 0), size, out, None)
                .map_err(failed)?;
            Ok(buf.into_shape_and_vec().1)
        })
        .collect()
}

fn cut_image(
    root: &Path,
    id: u32,
    sat: &Path,
    mask: &Path,
    seed: u64,
) -> std::result::Result<(ImageRecord, Vec<TileRecord>), ImageError> {
    let rel = |p: &Path| relative(root, p);
    let open = |p: &Path| Raster::open(p).map_err(|e| ("unreadable", rel(p), e.to_string()));
    let (img, msk) = (open(sat)?, open(mask)?);
    for r in [&img, &msk] {
        if r.band_count() < 3 {
            return Err((
                "wrong_band_count",
                rel(r.path()),
                format!("has {} bands; DeepGlobe files are RGB", r.band_count()),
            ));
        }
    }
    let (w, h) = img.size();
    if msk.size() != (w, h) {
        return Err((
            "size_mismatch",
            rel(mask),
            format!("is {:?} px but its image is {:?}", msk.size(), (w, h)),
        ));
    }
    let rgb =
        read_u8(&msk, &[1, 2, 3], (w, h)).map_err(|e| ("unreadable", rel(mask), e.to_string()))?;
    let small = ((w / 8).max(1), (h / 8).max(1));
    let thumb =
        read_u8(&img, &[1, 2, 3], small).map_err(|e| ("unreadable", rel(sat), e.to_string()))?;
    let mean_rgb = [0, 1, 2].map(|b| {
        thumb[b].iter().map(|&v| v as f64).sum::<f64>() as f32 / thumb[b].len() as f32 / 255.0
    });
    let class_map: Vec<u8> = (0..w * h)
        .map(|i| classes::deepglobe_class_of([rgb[0][i], rgb[1][i], rgb[2][i]]))
        .collect();
    let mut counts = [0u64; CLASS_COUNT + 1];
    for &c in &class_map {
        counts[if c == DEEPGLOBE_IGNORE {
            CLASS_COUNT
        } else {
            c as usize
        }] += 1;
    }
    let n = (w * h) as f32;
    let grid = GRID.min(w).min(h);
    let sub = w.min(h) / grid;
    let mut order: Vec<usize> = (0..grid * grid).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(
        seed ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    ));
    let support: Vec<usize> = order[..order.len() / 2].to_vec();
    let sources = Sources {
        image: Some(rel(sat)),
        mask: Some(rel(mask)),
        ..Default::default()
    };
    let mut tiles = Vec::with_capacity(grid * grid);
    for gy in 0..grid {
        for gx in 0..grid {
            let mut hist = [0u32; CLASS_COUNT];
            for row in gy * sub..(gy + 1) * sub {
                for &c in &class_map[row * w + gx * sub..row * w + (gx + 1) * sub] {
                    if c < UNKNOWN {
                        hist[c as usize] += 1;
                    }
                }
            }
            let known: u32 = hist.iter().sum();
            let (best, top) =
                hist.iter()
                    .enumerate()
                    .fold((0, 0), |a, (i, &k)| if k > a.1 { (i, k) } else { a });
            let index = gy * grid + gx;
            tiles.push(TileRecord {
                season: None,
                region: id,
                patch: id,
                tile: index as u32,
                label: (known > 0).then_some(best as u16),
                unlabelled_reason: (known == 0).then(|| "no pixel of a known class".to_string()),
                purity: if known > 0 {
                    top as f32 / known as f32
                } else {
                    0.0
                },
                bbox_wgs84: None,
                window: PixelWindow::new(
                    (gx * sub) as u32,
                    (gy * sub) as u32,
                    sub as u32,
                    sub as u32,
                ),
                sources: sources.clone(),
                role: Some(if support.contains(&index) {
                    TileRole::Support
                } else {
                    TileRole::Query
                }),
            });
        }
    }
    let image = ImageRecord {
        id,
        image: rel(sat),
        mask: rel(mask),
        width: w as u32,
        height: h as u32,
        class_fractions: counts[..CLASS_COUNT]
            .iter()
            .map(|&k| k as f32 / n)
            .collect(),
        ignored_fraction: counts[CLASS_COUNT] as f32 / n,
        mean_rgb,
    };
    Ok((image, tiles))
}
