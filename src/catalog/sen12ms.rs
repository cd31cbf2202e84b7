//! Sen12MS trees: pairing s1/s2/lc patches, cutting tiles, majority labels.
//!
//! Layout (Schmitt et al. 2019): `ROIs1158_spring/s2_57/ROIs1158_spring_s2_57_p30.tif`.
//! The region is the scene id (57), the season comes from the name, the patch is
//! `p30`. Each patch is cut into non-overlapping square tiles of `tile_size` px
//! (row-major tile index; a remainder narrower than a tile is dropped), labelled by
//! the majority simplified DFC2020 class of lc band 1 (IGBP) through
//! [`classes::igbp_to_dfc`]. Class 0 (no data) never wins; a tile whose labelled
//! pixels are fewer than `min_valid_fraction` gets no label and a reason.

use super::classes;
use super::dataset::Dataset;
use super::file::{Catalog, CATALOG_VERSION};
use super::footprint;
use super::kind::{relative, DatasetKind, ScanOptions};
use super::record::{BandFile, PixelWindow, Season, Sources, TileRecord};
use super::summary::{SkipReport, Summary};
use crate::bands;
use crate::error::{Error, Result};
use crate::legend::ClassInfo;
use crate::raster::{Raster, Window};
use crate::tasks::Splits;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bands an S1 patch must have (VV, VH).
pub const S1_BAND_COUNT: usize = 2;
/// Bands an S2 patch must have (B01..B12 with B8A).
pub const S2_BAND_COUNT: usize = 13;

/// Sen12MS (Schmitt et al. 2019): Sentinel-1 and -2 at 10 m, tiles labelled by the
/// majority DFC 2020 class; the paper author's region split by default.
#[derive(Debug, Clone, Copy)]
pub struct Sen12ms;

impl Dataset for Sen12ms {
    fn kind(&self) -> DatasetKind {
        DatasetKind::Sen12ms
    }
    fn name(&self) -> &'static str {
        "sen12ms"
    }
    fn layout(&self) -> &'static str {
        "Sen12MS (ROIs*_<season>/…/*.tif)"
    }
    fn recognises(&self, file_name: &str) -> bool {
        file_name.starts_with("ROIs") && file_name.ends_with(".tif")
    }
    fn scan(&self, root: &Path, options: &ScanOptions) -> Result<Catalog> {
        scan(root, options)
    }
    fn band(&self, name: &str) -> Option<(BandFile, usize)> {
        let at = |names: &[&str], file| Some((file, names.iter().position(|b| *b == name)? + 1));
        at(&bands::S1_BANDS, BandFile::S1).or_else(|| at(&bands::S2_BANDS, BandFile::S2))
    }
    fn task_classes(&self) -> Vec<ClassInfo> {
        classes::dfc2020()
    }
    fn resolution_m(&self) -> f64 {
        10.0
    }
    fn per_pixel_labels(&self) -> bool {
        false
    }
    fn default_bands(&self) -> &'static str {
        "all"
    }
    fn default_split(&self, _catalog: &Catalog) -> Splits {
        Splits::sen12ms_default()
    }
}

/// The three files of one patch.
#[derive(Debug, Clone, Default)]
struct PatchFiles {
    s1: Option<PathBuf>,
    s2: Option<PathBuf>,
    lc: Option<PathBuf>,
}

/// What a Sen12MS file name says: season, modality (`s1`, `s2`, `lc`), scene, patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedName<'a> {
    /// Season from `ROIsNNNN_<season>`.
    pub season: Season,
    /// `s1`, `s2` or `lc`.
    pub modality: &'a str,
    /// Scene id (the region).
    pub scene: u32,
    /// Patch number.
    pub patch: u32,
}

