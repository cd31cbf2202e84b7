//! Labelled points and polygons from any vector format GDAL/OGR reads (GeoJSON,
//! GeoPackage, Shapefile, FlatGeobuf, KML, ...), reprojected to a raster's CRS.
//!
//! A label is a class and a geometry in the target CRS. The class is given in the file
//! by name or id: the analyst's own classes for `adapt`, or a class of a fixed legend
//! (a map's, an adapted model's) for `assess` and `suggest` ([`classes`]); colours come
//! from a `color`/`colour` attribute or a QGIS style beside the file ([`style`]).
//! What files people really have is handled:
//!
//! - **Layers** ([`layers`]): `--layer` names one; without it a file with one layer
//!   uses it, and a file with several uses the one layer that has a class field; a
//!   file whose named layers have no class field (KML folders from a web map) takes
//!   each layer's name as the class of its features.
//! - **Geometries**: Z and M values are dropped; points, lines, polygons and their
//!   multi-part forms are accepted; features without a geometry (or an empty one)
//!   are skipped, each named in a warning.
//! - **CRS**: any CRS GDAL knows, transformed with OGR (PROJ underneath) in
//!   longitude/easting-first order, so labels land correctly everywhere on Earth.
//! - **Tables and odd coordinates** ([`source`]): CSV tables with lon/lat (or x/y
//!   and a `.prj`) columns become points; coordinates that are not finite, or not
//!   longitude/latitude in a geographic CRS, are refused naming the feature.
//! - **Antimeridian**: on a raster in longitude/latitude, a label and the same
//!   place a whole turn east or west are one ([`LabelSet::wrap_to`]).
//! - **Paths**: anything GDAL opens (`/vsizip/`, accented names); the file is
//!   hashed through GDAL's file systems ([`crate::vsi`]).
//!
//! `pixels` turns labels into raster pixel positions through a [`PixelLocator`]
//! (a geotransform or the scene's GCPs): a point gives its pixel; a polygon gives the
//! pixel centres inside it, on a grid of a chosen spacing (so adaptation can cut
//! windows inside it, and assessment can compare every pixel).

pub mod classes;
mod features;
pub mod layers;
mod pixels;
pub mod source;
pub mod style;

use crate::error::{Error, Result};
use crate::legend::{find_class, ClassInfo, ClassKey};
use crate::raster::PixelLocator;
pub use classes::{own_legend, ClassSource, OwnLegend, MAX_CLASS_ID};
use features::{LayerContext, ReadState};
use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use gdal::vector::LayerAccess;
use geo::{BoundingRect, Contains};
pub use layers::{ClassFrom, NoClassField};
use std::path::{Path, PathBuf};
use style::LabelStyle;

/// Field names tried, in order, when no class field is given.
pub const CLASS_FIELDS: [&str; 6] = [
    "class",
    "label",
    "class_name",
    "class_id",
    "landcover",
    "lc",
];

/// [`LabelSet::class_field`] when the classes are the layers' names
/// ([`ClassFrom::LayerName`]).
pub const LAYER_NAME_FIELD: &str = "(layer name)";

/// Which layer and field of a vector file hold the labels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelOptions {
    /// The class field (`--class-field`); default: the first of [`CLASS_FIELDS`].
    pub class_field: Option<String>,
    /// The layer (`--layer`); default: the only layer, or the one with a class field.
    pub layer: Option<String>,
}

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
    /// The layer read.
    pub layer: String,
    /// SHA-256 of the file's bytes (hex), for provenance, read through GDAL's
    /// file systems (a file inside a zip hashes as itself); empty when the source
    /// is not a file (a folder, a database connection): its path identifies it.
    pub sha256: String,
    /// The class field read ([`LAYER_NAME_FIELD`] when the classes are the
    /// layers' names).
    pub class_field: String,
    /// Whether the labels are in longitude/latitude (the raster's CRS is
    /// geographic), so that a longitude and itself +- 360 are one place.
    pub wrap_longitude: bool,
    /// The classes the labels name, by id: the file's own (with
    /// [`ClassSource::Own`]) or those of the fixed legend that occur.
    pub legend: Vec<ClassInfo>,
    /// Where the classes' names and colours came from, merged spellings.
    pub legend_notes: Vec<String>,
    /// The `.qml`/`.clr` style read beside the file, if any.
    pub style: Option<PathBuf>,
    /// The labels, in file order.
    pub labels: Vec<Label>,
    /// Features skipped, each with the reason (no geometry, empty geometry).
    pub warnings: Vec<String>,
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

/// `srs` with longitude/easting-first axis order, as coordinates are handled here.
fn gis_order(mut srs: SpatialRef) -> SpatialRef {
    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    srs
}

/// Field names holding a feature's display colour (`#rrggbb`), tried in order.
pub const COLOUR_FIELDS: [&str; 2] = ["color", "colour"];

