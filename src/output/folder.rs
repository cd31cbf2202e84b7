//! [`PendingFolder`]: a folder output (a tile store) built at a temporary sibling
//! and moved into place whole, under the same rules as [`super::PendingOutput`].

use super::*;

/// A folder being written (a tile store): filled at a temporary sibling, moved into
/// place by [`PendingFolder::commit`], removed if never committed (also on
/// SIGINT/SIGTERM, and by the next run once its process is gone).
#[derive(Debug)]
pub struct PendingFolder {
    final_path: PathBuf,
    temp_path: PathBuf,
    committed: bool,
}

impl PendingFolder {
    /// Reserves the folder `path`; fails when it exists and `overwrite` is false.
    pub fn new(path: impl AsRef<Path>, overwrite: bool) -> Result<Self> {
        let final_path = path.as_ref().to_path_buf();
        if final_path.exists() && !overwrite {
            return Err(Error::OutputExists { path: final_path });
        }
        remove_stale_temporaries(&final_path);
        let temp_path = temporary_of(&final_path);
        let _ = std::fs::remove_dir_all(&temp_path);
        std::fs::create_dir_all(&temp_path).map_err(|e| Error::io(&final_path, e))?;
        name_temporary(&temp_path, &final_path);
        live()
            .get_or_insert_with(HashSet::new)
            .insert(temp_path.clone());
        Ok(PendingFolder {
            final_path,
            temp_path,
            committed: false,
        })
    }

    /// Where to write now.
    pub fn temp_path(&self) -> &Path {
        &self.temp_path
    }

    /// Moves the finished folder into place, replacing an existing one (allowed
    /// by [`PendingFolder::new`]); syncs the parent folder.
    pub fn commit(mut self) -> Result<PathBuf> {
        let _guard = COMMIT.lock().unwrap_or_else(|e| e.into_inner());
        if self.final_path.exists() {
            std::fs::remove_dir_all(&self.final_path)
                .map_err(|e| Error::io(&self.final_path, e))?;
        }
        std::fs::rename(&self.temp_path, &self.final_path)
            .map_err(|e| Error::io(&self.final_path, e))?;
        self.committed = true;
        if let Some(set) = live().as_mut() {
            set.remove(&self.temp_path);
        }
        let _ = std::fs::File::open(folder_of(&self.final_path)).and_then(|f| f.sync_all());
        Ok(self.final_path.clone())
    }
}

impl Drop for PendingFolder {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.temp_path);
            if let Some(set) = live().as_mut() {
                set.remove(&self.temp_path);
            }
        }
    }
}
