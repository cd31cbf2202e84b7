//! GeoTIFF writers: tiled, compressed, georeferenced, with nodata and colour tables.

use super::{GeoTransform, Georef};
use crate::error::{Cause, Error, Result};
use crate::legend::ClassInfo;
use gdal::raster::{
    Buffer, ColorEntry, ColorTable, GdalType, PaletteInterpretation, RasterCreationOptions,
};
use gdal::{Dataset, DriverManager, Metadata};
use std::path::{Path, PathBuf};

/// Layout of a written GeoTIFF.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// 256x256 internal tiles instead of strips.
    pub tiled: bool,
    /// Compression (`DEFLATE`, `LZW`, `NONE`).
    pub compress: String,
    /// Extra creation options, `KEY=VALUE`.
    pub extra: Vec<String>,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            tiled: true,
            compress: "DEFLATE".into(),
            extra: Vec::new(),
        }
    }
}

impl WriterOptions {
    fn creation_options(&self, width: usize, height: usize) -> Result<RasterCreationOptions> {
        let mut opts = vec![format!("COMPRESS={}", self.compress)];
        // Tiles larger than the image make GDAL pad; small rasters stay striped.
        if self.tiled && width >= 256 && height >= 256 {
            opts.extend([
                "TILED=YES".into(),
                "BLOCKXSIZE=256".into(),
                "BLOCKYSIZE=256".into(),
            ]);
        }
        if self.compress.eq_ignore_ascii_case("DEFLATE")
            || self.compress.eq_ignore_ascii_case("LZW")
        {
            opts.push("PREDICTOR=2".into());
        }
        opts.extend(self.extra.iter().cloned());
        let mut list = RasterCreationOptions::new();
        for o in &opts {
            list.add_string(o)
                .map_err(|e| Error::runtime_source(format!("creation option {o}"), e))?;
        }
        Ok(list)
    }
}

/// A GeoTIFF being written band by band, window by window.
pub struct GeoTiffWriter {
    path: PathBuf,
    ds: Dataset,
}

impl GeoTiffWriter {
    /// Creates `path` with `bands` bands of type `T`, georeferenced by `gt` in `crs_wkt`
    /// (empty = no CRS).
    pub fn create<T: GdalType>(
        path: impl AsRef<Path>,
        size: (usize, usize),
        bands: usize,
        gt: GeoTransform,
        crs_wkt: &str,
        options: &WriterOptions,
    ) -> Result<Self> {
        let georef = Georef::Affine {
            gt,
            crs: crs_wkt.to_string(),
        };
        Self::create_georef::<T>(path, size, bands, &georef, options)
    }

