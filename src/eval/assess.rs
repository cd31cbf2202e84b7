//! Map accuracy assessment against a reference raster or labelled points/polygons.
//!
//! Rasters may differ in extent, resolution and CRS: each map pixel is compared
//! with the majority reference class among k x k sample points spread over its
//! footprint (k = map pixel size / reference pixel size, 1..=8), taken in the
//! reference's pixel space (through PROJ when the CRSs differ). Only the overlap
//! counts; nodata on either side is skipped and reported.

use super::class_map::ClassMap;
use super::metrics::{ConfusionMatrix, Scores};
use crate::catalog::classes::ClassInfo;
use crate::error::{Error, Result};
use crate::labels::{read_labels, ClassSource, LabelOptions};
use crate::raster::{Raster, Window};
use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

mod labels;
pub use labels::assess_labels;

/// Rows of the map processed at once (bounds memory on large maps).
const BLOCK_ROWS: usize = 64;

/// The result of comparing a map with a reference.
#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    /// The map assessed.
    pub map: String,
    /// The reference used.
    pub reference: String,
    /// Classes of the confusion matrix, in order.
    pub classes: Vec<ClassInfo>,
    /// `confusion.counts[reference][predicted]`.
    pub confusion: ConfusionMatrix,
    /// Accuracy, kappa, per-class scores.
    #[serde(flatten)]
    pub scores: Scores,
    /// Samples skipped because map or reference had no data there.
    pub skipped_nodata: u64,
    /// Samples outside the other raster.
    pub outside_overlap: u64,
    /// Reference classes met that the map's legend does not have: the map can never
    /// be right there (a class it was not adapted to, or one it names otherwise).
    pub reference_only: Vec<ClassInfo>,
}

/// Collects (reference id, predicted id) pairs, then builds the matrix.
#[derive(Default)]
struct Tally {
    pairs: BTreeMap<(u16, u16), u64>,
    nodata: u64,
    outside: u64,
}

impl Tally {
    fn finish(self, map: &Path, reference: &Path, legend: &[ClassInfo]) -> Result<Assessment> {
        if self.pairs.is_empty() {
            return Err(Error::raster(
                map,
                format!(
                    "no pixel to compare with {} ({} nodata, {} outside the overlap)",
                    reference.display(),
                    self.nodata,
                    self.outside
                ),
            ));
        }
        let mut ids: Vec<u16> = self.pairs.keys().flat_map(|&(r, p)| [r, p]).collect();
        ids.sort_unstable();
        ids.dedup();
        let classes: Vec<ClassInfo> = ids
            .iter()
            .map(|&id| {
                legend
                    .iter()
                    .find(|c| c.id == id)
                    .cloned()
                    .unwrap_or(ClassInfo {
                        id,
                        name: format!("class {id}"),
                        color: "#808080".into(),
                    })
            })
            .collect();
        let pos = |id: u16| ids.binary_search(&id).expect("id collected above");
        let mut confusion = ConfusionMatrix::new(ids.len());
        for (&(r, p), &n) in &self.pairs {
            confusion.counts[pos(r)][pos(p)] += n;
        }
        Ok(Assessment {
            map: map.display().to_string(),
            reference: reference.display().to_string(),
            scores: confusion.scores(),
            classes,
            confusion,
            skipped_nodata: self.nodata,
            outside_overlap: self.outside,
            reference_only: Vec::new(),
        })
    }
}

/// Whether a value is no data: the band's nodata, non-finite, or 0 when the
/// legend has no class 0 (the DFC convention).
fn is_nodata(v: f64, nodata: Option<f64>, legend: &[ClassInfo]) -> bool {
    !v.is_finite() || Some(v) == nodata || (v == 0.0 && !legend.iter().any(|c| c.id == 0))
}

/// Opens a map to assess (`role` names it in the error): one band of integer class ids.
/// Anything else (a multi-band scene given by mistake, a float band of
/// probabilities) is refused naming the file, as its values are no classes and an
/// assessment of them would be numbers without meaning.
fn open_class_raster(path: &Path, role: &str) -> Result<Raster> {
    let raster = Raster::open(path)?;
    let bands = raster.band_count();
    let band = raster
        .dataset()
        .rasterband(1)
        .map_err(|e| Error::raster_source(path, "band 1", e))?;
    let kind = band.band_type();
    if bands != 1 || !kind.is_integer() {
        return Err(Error::raster(
            path,
            format!(
                "is not a class raster ({bands} band(s) of {}): the {role} must be one band of \
                 integer class ids, as geomaml map writes (a scene or a probability file is not a map)",
                kind.name()
            ),
        ));
    }
    Ok(raster)
}