/// Why a name is not a Sen12MS patch name: `(problem kind, reason)`.
pub type NameError = (&'static str, String);

/// Parses `ROIs1158_spring_s2_57_p30.tif`.
pub fn parse_name(name: &str) -> std::result::Result<ParsedName<'_>, NameError> {
    let unknown = || {
        (
            "unknown_name",
            format!(
                "`{name}` is not a Sen12MS name (ROIsNNNN_<season>_<s1|s2|lc>_<scene>_p<N>.tif)"
            ),
        )
    };
    let stem = name
        .strip_suffix(".tif")
        .or_else(|| name.strip_suffix(".TIF"))
        .ok_or_else(unknown)?;
    let parts: Vec<&str> = stem.split('_').collect();
    let [roi, season, modality, scene, patch] = parts[..] else {
        return Err(unknown());
    };
    if !roi.starts_with("ROIs") || !matches!(modality, "s1" | "s2" | "lc") {
        return Err(unknown());
    }
    let scene: u32 = scene.parse().map_err(|_| unknown())?;
    let patch: u32 = patch
        .strip_prefix('p')
        .and_then(|p| p.parse().ok())
        .ok_or_else(unknown)?;
    let season: Season = season
        .parse()
        .map_err(|e: crate::error::UnknownName| ("unknown_season", format!("{name}: {e}")))?;
    Ok(ParsedName {
        season,
        modality,
        scene,
        patch,
    })
}

/// Scans a Sen12MS tree into a catalog.
pub fn scan(root: &Path, options: &ScanOptions) -> Result<Catalog> {
    if options.tile_size == 0 {
        return Err(Error::config("--tile-size", "must be at least 1"));
    }
    let root = root.canonicalize().map_err(|e| Error::io(root, e))?;
    let mut skipped = SkipReport::default();
    let mut patches: BTreeMap<(Season, u32, u32), PatchFiles> = BTreeMap::new();
    for entry in walkdir::WalkDir::new(&root).follow_links(true) {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let p = e.path().map(|p| relative(&root, p)).unwrap_or_default();
                skipped.add("unreadable", p, e.to_string());
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy();
        if !name.to_ascii_lowercase().ends_with(".tif") {
            continue; // lists, READMEs, sidecars
        }
        match parse_name(&name) {
            Ok(p) => {
                let files = patches.entry((p.season, p.scene, p.patch)).or_default();
                let slot = match p.modality {
                    "s1" => &mut files.s1,
                    "s2" => &mut files.s2,
                    _ => &mut files.lc,
                };
                *slot = Some(entry.path().to_path_buf());
            }
            Err((kind, reason)) => skipped.add(kind, relative(&root, entry.path()), reason),
        }
    }
    let patches: Vec<_> = patches.into_iter().collect();
    options.progress.start(patches.len() as u64, "cataloguing");
    let results: Vec<std::result::Result<Vec<TileRecord>, (String, String, String)>> = patches
        .par_iter()
        .map(|((season, scene, patch), files)| {
            let r = cut_patch(&root, *season, *scene, *patch, files, options);
            options.progress.inc(1);
            r
        })
        .collect();
    options.progress.finish_and_clear();
    let mut tiles = Vec::new();
    for r in results {
        match r {
            Ok(t) => tiles.extend(t),
            Err((kind, path, reason)) => skipped.add(&kind, path, reason),
        }
    }
    if tiles.is_empty() {
        return Err(skipped.nothing_usable(&root, "Sen12MS patches"));
    }
    Ok(Catalog {
        version: CATALOG_VERSION,
        kind: DatasetKind::Sen12ms,
        root,
        tile_size: options.tile_size,
        seed: 0,
        summary: Summary::of(&tiles),
        skipped,
        images: Vec::new(),
        tiles,
    })
}

/// `(problem kind, relative path, reason)` of a patch that cannot be used.
type PatchError = (String, String, String);