    /// Creates `path` with `bands` bands of type `T`, georeferenced by `georef` (a
    /// geotransform, or GCPs), with its CRS.
    pub fn create_georef<T: GdalType>(
        path: impl AsRef<Path>,
        (width, height): (usize, usize),
        bands: usize,
        georef: &Georef,
        options: &WriterOptions,
    ) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        // Failures GDAL reported before this file existed are not about it.
        crate::gdal_messages::take_failures();
        let driver = DriverManager::get_driver_by_name("GTiff")
            .map_err(|e| Error::raster_source(&path, "", e))?;
        let opts = options.creation_options(width, height)?;
        let mut ds = driver
            .create_with_band_type_with_options::<T, _>(&path, width, height, bands, &opts)
            .map_err(|e| Error::raster_source(&path, "cannot create", e))?;
        match georef {
            Georef::Affine { gt, crs } => {
                ds.set_geo_transform(&gt.0)
                    .map_err(|e| Error::raster_source(&path, "", e))?;
                if !crs.is_empty() {
                    ds.set_projection(crs)
                        .map_err(|e| Error::raster_source(&path, "", e))?;
                }
            }
            Georef::Gcps { gcps, crs } => {
                let srs = if crs.is_empty() {
                    gdal::spatial_ref::SpatialRef::new()
                } else {
                    gdal::spatial_ref::SpatialRef::from_wkt(crs)
                }
                .map_err(|e| Error::raster_source(&path, "GCP CRS", e))?;
                let list = gcps
                    .iter()
                    .map(|g| gdal::Gcp {
                        id: g.id.clone(),
                        info: String::new(),
                        pixel: g.pixel,
                        line: g.line,
                        x: g.x,
                        y: g.y,
                        z: g.z,
                    })
                    .collect();
                ds.set_gcps(list, &srs)
                    .map_err(|e| Error::raster_source(&path, "writing GCPs", e))?;
            }
        }
        Ok(GeoTiffWriter { path, ds })
    }

    /// The dataset, for settings this type does not wrap.
    pub fn dataset_mut(&mut self) -> &mut Dataset {
        &mut self.ds
    }

    /// Sets band `b`'s (1-based) nodata value.
    pub fn set_nodata(&mut self, b: usize, nodata: f64) -> Result<()> {
        let mut band = self
            .ds
            .rasterband(b)
            .map_err(|e| Error::raster_source(&self.path, "", e))?;
        band.set_no_data_value(Some(nodata))
            .map_err(|e| Error::raster_source(&self.path, "", e))
    }

    /// Sets band `b`'s description (its name in GDAL tools).
    pub fn set_band_name(&mut self, b: usize, name: &str) -> Result<()> {
        let mut band = self
            .ds
            .rasterband(b)
            .map_err(|e| Error::raster_source(&self.path, "", e))?;
        band.set_description(name)
            .map_err(|e| Error::raster_source(&self.path, "", e))
    }

    /// Gives band `b` a palette with each class's colour at its id.
    pub fn set_color_table(&mut self, b: usize, classes: &[ClassInfo]) -> Result<()> {
        let mut ct = ColorTable::new(PaletteInterpretation::Rgba);
        for c in classes {
            let [r, g, bl] = c.rgb();
            ct.set_color_entry(c.id, &ColorEntry::rgba(r as i16, g as i16, bl as i16, 255));
        }
        let mut band = self
            .ds
            .rasterband(b)
            .map_err(|e| Error::raster_source(&self.path, "", e))?;
        band.set_color_table(&ct);
        Ok(())
    }

    /// Sets a dataset-level metadata item.
    pub fn set_metadata(&mut self, key: &str, value: &str) -> Result<()> {
        self.ds
            .set_metadata_item(key, value, "")
            .map_err(|e| Error::raster_source(&self.path, "", e))
    }

    /// Writes `data` (row-major, `w` x `h`) into band `b` at `(x, y)`.
    pub fn write<T: GdalType + Copy>(
        &mut self,
        b: usize,
        (x, y): (usize, usize),
        (w, h): (usize, usize),
        data: Vec<T>,
    ) -> Result<()> {
        let mut band = self
            .ds
            .rasterband(b)
            .map_err(|e| Error::raster_source(&self.path, "", e))?;
        let mut buf = Buffer::new((w, h), data);
        band.write((x as isize, y as isize), (w, h), &mut buf)
            .map_err(|e| Error::raster_source(&self.path, format!("band {b}"), e))
    }

    /// Flushes and closes the file, then checks it: GDAL reports write errors (a
    /// full disk, a vanished folder) only as messages, and a TIFF cut short may
    /// still close "successfully", so the file is reopened and read whole. Fails
    /// with GDAL's message when anything went wrong.
    pub fn finish(self) -> Result<()> {
        let path = self.path;
        let mut ds = self.ds;
        let flushed = ds.flush_cache();
        ds.close()
            .map_err(|e| Error::raster_source(&path, "closing", e))?;
        let failures = crate::gdal_messages::take_failures();
        flushed.map_err(|e| Error::raster_source(&path, "writing", e))?;
        if let Some(last) = failures.last() {
            return Err(Error::raster_source(&path, "writing failed", last.clone()));
        }
        verify_readable(&path)
    }
}

/// Reads every band of the raster at `path` whole, in row strips; fails when GDAL
/// cannot (a truncated or corrupt file).
pub fn verify_readable(path: &Path) -> Result<()> {
    let bad = |e: Cause| {
        Error::raster_source(
            path,
            "the written file cannot be read back (is the disk full?)",
            e,
        )
    };
    let ds = Dataset::open(path).map_err(|e| bad(e.into()))?;
    let (w, h) = ds.raster_size();
    let rows = (1 << 20) / w.max(1);
    let rows = rows.clamp(1, h.max(1));
    let mut buf = vec![0u8; w * rows];
    for b in 1..=ds.raster_count() {
        let band = ds.rasterband(b).map_err(|e| bad(e.into()))?;
        let mut y = 0;
        while y < h {
            let n = rows.min(h - y);
            band.read_into_slice::<u8>((0, y as isize), (w, n), (w, n), &mut buf[..w * n], None)
                .map_err(|e| bad(e.into()))?;
            y += n;
        }
    }
    if let Some(last) = crate::gdal_messages::take_failures().pop() {
        return Err(bad(last.into()));
    }
    Ok(())
}
