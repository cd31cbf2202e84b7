//! Labelled points for few-shot adaptation: a few per class, each well inside a
//! homogeneous area so that a window centred on it (32-128 px) is mostly that class,
//! written as GeoJSON in EPSG:4326 with class names.

use super::rng::{key, unit};
use crate::catalog::classes::ClassInfo;
use crate::error::{Error, Result};
use crate::raster::GeoTransform;

/// A chosen point: class id and pixel centre `(col, row)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabelPoint {
    /// Class id.
    pub class: u8,
    /// Column of the pixel centre.
    pub col: usize,
    /// Row of the pixel centre.
    pub row: usize,
}

/// Fraction of pixels of `class` in every `win` x `win` window, via an integral image.
struct Purity {
    sums: Vec<u32>,
    w: usize,
}

impl Purity {
    fn new(labels: &[u8], w: usize, h: usize, class: u8) -> Self {
        let mut sums = vec![0u32; (w + 1) * (h + 1)];
        for r in 0..h {
            let mut row = 0u32;
            for c in 0..w {
                row += u32::from(labels[r * w + c] == class);
                sums[(r + 1) * (w + 1) + c + 1] = sums[r * (w + 1) + c + 1] + row;
            }
        }
        Purity { sums, w }
    }

    fn at(&self, col: usize, row: usize, win: usize) -> f64 {
        let (x0, y0) = (col - win / 2, row - win / 2);
        let (x1, y1) = (x0 + win, y0 + win);
        let s = |x: usize, y: usize| self.sums[y * (self.w + 1) + x] as i64;
        (s(x1, y1) - s(x0, y1) - s(x1, y0) + s(x0, y0)) as f64 / (win * win) as f64
    }
}

/// Share of the 32 px window a point's class must hold in the first pass.
pub const GOOD_PURITY: f64 = 0.8;
/// Share it must hold when filling up classes that lack enough pure areas.
pub const FILL_PURITY: f64 = 0.6;

/// Chooses up to `per_class` points for every class of `legend` present in `labels`
/// (`w` x `h`, 0 = nodata): first centres where at least 80 % of the 32 px window is
/// that class, preferring purer 64 px surroundings, at least 32 px apart; then, for
/// classes still short, centres with at least 60 %, at least 16 px apart.
pub fn choose(
    labels: &[u8],
    (w, h): (usize, usize),
    legend: &[ClassInfo],
    per_class: usize,
    seed: u64,
) -> Vec<LabelPoint> {
    let mut out = Vec::new();
    let big = 64.min(w.min(h) & !1);
    let small = 32.min(big);
    for c in legend {
        let class = c.id as u8;
        let purity = Purity::new(labels, w, h, class);
        let mut candidates = Vec::new();
        for row in (big / 2..=h - big / 2).step_by(4) {
            for col in (big / 2..=w - big / 2).step_by(4) {
                let p = purity.at(col, row, small);
                if p >= FILL_PURITY && labels[row * w + col] == class {
                    let jitter = unit(key(&[seed, class as u64, col as u64, row as u64])) * 0.01;
                    candidates.push((p, p + purity.at(col, row, big) + jitter, col, row));
                }
            }
        }
        candidates.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut chosen: Vec<LabelPoint> = Vec::new();
        // First well inside pure areas and far apart, then fill from "mostly" areas.
        for (min_purity, spacing) in [
            (GOOD_PURITY, small as f64),
            (FILL_PURITY, small as f64 / 2.0),
        ] {
            for &(p, _, col, row) in &candidates {
                if chosen.len() == per_class {
                    break;
                }
                let far = chosen.iter().all(|q| {
                    (q.col as f64 - col as f64).hypot(q.row as f64 - row as f64) >= spacing
                });
                if p >= min_purity && far {
                    chosen.push(LabelPoint { class, col, row });
                }
            }
        }
        out.extend(chosen);
    }
    out
}

/// GeoJSON (EPSG:4326, lon/lat) of `points` on a raster with transform `gt` in
/// `EPSG:epsg`; each feature has `class` (name) and `class_id` properties.
pub fn to_geojson(
    points: &[LabelPoint],
    gt: &GeoTransform,
    epsg: u32,
    legend: &[ClassInfo],
) -> Result<serde_json::Value> {
    let to_wgs84 =
        proj::Proj::new_known_crs(&format!("EPSG:{epsg}"), "EPSG:4326", None).map_err(|e| {
            Error::runtime_source(format!("PROJ cannot build EPSG:{epsg} -> EPSG:4326"), e)
        })?;
    let mut features = Vec::new();
    for p in points {
        let (x, y) = gt.apply(p.col as f64 + 0.5, p.row as f64 + 0.5);
        let (lon, lat) = to_wgs84
            .convert((x, y))
            .map_err(|e| Error::runtime_source("PROJ", e))?;
        let name = legend
            .iter()
            .find(|c| c.id == p.class as u16)
            .map(|c| c.name.clone())
            .unwrap_or_default();
        features.push(serde_json::json!({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [(lon * 1e7).round() / 1e7, (lat * 1e7).round() / 1e7]},
            "properties": {"class": name, "class_id": p.class},
        }));
    }
    Ok(serde_json::json!({"type": "FeatureCollection", "features": features}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::classes::dfc2020;

    #[test]
    fn points_sit_inside_homogeneous_areas() {
        let (w, h) = (200, 200);
        // Left half forest (1), right half water (10), a thin road of urban (7).
        let labels: Vec<u8> = (0..w * h)
            .map(|i| {
                if i % w == 100 {
                    7
                } else if i % w < 100 {
                    1
                } else {
                    10
                }
            })
            .collect();
        let pts = choose(&labels, (w, h), &dfc2020(), 5, 1);
        assert_eq!(pts.iter().filter(|p| p.class == 1).count(), 5);
        assert_eq!(pts.iter().filter(|p| p.class == 10).count(), 5);
        assert!(
            pts.iter().all(|p| p.class != 7),
            "a 1 px road has no pure window"
        );
        assert!(pts
            .iter()
            .filter(|p| p.class == 1)
            .all(|p| p.col + 16 <= 100));
    }

    #[test]
    fn geojson_is_in_lon_lat() {
        let gt = GeoTransform::north_up(500_000.0, 5_300_000.0, 10.0);
        let v = to_geojson(
            &[LabelPoint {
                class: 6,
                col: 0,
                row: 0,
            }],
            &gt,
            32633,
            &dfc2020(),
        )
        .unwrap();
        let c = &v["features"][0]["geometry"]["coordinates"];
        assert!((c[0].as_f64().unwrap() - 15.0).abs() < 0.01, "{c}");
        assert!((47.0..48.5).contains(&c[1].as_f64().unwrap()), "{c}");
        assert_eq!(v["features"][0]["properties"]["class"], "Croplands");
    }
}
