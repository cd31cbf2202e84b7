//! Opening a label file, and the facts about its coordinates OGR does not check.
//!
//! - **Tables of points** (field apps, GPS loggers, spreadsheets export CSV with
//!   `lon`/`lat` columns): OGR's CSV driver reads such a table as attributes only
//!   unless told which columns hold coordinates, so a CSV without a geometry is
//!   opened again with its open options `X_POSSIBLE_NAMES`/`Y_POSSIBLE_NAMES`
//!   ([`X_COLUMNS`], [`Y_COLUMNS`], any case) and `KEEP_GEOM_COLUMNS=NO`.
//!   Longitude/latitude columns are WGS 84 (EPSG:4326) unless a `.prj` beside the
//!   file says otherwise; `x`/`y` columns need that `.prj` (a CSV cannot carry a
//!   CRS), and the error says how to give one.
//! - **Coordinates that cannot be what the CRS says**: a GeoJSON file without a
//!   `crs` member is read as EPSG:4326 whatever its numbers are, so projected
//!   coordinates saved that way would fail deep in PROJ; non-finite coordinates
//!   (`inf`, `NaN`) would become pixel (0, 0). Both are refused per feature
//!   ([`check_coordinates`]) before any transformation.

use crate::error::{Error, Result};
use gdal::spatial_ref::SpatialRef;
use gdal::vector::{Layer, LayerAccess};
use gdal::{Dataset, DatasetOptions, GdalOpenFlags};
use geo::CoordsIter;
use std::collections::BTreeMap;
use std::path::Path;

/// Column names read as x (longitude, easting) coordinates of a table, any case.
pub const X_COLUMNS: [&str; 3] = ["lon", "longitude", "x"];
/// Column names read as y (latitude, northing) coordinates of a table, any case.
pub const Y_COLUMNS: [&str; 3] = ["lat", "latitude", "y"];

/// The columns a table's points were built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordColumns {
    /// The x column, as spelled in the file.
    pub x: String,
    /// The y column, as spelled in the file.
    pub y: String,
}

impl CoordColumns {
    /// Whether the columns are named as longitude and latitude.
    pub fn are_lon_lat(&self) -> bool {
        let is = |s: &str, names: &[&str]| names.iter().any(|n| s.eq_ignore_ascii_case(n));
        is(&self.x, &["lon", "longitude"]) && is(&self.y, &["lat", "latitude"])
    }
}

/// A label file opened for reading.
pub struct Opened {
    /// The vector dataset.
    pub ds: Dataset,
    /// Per layer name: the coordinate columns its points came from (tables only).
    pub columns: BTreeMap<String, CoordColumns>,
}

fn field_names(layer: &Layer<'_>) -> Vec<String> {
    layer.defn().fields().map(|f| f.name()).collect()
}

fn has_geometry(layer: &Layer<'_>) -> bool {
    layer.defn().geom_fields().count() > 0
}

/// Opens `path` (anything GDAL opens), a CSV without geometry with its coordinate
/// columns read as points.
pub fn open(path: &Path) -> Result<Opened> {
    let ds = Dataset::open(path)
        .map_err(|e| Error::labels_source(path, "cannot open as vector data", e))?;
    if ds.driver().short_name() != "CSV" || ds.layers().all(|l| has_geometry(&l)) {
        return Ok(Opened {
            ds,
            columns: BTreeMap::new(),
        });
    }
    let before: BTreeMap<String, Vec<String>> =
        ds.layers().map(|l| (l.name(), field_names(&l))).collect();
    let (x, y) = (
        format!("X_POSSIBLE_NAMES={}", X_COLUMNS.join(",")),
        format!("Y_POSSIBLE_NAMES={}", Y_COLUMNS.join(",")),
    );
    let options = [x.as_str(), y.as_str(), "KEEP_GEOM_COLUMNS=NO"];
    let Ok(with_points) = Dataset::open_ex(
        path,
        DatasetOptions {
            open_flags: GdalOpenFlags::GDAL_OF_VECTOR,
            allowed_drivers: Some(&["CSV"]),
            open_options: Some(&options),
            sibling_files: None,
        },
    ) else {
        return Ok(Opened {
            ds,
            columns: BTreeMap::new(),
        });
    };
    // The driver drops the columns it made points of: those are the coordinates.
    let mut columns = BTreeMap::new();
    for layer in with_points.layers() {
        let name = layer.name();
        let after = field_names(&layer);
        let dropped: Vec<&String> = before
            .get(&name)
            .map(|b| b.iter().filter(|f| !after.contains(f)).collect())
            .unwrap_or_default();
        let pick = |names: &[&str]| {
            dropped
                .iter()
                .find(|f| names.iter().any(|n| f.eq_ignore_ascii_case(n)))
                .map(|f| f.to_string())
        };
        if let (true, Some(x), Some(y)) = (has_geometry(&layer), pick(&X_COLUMNS), pick(&Y_COLUMNS))
        {
            columns.insert(name, CoordColumns { x, y });
        }
    }
    Ok(Opened {
        ds: with_points,
        columns,
    })
}