/// Assesses `map` against a reference raster; `class_map` says which map class each
/// reference class is when their ids differ (then every reference class met must be
/// mapped or be a class of the map, else the error names the rest).
pub fn assess_raster(
    map_path: &Path,
    reference_path: &Path,
    class_map: Option<&ClassMap>,
) -> Result<Assessment> {
    let map = open_class_raster(map_path, "map")?;
    let reference = Raster::open(reference_path)?;
    let map_legend = map.legend().unwrap_or_default();
    let ref_legend = reference.legend().unwrap_or_default();
    // Pairs given in --class-map, then the other reference classes by name.
    let mut remap: BTreeMap<u16, u16> = match class_map {
        Some(m) => m
            .id_pairs(&ref_legend, &map_legend)
            .map_err(|e| Error::config_source("--class-map", "", e))?
            .into_iter()
            .collect(),
        None => BTreeMap::new(),
    };
    let rest: Vec<ClassInfo> = ref_legend
        .iter()
        .filter(|c| !remap.contains_key(&c.id))
        .cloned()
        .collect();
    for (r, m) in match_by_name(&rest, &map_legend, reference_path)? {
        remap.insert(r, m);
    }
    // Ids resolve against the map's legend first, then the reference's.
    let mut legend = map.legend().unwrap_or_default();
    for c in reference.legend().unwrap_or_default() {
        if !legend.iter().any(|l| l.id == c.id) {
            legend.push(c);
        }
    }
    for (r, p) in [(&map, map_path), (&reference, reference_path)] {
        if matches!(r.georef(), Ok(crate::raster::Georef::Gcps { .. })) {
            return Err(Error::raster(
                p,
                "is georeferenced by GCPs only; comparing with a raster needs a geotransform \
                 (warp it first, e.g. gdalwarp), or assess against labelled points",
            ));
        }
    }
    let (mgt, rgt) = (map.geo_transform(), reference.geo_transform());
    let (map_crs, ref_crs) = (map.crs_wkt(), reference.crs_wkt());
    let transform = if map_crs.is_empty() || ref_crs.is_empty() || same_crs(&map, &reference) {
        None
    } else {
        Some(crs_transform(&map_crs, &ref_crs).map_err(|e| {
            Error::raster_source(reference_path, "cannot reproject from the map's CRS", e)
        })?)
    };
    let k = ((mgt.pixel_size() / rgt.pixel_size()).round() as usize).clamp(1, 8);
    let (mw, mh) = map.size();
    let (rw, rh) = reference.size();
    let (map_nd, ref_nd) = (map.nodata(1), reference.nodata(1));
    let mut tally = Tally::default();

    for y0 in (0..mh).step_by(BLOCK_ROWS) {
        let bh = BLOCK_ROWS.min(mh - y0);
        let block = map.read_window(&[1], Window::new(0, y0 as isize, mw, bh), f32::NAN)?;
        // Reference pixel of every sample point of this block.
        let mut samples = Vec::with_capacity(mw * bh * k * k);
        for r in 0..bh {
            for c in 0..mw {
                for sy in 0..k {
                    for sx in 0..k {
                        let col = c as f64 + (sx as f64 + 0.5) / k as f64;
                        let row = (y0 + r) as f64 + (sy as f64 + 0.5) / k as f64;
                        let (mut x, mut y) = mgt.apply(col, row);
                        if let Some(t) = &transform {
                            let (mut xs, mut ys, mut zs) = ([x], [y], [0.0]);
                            match t.transform_coords(&mut xs, &mut ys, &mut zs) {
                                Ok(()) => (x, y) = (xs[0], ys[0]),
                                Err(_) => {
                                    samples.push(None);
                                    continue;
                                }
                            }
                        }
                        samples.push(
                            rgt.invert(x, y)
                                .map(|(c, r)| (c.floor() as isize, r.floor() as isize)),
                        );
                    }
                }
            }
        }
        let inside: Vec<(isize, isize)> = samples
            .iter()
            .flatten()
            .copied()
            .filter(|&(c, r)| c >= 0 && r >= 0 && (c as usize) < rw && (r as usize) < rh)
            .collect();
        let ref_block = if inside.is_empty() {
            None
        } else {
            let (c0, c1) = inside.iter().fold((isize::MAX, isize::MIN), |a, p| {
                (a.0.min(p.0), a.1.max(p.0))
            });
            let (r0, r1) = inside.iter().fold((isize::MAX, isize::MIN), |a, p| {
                (a.0.min(p.1), a.1.max(p.1))
            });
            let win = Window::new(c0, r0, (c1 - c0 + 1) as usize, (r1 - r0 + 1) as usize);
            Some((win, reference.read_window(&[1], win, f32::NAN)?))
        };
        let mut votes: BTreeMap<u16, usize> = BTreeMap::new();
        for r in 0..bh {
            for c in 0..mw {
                let predicted = block[[0, r, c]] as f64;
                let base = (r * mw + c) * k * k;
                votes.clear();
                let mut any_inside = false;
                for s in &samples[base..base + k * k] {
                    let Some((rc, rr)) = *s else { continue };
                    let Some((win, data)) = &ref_block else {
                        continue;
                    };
                    if rc < 0 || rr < 0 || rc as usize >= rw || rr as usize >= rh {
                        continue;
                    }
                    any_inside = true;
                    let v = data[[0, (rr - win.y) as usize, (rc - win.x) as usize]] as f64;
                    if !is_nodata(v, ref_nd, &legend) {
                        let id = v as u16;
                        *votes
                            .entry(remap.get(&id).copied().unwrap_or(id))
                            .or_insert(0) += 1;
                    }
                }
                if !any_inside {
                    tally.outside += 1;
                } else if votes.is_empty() || is_nodata(predicted, map_nd, &legend) {
                    tally.nodata += 1;
                } else {
                    let truth = votes
                        .iter()
                        .max_by_key(|(id, n)| (**n, std::cmp::Reverse(**id)))
                        .map(|(id, _)| *id)
                        .unwrap();
                    *tally.pairs.entry((truth, predicted as u16)).or_insert(0) += 1;
                }
            }
        }
    }
    let unmatched: std::collections::BTreeSet<u16> = tally
        .pairs
        .keys()
        .map(|&(r, _)| r)
        .filter(|r| !map_legend.iter().any(|c| c.id == *r))
        .collect();
    if class_map.is_some() && !unmatched.is_empty() {
        return Err(Error::config(
            "--class-map",
            format!(
                "reference classes {} of {} are neither mapped nor classes of the map ({})",
                unmatched
                    .iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                reference_path.display(),
                describe(&map_legend)
            ),
        ));
    }
    let mut assessment = tally.finish(map_path, reference_path, &legend)?;
    if !map_legend.is_empty() {
        assessment.reference_only = assessment
            .classes
            .iter()
            .filter(|c| unmatched.contains(&c.id))
            .cloned()
            .collect();
    }
    Ok(assessment)
}

