//! Writing a tile store: every tile of a catalog read once through the pixel
//! pipeline, in parallel, into a temporary folder beside the output that is moved
//! into place when complete ([`PendingFolder`]: a failed or interrupted build
//! leaves no store and no temporary).

use super::manifest::*;
use crate::bands;
use crate::catalog::{BandFile, Catalog, TileRecord};
use crate::error::{Error, Result};
use crate::output::PendingFolder;
use crate::pixels::BandInput;
use crate::progress::Progress;
use crate::raster::Raster;
use crate::tasks::loader::{with_raster, with_reader};
use rayon::prelude::*;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// A store about to be written: its layout and size are known before any pixel
/// is read ([`StoreBuilder::bytes`]).
#[derive(Debug)]
pub struct StoreBuilder<'a> {
    catalog: &'a Catalog,
    catalog_file: PathBuf,
    manifest: StoreManifest,
    sources: Vec<BandFile>,
}

/// What [`StoreBuilder::write`] wrote.
#[derive(Debug, Clone)]
pub struct StoreSummary {
    /// The store folder.
    pub dir: PathBuf,
    /// Tiles written.
    pub tiles: usize,
    /// Bytes of the array files.
    pub bytes: u64,
}

fn source_name(src: BandFile) -> &'static str {
    match src {
        BandFile::S1 => "s1",
        BandFile::S2 => "s2",
        BandFile::Image => "image",
    }
}

fn ext(t: StoreType) -> &'static str {
    match t {
        StoreType::Uint8 => "u8",
        StoreType::Uint16 => "u16",
        StoreType::Int16 => "i16",
        StoreType::Float32 => "f32",
    }
}

impl<'a> StoreBuilder<'a> {
    /// Plans the store of `catalog` (read from `catalog_file`) for `bands` (model
    /// order): the sample type of each source from its first tile's raster.
    pub fn new(catalog: &'a Catalog, catalog_file: &Path, bands: &[String]) -> Result<Self> {
        if bands.is_empty() {
            return Err(Error::config("--bands", "no bands selected"));
        }
        let first = catalog
            .tiles
            .first()
            .ok_or_else(|| Error::catalog(catalog_file, "has no tiles to store"))?;
        let t = catalog.tile_size;
        if let Some(odd) = catalog
            .tiles
            .iter()
            .position(|r| (r.window.width, r.window.height) != (t, t))
        {
            return Err(Error::catalog(
                catalog_file,
                format!("tile {odd} is not {t}x{t} px; a tile store needs tiles of the catalog's tile size"),
            ));
        }
        let dataset = catalog.kind.dataset();
        let mut plan = Vec::with_capacity(bands.len());
        for name in bands {
            let (src, b) = dataset.band(name).ok_or_else(|| {
                Error::config(
                    "--bands",
                    format!("`{name}` is not a band of {} data", catalog.kind),
                )
            })?;
            plan.push((src, b));
        }
        let px = (t as u64) * (t as u64);
        let n = catalog.len() as u64;
        let (mut groups, mut sources, mut bytes) = (Vec::new(), Vec::new(), 0u64);
        for src in BandFile::ALL {
            let outputs: Vec<usize> = (0..plan.len()).filter(|&o| plan[o].0 == src).collect();
            if outputs.is_empty() {
                continue;
            }
            let band_numbers: Vec<usize> = outputs.iter().map(|&o| plan[o].1).collect();
            let rel = src.path(&first.sources).ok_or_else(|| {
                Error::catalog(
                    catalog_file,
                    format!("tile 0 has no {} source", source_name(src)),
                )
            })?;
            let path = catalog.resolve(rel);
            let raster = Raster::open(&path)?;
            let mut dtype = None;
            for &b in &band_numbers {
                let band = raster
                    .dataset()
                    .rasterband(b)
                    .map_err(|e| Error::raster_source(&path, format!("band {b}"), e))?;
                let this = StoreType::of_gdal(band.band_type());
                dtype = match dtype {
                    None => Some(this),
                    Some(d) if d == this => Some(d),
                    Some(_) => Some(StoreType::Float32),
                };
            }
            let dtype = dtype.unwrap_or(StoreType::Float32);
            bytes += n * band_numbers.len() as u64 * px * dtype.size() as u64;
            groups.push(StoreGroup {
                source: source_name(src).into(),
                file: format!("{}.{}", source_name(src), ext(dtype)),
                dtype,
                outputs,
                band_numbers,
            });
            sources.push(src);
        }
        let labels = if first.sources.lc.is_some() {
            Some(("lc", 1))
        } else if first.sources.mask.is_some() {
            Some(("mask", 3))
        } else {
            None
        }
        .map(|(source, bands)| StoreLabels {
            source: source.into(),
            file: format!("{source}.u8"),
            bands,
        });
        bytes += n * groups.len() as u64 * px;
        bytes += n * bands.len() as u64 * 32;
        bytes += labels.as_ref().map_or(0, |l| n * l.bands as u64 * px);
        let manifest = StoreManifest {
            format: STORE_FORMAT.into(),
            version: STORE_VERSION,
            catalog_sha256: super::file_sha256(catalog_file)?,
            catalog_file: catalog_file
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            tiles: catalog.len(),
            tile_size: t,
            bands: bands.to_vec(),
            groups,
            valid_file: "valid.u8".into(),
            params_file: "params.f64".into(),
            labels,
            bytes,
        };
        Ok(StoreBuilder {
            catalog,
            catalog_file: catalog_file.to_path_buf(),
            manifest,
            sources,
        })
    }

