//! Which layers of a label file hold the labels, and where each feature's class is.
//!
//! - `--layer` names one layer; without it a file with one layer uses it, and a
//!   file with several uses the one layer that has a class field.
//! - **Layers as classes**: web maps (Google My Maps, uMap, QGIS exports to KML)
//!   save one folder per class, each an OGR layer named after the class, with
//!   placemarks that carry only a name. When no layer has a class field, nothing
//!   chooses the layer or the field, and the file has two or more named layers
//!   with features, every layer is read and its name is the class of its
//!   features ([`ClassFrom::LayerName`]); the report says so. An analyst who drew
//!   folders "Forest", "Water", "Urban" means three classes, and no `--layer` or
//!   `--class-field` could say it otherwise.

use super::CLASS_FIELDS;
use crate::error::{Error, Result};
use gdal::vector::{Layer, LayerAccess};
use std::path::Path;

/// A label layer without the class field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoClassField {
    /// `--class-field` names a field the layer does not have.
    #[error("no field `{wanted}` (fields: {})", fields.join(", "))]
    Named {
        /// The field asked for.
        wanted: String,
        /// The layer's fields.
        fields: Vec<String>,
    },
    /// None of [`CLASS_FIELDS`] is there.
    #[error(
        "no class field found (tried {}; fields: {}); pass --class-field",
        CLASS_FIELDS.join(", "),
        fields.join(", ")
    )]
    Default {
        /// The layer's fields.
        fields: Vec<String>,
    },
}

/// Where the class of a layer's features is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassFrom {
    /// In the field of this index.
    Field(usize),
    /// The layer's name, for every feature of it.
    LayerName(String),
}

/// The field names of `layer`.
pub fn field_names(layer: &Layer<'_>) -> Vec<String> {
    layer.defn().fields().map(|f| f.name()).collect()
}

/// The class field of `layer`: `wanted`, else the first of [`CLASS_FIELDS`].
pub fn class_field_of(
    layer: &Layer<'_>,
    wanted: Option<&str>,
) -> std::result::Result<usize, NoClassField> {
    let names = field_names(layer);
    match wanted {
        Some(f) => names
            .iter()
            .position(|n| n == f)
            .ok_or(NoClassField::Named {
                wanted: f.into(),
                fields: names.clone(),
            }),
        None => CLASS_FIELDS
            .iter()
            .find_map(|want| names.iter().position(|n| n.eq_ignore_ascii_case(want)))
            .ok_or(NoClassField::Default {
                fields: names.clone(),
            }),
    }
}

/// The label layers of `ds` and where their classes are (see the module doc).
pub fn pick<'d>(
    ds: &'d gdal::Dataset,
    path: &Path,
    opts: &super::LabelOptions,
) -> Result<Vec<(Layer<'d>, ClassFrom)>> {
    let mut names: Vec<String> = ds.layers().map(|l| l.name()).collect();
    let with_field = |layer: Layer<'d>, name: &str| -> Result<Vec<(Layer<'d>, ClassFrom)>> {
        let field = class_field_of(&layer, opts.class_field.as_deref())
            .map_err(|e| Error::labels_source(path, format!("layer `{name}`"), e))?;
        Ok(vec![(layer, ClassFrom::Field(field))])
    };
    if names.is_empty() {
        return Err(Error::labels(path, "has no vector layer"));
    }
    if let Some(want) = &opts.layer {
        let layer = ds.layer_by_name(want).map_err(|_| {
            names.sort();
            Error::labels(
                path,
                format!("no layer `{want}` (layers: {})", names.join(", ")),
            )
        })?;
        return with_field(layer, want);
    }
    let layer = |i: usize| ds.layer(i).map_err(|e| Error::labels_source(path, "", e));
    if names.len() == 1 {
        return with_field(layer(0)?, &names[0]);
    }
    let with_class: Vec<usize> = (0..names.len())
        .filter(|&i| {
            ds.layer(i)
                .is_ok_and(|l| class_field_of(&l, opts.class_field.as_deref()).is_ok())
        })
        .collect();
    match with_class.as_slice() {
        [one] => with_field(layer(*one)?, &names[*one]),
        [] => {
            // Layers with features, each named: their names are the classes.
            let filled: Vec<usize> = (0..names.len())
                .filter(|&i| {
                    !names[i].trim().is_empty() && ds.layer(i).is_ok_and(|l| l.feature_count() > 0)
                })
                .collect();
            if opts.class_field.is_none() && filled.len() >= 2 {
                return filled
                    .into_iter()
                    .map(|i| Ok((layer(i)?, ClassFrom::LayerName(names[i].trim().into()))))
                    .collect();
            }
            Err(Error::labels(
                path,
                format!(
                    "none of its layers ({}) has a class field (tried {}); pass --layer and \
                     --class-field, or save one layer (folder) per class named after it",
                    names.join(", "),
                    opts.class_field
                        .clone()
                        .unwrap_or_else(|| CLASS_FIELDS.join(", "))
                ),
            ))
        }
        many => Err(Error::labels(
            path,
            format!(
                "several layers have a class field ({}); pass --layer",
                many.iter()
                    .map(|&i| names[i].as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}
