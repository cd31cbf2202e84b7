//! `geomaml synth sen12ms`: a tree in the exact Sen12MS layout.
//!
//! `OUT/ROIs1158_spring/s2_57/ROIs1158_spring_s2_57_p0.tif` with siblings `s1_57`
//! and `lc_57`: s1 = VV, VH float32 dB (NaN beyond swath edges), s2 = 13 uint16
//! bands (reflectance x 10000, 0 outside the scene), lc = IGBP, LCCS_LC, LCCS_LU,
//! LCCS_SH uint16. Patches are square at 10 m in the region's UTM zone, on a grid
//! whose neighbours overlap by 50 %; patch `pN` sits at grid cell `N = row * G + col`
//! and, as in the real data set (cloudy patches removed), not every cell is written.

use super::gaps::Gaps;
use super::geotiff::{write, Bands};
use super::landscape::Pixel;
use super::render::render;
use super::rng::{key, mix, rng, tag, unit};
use super::signature::lccs;
use super::site::Site;
use super::tree::PendingTree;
use super::variety::{Appearance, LABEL_NOISE};
use crate::bands::{S1_BANDS, S2_BANDS};
use crate::error::{Error, Result};
use rand::seq::SliceRandom;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Season folder names of Sen12MS, in [`SEASONS`] order.
pub const SEASON_FOLDERS: [&str; 4] = [
    "ROIs1158_spring",
    "ROIs1868_summer",
    "ROIs1970_fall",
    "ROIs2017_winter",
];

/// Names of the four `lc` bands.
pub const LC_BANDS: [&str; 4] = ["IGBP", "LCCS_LC", "LCCS_LU", "LCCS_SH"];

/// What to generate.
#[derive(Debug, Clone)]
pub struct Sen12msOptions {
    /// Region ids.
    pub regions: Vec<u32>,
    /// Season indices into [`SEASONS`].
    pub seasons: Vec<usize>,
    /// Patches per (region, season).
    pub patches: usize,
    /// Patch side in pixels.
    pub size: usize,
    /// Seed of everything.
    pub seed: u64,
    /// Appearance model of every region.
    pub appearance: Appearance,
}

/// One patch to write.
#[derive(Debug, Clone, Copy)]
pub struct PatchSpec {
    /// Region id.
    pub region: u32,
    /// Season index.
    pub season: usize,
    /// Patch number (grid cell).
    pub p: usize,
    /// World pixel of the top-left corner.
    pub origin: (i64, i64),
}

/// Side of the patch grid for `n` patches: about eight cells per patch, so the
/// patches spread over the region.
pub fn grid_side(n: usize) -> usize {
    ((8 * n) as f64).sqrt().ceil().max(2.0) as usize
}

/// The patches of one (region, season): `n` distinct cells of a `G x G` grid with a
/// stride of half a patch, centred on the region centre.
pub fn patch_grid(seed: u64, region: u32, season: usize, n: usize, size: usize) -> Vec<PatchSpec> {
    let g = grid_side(n);
    let stride = (size / 2) as i64;
    let half = ((g as i64 - 1) * stride + size as i64) / 2;
    let mut cells: Vec<usize> = (0..g * g).collect();
    cells.shuffle(&mut rng(&[seed, tag::PATCH, region as u64, season as u64]));
    let mut cells: Vec<usize> = cells.into_iter().take(n).collect();
    cells.sort_unstable();
    cells
        .into_iter()
        .map(|p| PatchSpec {
            region,
            season,
            p,
            origin: (
                (p % g) as i64 * stride - half,
                (p / g) as i64 * stride - half,
            ),
        })
        .collect()
}

/// Path of one file of a patch: `kind` is `s1`, `s2` or `lc`.
pub fn patch_path(root: &Path, season: usize, region: u32, kind: &str, p: usize) -> PathBuf {
    let folder = SEASON_FOLDERS[season];
    root.join(folder)
        .join(format!("{kind}_{region}"))
        .join(format!("{folder}_{kind}_{region}_p{p}.tif"))
}

