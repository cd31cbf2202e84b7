//! Labelled points and polygons from any vector format GDAL/OGR reads (GeoJSON,
//! GeoPackage, Shapefile), reprojected to a raster's CRS with PROJ.
//!
//! A label is a class (from a model's or map's legend, given in the file by name or
//! id) and a geometry in the target CRS. `pixels` turns labels into raster pixel
//! positions: a point gives its pixel; a polygon gives the pixel centres inside it,
//! on a grid of a chosen spacing (so adaptation can cut windows inside it, and
//! assessment can compare every pixel).

use crate::catalog::classes::{find_class, ClassInfo};
use crate::error::{Error, Result};
use crate::raster::GeoTransform;
use gdal::vector::LayerAccess;
use geo::{BoundingRect, Contains, MapCoords};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Field names tried, in order, when no class field is given.
pub const CLASS_FIELDS: [&str; 6] = [
    "class",
    "label",
    "class_name",
    "class_id",
    "landcover",
    "lc",
];

/// One labelled geometry.
#[derive(Debug, Clone)]
pub struct Label {
    /// The class, as listed in the legend.
    pub class: ClassInfo,
    /// Geometry in the target CRS.
    pub geometry: geo::Geometry<f64>,
    /// Feature id in the source file, for messages.
    pub fid: u64,
}

/// All labels of one file.
#[derive(Debug, Clone)]
pub struct LabelSet {
    /// The file read.
    pub path: PathBuf,
    /// SHA-256 of the file's bytes (hex), for provenance.
    pub sha256: String,
    /// The labels, in file order.
    pub labels: Vec<Label>,
}

/// A labelled raster pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelPixel {
    /// Class id (legend id).
    pub class_id: u16,
    /// Column in the raster.
    pub col: isize,
    /// Row in the raster.
    pub row: isize,
    /// Feature id it came from.
    pub fid: u64,
}

/// Reads labels from `path`, resolving classes against `legend` and reprojecting
/// to `target_crs` (WKT, PROJJSON or `EPSG:n`).
pub fn read_labels(
    path: &Path,
    class_field: Option<&str>,
    legend: &[ClassInfo],
    target_crs: &str,
) -> Result<LabelSet> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let sha256 = format!("{:x}", Sha256::digest(&bytes));
    let ds = gdal::Dataset::open(path)
        .map_err(|e| Error::labels(path, format!("cannot open as vector data: {e}")))?;
    if ds.layer_count() == 0 {
        return Err(Error::labels(path, "has no vector layer"));
    }
    let mut layer = ds.layer(0).map_err(|e| Error::labels(path, e))?;
    let source_crs = match layer.spatial_ref() {
        Some(srs) => match (srs.auth_name(), srs.auth_code()) {
            (Some(name), Ok(code)) => format!("{name}:{code}"),
            _ => srs
                .to_wkt()
                .map_err(|e| Error::labels(path, format!("unreadable CRS: {e}")))?,
        },
        None => {
            return Err(Error::labels(
                path,
                "has no CRS; save it with one (GeoJSON defaults to EPSG:4326)",
            ))
        }
    };
    let proj = proj::Proj::new_known_crs(&source_crs, target_crs, None).map_err(|e| {
        Error::labels(
            path,
            format!("cannot reproject from {source_crs} to the raster's CRS: {e}"),
        )
    })?;

    let field_names: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
    let field = match class_field {
        Some(f) => field_names.iter().position(|n| n == f).ok_or_else(|| {
            Error::labels(
                path,
                format!("no field `{f}` (fields: {})", field_names.join(", ")),
            )
        })?,
        None => CLASS_FIELDS
            .iter()
            .find_map(|want| {
                field_names
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(want))
            })
            .ok_or_else(|| {
                Error::labels(
                    path,
                    format!(
                        "no class field found (tried {}; fields: {}); pass --class-field",
                        CLASS_FIELDS.join(", "),
                        field_names.join(", ")
                    ),
                )
            })?,
    };

    let mut labels = Vec::new();
    for feature in layer.features() {
        let fid = feature.fid().unwrap_or(0);
        let value = feature
            .field_as_string(field)
            .map_err(|e| Error::labels(path, format!("feature {fid}: {e}")))?
            .ok_or_else(|| Error::labels(path, format!("feature {fid} has no class value")))?;
        let class = find_class(legend, &value).cloned().ok_or_else(|| {
            let names: Vec<String> = legend
                .iter()
                .map(|c| format!("{} ({})", c.name, c.id))
                .collect();
            Error::labels(
                path,
                format!(
                    "feature {fid}: class `{value}` is not in the legend: {}",
                    names.join(", ")
                ),
            )
        })?;
        let Some(geom) = feature.geometry() else {
            return Err(Error::labels(
                path,
                format!("feature {fid} has no geometry"),
            ));
        };
        let geom = geom
            .to_geo()
            .map_err(|e| Error::labels(path, format!("feature {fid}: {e}")))?;
        let proj = &proj;
        let projected = geom
            .try_map_coords(|c| {
                proj.convert((c.x, c.y))
                    .map(|(x, y)| geo::coord! { x: x, y: y })
            })
            .map_err(|e| Error::labels(path, format!("feature {fid}: cannot reproject: {e}")))?;
        labels.push(Label {
            class,
            geometry: projected,
            fid,
        });
    }
    if labels.is_empty() {
        return Err(Error::labels(path, "contains no features"));
    }
    Ok(LabelSet {
        path: path.to_path_buf(),
        sha256,
        labels,
    })
}

