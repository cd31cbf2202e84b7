//! The description of an open map that the shim turns into a GDAL dataset: size,
//! blocks, georeferencing, bands, nodata, metadata, categories, colours and
//! overviews, in the layout `geomaml map` writes ([`geomaml::infer::MapLayout`]),
//! held with the strings it points into by a [`Handle`]. No unsafe code here.

use geomaml::infer::{overview_factors, MapFile, MapRequest, Overview, WindowMapper};
use geomaml::raster::Georef;
use std::ffi::{c_char, c_int, c_uchar, CString};
use std::sync::{Arc, Mutex};

/// What the shim needs to describe the dataset; the pointers are owned by the
/// [`Handle`] and stay valid until [`geomaml_gdal_close`].
#[repr(C)]
pub struct GeoMamlInfo {
    /// Map size in pixels.
    pub width: c_int,
    /// Map size in pixels.
    pub height: c_int,
    /// Block edge in map pixels (the plan's blocks).
    pub block: c_int,
    /// GDAL geotransform.
    pub geo_transform: [f64; 6],
    /// CRS as WKT (empty when the scene has none).
    pub crs_wkt: *const c_char,
    /// Number of bands: 1 (class ids) or one per class (percentages).
    pub n_bands: c_int,
    /// Whether the bands are class ids (colour table, category names).
    pub classes: c_int,
    /// `n_bands` band descriptions.
    pub band_names: *const *const c_char,
    /// Nodata value of every band.
    pub nodata: c_int,
    /// `n_metadata` dataset metadata items `KEY=VALUE`.
    pub metadata: *const *const c_char,
    /// Number of metadata items.
    pub n_metadata: c_int,
    /// `n_categories` category names for pixel values `0..n_categories`.
    pub categories: *const *const c_char,
    /// Number of category names.
    pub n_categories: c_int,
    /// `n_colours` colour entries: class id at `colour_ids[i]`, RGB at
    /// `colour_rgb[3 i..3 i + 3]`.
    pub colour_ids: *const c_int,
    /// RGB triplets.
    pub colour_rgb: *const c_uchar,
    /// Number of colour entries.
    pub n_colours: c_int,
    /// Number of overview levels.
    pub n_overviews: c_int,
    /// `n_overviews` triplets (width, height, block edge) of the overviews, finest
    /// first.
    pub overviews: *const c_int,
}

/// One open GEOMAML dataset: the mapper and the owned strings [`GeoMamlInfo`]
/// points into.
pub struct Handle {
    pub(crate) mapper: Mutex<WindowMapper>,
    pub(crate) info: GeoMamlInfo,
    /// The overview levels, finest first.
    pub(crate) levels: Vec<Overview>,
    /// The block cache's name for this model, scene and options.
    pub(crate) identity: Arc<str>,
    _overview_dims: Vec<c_int>,
    _strings: Vec<CString>,
    _metadata: Vec<*const c_char>,
    _band_names: Vec<*const c_char>,
    _categories: Vec<*const c_char>,
    _colour_ids: Vec<c_int>,
    _colour_rgb: Vec<c_uchar>,
}

pub(crate) fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

pub(crate) fn to_int(v: usize, what: &str) -> Result<c_int, String> {
    c_int::try_from(v).map_err(|_| format!("GEOMAML: {what} {v} is too large for GDAL"))
}

/// What an open entry point returns: the handle, or null with the message in `*err`.
///
/// Opens the mapper of `request` and describes its map for the shim, in the
/// layout `geomaml map` writes ([`geomaml::infer::MapLayout`]): the class band,
/// or with probabilities or confidence asked for, that file's bands.
pub(crate) fn open(request: &MapRequest) -> Result<Box<Handle>, String> {
    let mapper = WindowMapper::open(request).map_err(|e| format!("GEOMAML: {e}"))?;
    let identity = crate::cache::identity(&request.model, &request.scene, &format!("{request:?}"));
    let plan = mapper.plan().clone();
    let (gt, crs) = match mapper.georef() {
        Georef::Affine { gt, crs } => (gt, crs),
        Georef::Gcps { .. } => {
            return Err(format!(
                "GEOMAML: {}: the scene is georeferenced by GCPs only, which this driver \
                 does not carry; `geomaml map` writes such maps with the GCPs",
                request.scene.display()
            ))
        }
    };
    let mut strings = Vec::new();
    let crs = cstring(&crs);
    let crs_ptr = crs.as_ptr();
    strings.push(crs);
    let file = if request.options.confidence {
        MapFile::Confidence
    } else if request.options.probabilities {
        MapFile::Probabilities
    } else {
        MapFile::Classes
    };
    let layout = mapper.layout();
    let mut band_names = Vec::new();
    for name in &layout.band_names(file) {
        let c = cstring(name);
        band_names.push(c.as_ptr());
        strings.push(c);
    }
    let mut metadata = Vec::new();
    for (k, v) in layout.metadata(file, None) {
        let c = cstring(&format!("{k}={v}"));
        metadata.push(c.as_ptr());
        strings.push(c);
    }
    let is_classes = file == MapFile::Classes;
    let mut categories = Vec::new();
    if is_classes {
        for name in layout.category_names() {
            let c = cstring(&name);
            categories.push(c.as_ptr());
            strings.push(c);
        }
    }
    let colours = if is_classes {
        layout.colours()
    } else {
        Vec::new()
    };
    let colour_ids: Vec<c_int> = colours.iter().map(|(id, _)| *id as c_int).collect();
    let colour_rgb: Vec<c_uchar> = colours.iter().flat_map(|(_, rgb)| *rgb).collect();
    let levels: Vec<Overview> = overview_factors(plan.output)
        .into_iter()
        .map(|f| mapper.overview(f))
        .collect();
    let mut overview_dims = Vec::new();
    for o in &levels {
        overview_dims.push(to_int(o.output.0, "overview width")?);
        overview_dims.push(to_int(o.output.1, "overview height")?);
        overview_dims.push(to_int(o.block, "overview block")?);
    }
    let info = GeoMamlInfo {
        width: to_int(plan.output.0, "map width")?,
        height: to_int(plan.output.1, "map height")?,
        block: to_int(plan.block, "block size")?,
        geo_transform: gt.0,
        crs_wkt: crs_ptr,
        n_bands: to_int(band_names.len(), "band count")?,
        classes: c_int::from(is_classes),
        band_names: band_names.as_ptr(),
        nodata: c_int::from(layout.nodata(file)),
        metadata: metadata.as_ptr(),
        n_metadata: to_int(metadata.len(), "metadata count")?,
        categories: categories.as_ptr(),
        n_categories: to_int(categories.len(), "category count")?,
        colour_ids: colour_ids.as_ptr(),
        colour_rgb: colour_rgb.as_ptr(),
        n_colours: to_int(colour_ids.len(), "colour count")?,
        n_overviews: to_int(levels.len(), "overview count")?,
        overviews: overview_dims.as_ptr(),
    };
    // Moving the vectors and CStrings into the box keeps their heap buffers (and so
    // the pointers above) where they are.
    Ok(Box::new(Handle {
        mapper: Mutex::new(mapper),
        info,
        levels,
        identity,
        _overview_dims: overview_dims,
        _strings: strings,
        _metadata: metadata,
        _band_names: band_names,
        _categories: categories,
        _colour_ids: colour_ids,
        _colour_rgb: colour_rgb,
    }))
}
