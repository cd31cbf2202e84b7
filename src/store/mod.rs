//! The tile store: a catalog's tile windows decoded once into memory-mapped arrays,
//! so that meta-training reads tasks without GDAL.
//!
//! Reading windows through GDAL (open, decode GeoTIFF/JPEG, convert, check masks)
//! bounds meta-training on a fast GPU. `geomaml store catalog.json` decodes every
//! tile once into `catalog.store/` beside the catalog; [`crate::tasks::TaskLoader`]
//! then slices windows out of the mapped files in parallel.
//!
//! **Format.** Plain little-endian arrays, one file per source (`s1.u16`,
//! `s2.u16`, `image.u8`, ...) chunked by tile (`[tiles, bands, tile, tile]`, one
//! contiguous chunk per tile), plus a validity file, a parameter file and
//! `manifest.json` ([`StoreManifest`], with a JSON Schema). Samples keep the band
//! type of the sources (uint16 for Sentinel-2, float32 for Sentinel-1, uint8 for
//! RGB and labels), so a store costs what the decoded rasters cost, not four bytes
//! a sample. The files are mapped with `memmap2` (the standard crate for it):
//! the page cache holds what is used, so training's memory does not grow with the
//! dataset. Zarr would add codecs and a chunk index that a fixed tile grid does not
//! need (and its Rust crates are young); safetensors wants one header for all
//! tensors of a file and gives nothing over raw arrays for this layout.
//!
//! **Identical results.** The store keeps, per tile and source, the stored samples,
//! the validity the pixel pipeline found ([`crate::pixels::Pixels::valid`]: masks,
//! nodata, non-finite values after unscaling) and the raster's unscale rule and fill;
//! loading applies the same [`Unscale::apply`] and [`Normalisation::apply`] on valid
//! pixels and the fill elsewhere, so a task read from the store is bit for bit the
//! task read from the files (tested).
//!
//! **Staleness.** The manifest records the SHA-256 of the catalog file; a store
//! whose catalog changed is refused with the command that rebuilds it.

mod build;
mod manifest;

pub use build::{StoreBuilder, StoreSummary};
pub use manifest::{
    StoreGroup, StoreLabels, StoreManifest, StoreType, MANIFEST_FILE, STORE_FORMAT, STORE_VERSION,
};

use crate::bands::{self, Normalisation};
use crate::catalog::{PixelWindow, TileRecord};
use crate::error::{Error, Result};
use crate::pixels::units::Unscale;
use memmap2::Mmap;
use ndarray::Array3;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::path::{Path, PathBuf};

/// The store folder of a catalog: `catalog.json` -> `catalog.store` beside it.
pub fn default_path(catalog: &Path) -> PathBuf {
    catalog.with_extension("store")
}

/// SHA-256 (hex) of a file's bytes.
pub fn file_sha256(path: &Path) -> Result<String> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| Error::io(path, e))?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Maps a store file read-only.
#[allow(unsafe_code)]
fn map(path: &Path) -> Result<Mmap> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    // SAFETY: the mapping is read-only and store files are written once, into a
    // temporary folder moved into place; nothing writes to a published store. A file
    // truncated behind our back would fault, as any mapped read would.
    unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))
}

/// A tile store opened for reading (see the module doc).
#[derive(Debug)]
pub struct TileStore {
    dir: PathBuf,
    manifest: StoreManifest,
    groups: Vec<Mmap>,
    valid: Mmap,
    params: Mmap,
    labels: Option<Mmap>,
    norms: Vec<Normalisation>,
}

impl TileStore {
    /// Opens the store at `dir`, checking it against the catalog file it must
    /// belong to: a store of another or an older catalog is an error that says how
    /// to rebuild it.
    pub fn open(dir: &Path, catalog_file: &Path) -> Result<TileStore> {
        let manifest_path = dir.join(MANIFEST_FILE);
        let rebuild = format!(
            "rebuild it with `geomaml store {} --overwrite`, or read the files with --no-store",
            catalog_file.display()
        );
        let bad = |reason: String| Error::catalog(&manifest_path, format!("{reason}; {rebuild}"));
        let text = std::fs::read_to_string(&manifest_path).map_err(|e| {
            Error::catalog_source(
                &manifest_path,
                format!("cannot read the tile store's manifest ({rebuild})"),
                e,
            )
        })?;
        let manifest: StoreManifest = serde_json::from_str(&text)
            .map_err(|e| bad(format!("is not a tile store manifest ({e})")))?;
        if manifest.format != STORE_FORMAT || manifest.version != STORE_VERSION {
            return Err(bad(format!(
                "is a {} version {} manifest; this geomaml reads {STORE_FORMAT} version {STORE_VERSION}",
                manifest.format, manifest.version
            )));
        }
        let sha = file_sha256(catalog_file)?;
        if sha != manifest.catalog_sha256 {
            return Err(bad(format!(
                "the tile store is stale: it was built from another version of {} (catalog SHA-256 {}, now {})",
                catalog_file.display(),
                &manifest.catalog_sha256[..manifest.catalog_sha256.len().min(12)],
                &sha[..12]
            )));
        }
        let t = manifest.tile_size as usize;
        let px = t * t;
        let n = manifest.tiles;
        let check = |m: &Mmap, file: &str, chunk: usize| -> Result<()> {
            if m.len() != n * chunk {
                return Err(bad(format!(
                    "{file} holds {} bytes where {n} tiles need {}",
                    m.len(),
                    n * chunk
                )));
            }
            Ok(())
        };
        let mut groups = Vec::with_capacity(manifest.groups.len());
        for g in &manifest.groups {
            let m = map(&dir.join(&g.file))?;
            check(&m, &g.file, g.band_numbers.len() * px * g.dtype.size())?;
            groups.push(m);
        }
        let valid = map(&dir.join(&manifest.valid_file))?;
        check(&valid, &manifest.valid_file, manifest.groups.len() * px)?;
        let params = map(&dir.join(&manifest.params_file))?;
        check(&params, &manifest.params_file, manifest.bands.len() * 32)?;
        let labels = match &manifest.labels {
            Some(l) => {
                let m = map(&dir.join(&l.file))?;
                check(&m, &l.file, l.bands * px)?;
                Some(m)
            }
            None => None,
        };
        let norms = manifest
            .bands
            .iter()
            .map(|b| bands::default_normalisation(b))
            .collect();
        Ok(TileStore {
            dir: dir.to_path_buf(),
            manifest,
            groups,
            valid,
            params,
            labels,
            norms,
        })
    }

