//! The land-cover GeoTIFF(s) a map is written to.
//!
//! The map has one band of class ids (the card's `classes[i].id` for output index
//! i) with the legend's colour table, class names as GDAL category names (kept by
//! GDAL in the `.aux.xml` sidecar, which is moved along with the map) and in the
//! dataset metadata (`CLASS_<id>=<name>` and the legend, inside the TIFF). Nodata
//! is 0, or 255 when the legend uses id 0. A COG is converted from a staging GTiff
//! opened with its `.aux.xml` named explicitly, so the category names survive
//! `GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR` (see [`open_with_aux`]).
//!
//! A QGIS style `<stem>.qml` beside the map lists exactly its classes (see
//! [`crate::raster::qml`]); a `.qml` there that geomaml did not write is kept.
//!
//! With probabilities, a second file `<stem>.probabilities.tif` on the same grid
//! holds one band per class, the confidence in percent (0..=100, nodata 255),
//! named `p_<class>`. (TIFF allows a colour table only on single-band files, so
//! the bands are not appended to the map itself.)
//!
//! With confidence, `<stem>.confidence.tif` on the same grid holds one band
//! `confidence`: the margin between the two most likely classes in percent
//! (0 = a tie, 100 = certain; nodata 255 where the map has none).
//!
//! Files are tiled DEFLATE GeoTIFFs written to temporary names and renamed at the
//! end; `--cog` writes a tiled GTiff first and converts it with GDAL's COG driver
//! (nearest-neighbour overviews).

use crate::card::ModelCard;
use crate::error::{Error, Result};
use crate::output::PendingOutput;
use crate::raster::{GeoTiffWriter, Georef, WriterOptions};
use gdal::raster::RasterCreationOptions;
use gdal::DriverManager;
use std::path::{Path, PathBuf};

/// Layout choices of the written map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkOptions {
    /// Also write the per-class probability file.
    pub probabilities: bool,
    /// Also write the confidence file.
    pub confidence: bool,
    /// Write Cloud-Optimised GeoTIFFs.
    pub cog: bool,
}

/// Nodata value of the probability file.
pub const PROBABILITY_NODATA: u8 = 255;

/// The nodata value of the class band of a map of `card` (see the module doc).
pub fn nodata_value(card: &ModelCard) -> u8 {
    if card.classes.iter().any(|c| c.id == 0) {
        255
    } else {
        0
    }
}

/// Refuses a map name whose extension is not a GeoTIFF's (`.tif`, `.tiff`; a name
/// without one is taken as given). geomaml writes GeoTIFFs only (its colour table,
/// category names, legend metadata and COG layout are GeoTIFF's), and a GeoTIFF
/// named `map.img` or `map.png` is a file that other tools open with the wrong
/// driver or not at all.
pub fn check_map_extension(path: &Path) -> Result<()> {
    let Some(ext) = path.extension().map(|e| e.to_string_lossy().to_lowercase()) else {
        return Ok(());
    };
    if ext == "tif" || ext == "tiff" {
        return Ok(());
    }
    Err(Error::config(
        "--output",
        format!(
            "{}: geomaml writes maps as GeoTIFF; name the output .tif (convert it afterwards, \
             e.g. gdal_translate -of HFA map.tif map.img)",
            path.display()
        ),
    ))
}

/// `<stem>.<kind>.tif` beside the map at `path`.
fn companion_path(path: &Path, kind: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    path.with_file_name(format!("{stem}.{kind}.tif"))
}

/// Where the confidence band of the map at `path` goes.
pub fn confidence_path(path: &Path) -> PathBuf {
    companion_path(path, "confidence")
}

/// Where the probabilities of the map at `path` go.
pub fn probabilities_path(path: &Path) -> PathBuf {
    companion_path(path, "probabilities")
}

/// One output file: its writer, its pending final name, and the staging GTiff of a COG.
struct OutFile {
    writer: GeoTiffWriter,
    final_out: PendingOutput,
    staging: Option<PendingOutput>,
}

impl OutFile {
    fn create(
        path: &Path,
        overwrite: bool,
        size: (usize, usize),
        bands: usize,
        georef: &Georef,
        cog: bool,
    ) -> Result<Self> {
        let final_out = PendingOutput::new(path, overwrite)?;
        let staging = if cog {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let staging =
                PendingOutput::new(path.with_file_name(format!("{name}.staging.tif")), true)?;
            // An inner step of writing the user's map: messages name the map.
            staging.shown_as(path);
            Some(staging)
        } else {
            None
        };
        let target = staging
            .as_ref()
            .unwrap_or(&final_out)
            .temp_path()
            .to_path_buf();
        let writer = GeoTiffWriter::create_georef::<u8>(
            &target,
            size,
            bands,
            georef,
            &WriterOptions::default(),
        )
        .map_err(crate::output::user_error)?;
        Ok(OutFile {
            writer,
            final_out,
            staging,
        })
    }

    fn target(&self) -> &Path {
        self.staging.as_ref().unwrap_or(&self.final_out).temp_path()
    }