fn cut_patch(
    root: &Path,
    season: Season,
    scene: u32,
    patch: u32,
    files: &PatchFiles,
    options: &ScanOptions,
) -> std::result::Result<Vec<TileRecord>, PatchError> {
    let present = files
        .lc
        .as_ref()
        .or(files.s2.as_ref())
        .or(files.s1.as_ref())
        .expect("a patch has a file");
    let rel = |p: &Path| relative(root, p);
    let fail = |kind: &str, p: &Path, reason: String| (kind.to_string(), rel(p), reason);
    let mut missing = Vec::new();
    for (name, f) in [("s1", &files.s1), ("s2", &files.s2), ("lc", &files.lc)] {
        if f.is_none() {
            missing.push(name);
        }
    }
    if !missing.is_empty() {
        return Err(fail(
            "missing_sibling",
            present,
            format!("patch has no {} file", missing.join("/")),
        ));
    }
    let (s1p, s2p, lcp) = (
        files.s1.as_ref().unwrap(),
        files.s2.as_ref().unwrap(),
        files.lc.as_ref().unwrap(),
    );
    let open = |p: &Path| Raster::open(p).map_err(|e| fail("unreadable", p, e.to_string()));
    let (s1, s2, lc) = (open(s1p)?, open(s2p)?, open(lcp)?);
    for (r, want, what) in [
        (&s1, S1_BAND_COUNT, "S1 (VV, VH)"),
        (&s2, S2_BAND_COUNT, "S2 (B01..B12)"),
    ] {
        if r.band_count() != want {
            return Err(fail(
                "wrong_band_count",
                r.path(),
                format!(
                    "has {} bands; Sen12MS {what} patches have {want}",
                    r.band_count()
                ),
            ));
        }
    }
    let (w, h) = lc.size();
    for r in [&s1, &s2] {
        if r.size() != (w, h) {
            return Err(fail(
                "size_mismatch",
                r.path(),
                format!("is {:?} px but its lc patch is {:?}", r.size(), (w, h)),
            ));
        }
    }
    let ts = options.tile_size as usize;
    if w < ts || h < ts {
        return Err(fail(
            "too_small",
            lcp,
            format!("{w}x{h} px patch is smaller than the {ts} px tile size"),
        ));
    }
    let crs = footprint::crs_definition(&lc)
        .or_else(|| footprint::crs_definition(&s2))
        .filter(|_| lc.is_georeferenced())
        .ok_or_else(|| {
            fail(
                "not_georeferenced",
                lcp,
                "has no CRS or geotransform".into(),
            )
        })?;
    let gt = lc.geo_transform();
    let igbp = lc
        .read_window(&[1], Window::new(0, 0, w, h), 0.0)
        .map_err(|e| fail("unreadable", lcp, e.to_string()))?;
    let nodata = lc.nodata(1);
    let sources = Sources {
        s1: Some(rel(s1p)),
        s2: Some(rel(s2p)),
        lc: Some(rel(lcp)),
        ..Default::default()
    };
    let (nx, ny) = (w / ts, h / ts);
    let mut tiles = Vec::with_capacity(nx * ny);
    for ty in 0..ny {
        for tx in 0..nx {
            let window = PixelWindow::new((tx * ts) as u32, (ty * ts) as u32, ts as u32, ts as u32);
            let mut hist = [0u32; 11];
            for row in ty * ts..(ty + 1) * ts {
                for col in tx * ts..(tx + 1) * ts {
                    let v = igbp[[0, row, col]];
                    let class = if Some(v as f64) == nodata
                        || !(0.0..=65535.0).contains(&v)
                        || v.fract() != 0.0
                    {
                        0
                    } else {
                        classes::igbp_to_dfc(v as u16)
                    };
                    hist[class as usize] += 1;
                }
            }
            let (label, purity, reason) = majority(&hist, options.min_valid_fraction);
            let bbox = footprint::bbox_wgs84(&crs, &gt, window)
                .map_err(|e| fail("bad_crs", lcp, e.to_string()))?;
            tiles.push(TileRecord {
                season: Some(season),
                region: scene,
                patch,
                tile: (ty * nx + tx) as u32,
                label,
                unlabelled_reason: reason,
                purity,
                bbox_wgs84: Some(bbox),
                window,
                sources: sources.clone(),
                role: None,
            });
        }
    }
    Ok(tiles)
}

/// Majority class of a DFC histogram (index 0 = no data, never wins; ties go to the
/// lower id): `(label, purity, reason when unlabelled)`.
pub fn majority(hist: &[u32; 11], min_valid_fraction: f32) -> (Option<u16>, f32, Option<String>) {
    let total: u32 = hist.iter().sum();
    let valid = total - hist[0];
    let valid_share = if total == 0 {
        0.0
    } else {
        valid as f32 / total as f32
    };
    if valid == 0 || valid_share < min_valid_fraction {
        let reason = format!(
            "mostly nodata: {:.0}% of pixels labelled",
            100.0 * valid_share
        );
        return (None, 0.0, Some(reason));
    }
    let (best, n) = hist
        .iter()
        .enumerate()
        .skip(1)
        .fold((0, 0), |acc, (i, &n)| if n > acc.1 { (i, n) } else { acc });
    (Some(best as u16), n as f32 / valid as f32, None)
}

#[cfg(test)]
mod tests;