    /// Bytes the store's array files will take.
    pub fn bytes(&self) -> u64 {
        self.manifest.bytes
    }

    /// The manifest the store will carry.
    pub fn manifest(&self) -> &StoreManifest {
        &self.manifest
    }

    /// Writes the store into `dir` (replacing an existing one only with
    /// `overwrite`), advancing `progress` once per tile.
    pub fn write(&self, dir: &Path, overwrite: bool, progress: &Progress) -> Result<StoreSummary> {
        let pending = PendingFolder::new(dir, overwrite)?;
        self.write_into(pending.temp_path(), dir, progress)?;
        pending.commit()?;
        Ok(StoreSummary {
            dir: dir.to_path_buf(),
            tiles: self.manifest.tiles,
            bytes: self.manifest.bytes,
        })
    }

    fn write_into(&self, temp: &Path, shown: &Path, progress: &Progress) -> Result<()> {
        let m = &self.manifest;
        let t = m.tile_size as usize;
        let px = t * t;
        let n = m.tiles;
        let create = |file: &str, chunk: usize| -> Result<File> {
            let f = File::create(temp.join(file)).map_err(|e| Error::io(shown.join(file), e))?;
            f.set_len((n * chunk) as u64)
                .map_err(|e| Error::io(shown.join(file), e))?;
            Ok(f)
        };
        let group_files = m
            .groups
            .iter()
            .map(|g| create(&g.file, g.band_numbers.len() * px * g.dtype.size()))
            .collect::<Result<Vec<_>>>()?;
        let valid_file = create(&m.valid_file, m.groups.len() * px)?;
        let params_file = create(&m.params_file, m.bands.len() * 32)?;
        let label_file = m
            .labels
            .as_ref()
            .map(|l| create(&l.file, l.bands * px))
            .transpose()?;
        progress.start(n as u64, "storing tiles");
        let write = |f: &File, file: &str, bytes: &[u8], at: usize| {
            f.write_all_at(bytes, at as u64)
                .map_err(|e| Error::io(shown.join(file), e))
        };
        (0..n).into_par_iter().try_for_each(|ti| -> Result<()> {
            let rec = &self.catalog.tiles[ti];
            let mut valid = vec![0u8; m.groups.len() * px];
            let mut params = vec![0u8; m.bands.len() * 32];
            for (gi, (g, src)) in m.groups.iter().zip(&self.sources).enumerate() {
                let (bytes, ok) = self.read_group(ti, rec, g, *src, &mut params)?;
                write(&group_files[gi], &g.file, &bytes, ti * bytes.len())?;
                valid[gi * px..(gi + 1) * px].copy_from_slice(&ok);
            }
            write(&valid_file, &m.valid_file, &valid, ti * valid.len())?;
            write(&params_file, &m.params_file, &params, ti * params.len())?;
            if let (Some(l), Some(f)) = (&m.labels, &label_file) {
                let rel = match l.source.as_str() {
                    "lc" => rec.sources.lc.as_deref(),
                    _ => rec.sources.mask.as_deref(),
                }
                .ok_or_else(|| {
                    Error::catalog(
                        &self.catalog_file,
                        format!("tile {ti} has no {} source", l.source),
                    )
                })?;
                let numbers: Vec<usize> = (1..=l.bands).collect();
                let lab = with_raster(&self.catalog.resolve(rel), |r| {
                    r.read_window(&numbers, rec.window.to_window(), 0.0)
                })?;
                let bytes: Vec<u8> = lab.iter().map(|v| v.clamp(0.0, 255.0) as u8).collect();
                write(f, &l.file, &bytes, ti * bytes.len())?;
            }
            progress.inc(1);
            Ok(())
        })?;
        for (f, file) in group_files
            .iter()
            .zip(m.groups.iter().map(|g| &g.file))
            .chain([(&valid_file, &m.valid_file), (&params_file, &m.params_file)])
        {
            f.sync_all().map_err(|e| Error::io(shown.join(file), e))?;
        }
        if let (Some(f), Some(l)) = (&label_file, &m.labels) {
            f.sync_all()
                .map_err(|e| Error::io(shown.join(&l.file), e))?;
        }
        let text = serde_json::to_string_pretty(m).expect("a manifest serialises");
        std::fs::write(temp.join(MANIFEST_FILE), text)
            .map_err(|e| Error::io(shown.join(MANIFEST_FILE), e))?;
        progress.finish();
        Ok(())
    }