/// Reference id -> map id for classes both legends name alike under other ids;
/// an error when one id names two different classes (the legends are other
/// nomenclatures: `--class-map` says how they correspond).
fn match_by_name(
    reference: &[ClassInfo],
    map: &[ClassInfo],
    reference_path: &Path,
) -> Result<BTreeMap<u16, u16>> {
    let same = |a: &ClassInfo, b: &ClassInfo| a.name.trim().eq_ignore_ascii_case(b.name.trim());
    let mut remap = BTreeMap::new();
    for r in reference {
        if let Some(m) = map.iter().find(|m| same(m, r)) {
            if m.id != r.id {
                remap.insert(r.id, m.id);
            }
        } else if let Some(m) = map.iter().find(|m| m.id == r.id) {
            return Err(Error::raster(
                reference_path,
                format!(
                    "its class {} is `{}` where the map's class {} is `{}`: pass --class-map \
                     to say which map class each reference class is (map classes: {})",
                    r.id,
                    r.name,
                    m.id,
                    m.name,
                    describe(map)
                ),
            ));
        }
    }
    Ok(remap)
}

fn describe(legend: &[ClassInfo]) -> String {
    legend
        .iter()
        .map(|c| format!("{} ({})", c.name, c.id))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An OGR transformation between two CRSs given as WKT, in longitude/easting-first
/// order; an error (not a panic) for CRSs that cannot be related, such as local ones.
fn crs_transform(
    from: &str,
    to: &str,
) -> std::result::Result<CoordTransform, gdal::errors::GdalError> {
    let srs = |wkt: &str| {
        let mut s = SpatialRef::from_wkt(wkt)?;
        s.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
        Ok::<_, gdal::errors::GdalError>(s)
    };
    CoordTransform::new(&srs(from)?, &srs(to)?)
}

fn same_crs(a: &Raster, b: &Raster) -> bool {
    match (a.dataset().spatial_ref(), b.dataset().spatial_ref()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