    /// Closes the writer (checked) and, for a COG, converts the staging file into
    /// `final_out`'s temporary (checked too).
    fn write_out(
        writer: GeoTiffWriter,
        staging: Option<&PendingOutput>,
        final_out: &PendingOutput,
    ) -> Result<()> {
        writer.finish()?;
        if let Some(staging) = staging {
            let target = final_out.temp_path();
            crate::gdal_messages::take_failures();
            let src = open_with_aux(staging.temp_path())
                .map_err(|e| Error::raster_source(staging.temp_path(), "", e))?;
            let driver = DriverManager::get_driver_by_name("COG")
                .map_err(|e| Error::raster_source(target, "", e))?;
            let mut opts = RasterCreationOptions::new();
            for o in [
                "COMPRESS=DEFLATE",
                "PREDICTOR=2",
                "OVERVIEW_RESAMPLING=NEAREST",
                "BLOCKSIZE=256",
            ] {
                opts.add_string(o)
                    .map_err(|e| Error::runtime_source(format!("creation option {o}"), e))?;
            }
            let out = src.create_copy(&driver, target, &opts).map_err(|e| {
                Error::raster(final_out.final_path(), format!("writing the COG: {e}"))
            })?;
            out.close()
                .map_err(|e| Error::raster_source(target, "closing", e))?;
            if let Some(last) = crate::gdal_messages::take_failures().last() {
                return Err(Error::raster(
                    target,
                    format!("writing the COG failed: {last}"),
                ));
            }
            crate::raster::verify_readable(target)?;
        }
        Ok(())
    }

    /// Closes and checks the file; it is committed later by [`Checked::commit`].
    fn close_checked(self) -> Result<Checked> {
        let OutFile {
            writer,
            final_out,
            staging,
        } = self;
        Self::write_out(writer, staging.as_ref(), &final_out)
            .map_err(|e| final_out.user_error(e))?;
        Ok(Checked(final_out))
    }
}

/// A written and verified file, not yet in place: moved with the others of the
/// map by [`crate::output::commit_set`], with GDAL's `.aux.xml`.
struct Checked(PendingOutput);

impl Checked {
    fn member(self) -> crate::output::SetMember {
        crate::output::SetMember {
            output: self.0,
            with_aux: true,
        }
    }
}

/// The open map (and probability file) being written block by block.
pub struct MapSink {
    classes: OutFile,
    /// The QGIS style beside the map, written, not yet in place (none when a
    /// `.qml` of the user's is there).
    style: Option<PendingOutput>,
    probabilities: Option<OutFile>,
    confidence: Option<OutFile>,
    count: usize,
    /// Nodata value of the class band.
    pub nodata: u8,
}

impl MapSink {
    /// Creates the map at `path` (refusing existing files unless `overwrite`).
    pub fn create(
        path: &Path,
        overwrite: bool,
        size: (usize, usize),
        georef: &Georef,
        card: &ModelCard,
        options: SinkOptions,
    ) -> Result<Self> {
        if card.classes.iter().any(|c| c.id >= 255) {
            return Err(Error::Other(format!(
                "class ids must be below 255 to be mapped (legend: {:?})",
                card.classes
            )));
        }
        let nodata = nodata_value(card);
        // A run killed between moving its probability/confidence file and its map
        // leaves them beside the map's temporary: they are ours, and incomplete.
        let killed_midway = !path.exists() && crate::output::has_stale_temporary(path);
        let mut classes = OutFile::create(path, overwrite, size, 1, georef, options.cog)?;
        let w = &mut classes.writer;
        w.set_nodata(1, nodata as f64)?;
        w.set_band_name(1, "class")?;
        w.set_legend(&card.classes)?;
        for c in &card.classes {
            w.set_metadata(&format!("CLASS_{}", c.id), &c.name)?;
        }
        w.set_metadata(
            "GEOMAML_ARCH",
            &format!("{:?}", card.spec.arch).to_lowercase(),
        )?;
        let target = classes.target().to_path_buf();
        super::categories::set_category_names(
            classes.writer.dataset_mut(),
            1,
            &card.classes,
            nodata,
        )
        .map_err(|e| Error::raster_source(&target, "", e))?;
        // A percent file beside the map, one band per name.
        let percent_file = |companion: PathBuf, names: Vec<String>| -> Result<OutFile> {
            let orphan = killed_midway && is_probability_file_of(&companion, path);
            let n = names.len();
            let mut f = OutFile::create(
                &companion,
                overwrite || orphan,
                size,
                n,
                georef,
                options.cog,
            )?;
            for (i, name) in names.iter().enumerate() {
                f.writer.set_nodata(i + 1, PROBABILITY_NODATA as f64)?;
                f.writer.set_band_name(i + 1, name)?;
            }
            f.writer.set_metadata("GEOMAML_UNITS", "percent")?;
            f.writer.set_metadata(PROBABILITIES_OF, &file_name(path))?;
            Ok(f)
        };
        let probabilities = options
            .probabilities
            .then(|| {
                let names = card
                    .classes
                    .iter()
                    .map(|c| format!("p_{}", c.name))
                    .collect();
                percent_file(probabilities_path(path), names)
            })
            .transpose()?;
        let confidence = options
            .confidence
            .then(|| {
                let mut c = percent_file(confidence_path(path), vec!["confidence".into()])?;
                c.writer
                    .set_metadata("GEOMAML_CONFIDENCE", CONFIDENCE_DEFINITION)?;
                Ok(c)
            })
            .transpose()?;
        let style_path = crate::raster::qml::style_path(path);
        let style = if !style_path.exists() || crate::raster::qml::is_geomaml_style(&style_path) {
            let out = PendingOutput::new(&style_path, true)?;
            std::fs::write(
                out.temp_path(),
                crate::raster::qml::paletted_style(&card.classes),
            )
            .map_err(|e| Error::io(&style_path, e))?;
            Some(out)
        } else {
            None
        };
        Ok(MapSink {
            classes,
            style,
            probabilities,
            confidence,
            count: card.classes.len(),
            nodata,
        })
    }

