//! Output folders that appear whole or not at all: written under a hidden temporary
//! sibling and renamed into place when complete.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// A folder being filled; removed on drop unless committed.
#[derive(Debug)]
pub struct PendingTree {
    final_path: PathBuf,
    temp_path: PathBuf,
    committed: bool,
}

impl PendingTree {
    /// Reserves `out`: refuses an existing file or non-empty folder unless
    /// `overwrite`; creates missing parent folders.
    pub fn new(out: impl AsRef<Path>, overwrite: bool) -> Result<Self> {
        let final_path = out.as_ref().to_path_buf();
        let occupied = if final_path.is_dir() {
            std::fs::read_dir(&final_path)
                .map_err(|e| Error::io(&final_path, e))?
                .next()
                .is_some()
        } else {
            final_path.exists()
        };
        if occupied && !overwrite {
            return Err(Error::OutputExists { path: final_path });
        }
        let parent = final_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        let name = final_path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "out".into());
        let temp_path = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if temp_path.exists() {
            std::fs::remove_dir_all(&temp_path).map_err(|e| Error::io(&temp_path, e))?;
        }
        std::fs::create_dir(&temp_path).map_err(|e| Error::io(&temp_path, e))?;
        Ok(PendingTree {
            final_path,
            temp_path,
            committed: false,
        })
    }

    /// Where to write now.
    pub fn root(&self) -> &Path {
        &self.temp_path
    }

    /// Replaces whatever is at the final path with the finished folder.
    pub fn commit(mut self) -> Result<PathBuf> {
        let p = &self.final_path;
        if p.is_dir() {
            std::fs::remove_dir_all(p).map_err(|e| Error::io(p, e))?;
        } else if p.exists() {
            std::fs::remove_file(p).map_err(|e| Error::io(p, e))?;
        }
        std::fs::rename(&self.temp_path, p).map_err(|e| Error::io(p, e))?;
        self.committed = true;
        Ok(p.clone())
    }
}

impl Drop for PendingTree {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.temp_path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_appear_only_on_commit_and_respect_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("a/b");
        {
            let t = PendingTree::new(&out, false).unwrap();
            std::fs::write(t.root().join("x"), b"1").unwrap();
        }
        assert!(!out.exists());
        assert_eq!(std::fs::read_dir(dir.path().join("a")).unwrap().count(), 0);
        let t = PendingTree::new(&out, false).unwrap();
        std::fs::write(t.root().join("x"), b"1").unwrap();
        t.commit().unwrap();
        assert!(matches!(
            PendingTree::new(&out, false),
            Err(Error::OutputExists { .. })
        ));
        let t = PendingTree::new(&out, true).unwrap();
        t.commit().unwrap();
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
    }
}
