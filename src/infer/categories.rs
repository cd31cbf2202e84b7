//! GDAL category names for a class band: the one call the gdal crate does not wrap.

use crate::catalog::classes::ClassInfo;
use gdal::cpl::CslStringList;
use gdal::Dataset;

/// Names band `b` (1-based) pixel values: value `id` is `classes[..].name` with
/// that id, `nodata` is "no data" when it falls in the list, others are empty.
#[allow(unsafe_code)]
pub fn set_category_names(
    ds: &mut Dataset,
    b: usize,
    classes: &[ClassInfo],
    nodata: u8,
) -> Result<(), String> {
    let max = classes.iter().map(|c| c.id as usize).max().unwrap_or(0);
    let mut list = CslStringList::new();
    for v in 0..=max {
        let fallback = if v == nodata as usize { "no data" } else { "" };
        let name = classes
            .iter()
            .find(|c| c.id as usize == v)
            .map(|c| c.name.as_str())
            .unwrap_or(fallback);
        list.add_string(name)
            .map_err(|e| format!("category name {name:?}: {e}"))?;
    }
    let band = ds.rasterband(b).map_err(|e| e.to_string())?;
    // SAFETY: `band` borrows `ds`, so its handle is a live GDALRasterBandH for the
    // duration of the call; `list` is a NULL-terminated CSL list that outlives the
    // call, and GDALSetRasterCategoryNames copies it without taking ownership.
    let rv = unsafe { gdal_sys::GDALSetRasterCategoryNames(band.c_rasterband(), list.as_ptr()) };
    if rv == gdal_sys::CPLErr::CE_None {
        Ok(())
    } else {
        Err(format!(
            "setting category names of band {b} failed (CPLErr {rv})"
        ))
    }
}