/// The CRS of `layer`'s coordinates: its own, else WGS 84 for points from
/// longitude/latitude columns. Fails, naming the file and layer, for a layer
/// without geometry (listing the coordinate columns that are recognised), for x/y
/// columns without a CRS, and for any other layer without a CRS.
pub fn layer_crs(
    path: &Path,
    layer: &Layer<'_>,
    columns: Option<&CoordColumns>,
) -> Result<SpatialRef> {
    let name = layer.name();
    if !has_geometry(layer) {
        return Err(Error::labels(
            path,
            format!(
                "layer `{name}` has no geometry (columns: {}); points in a CSV table are read from \
                 columns named lon/lat or longitude/latitude (WGS 84) or x/y (with a .prj beside \
                 the file), in any case; rename its coordinate columns so, or convert it with \
                 ogr2ogr -oo X_POSSIBLE_NAMES=<x column> -oo Y_POSSIBLE_NAMES=<y column> -a_srs <CRS>",
                field_names(layer).join(", ")
            ),
        ));
    }
    if let Some(srs) = layer.spatial_ref() {
        return Ok(srs);
    }
    match columns {
        Some(c) if c.are_lon_lat() => SpatialRef::from_epsg(4326)
            .map_err(|e| Error::labels_source(path, "EPSG:4326 is unknown to PROJ", e)),
        Some(c) => {
            let prj = path.with_extension("prj");
            Err(Error::labels(
                path,
                format!(
                    "layer `{name}`: points from columns `{}`/`{}` have no CRS (a CSV table cannot \
                     carry one); put it beside the file as {} (e.g. gdalsrsinfo -o wkt EPSG:32634 > \
                     {}), or convert the table with ogr2ogr -a_srs EPSG:<code> -oo \
                     X_POSSIBLE_NAMES={} -oo Y_POSSIBLE_NAMES={} labels.gpkg {}",
                    c.x,
                    c.y,
                    prj.display(),
                    prj.display(),
                    c.x,
                    c.y,
                    path.display()
                ),
            ))
        }
        None => Err(Error::labels(
            path,
            format!("layer `{name}` has no CRS; save it with one (GeoJSON defaults to EPSG:4326)"),
        )),
    }
}

/// Checks the coordinates of feature `fid` in its file's CRS, before they are
/// transformed: every one finite, and within longitude/latitude range (|x| <= 360,
/// |y| <= 90) when the CRS is geographic (`crs` names it).
pub fn check_coordinates(
    path: &Path,
    fid: u64,
    geometry: &geo::Geometry<f64>,
    geographic: Option<&str>,
) -> Result<()> {
    if let Some(c) = geometry
        .coords_iter()
        .find(|c| !c.x.is_finite() || !c.y.is_finite())
    {
        return Err(Error::labels(
            path,
            format!(
                "feature {fid}: coordinate ({}, {}) is not a finite number; fix or remove the feature",
                c.x, c.y
            ),
        ));
    }
    if let Some(crs) = geographic {
        if let Some(c) = geometry
            .coords_iter()
            .find(|c| c.x.abs() > 360.0 || c.y.abs() > 90.0)
        {
            return Err(Error::labels(
                path,
                format!(
                    "feature {fid}: coordinates ({}, {}) are not longitude/latitude, yet the layer's \
                     CRS is {crs} (a GeoJSON file without a \"crs\" member is read as EPSG:4326); \
                     give the file the CRS its coordinates are in, e.g. ogr2ogr -a_srs EPSG:32634 \
                     labels.gpkg {}",
                    c.x,
                    c.y,
                    path.display()
                ),
            ));
        }
    }
    Ok(())
}
