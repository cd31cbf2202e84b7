//! `geomaml suggest`: where to label next, as a point layer.
//!
//! The scene is mapped with the model in memory block by block
//! ([`crate::infer::WindowMapper`]: the same engine, blocks, nodata rules and
//! `--min-valid` as `geomaml map`, with class probabilities), the
//! cells are chosen by [`select::choose`], and the chosen cell centres are written
//! with OGR as GeoJSON or GeoPackage (by the output's extension), in the scene's
//! CRS or the one asked for, with the model's guess and its confidence.

pub mod select;

use crate::catalog::classes::ClassInfo;
use crate::error::{Error, Result};
use crate::labels::{read_labels, ClassSource, LabelOptions};
use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use gdal::vector::{FieldValue, Geometry, LayerAccess, LayerOptions, OGRFieldType};
use select::{choose, CellGrid, LabelledCell, Required, SelectOptions, Suggestion};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Everything `geomaml suggest` needs.
#[derive(Debug, Clone)]
pub struct SuggestConfig {
    /// The map to choose from: an exported or adapted model (.onnx with a card),
    /// the scene to label, and `geomaml map`'s options (probabilities are always
    /// computed).
    pub map: crate::infer::MapRequest,
    /// The labels so far, and how to read them.
    pub labels: Option<(PathBuf, LabelOptions)>,
    /// The point layer to write (.geojson, .json or .gpkg).
    pub output: PathBuf,
    /// Places to suggest.
    pub count: usize,
    /// Smallest distance in scene pixels between a suggestion and a label or another
    /// suggestion (default: [`default_spacing`]).
    pub spacing: Option<usize>,
    /// CRS of the output (any definition OGR reads, e.g. `EPSG:4326`); default: the
    /// scene's.
    pub crs: Option<String>,
    /// Seed of the choice.
    pub seed: u64,
    /// Classes (names or ids) that each get at least one place where the model
    /// predicts them (`--classes`).
    pub required: Vec<String>,
    /// Replace an existing output.
    pub overwrite: bool,
}

/// What a run suggested.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SuggestSummary {
    /// The written layer.
    pub output: PathBuf,
    /// Places asked for.
    pub requested: usize,
    /// Places written (fewer when the spacing leaves no more room).
    pub suggested: usize,
    /// Suggestions per predicted class name.
    pub per_class: BTreeMap<String, usize>,
    /// Existing labels per class name.
    pub labelled: BTreeMap<String, usize>,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// OGR driver for the output's extension.
fn driver_for(path: &Path) -> Result<&'static str> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "geojson" | "json" => Ok("GeoJSON"),
        "gpkg" => Ok("GPKG"),
        _ => Err(Error::config(
            "--output",
            format!("{}: write suggestions as .geojson or .gpkg", path.display()),
        )),
    }
}

fn gis_order(mut srs: SpatialRef) -> SpatialRef {
    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    srs
}

/// Checks, before any work (an adaptation included), what `suggest` would refuse
/// about its output and options: the output's format, `count`, an existing
/// output without `overwrite`, an output that is one of `inputs`, a folder that
/// takes no files, and `crs`.
///
/// # Errors
/// The first fault, naming the option or the output.
pub fn check_before_work(
    output: &Path,
    overwrite: bool,
    count: usize,
    crs: Option<&str>,
    inputs: &[&Path],
) -> Result<()> {
    driver_for(output)?;
    crate::limits::check_range("--count", count, crate::limits::MAX_SUGGESTIONS)?;
    if count == 0 {
        return Err(Error::config("--count", "must be at least 1"));
    }
    crate::output::check_new_output(output, overwrite, inputs)?;
    output_srs(crs).map(|_| ())
}

/// The CRS asked for with `--crs`, in GIS axis order.
fn output_srs(crs: Option<&str>) -> Result<Option<SpatialRef>> {
    crs.map(|def| {
        SpatialRef::from_definition(def)
            .map(gis_order)
            .map_err(|e| {
                Error::config_source("--crs", format!("`{def}` is not a CRS GDAL knows"), e)
            })
    })
    .transpose()
}

