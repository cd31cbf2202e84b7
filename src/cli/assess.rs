//! `geomaml assess MAP.tif --reference REF`: accuracy of a land-cover map.

use crate::error::{Error, Result};
use crate::eval::{assess_labels, assess_raster, ClassMap};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `geomaml assess`.
#[derive(Debug, Args)]
pub struct AssessArgs {
    /// The land-cover map to assess (class ids in band 1).
    map: PathBuf,
    /// Reference: a class raster, or labelled points/polygons (GeoJSON, GeoPackage,
    /// Shapefile, ...).
    #[arg(long, short)]
    reference: PathBuf,
    /// Attribute holding the class (name or id) in a vector reference.
    #[arg(long)]
    class_field: Option<String>,
    /// Layer of a vector reference [default: its only layer, or the one layer with
    /// a class field].
    #[arg(long)]
    layer: Option<String>,
    /// Which map class each reference class is, where they differ (without it,
    /// classes of a raster reference's legend match the map's by name, then by id): `ref=map` pairs,
    /// comma-separated (`"Wald=forest,3=water"`), or a file of one pair per line.
    /// Names or ids on either side.
    #[arg(long)]
    class_map: Option<String>,
    /// Print the assessment as JSON on stdout instead of a table.
    #[arg(long)]
    json: bool,
}

impl AssessArgs {
    /// Compares the map with the reference and reports.
    pub fn run(&self) -> Result<ExitCode> {
        if !crate::vsi::exists(&self.reference) {
            return Err(Error::raster(&self.reference, "no such file (--reference)"));
        }
        let is_raster = gdal::Dataset::open_ex(
            &self.reference,
            gdal::DatasetOptions {
                open_flags: gdal::GdalOpenFlags::GDAL_OF_RASTER,
                ..Default::default()
            },
        )
        .is_ok();
        let class_map = self
            .class_map
            .as_deref()
            .map(ClassMap::parse)
            .transpose()
            .map_err(|e| Error::config_source("--class-map", "", e))?;
        let a = if is_raster {
            assess_raster(&self.map, &self.reference, class_map.as_ref())?
        } else {
            let opts = crate::labels::LabelOptions {
                class_field: self.class_field.clone(),
                layer: self.layer.clone(),
            };
            assess_labels(&self.map, &self.reference, &opts, class_map.as_ref())?
        };
        if self.json && !a.reference_only.is_empty() {
            eprintln!(
                "warning: the map has no class for reference classes {} (pass --class-map if it names them otherwise)",
                a.reference_only
                    .iter()
                    .map(|c| format!("{} ({})", c.name, c.id))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&a).expect("assessment serialises")
            );
        } else {
            print!("{}", a.table());
        }
        Ok(ExitCode::SUCCESS)
    }
}