    /// Sets a metadata item of the map (and of the probability file).
    pub fn set_metadata(&mut self, key: &str, value: &str) -> Result<()> {
        self.classes.writer.set_metadata(key, value)?;
        for f in [self.probabilities.as_mut(), self.confidence.as_mut()]
            .into_iter()
            .flatten()
        {
            f.writer.set_metadata(key, value)?;
        }
        Ok(())
    }

    /// Writes one block: `classes` row-major `w x h` and, when enabled, `probabilities`
    /// as `classes x h x w` percentages.
    pub fn write_block(
        &mut self,
        (x, y): (usize, usize),
        (w, h): (usize, usize),
        classes: Vec<u8>,
        probabilities: Option<Vec<u8>>,
        confidence: Option<Vec<u8>>,
    ) -> Result<()> {
        self.classes.writer.write(1, (x, y), (w, h), classes)?;
        if let (Some(out), Some(c)) = (self.confidence.as_mut(), confidence) {
            out.writer.write(1, (x, y), (w, h), c)?;
        }
        if let (Some(out), Some(p)) = (self.probabilities.as_mut(), probabilities) {
            for (c, plane) in p.chunks_exact(w * h).enumerate().take(self.count) {
                out.writer.write(1 + c, (x, y), (w, h), plane.to_vec())?;
            }
        }
        Ok(())
    }

    /// Closes the files (converting to COG when asked) and moves them into place
    /// as one set; returns the map's path.
    ///
    /// Every file is written and verified before any is moved, then all of them
    /// (probabilities, confidence, style, the map's `.aux.xml`, the map last) move
    /// as one [`crate::output::commit_set`]: an error on any move puts the old
    /// files back, and SIGINT/SIGTERM wait until the whole set is in place. So the
    /// files beside a map are the map's, never those of another run. A run killed
    /// outright (SIGKILL) between two moves leaves the map absent (or old): its
    /// companions are then recognised as orphans by the rerun and replaced.
    pub fn finish(self) -> Result<PathBuf> {
        let classes = self.classes.close_checked()?;
        let probabilities = self.probabilities.map(OutFile::close_checked).transpose()?;
        let confidence = self.confidence.map(OutFile::close_checked).transpose()?;
        let mut set: Vec<crate::output::SetMember> = [probabilities, confidence]
            .into_iter()
            .flatten()
            .map(Checked::member)
            .collect();
        if let Some(style) = self.style {
            set.push(crate::output::SetMember {
                output: style,
                with_aux: false,
            });
        }
        set.push(classes.member());
        crate::output::commit_set(set)
    }
}

/// What the confidence band holds (its `GEOMAML_CONFIDENCE` metadata item).
pub const CONFIDENCE_DEFINITION: &str =
    "margin between the two most likely classes' probabilities, percent";

/// Metadata item of a probability or confidence file naming its map (file name).
pub const PROBABILITIES_OF: &str = "GEOMAML_PROBABILITIES_OF";

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// Whether `probabilities` is a probability file geomaml wrote for the map `map`.
fn is_probability_file_of(probabilities: &Path, map: &Path) -> bool {
    use gdal::Metadata;
    probabilities.is_file()
        && gdal::Dataset::open(probabilities)
            .ok()
            .and_then(|ds| ds.metadata_item(PROBABILITIES_OF, ""))
            .is_some_and(|m| m == file_name(map))
}

/// Opens the GTiff at `path` with its `.aux.xml` named to GDAL as a sibling file, so
/// that the category names kept there are read (and copied into a COG) even with
/// `GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR`: set by container images and Kubernetes
/// jobs to spare cloud reads, it makes GDAL assume an empty folder and skip the
/// `.aux.xml` beside the file.
fn open_with_aux(path: &Path) -> gdal::errors::Result<gdal::Dataset> {
    let aux = sidecar(path);
    let aux_name = aux
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let siblings = [aux_name.as_str()];
    gdal::Dataset::open_ex(
        path,
        gdal::DatasetOptions {
            open_flags: gdal::GdalOpenFlags::GDAL_OF_RASTER | gdal::GdalOpenFlags::GDAL_OF_READONLY,
            sibling_files: aux.exists().then_some(&siblings[..]),
            ..Default::default()
        },
    )
}

fn sidecar(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".aux.xml");
    PathBuf::from(s)
}