/// Suggests `cfg.count` places to label in the scene of `cfg.map`.
pub fn suggest(cfg: &SuggestConfig) -> Result<SuggestSummary> {
    let start = Instant::now();
    let driver = driver_for(&cfg.output)?;
    let (model, scene) = (&cfg.map.model, &cfg.map.scene);
    let mut inputs = vec![model.as_path(), scene.as_path()];
    if let Some((l, _)) = &cfg.labels {
        inputs.push(l);
    }
    check_before_work(
        &cfg.output,
        cfg.overwrite,
        cfg.count,
        cfg.crs.as_deref(),
        &inputs,
    )?;
    let pending = crate::output::PendingOutput::new(&cfg.output, cfg.overwrite)?;
    let out_srs = output_srs(cfg.crs.as_deref())?;

    // The map's classes and probabilities, computed in memory block by block.
    let mut request = cfg.map.clone();
    request.options.probabilities = true;
    let mut mapper = crate::infer::WindowMapper::open(&request)?;
    let card = mapper.card().clone();
    let required = required_classes(cfg, &card)?;
    let mut grid = map_grid(&mut mapper, &card.classes)?;
    // A cell whose centre pixel is masked in a band the model reads is never
    // suggested: the analyst would be sent to a cloud or a gap.
    let valid = mapper.centre_validity()?;
    let k = grid.class_ids.len();
    for (i, _) in valid.iter().enumerate().filter(|(_, &v)| !v) {
        grid.probabilities[i * k..(i + 1) * k].fill(f32::NAN);
    }
    // The map's cells are `cell_step` scene pixels (the stride for a tile
    // classifier, one pixel for per-pixel models); the last row and column may hang
    // over the scene's edge.
    let cell = mapper.plan().cell_step() as f64;
    let (scene_w, scene_h) = (mapper.plan().source.0 as f64, mapper.plan().source.1 as f64);
    // Centre of the part of a cell inside the scene, in map cell units.
    let centre = |i: usize, extent: f64| {
        let (a, b) = (i as f64 * cell, ((i + 1) as f64 * cell).min(extent));
        (a + b) / 2.0 / cell
    };
    let georef = mapper.georef();
    let locator = georef.locator(scene)?;

    let mut labelled = Vec::new();
    let mut label_counts: BTreeMap<String, usize> = BTreeMap::new();
    if let Some((path, opts)) = &cfg.labels {
        let mut set = read_labels(path, opts, ClassSource::Fixed(&card.classes), georef.crs())?;
        set.wrap_to(&locator, mapper.plan().source);
        for w in &set.warnings {
            eprintln!("warning: {w}");
        }
        for p in set.pixels(&locator, 1) {
            labelled.push(LabelledCell {
                col: p.col,
                row: p.row,
                class_id: p.class_id,
            });
        }
        for l in &set.labels {
            *label_counts.entry(l.class.name.clone()).or_default() += 1;
        }
    }
    let spacing_px = cfg.spacing.unwrap_or(default_spacing(&card.spec));
    let spacing = (spacing_px as f64 / cell).ceil() as usize;
    let chosen = choose(
        &grid,
        &labelled,
        &SelectOptions {
            count: cfg.count,
            spacing,
            seed: cfg.seed,
            whole_windows: !card.spec.is_segmentation(),
        },
        &Required(required),
    );
    if chosen.len() < cfg.count {
        eprintln!(
            "warning: only {} of {} places are at least {spacing_px} px from each other and from the labels, on valid cells; lower --spacing for more",
            chosen.len(),
            cfg.count
        );
    }
    let names: BTreeMap<u16, &ClassInfo> = card.classes.iter().map(|c| (c.id, c)).collect();
    let crs_wkt = georef.crs().to_string();
    write_points(
        pending.temp_path(),
        driver,
        &chosen,
        &names,
        |s| locator.world(centre(s.col, scene_w), centre(s.row, scene_h)),
        &crs_wkt,
        out_srs,
    )
    .map_err(|e| pending.user_error(e))?;
    let output = pending.commit()?;
    let mut per_class: BTreeMap<String, usize> = BTreeMap::new();
    for s in &chosen {
        let name = names
            .get(&s.predicted)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| s.predicted.to_string());
        *per_class.entry(name).or_default() += 1;
    }
    Ok(SuggestSummary {
        output,
        requested: cfg.count,
        suggested: chosen.len(),
        per_class,
        labelled: label_counts,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The ids of the classes `--classes` names (ids or names of the model's classes).
fn required_classes(cfg: &SuggestConfig, card: &crate::card::ModelCard) -> Result<Vec<u16>> {
    cfg.required
        .iter()
        .map(|k| {
            crate::catalog::classes::find_class(&card.classes, k)
                .map(|c| c.id)
                .ok_or_else(|| {
                    Error::config(
                        "--classes",
                        format!("`{k}` is not a class of {}", cfg.map.model.display()),
                    )
                })
        })
        .collect()
}

/// The map's cells with their probabilities (the percentages `geomaml map
/// --probabilities` writes, as fractions), block by block with a progress bar;
/// cells where the map has nodata get NaN.
fn map_grid(mapper: &mut crate::infer::WindowMapper, classes: &[ClassInfo]) -> Result<CellGrid> {
    let plan = mapper.plan().clone();
    let (w, h) = plan.output;
    let k = classes.len();
    let nodata = mapper.layout().class_nodata();
    let mut probabilities = vec![f32::NAN; w * h * k];
    let mut predicted = vec![0u16; w * h];
    let bar = crate::progress::bar(
        plan.len() as u64,
        "{msg} {bar:40} {pos}/{len} blocks, {elapsed} (eta {eta})",
        "mapping".into(),
        true,
    );
    for b in 0..plan.len() {
        let out = plan.block(b).out;
        let block = mapper.block_outputs(b)?;
        let p = block
            .probabilities
            .as_deref()
            .expect("probabilities were asked for");
        let n = out.width * out.height;
        for (i, &id) in block.classes.iter().enumerate() {
            if id == nodata {
                continue;
            }
            let (row, col) = (
                out.y as usize + i / out.width,
                out.x as usize + i % out.width,
            );
            predicted[row * w + col] = u16::from(id);
            let cell = (row * w + col) * k;
            for c in 0..k {
                probabilities[cell + c] = f32::from(p[c * n + i]) / 100.0;
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(CellGrid {
        width: w,
        height: h,
        class_ids: classes.iter().map(|c| c.id).collect(),
        probabilities,
        predicted,
    })
}

/// Writes the suggestions as points with rank, predicted class and confidence.
fn write_points(
    path: &Path,
    driver: &str,
    chosen: &[Suggestion],
    names: &BTreeMap<u16, &ClassInfo>,
    world: impl Fn(&Suggestion) -> Option<(f64, f64)>,
    crs_wkt: &str,
    out_srs: Option<SpatialRef>,
) -> Result<()> {
    let fail = |what: &str, e: gdal::errors::GdalError| Error::runtime_source(what, e);
    let scene_srs =
        gis_order(SpatialRef::from_wkt(crs_wkt).map_err(|e| fail("the scene's CRS", e))?);
    let transform = match &out_srs {
        Some(to) => Some(
            CoordTransform::new(&scene_srs, to)
                .map_err(|e| Error::config_source("--crs", "cannot transform to it", e))?,
        ),
        None => None,
    };
    let layer_srs = out_srs.as_ref().unwrap_or(&scene_srs);
    let drv = gdal::DriverManager::get_driver_by_name(driver).map_err(|e| fail(driver, e))?;
    let mut ds = drv
        .create_vector_only(path)
        .map_err(|e| fail("creating the layer", e))?;
    let layer = ds
        .create_layer(LayerOptions {
            name: "suggestions",
            srs: Some(layer_srs),
            ty: gdal::vector::OGRwkbGeometryType::wkbPoint,
            options: None,
        })
        .map_err(|e| fail("creating the layer", e))?;
    let fields = ["rank", "predicted", "predicted_name", "confidence"];
    layer
        .create_defn_fields(&[
            (fields[0], OGRFieldType::OFTInteger),
            (fields[1], OGRFieldType::OFTInteger),
            (fields[2], OGRFieldType::OFTString),
            (fields[3], OGRFieldType::OFTInteger),
        ])
        .map_err(|e| fail("creating fields", e))?;
    for s in chosen {
        let (mut x, mut y) = world(s).ok_or_else(|| {
            Error::runtime(format!("cell ({}, {}) has no world position", s.col, s.row))
        })?;
        if let Some(t) = &transform {
            let (mut xs, mut ys, mut zs) = ([x], [y], [0.0]);
            t.transform_coords(&mut xs, &mut ys, &mut zs)
                .map_err(|e| Error::config_source("--crs", "transforming a point", e))?;
            (x, y) = (xs[0], ys[0]);
        }
        let geom = Geometry::from_wkt(&format!("POINT ({x} {y})"))
            .map_err(|e| fail("making a point", e))?;
        let name = names
            .get(&s.predicted)
            .map(|c| c.name.clone())
            .unwrap_or_default();
        let values = [
            FieldValue::IntegerValue(s.rank as i32),
            FieldValue::IntegerValue(s.predicted as i32),
            FieldValue::StringValue(name),
            FieldValue::IntegerValue((s.margin * 100.0).round() as i32),
        ];
        let mut feature =
            gdal::vector::Feature::new(layer.defn()).map_err(|e| fail("writing a point", e))?;
        feature
            .set_geometry(geom)
            .map_err(|e| fail("writing a point", e))?;
        for (idx, v) in values.iter().enumerate() {
            feature
                .set_field(idx, v)
                .map_err(|e| fail("writing a point", e))?;
        }
        feature
            .create(&layer)
            .map_err(|e| fail("writing a point", e))?;
    }
    ds.close().map_err(|e| fail("closing the layer", e))?;
    Ok(())
}

/// Pixels between suggestions when `--spacing` is not given: a tile classifier's
/// tile (a label describes its window); for per-pixel models, whose tile is only
/// the window a map is computed in, [`PER_PIXEL_SPACING`].
fn default_spacing(spec: &crate::model::spec::ModelSpec) -> usize {
    if spec.is_segmentation() {
        PER_PIXEL_SPACING
    } else {
        spec.tile_size
    }
}

/// Default spacing of suggestions on per-pixel maps, in pixels: a few receptive
/// fields of the pixel network (5 px), so places are spread without leaving a
/// 512 px scene room for only a handful.
pub const PER_PIXEL_SPACING: usize = 16;
