//! The land-cover GeoTIFF(s) a map is written to, in the layout of
//! [`super::layout`].
//!
//! Class names are GDAL category names, which GDAL keeps in the `.aux.xml`
//! sidecar (moved along with the map). A COG is converted from a staging GTiff
//! opened with its `.aux.xml` named explicitly, so the category names survive
//! `GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR` (see [`open_with_aux`]).
//!
//! A QGIS style `<stem>.qml` beside the map lists exactly its classes (see
//! [`crate::raster::qml`]); a `.qml` there that geomaml did not write is kept.
//!
//! Files are tiled DEFLATE GeoTIFFs written to temporary names and renamed at the
//! end; `--cog` writes a tiled GTiff first and converts it with GDAL's COG driver
//! (nearest-neighbour overviews).

use super::layout::{file_path, MapFile, MapLayout, PROBABILITIES_OF};
use super::request::MapOptions;
use crate::error::{Error, Result};
use crate::output::PendingOutput;
use crate::raster::{GeoTiffWriter, Georef, WriterOptions};
use gdal::raster::RasterCreationOptions;
use gdal::DriverManager;
use std::path::{Path, PathBuf};

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
            let out = src
                .create_copy(&driver, target, &opts)
                .map_err(|e| Error::raster_source(final_out.final_path(), "writing the COG", e))?;
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
}

impl MapSink {
    /// Creates the map at `path` (refusing existing files unless `overwrite`),
    /// with the companions `options` asks for, laid out as `layout` says.
    pub fn create(
        path: &Path,
        overwrite: bool,
        size: (usize, usize),
        georef: &Georef,
        layout: &MapLayout,
        options: &MapOptions,
        cog: bool,
    ) -> Result<Self> {
        let map_name = file_name(path);
        // A run killed between moving its probability/confidence file and its map
        // leaves them beside the map's temporary: they are ours, and incomplete.
        let killed_midway = !path.exists() && crate::output::has_stale_temporary(path);
        let create = |file: MapFile| -> Result<OutFile> {
            let at = file_path(path, file);
            let orphan =
                file != MapFile::Classes && killed_midway && is_probability_file_of(&at, path);
            let names = layout.band_names(file);
            let mut f = OutFile::create(&at, overwrite || orphan, size, names.len(), georef, cog)?;
            for (i, name) in names.iter().enumerate() {
                f.writer.set_nodata(i + 1, layout.nodata(file) as f64)?;
                f.writer.set_band_name(i + 1, name)?;
            }
            for (k, v) in layout.metadata(file, Some(&map_name)) {
                f.writer.set_metadata(&k, &v)?;
            }
            Ok(f)
        };
        let mut classes = create(MapFile::Classes)?;
        classes.writer.set_color_table(1, layout.classes())?;
        let target = classes.target().to_path_buf();
        super::categories::set_category_names(
            classes.writer.dataset_mut(),
            1,
            &layout.category_names(),
        )
        .map_err(|e| Error::raster_source(&target, "", e))?;
        let probabilities = options
            .probabilities
            .then(|| create(MapFile::Probabilities))
            .transpose()?;
        let confidence = options
            .confidence
            .then(|| create(MapFile::Confidence))
            .transpose()?;
        let style_path = crate::raster::qml::style_path(path);
        let style = if !style_path.exists() || crate::raster::qml::is_geomaml_style(&style_path) {
            let out = PendingOutput::new(&style_path, true)?;
            std::fs::write(
                out.temp_path(),
                crate::raster::qml::paletted_style(layout.classes()),
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
            count: layout.classes().len(),
        })
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
    /// outright (SIGKILL) between two moves leaves the map absent (an old map is set
    /// aside first): its companions are then recognised as orphans by the rerun and
    /// replaced.
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