impl LabelSet {
    /// Raster pixels of the labels under `gt`: the pixel of each point, and pixel
    /// centres inside each polygon on a grid of `spacing` pixels (at least one per
    /// polygon: its interior point when the grid misses it).
    pub fn pixels(&self, gt: &GeoTransform, spacing: usize) -> Vec<LabelPixel> {
        let spacing = spacing.max(1) as isize;
        let mut out = Vec::new();
        for l in &self.labels {
            let push = |out: &mut Vec<LabelPixel>, x: f64, y: f64| {
                if let Some((c, r)) = gt.invert(x, y) {
                    out.push(LabelPixel {
                        class_id: l.class.id,
                        col: c.floor() as isize,
                        row: r.floor() as isize,
                        fid: l.fid,
                    });
                }
            };
            match &l.geometry {
                geo::Geometry::Point(p) => push(&mut out, p.x(), p.y()),
                geo::Geometry::MultiPoint(mp) => {
                    mp.iter().for_each(|p| push(&mut out, p.x(), p.y()))
                }
                g => {
                    let Some(rect) = g.bounding_rect() else {
                        continue;
                    };
                    let corners = [
                        (rect.min().x, rect.min().y),
                        (rect.max().x, rect.max().y),
                        (rect.min().x, rect.max().y),
                        (rect.max().x, rect.min().y),
                    ];
                    let pix: Vec<(f64, f64)> = corners
                        .iter()
                        .filter_map(|&(x, y)| gt.invert(x, y))
                        .collect();
                    if pix.is_empty() {
                        continue;
                    }
                    let (c0, c1) = pix
                        .iter()
                        .fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.0), a.1.max(p.0)));
                    let (r0, r1) = pix
                        .iter()
                        .fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.1), a.1.max(p.1)));
                    let before = out.len();
                    let mut r = r0.floor() as isize;
                    while r <= r1.ceil() as isize {
                        let mut c = c0.floor() as isize;
                        while c <= c1.ceil() as isize {
                            let (x, y) = gt.apply(c as f64 + 0.5, r as f64 + 0.5);
                            if g.contains(&geo::Point::new(x, y)) {
                                out.push(LabelPixel {
                                    class_id: l.class.id,
                                    col: c,
                                    row: r,
                                    fid: l.fid,
                                });
                            }
                            c += spacing;
                        }
                        r += spacing;
                    }
                    if out.len() == before {
                        use geo::InteriorPoint;
                        if let Some(p) = g.interior_point() {
                            push(&mut out, p.x(), p.y());
                        }
                    }
                }
            }
        }
        out
    }

    /// Number of labels per class id.
    pub fn counts(&self) -> std::collections::BTreeMap<u16, usize> {
        let mut m = std::collections::BTreeMap::new();
        for l in &self.labels {
            *m.entry(l.class.id).or_insert(0) += 1;
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::classes::dfc2020;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn points_by_name_are_reprojected_to_utm() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "l.geojson",
            r#"{"type":"FeatureCollection","features":[
              {"type":"Feature","properties":{"class":"Water"},"geometry":{"type":"Point","coordinates":[9.0,48.0]}},
              {"type":"Feature","properties":{"class":"6"},"geometry":{"type":"Point","coordinates":[9.001,48.001]}}]}"#,
        );
        let set = read_labels(&p, None, &dfc2020(), "EPSG:32632").unwrap();
        assert_eq!(set.labels.len(), 2);
        assert_eq!(set.labels[0].class.id, 10);
        assert_eq!(set.labels[1].class.name, "Croplands");
        let geo::Geometry::Point(pt) = set.labels[0].geometry else {
            panic!()
        };
        // 9E 48N is the central meridian of zone 32: easting 500 km.
        assert!((pt.x() - 500_000.0).abs() < 1.0, "{pt:?}");
        assert!((pt.y() - 5_316_300.2).abs() < 1.0, "{pt:?}");
        assert_eq!(set.counts()[&10], 1);
    }

    #[test]
    fn unknown_classes_are_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "bad.geojson",
            r#"{"type":"FeatureCollection","features":[
              {"type":"Feature","properties":{"class":"Lava"},"geometry":{"type":"Point","coordinates":[9.0,48.0]}}]}"#,
        );
        let err = read_labels(&p, None, &dfc2020(), "EPSG:32632")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bad.geojson") && err.contains("Lava") && err.contains("Forest"),
            "{err}"
        );
    }

    #[test]
    fn polygons_yield_pixels_inside_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "poly.geojson",
            r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::32632"}},"features":[
              {"type":"Feature","properties":{"label":"Forest"},"geometry":{"type":"Polygon","coordinates":[[[100,-100],[300,-100],[300,-300],[100,-300],[100,-100]]]}}]}"#,
        );
        let set = read_labels(&p, None, &dfc2020(), "EPSG:32632").unwrap();
        let gt = GeoTransform::north_up(0.0, 0.0, 10.0);
        let px = set.pixels(&gt, 5);
        assert!(!px.is_empty());
        assert!(px
            .iter()
            .all(|p| (10..30).contains(&p.col) && (10..30).contains(&p.row) && p.class_id == 1));
        assert_eq!(px.len(), 16);
    }
}