    /// The store folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the store holds.
    pub fn manifest(&self) -> &StoreManifest {
        &self.manifest
    }

    /// Band names in model order.
    pub fn bands(&self) -> &[String] {
        &self.manifest.bands
    }

    /// Offset of `window` inside `rec`'s tile, when it lies inside it.
    fn offset(&self, tile: u32, rec: &TileRecord, window: PixelWindow) -> Result<(usize, usize)> {
        let t = self.manifest.tile_size;
        let inside = window.x >= rec.window.x
            && window.y >= rec.window.y
            && window.x + window.width <= rec.window.x + t
            && window.y + window.height <= rec.window.y + t;
        if (tile as usize) >= self.manifest.tiles || !inside {
            return Err(Error::catalog(
                self.dir.join(MANIFEST_FILE),
                format!("tile {tile} window {window:?} is not in the store"),
            ));
        }
        Ok((
            (window.x - rec.window.x) as usize,
            (window.y - rec.window.y) as usize,
        ))
    }

    /// The normalised image `[bands, h, w]` of `window` (pixel space of the tile's
    /// sources, inside tile `tile` whose record is `rec`): what
    /// [`crate::pixels::PixelReader::read`] gives for the same window.
    pub fn read_image(
        &self,
        tile: u32,
        rec: &TileRecord,
        window: PixelWindow,
    ) -> Result<Array3<f32>> {
        let (ox, oy) = self.offset(tile, rec, window)?;
        let t = self.manifest.tile_size as usize;
        let (w, h) = (window.width as usize, window.height as usize);
        let nb = self.manifest.bands.len();
        let ti = tile as usize;
        let params = &self.params[ti * nb * 32..(ti + 1) * nb * 32];
        let param = |b: usize, k: usize| {
            let o = (b * 4 + k) * 8;
            f64::from_le_bytes(params[o..o + 8].try_into().expect("8 bytes"))
        };
        let n_groups = self.manifest.groups.len();
        let valid_tile = &self.valid[ti * n_groups * t * t..(ti + 1) * n_groups * t * t];
        let mut out = vec![0f32; nb * h * w];
        for (gi, (g, m)) in self.manifest.groups.iter().zip(&self.groups).enumerate() {
            let size = g.dtype.size();
            let chunk = g.band_numbers.len() * t * t * size;
            let data = &m[ti * chunk..(ti + 1) * chunk];
            let valid = &valid_tile[gi * t * t..(gi + 1) * t * t];
            for (i, &o) in g.outputs.iter().enumerate() {
                let fill = param(o, 0) as f32;
                let u = Unscale {
                    scale: param(o, 1),
                    offset: param(o, 2),
                    factor: param(o, 3),
                };
                let norm = self.norms[o];
                let band = &data[i * t * t * size..(i + 1) * t * t * size];
                for r in 0..h {
                    let start = (oy + r) * t + ox;
                    let dst = &mut out[(o * h + r) * w..(o * h + r + 1) * w];
                    let ok = &valid[start..start + w];
                    let src = &band[start * size..(start + w) * size];
                    decode_row(g.dtype, src, ok, dst, |v| norm.apply(u.apply(v)), fill);
                }
            }
        }
        Ok(Array3::from_shape_vec((nb, h, w), out).expect("shape of the output"))
    }

