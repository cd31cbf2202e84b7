//! A map assessed at labelled points or polygons (any OGR vector), classes
//! matched by name as for reference rasters.

use super::*;

/// Assesses `map` against labelled points/polygons (every map pixel inside a
/// polygon counts; points count their pixel).
pub fn assess_labels(
    map_path: &Path,
    labels_path: &Path,
    label_options: &LabelOptions,
    class_map: Option<&ClassMap>,
) -> Result<Assessment> {
    let map = open_class_raster(map_path, "map")?;
    let legend = map.legend().ok_or_else(|| {
        Error::raster(
            map_path,
            "has no class legend (GEOMAML_CLASSES metadata) to resolve label classes against",
        )
    })?;
    let georef = map.georef()?;
    // Mapped reference values resolve first, to the map classes they stand for.
    let aliases = match class_map {
        Some(m) => m
            .aliases(&legend)
            .map_err(|e| Error::config_source("--class-map", "", e))?,
        None => Vec::new(),
    };
    let source = ClassSource::Aliased {
        legend: &legend,
        aliases: &aliases,
    };
    let mut labels = read_labels(labels_path, label_options, source, georef.crs())?;
    let at = georef.locator(map_path)?;
    let (mw, mh) = map.size();
    labels.wrap_to(&at, (mw, mh));
    let nodata = map.nodata(1);
    let mut tally = Tally::default();
    let mut inside = Vec::new();
    for p in labels.pixels(&at, 1) {
        if p.col < 0 || p.row < 0 || p.col as usize >= mw || p.row as usize >= mh {
            tally.outside += 1;
        } else {
            inside.push(p);
        }
    }
    // One read per band of BLOCK_ROWS map rows, over the columns its labels span.
    inside.sort_by_key(|p| (p.row / BLOCK_ROWS as isize, p.col));
    for block in inside.chunk_by(|a, b| a.row / BLOCK_ROWS as isize == b.row / BLOCK_ROWS as isize)
    {
        let (c0, c1) = block.iter().fold((isize::MAX, isize::MIN), |a, p| {
            (a.0.min(p.col), a.1.max(p.col))
        });
        let (r0, r1) = block.iter().fold((isize::MAX, isize::MIN), |a, p| {
            (a.0.min(p.row), a.1.max(p.row))
        });
        let win = Window::new(c0, r0, (c1 - c0 + 1) as usize, (r1 - r0 + 1) as usize);
        let data = map.read_window(&[1], win, f32::NAN)?;
        for p in block {
            let v = data[[0, (p.row - r0) as usize, (p.col - c0) as usize]] as f64;
            if is_nodata(v, nodata, &legend) {
                tally.nodata += 1;
            } else {
                *tally.pairs.entry((p.class_id, v as u16)).or_insert(0) += 1;
            }
        }
    }
    tally.finish(map_path, labels_path, &legend)
}