    /// One source of one tile: its stored samples (as bytes of the group's type),
    /// its validity, and its fill and unscale rule written into `params`.
    fn read_group(
        &self,
        ti: usize,
        rec: &TileRecord,
        g: &StoreGroup,
        src: BandFile,
        params: &mut [u8],
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let rel = src.path(&rec.sources).ok_or_else(|| {
            Error::catalog(
                &self.catalog_file,
                format!("tile {ti} has no {} source", g.source),
            )
        })?;
        let path = self.catalog.resolve(rel);
        let inputs: Vec<BandInput> = g
            .outputs
            .iter()
            .zip(&g.band_numbers)
            .map(|(&o, &band)| BandInput {
                band,
                name: self.manifest.bands[o].clone(),
                norm: bands::default_normalisation(&self.manifest.bands[o]),
            })
            .collect();
        let window = rec.window.to_window();
        with_reader(&path, inputs, |r| {
            let pixels = r.read(window)?;
            let raw = r.raster().read_window(&g.band_numbers, window, 0.0)?;
            for (i, &o) in g.outputs.iter().enumerate() {
                let u = r.unscale()[i];
                for (k, v) in [f64::from(r.fill()[i]), u.scale, u.offset, u.factor]
                    .into_iter()
                    .enumerate()
                {
                    let at = (o * 4 + k) * 8;
                    params[at..at + 8].copy_from_slice(&v.to_le_bytes());
                }
            }
            let ok: Vec<u8> = pixels.valid.iter().map(|&v| u8::from(v)).collect();
            let mut bytes = Vec::with_capacity(raw.len() * g.dtype.size());
            let lossy = || {
                Error::raster(
                    &path,
                    format!(
                        "holds a value that {} does not keep exactly (the store's type for {} comes from the first tile's raster)",
                        ext(g.dtype),
                        g.source
                    ),
                )
            };
            for &v in raw.iter() {
                match g.dtype {
                    StoreType::Uint8 => {
                        let q = v as u8;
                        if f32::from(q) != v {
                            return Err(lossy());
                        }
                        bytes.push(q);
                    }
                    StoreType::Uint16 => {
                        let q = v as u16;
                        if f32::from(q) != v {
                            return Err(lossy());
                        }
                        bytes.extend_from_slice(&q.to_le_bytes());
                    }
                    StoreType::Int16 => {
                        let q = v as i16;
                        if f32::from(q) != v {
                            return Err(lossy());
                        }
                        bytes.extend_from_slice(&q.to_le_bytes());
                    }
                    StoreType::Float32 => bytes.extend_from_slice(&v.to_le_bytes()),
                }
            }
            Ok((bytes, ok))
        })
    }
}