/// Reads labels from `path`, resolving their classes as `classes` says (a fixed
/// legend, or the file's own classes), reprojected to `target_crs` (WKT of the
/// raster they will be placed on).
///
/// Errors name the file and the layer, feature, field or value at fault: no CRS, an
/// unknown class (fixed legend), a colour attribute that is not `#rrggbb`, class ids
/// a map cannot hold, an unreadable `.qml`/`.clr` beside the file.
pub fn read_labels(
    path: &Path,
    opts: &LabelOptions,
    classes: ClassSource<'_>,
    target_crs: &str,
) -> Result<LabelSet> {
    let sha256 = crate::vsi::sha256(path).unwrap_or_default();
    let opened = source::open(path)?;
    let picked = layers::pick(&opened.ds, path, opts)?;
    if target_crs.is_empty() {
        return Err(Error::labels(
            path,
            "the raster has no CRS, so labels cannot be placed on it",
        ));
    }
    let target = SpatialRef::from_wkt(target_crs)
        .map_err(|e| Error::labels_source(path, "the raster's CRS is unusable", e))?;
    let target_name = target.name().unwrap_or_else(|| "the raster's CRS".into());
    let wrap_longitude = target.is_geographic();
    let target = gis_order(target);
    let by_layer_name = picked.len() > 1;
    let mut read = ReadState::default();
    let mut layer_names = Vec::new();
    let mut class_field = String::new();
    for (mut layer, from) in picked {
        let layer_name = layer.name();
        let source = source::layer_crs(path, &layer, opened.columns.get(&layer_name))?;
        let source_name = source.name().unwrap_or_else(|| "its CRS".into());
        let geographic = source.is_geographic().then_some(source_name.as_str());
        let transform = CoordTransform::new(&gis_order(source.clone()), &target).map_err(|e| {
            Error::labels_source(
                path,
                format!("cannot transform from {source_name} to {target_name}"),
                e,
            )
        })?;
        let field_names = layers::field_names(&layer);
        if let ClassFrom::Field(i) = from {
            class_field = field_names[i].clone();
        }
        let colour_field = COLOUR_FIELDS.iter().find_map(|want| {
            field_names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(want))
        });
        let ctx = LayerContext {
            path,
            from: &from,
            field_names: &field_names,
            colour_field,
            geographic,
            transform: &transform,
            target_name: &target_name,
            renumber: by_layer_name,
        };
        for feature in layer.features() {
            read.feature(&ctx, &feature)?;
        }
        layer_names.push(layer_name);
    }
    let layer_name = layer_names.join(", ");
    let ReadState {
        raw,
        seen,
        mut warnings,
        ..
    } = read;
    if raw.is_empty() {
        return Err(Error::labels(
            path,
            format!("layer `{layer_name}` contains no feature with a geometry"),
        ));
    }
    if by_layer_name {
        class_field = LAYER_NAME_FIELD.into();
        warnings.push(format!(
            "no class field: each layer's name is the class of its features ({layer_name}); \
             features are numbered through the file"
        ));
    }
    let aliases: &[(String, ClassInfo)] = match classes {
        ClassSource::Aliased { aliases, .. } => aliases,
        _ => &[],
    };
    let (legend, legend_notes, style) = match classes {
        ClassSource::Fixed(legend) | ClassSource::Aliased { legend, .. } => {
            (legend.to_vec(), Vec::new(), None)
        }
        ClassSource::Own { known } => {
            let style = LabelStyle::beside(path)
                .map_err(|(p, e)| Error::labels_source(p, "the style beside the labels", e))?;
            let own = own_legend(&seen, known, &style)
                .map_err(|e| Error::labels_source(path, format!("field `{class_field}`"), e))?;
            let mut notes = own.notes;
            if let Some(p) = &style.path {
                notes.insert(
                    0,
                    format!(
                        "names and colours of {} classes from {}",
                        style.len(),
                        p.display()
                    ),
                );
            }
            (own.classes, notes, style.path)
        }
    };
    let labels = raw
        .into_iter()
        .map(|r| {
            let key = ClassKey::of(&r.value);
            let alias = aliases.iter().find(|(a, _)| ClassKey::of(a) == key);
            let class = alias
                .map(|(_, c)| c)
                .or_else(|| find_class(&legend, &r.value))
                .cloned()
                .ok_or_else(|| {
                    let names: Vec<String> = legend
                        .iter()
                        .map(|c| format!("{} ({})", c.name, c.id))
                        .collect();
                    Error::labels(
                        path,
                        format!(
                            "feature {}: class `{}` is not in the legend: {}",
                            r.fid,
                            r.value,
                            names.join(", ")
                        ),
                    )
                })?;
            Ok(Label {
                class,
                geometry: r.geometry,
                fid: r.fid,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let used: std::collections::BTreeSet<u16> = labels.iter().map(|l| l.class.id).collect();
    Ok(LabelSet {
        path: path.to_path_buf(),
        layer: layer_name,
        class_field,
        sha256,
        wrap_longitude,
        legend: legend
            .into_iter()
            .filter(|c| used.contains(&c.id))
            .collect(),
        legend_notes,
        style,
        labels,
        warnings,
    })
}

#[cfg(test)]
mod tests;
