//! One label feature read from an OGR layer: its class value, colour and geometry
//! in the target CRS, before classes are resolved. Features without a geometry are
//! skipped with a warning; bad coordinates and colours are errors naming the file
//! and the feature.

use super::classes::SeenClass;
use super::layers::ClassFrom;
use super::source;
use super::style::parse_colour;
use crate::error::{Error, Result};
use crate::legend::ClassKey;
use gdal::spatial_ref::CoordTransform;
use gdal::vector::Feature;
use geo::CoordsIter;
use std::collections::BTreeMap;
use std::path::Path;

/// One feature as read, before its class is resolved.
pub(super) struct RawLabel {
    pub value: String,
    pub geometry: geo::Geometry<f64>,
    pub fid: u64,
}

/// What a layer's features are read with.
pub(super) struct LayerContext<'a> {
    pub path: &'a Path,
    pub from: &'a ClassFrom,
    pub field_names: &'a [String],
    pub colour_field: Option<usize>,
    /// The layer's CRS when it is geographic (its name), for coordinate checks.
    pub geographic: Option<&'a str>,
    pub transform: &'a CoordTransform,
    pub target_name: &'a str,
    /// Number features through the file (several layers, whose own ids repeat)
    /// rather than by their ids in the layer.
    pub renumber: bool,
}

/// Features read so far, over every layer.
#[derive(Default)]
pub(super) struct ReadState {
    pub raw: Vec<RawLabel>,
    pub seen: BTreeMap<ClassKey, SeenClass>,
    pub warnings: Vec<String>,
    count: u64,
}

impl ReadState {
    /// Reads one feature (see the module doc).
    #[allow(unsafe_code)]
    pub fn feature(&mut self, ctx: &LayerContext<'_>, feature: &Feature<'_>) -> Result<()> {
        let path = ctx.path;
        self.count += 1;
        let fid = if ctx.renumber {
            self.count
        } else {
            feature.fid().unwrap_or(0)
        };
        let value = match ctx.from {
            ClassFrom::LayerName(name) => name.clone(),
            ClassFrom::Field(field) => feature
                .field_as_string(*field)
                .map_err(|e| Error::labels_source(path, format!("feature {fid}"), e))?
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| Error::labels(path, format!("feature {fid} has no class value")))?,
        };
        let value = value.trim().to_string();
        let colour = match ctx.colour_field {
            Some(i) => feature
                .field_as_string(i)
                .map_err(|e| Error::labels_source(path, format!("feature {fid}"), e))?
                .filter(|c| !c.trim().is_empty())
                .map(|c| {
                    parse_colour(&c).ok_or_else(|| {
                        Error::labels(
                            path,
                            format!(
                                "feature {fid}: colour `{c}` in field `{}` is not #rrggbb",
                                ctx.field_names[i]
                            ),
                        )
                    })
                })
                .transpose()?,
            None => None,
        };
        // OGR hands out a null geometry for GeoJSON `"geometry": null`, which the
        // gdal crate wraps as a geometry with a null handle.
        // SAFETY: reading the handle only, to compare it with null.
        let present = |g: &&gdal::vector::Geometry| unsafe { !g.c_geometry().is_null() };
        let Some(geom) = feature.geometry().filter(present) else {
            self.warnings
                .push(format!("feature {fid} ({value}) has no geometry: skipped"));
            return Ok(());
        };
        if geom.is_empty() {
            self.warnings.push(format!(
                "feature {fid} ({value}) has an empty geometry: skipped"
            ));
            return Ok(());
        }
        let mut geom = geom.clone();
        geom.flatten_to_2d();
        let to_geo = |g: &gdal::vector::Geometry| {
            g.to_geo()
                .map_err(|e| Error::labels_source(path, format!("feature {fid}"), e))
        };
        source::check_coordinates(path, fid, &to_geo(&geom)?, ctx.geographic)?;
        geom.transform_inplace(ctx.transform).map_err(|e| {
            Error::labels_source(
                path,
                format!("feature {fid}: cannot transform to {}", ctx.target_name),
                e,
            )
        })?;
        let geometry = to_geo(&geom)?;
        if geometry
            .coords_iter()
            .any(|c| !c.x.is_finite() || !c.y.is_finite())
        {
            return Err(Error::labels(
                path,
                format!(
                    "feature {fid}: lies where {} has no coordinates",
                    ctx.target_name
                ),
            ));
        }
        // Only features that are kept name classes (skipped ones take no id).
        let s = self.seen.entry(ClassKey::of(&value)).or_default();
        if !s.spellings.contains(&value) {
            s.spellings.push(value.clone());
        }
        match (&s.colour, colour) {
            (None, c) => s.colour = c,
            (Some(first), Some(c)) if *first != c && !s.other_colours.contains(&c) => {
                s.other_colours.push(c)
            }
            _ => {}
        }
        self.raw.push(RawLabel {
            value,
            geometry,
            fid,
        });
        Ok(())
    }
}
