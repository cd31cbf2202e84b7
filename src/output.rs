//! Outputs that appear whole or not at all.
//!
//! Every file geomaml writes goes to a temporary sibling first and is renamed into
//! place on success; on error or panic the temporary is removed. An existing output
//! is only replaced when the user said so.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// A file being written: lives at a temporary path until [`PendingOutput::commit`].
#[derive(Debug)]
pub struct PendingOutput {
    final_path: PathBuf,
    temp_path: PathBuf,
    committed: bool,
}

impl PendingOutput {
    /// Reserves `path`; fails when it exists and `overwrite` is false, or when its
    /// folder does not exist.
    pub fn new(path: impl AsRef<Path>, overwrite: bool) -> Result<Self> {
        let final_path = path.as_ref().to_path_buf();
        if final_path.exists() && !overwrite {
            return Err(Error::OutputExists { path: final_path });
        }
        let parent = final_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !parent.is_dir() {
            return Err(Error::io(
                &final_path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "output folder does not exist"),
            ));
        }
        let name = final_path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        // Keep the extension last: GDAL picks drivers and sidecars by it.
        let temp_path = parent.join(format!(".{}.{}.partial-{name}", name, std::process::id()));
        Ok(PendingOutput {
            final_path,
            temp_path,
            committed: false,
        })
    }

    /// Where to write now.
    pub fn temp_path(&self) -> &Path {
        &self.temp_path
    }

    /// Where the file will be.
    pub fn final_path(&self) -> &Path {
        &self.final_path
    }

    /// Moves the finished file into place.
    pub fn commit(mut self) -> Result<PathBuf> {
        std::fs::rename(&self.temp_path, &self.final_path)
            .map_err(|e| Error::io(&self.final_path, e))?;
        self.committed = true;
        Ok(self.final_path.clone())
    }
}

impl Drop for PendingOutput {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp_path);
            // GDAL may leave an .aux.xml beside the temporary.
            let mut aux = self.temp_path.clone().into_os_string();
            aux.push(".aux.xml");
            let _ = std::fs::remove_file(aux);
        }
    }
}

/// Writes bytes atomically to `path`.
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8], overwrite: bool) -> Result<PathBuf> {
    let out = PendingOutput::new(path, overwrite)?;
    std::fs::write(out.temp_path(), bytes).map_err(|e| Error::io(out.final_path(), e))?;
    out.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncommitted_outputs_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("map.tif");
        {
            let out = PendingOutput::new(&target, false).unwrap();
            std::fs::write(out.temp_path(), b"half").unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn existing_outputs_need_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.json");
        write_atomic(&target, b"1", false).unwrap();
        assert!(matches!(
            write_atomic(&target, b"2", false),
            Err(Error::OutputExists { .. })
        ));
        write_atomic(&target, b"2", true).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"2");
    }
}
