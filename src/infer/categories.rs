//! GDAL category names for a class band: the one call the gdal crate does not wrap.

use gdal::cpl::CslStringList;
use gdal::errors::GdalError;
use gdal::Dataset;

/// Why the category names could not be set.
#[derive(Debug, thiserror::Error)]
pub enum CategoryError {
    /// GDAL refused a name.
    #[error("category name {name:?}: {source}")]
    Name {
        /// The class name.
        name: String,
        /// GDAL's error.
        source: GdalError,
    },
    /// The band is not there.
    #[error("band {band}: {source}")]
    Band {
        /// 1-based band.
        band: usize,
        /// GDAL's error.
        source: GdalError,
    },
    /// GDALSetRasterCategoryNames failed.
    #[error("setting category names of band {band} failed (CPLErr {code})")]
    Set {
        /// 1-based band.
        band: usize,
        /// GDAL's CPLErr code.
        code: u32,
    },
}

/// Names band `b` (1-based) pixel values: value `v` is `names[v]`
/// ([`super::layout::MapLayout::category_names`]).
#[allow(unsafe_code)]
pub fn set_category_names(
    ds: &mut Dataset,
    b: usize,
    names: &[String],
) -> Result<(), CategoryError> {
    let mut list = CslStringList::new();
    for name in names {
        list.add_string(name)
            .map_err(|source| CategoryError::Name {
                name: name.clone(),
                source,
            })?;
    }
    let band = ds
        .rasterband(b)
        .map_err(|source| CategoryError::Band { band: b, source })?;
    // SAFETY: `band` borrows `ds`, so its handle is a live GDALRasterBandH for the
    // duration of the call; `list` is a NULL-terminated CSL list that outlives the
    // call, and GDALSetRasterCategoryNames copies it without taking ownership.
    let rv = unsafe { gdal_sys::GDALSetRasterCategoryNames(band.c_rasterband(), list.as_ptr()) };
    if rv == gdal_sys::CPLErr::CE_None {
        Ok(())
    } else {
        Err(CategoryError::Set {
            band: b,
            code: rv as u32,
        })
    }
}