    /// The label raster of `window` as `f32` `[bands, h, w]` (values 0..255): what
    /// [`crate::raster::Raster::read_window`] gives for the tile's `lc` or `mask`.
    pub fn read_labels(
        &self,
        tile: u32,
        rec: &TileRecord,
        window: PixelWindow,
    ) -> Result<Array3<f32>> {
        let (ox, oy) = self.offset(tile, rec, window)?;
        let (Some(l), Some(m)) = (&self.manifest.labels, &self.labels) else {
            return Err(Error::catalog(
                self.dir.join(MANIFEST_FILE),
                "the tile store holds no label rasters",
            ));
        };
        let t = self.manifest.tile_size as usize;
        let (w, h) = (window.width as usize, window.height as usize);
        let ti = tile as usize;
        let chunk = &m[ti * l.bands * t * t..(ti + 1) * l.bands * t * t];
        Ok(Array3::from_shape_fn((l.bands, h, w), |(b, r, c)| {
            f32::from(chunk[b * t * t + (oy + r) * t + ox + c])
        }))
    }
}

/// Decodes one row of stored samples: `f(value)` where valid, `fill` elsewhere.
#[inline]
fn decode_row(
    dtype: StoreType,
    src: &[u8],
    ok: &[u8],
    dst: &mut [f32],
    f: impl Fn(f32) -> f32,
    fill: f32,
) {
    macro_rules! rows {
        ($n:expr, $conv:expr) => {
            for ((d, s), &v) in dst.iter_mut().zip(src.chunks_exact($n)).zip(ok) {
                *d = if v != 0 { f($conv(s)) } else { fill };
            }
        };
    }
    match dtype {
        StoreType::Uint8 => rows!(1, |s: &[u8]| f32::from(s[0])),
        StoreType::Uint16 => rows!(2, |s: &[u8]| f32::from(u16::from_le_bytes([s[0], s[1]]))),
        StoreType::Int16 => rows!(2, |s: &[u8]| f32::from(i16::from_le_bytes([s[0], s[1]]))),
        StoreType::Float32 => rows!(4, |s: &[u8]| f32::from_le_bytes([s[0], s[1], s[2], s[3]])),
    }
}

/// Where training and evaluation read tiles from.
#[derive(Debug)]
pub enum DataPath {
    /// The tile store beside the catalog.
    Store(std::sync::Arc<TileStore>),
    /// The dataset files through GDAL, and why.
    Files(String),
}

impl DataPath {
    /// The store beside `catalog_file` when there is one and `use_store` (a stale or
    /// broken store is an error); the files otherwise. A store of other bands than
    /// `bands` is passed over (the files are read).
    pub fn for_catalog(catalog_file: &Path, bands: &[String], use_store: bool) -> Result<DataPath> {
        let dir = default_path(catalog_file);
        if !use_store {
            return Ok(DataPath::Files("--no-store".into()));
        }
        if !dir.join(MANIFEST_FILE).exists() {
            return Ok(DataPath::Files(format!(
                "no tile store at {}",
                dir.display()
            )));
        }
        let store = TileStore::open(&dir, catalog_file)?;
        if store.bands() != bands {
            return Ok(DataPath::Files(format!(
                "the tile store at {} holds bands {}, not {}",
                dir.display(),
                store.bands().join(","),
                bands.join(",")
            )));
        }
        Ok(DataPath::Store(std::sync::Arc::new(store)))
    }

    /// The store, if reading from one.
    pub fn store(&self) -> Option<std::sync::Arc<TileStore>> {
        match self {
            DataPath::Store(s) => Some(s.clone()),
            DataPath::Files(_) => None,
        }
    }

    /// For the user: where tiles are read from (`tiles read from ...`).
    pub fn describe(&self) -> String {
        match self {
            DataPath::Store(s) => {
                format!("tiles read from the tile store {}", s.dir().display())
            }
            DataPath::Files(why) => format!("tiles read from the dataset files ({why})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_decode_each_stored_type_and_fill_invalid_pixels() {
        let ok = [1u8, 0, 1];
        let mut out = [0f32; 3];
        let twice = |v: f32| v * 2.0;
        decode_row(StoreType::Uint8, &[1, 2, 255], &ok, &mut out, twice, -1.0);
        assert_eq!(out, [2.0, -1.0, 510.0]);
        let u16s: Vec<u8> = [1u16, 2, 65535]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        decode_row(StoreType::Uint16, &u16s, &ok, &mut out, twice, -1.0);
        assert_eq!(out, [2.0, -1.0, 131070.0]);
        let i16s: Vec<u8> = [-3i16, 2, 7].iter().flat_map(|v| v.to_le_bytes()).collect();
        decode_row(StoreType::Int16, &i16s, &ok, &mut out, twice, -1.0);
        assert_eq!(out, [-6.0, -1.0, 14.0]);
        let f32s: Vec<u8> = [0.5f32, f32::NAN, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        decode_row(StoreType::Float32, &f32s, &ok, &mut out, twice, -1.0);
        assert_eq!(out, [1.0, -1.0, -4.0]);
    }

    #[test]
    fn the_store_sits_beside_its_catalog() {
        assert_eq!(
            default_path(Path::new("/data/catalog.json")),
            Path::new("/data/catalog.store")
        );
        assert_eq!(StoreType::Uint16.size(), 2);
        assert_eq!(
            serde_json::to_string(&StoreType::Float32).unwrap(),
            "\"float32\""
        );
    }
}