/// The IGBP code a noisy `lc` patch stores for pixel `p`: for a share
/// [`LABEL_NOISE`] of the region's fields (not rivers, lakes or towns), the code of
/// another of its land classes.
fn noisy_label(site: &Site, key_: u64, p: &Pixel) -> u8 {
    const FIXED_CELLS: u64 = 4;
    let classes = site.land.land_classes();
    let k = key(&[key_, tag::LABEL_NOISE, p.cell]);
    if p.cell <= FIXED_CELLS || classes.len() < 2 || unit(k) >= LABEL_NOISE {
        return p.igbp;
    }
    let others: Vec<u8> = classes.iter().copied().filter(|&c| c != p.class).collect();
    let other = others[(mix(k) % others.len() as u64) as usize];
    site.biome.igbp_variants(other)[0]
}

/// Writes the three files of one patch under `root`.
pub fn write_patch(
    root: &Path,
    site: &Site,
    spec: &PatchSpec,
    size: usize,
    gaps: &Gaps,
) -> Result<()> {
    let look = site.look(spec.season);
    let px = render(&site.land, &look, spec.origin, (size, size));
    let gt = site.geo_transform(spec.origin);
    let wkt = site.crs_wkt()?;
    let n = size * size;
    let mut s1 = px.s1;
    let mut s2: Vec<Vec<u16>> = px
        .s2
        .iter()
        .map(|b| {
            b.iter()
                .map(|v| v.round().clamp(1.0, 65535.0) as u16)
                .collect()
        })
        .collect();
    for i in 0..n {
        let (x, y) = (
            (spec.origin.0 + (i % size) as i64) as f64,
            (spec.origin.1 + (i / size) as i64) as f64,
        );
        for b in s1.iter_mut() {
            // Quantised to 1/32 dB (far below speckle): compresses much better.
            b[i] = if gaps.s1.is_some_and(|h| h.contains(x, y)) {
                f32::NAN
            } else {
                (b[i] * 32.0).round() / 32.0
            };
        }
        if gaps.s2.is_some_and(|h| h.contains(x, y)) {
            s2.iter_mut().for_each(|b| b[i] = 0);
        }
    }
    let mut lc: Vec<Vec<u16>> = (0..4).map(|_| Vec::with_capacity(n)).collect();
    for p in &px.labels {
        let igbp = match &look.variety {
            Some(v) => noisy_label(site, v.key, p),
            None => p.igbp,
        };
        let codes = lccs(igbp);
        lc[0].push(igbp as u16);
        (0..3).for_each(|k| lc[k + 1].push(codes[k]));
    }
    let path = |kind: &str| {
        let p = patch_path(root, spec.season, spec.region, kind, spec.p);
        std::fs::create_dir_all(p.parent().expect("patch files have a folder"))
            .map_err(|e| Error::io(&p, e))?;
        Ok::<_, Error>(p)
    };
    let common = |names| (gt, wkt.as_str(), names);
    let (t, w, names) = common(&S1_BANDS[..]);
    write(
        &path("s1")?,
        Bands {
            size: (size, size),
            transform: t,
            crs_wkt: w,
            names,
            data: s1,
            nodata: Some(f64::NAN),
            metadata: &[],
            legend: None,
        },
    )?;
    let (t, w, names) = common(&S2_BANDS[..]);
    write(
        &path("s2")?,
        Bands {
            size: (size, size),
            transform: t,
            crs_wkt: w,
            names,
            data: s2,
            nodata: Some(0.0),
            metadata: &[],
            legend: None,
        },
    )?;
    let (t, w, names) = common(&LC_BANDS[..]);
    write(
        &path("lc")?,
        Bands {
            size: (size, size),
            transform: t,
            crs_wkt: w,
            names,
            data: lc,
            nodata: Some(0.0),
            metadata: &[],
            legend: None,
        },
    )
}

/// Chances that an acquisition has an S1 swath edge / an S2 scene corner in it.
pub const GAP_CHANCES: (f64, f64) = (0.4, 0.35);

/// Generates the tree at `out`; returns the number of patches written.
pub fn generate(
    out: &Path,
    opts: &Sen12msOptions,
    overwrite: bool,
    progress: &crate::progress::Progress,
) -> Result<usize> {
    if !(16..=4096).contains(&opts.size) || opts.size % 2 != 0 {
        return Err(Error::config(
            "--size",
            format!(
                "{} must be an even number of pixels in 16..=4096",
                opts.size
            ),
        ));
    }
    if opts.patches == 0 {
        return Err(Error::config("--patches", "must be at least 1"));
    }
    let tree = PendingTree::new(out, overwrite)?;
    let sites: Vec<Site> = opts
        .regions
        .iter()
        .map(|&id| Site::new(opts.seed, id, opts.appearance))
        .collect::<Result<_>>()?;
    let mut jobs = Vec::new();
    for site in &sites {
        for &season in &opts.seasons {
            let g = grid_side(opts.patches);
            let half = ((g - 1) * opts.size / 2 + opts.size) as f64 / 2.0;
            let gaps = Gaps::new(opts.seed, site.region.id as u64, season, half, GAP_CHANCES);
            for spec in patch_grid(opts.seed, site.region.id, season, opts.patches, opts.size) {
                jobs.push((site, spec, gaps));
            }
        }
    }
    progress.start(jobs.len() as u64, "sen12ms patches");
    jobs.par_iter().try_for_each(|(site, spec, gaps)| {
        write_patch(tree.root(), site, spec, opts.size, gaps)?;
        progress.inc(1);
        Ok::<_, Error>(())
    })?;
    progress.finish_and_clear();
    tree.commit()?;
    Ok(jobs.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_one_field_in_twenty_carries_another_class_in_varied_labels() {
        let site = Site::new(3, 91, Appearance::Varied).unwrap();
        let key_ = site.look(1).variety.unwrap().key;
        let (mut fields, mut changed) = (std::collections::BTreeSet::new(), 0);
        for i in 0..40_000 {
            let p = site.land.at((i % 200) as f64 * 3.0, (i / 200) as f64 * 3.0);
            if p.cell > 4 && fields.insert(p.cell) {
                let igbp = noisy_label(&site, key_, &p);
                if igbp != p.igbp {
                    changed += 1;
                    assert_ne!(crate::catalog::classes::igbp_to_dfc(igbp as u16), p.class);
                }
            }
        }
        let share = changed as f64 / fields.len() as f64;
        assert!(fields.len() > 200, "{} fields", fields.len());
        assert!(
            (0.02..0.09).contains(&share),
            "{changed} of {} fields",
            fields.len()
        );
    }

    #[test]
    fn grids_overlap_by_half_and_are_distinct() {
        let specs = patch_grid(1, 57, 0, 6, 64);
        assert_eq!(specs.len(), 6);
        let g = grid_side(6) as i64;
        for s in &specs {
            assert_eq!(s.origin.0.rem_euclid(32), specs[0].origin.0.rem_euclid(32));
            assert!(s.p < (g * g) as usize);
        }
        let mut ps: Vec<usize> = specs.iter().map(|s| s.p).collect();
        ps.dedup();
        assert_eq!(ps.len(), 6);
    }

    #[test]
    fn paths_follow_the_sen12ms_layout() {
        let p = patch_path(Path::new("/d"), 0, 57, "s2", 0);
        assert_eq!(
            p,
            Path::new("/d/ROIs1158_spring/s2_57/ROIs1158_spring_s2_57_p0.tif")
        );
        assert_eq!(SEASON_FOLDERS.len(), crate::synth::SEASONS.len());
    }
}
