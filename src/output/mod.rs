//! Outputs that appear whole or not at all, never over something the user has.
//!
//! Every file geomaml writes goes to a hidden temporary sibling
//! (`.<name>.<pid>.partial-<name>`, extension last so GDAL picks the right driver)
//! and is moved into place only when complete:
//!
//! - the data is synced to disk before the move, and the folder after it;
//! - without `--overwrite` the move cannot replace a file (`renameat2` with
//!   `RENAME_NOREPLACE`, else a hard link, which fails when the name exists), so of
//!   two processes racing for one output exactly one wins and the other reports
//!   that it exists; on file systems with neither (FAT/exFAT, some FUSE mounts) the
//!   move is "check, then rename", which a race can still beat;
//! - on error, panic, SIGINT or SIGTERM the temporary is removed
//!   ([`install_signal_cleanup`]); a temporary left by a killed process (SIGKILL,
//!   power loss) is removed by the next run writing the same output, but only once
//!   its process is gone, so two live processes never delete each other's work;
//! - an output that is one of the command's inputs is refused even with
//!   `--overwrite` ([`refuse_input`]);
//! - errors never name a temporary: every temporary is registered with the output
//!   the user asked for, and [`name_outputs`] rewrites any message before it is
//!   shown (GDAL's messages, OS errors and ours alike);
//! - files that belong together (a map, its `.aux.xml`, probabilities, confidence,
//!   style) are moved as one set ([`commit_set`]): all are written first, an error
//!   on any move puts back what the set had replaced, and SIGINT/SIGTERM wait until
//!   the set is wholly in place before the process ends.

use crate::error::{Error, Result};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Temporaries of this process that are not committed yet.
static LIVE: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

fn live() -> std::sync::MutexGuard<'static, Option<HashSet<PathBuf>>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Held while a set of outputs is moved into place; the signal thread takes it
/// before it ends the process, so a signal never leaves half a set.
static COMMIT: Mutex<()> = Mutex::new(());

mod folder;
mod names;
pub use folder::PendingFolder;
mod set;
mod signals;

pub use names::*;
pub use set::*;
pub use signals::*;

/// Whether process `pid` is alive (on this machine).
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The folder a path lives in (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Temporaries of `final_path` and of its `.aux.xml` (`.<name>.<pid>.partial-<name>`,
/// GDAL's `.aux.xml` beside one, and `.<name>.<pid>.previous-<name>`, an old file
/// kept while a set moved) whose writing process is gone.
fn stale_temporaries(final_path: &Path) -> Vec<PathBuf> {
    let Some(name) = final_path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
    else {
        return Vec::new();
    };
    let mut stale = stale_temporaries_named(final_path, &name);
    stale.extend(stale_temporaries_named(
        final_path,
        &format!("{name}.aux.xml"),
    ));
    stale
}

/// Temporaries named for `name` in the folder of `final_path` whose process is gone.
fn stale_temporaries_named(final_path: &Path, name: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(folder_of(final_path)) else {
        return Vec::new();
    };
    let (prefix, suffix) = (format!(".{name}."), format!(".partial-{name}"));
    let kept = format!(".previous-{name}");
    entries
        .flatten()
        .filter(|e| {
            let file = e.file_name().to_string_lossy().to_string();
            // A temporary may carry GDAL's `.aux.xml`; a kept old file is named whole.
            file.strip_prefix(&prefix)
                .and_then(|rest| {
                    rest.strip_suffix(".aux.xml")
                        .unwrap_or(rest)
                        .strip_suffix(&suffix)
                        .or_else(|| rest.strip_suffix(&kept))
                })
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !process_alive(pid))
        })
        .map(|e| e.path())
        .collect()
}

/// Removes temporaries of `final_path` whose writing process is gone; returns how
/// many were removed.
pub fn remove_stale_temporaries(final_path: &Path) -> usize {
    stale_temporaries(final_path)
        .iter()
        .filter(|p| std::fs::remove_file(p).is_ok() || std::fs::remove_dir_all(p).is_ok())
        .count()
}

/// Moves `from` to `to` unless `to` exists (then [`Error::OutputExists`]).
#[allow(unsafe_code)]
fn move_no_replace(from: &Path, to: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let exists = || Error::OutputExists {
        path: to.to_path_buf(),
    };
    let (Ok(a), Ok(b)) = (
        std::ffi::CString::new(from.as_os_str().as_bytes()),
        std::ffi::CString::new(to.as_os_str().as_bytes()),
    ) else {
        return Err(Error::io(
            to,
            std::io::Error::other("path contains a NUL byte"),
        ));
    };
    // SAFETY: two valid NUL-terminated paths, relative to the working directory.
    let rv = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rv == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.kind() == std::io::ErrorKind::AlreadyExists {
        return Err(exists());
    }
    // The file system has no RENAME_NOREPLACE: a hard link fails when `to` exists.
    match std::fs::hard_link(from, to) {
        Ok(()) => {
            let _ = std::fs::remove_file(from);
            return Ok(());
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(exists()),
        Err(_) => {}
    }
    // Neither (FAT, exFAT, object-store mounts): check, then rename.
    if to.exists() {
        return Err(exists());
    }
    std::fs::rename(from, to).map_err(|e| Error::io(to, e))
}

/// Whether a temporary of `final_path` left by a process that is gone exists (what
/// a run killed before moving its output into place leaves).
pub fn has_stale_temporary(final_path: &Path) -> bool {
    !stale_temporaries(final_path).is_empty()
}

/// The path as the file system resolves it (the folder resolved when the file
/// does not exist yet).
fn resolved(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = std::fs::canonicalize(path) {
        return Some(p);
    }
    Some(
        std::fs::canonicalize(folder_of(path))
            .ok()?
            .join(path.file_name()?),
    )
}

/// Checks, before any work, that `output` can be written as a new file: not one of
/// `inputs` ([`refuse_input`]), not existing unless `overwrite`, in a folder that
/// takes files ([`check_writable`]).
///
/// # Errors
/// The first of these faults, naming `output`.
pub fn check_new_output(output: &Path, overwrite: bool, inputs: &[&Path]) -> Result<()> {
    refuse_input(output, inputs)?;
    if output.exists() && !overwrite {
        return Err(Error::OutputExists {
            path: output.to_path_buf(),
        });
    }
    check_writable(output)
}

/// Fails when `output` is one of `inputs` (same file, through any path), whatever
/// `--overwrite` says: replacing an input with a result destroys it.
pub fn refuse_input(output: &Path, inputs: &[&Path]) -> Result<()> {
    let Some(out) = resolved(output) else {
        return Ok(());
    };
    for input in inputs {
        if resolved(input).is_some_and(|i| i == out) {
            return Err(Error::config(
                "--output",
                format!(
                    "{} is also an input of this command; choose another output (--overwrite never replaces an input)",
                    output.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Fails when `output` is one of `files`, the files an input reaches indirectly
/// (the sources of a VRT scene, the tiles a catalog lists), whatever `--overwrite`
/// says; the error names the input through which it is reached.
pub fn refuse_reached_input(
    output: &Path,
    input: &Path,
    files: impl IntoIterator<Item = PathBuf>,
) -> Result<()> {
    let Some(out) = resolved(output) else {
        return Ok(());
    };
    for file in files {
        if resolved(&file).is_some_and(|f| f == out) {
            return Err(Error::config(
                "--output",
                format!(
                    "{} is {}, which the input {} reads; choose another output (--overwrite never replaces an input)",
                    output.display(),
                    file.display(),
                    input.display()
                ),
            ));
        }
    }
    Ok(())
}

/// This process's temporary for `final_path`: `.<name>.<pid>.partial-<name>`
/// beside it.
fn temporary_of(final_path: &Path) -> PathBuf {
    let name = final_path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    folder_of(final_path).join(format!(".{}.{}.partial-{name}", name, std::process::id()))
}

/// Fails, naming `path` (the output the user asked for), when it cannot be
/// written: its folder is missing, it is a folder, or no file can be created in
/// its folder (permissions, a read-only file system). Commands that work long
/// before writing (`adapt`, `map --labels`) call it first, so a bad `-o` costs
/// nothing; [`PendingOutput::new`] calls it too, so a failure names the output
/// and not the hidden temporary it would have been written to.
pub fn check_writable(path: &Path) -> Result<()> {
    let parent = folder_of(path);
    if !parent.is_dir() {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "output folder does not exist"),
        ));
    }
    if path.is_dir() {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a folder"),
        ));
    }
    // Creating a file is the one true test (mode bits, ACLs, read-only mounts and
    // root all answer the same way); the probe has the temporary's name, so a kill
    // right here leaves a file the next run recognises and removes.
    let probe = temporary_of(path);
    name_temporary(&probe, path);
    let registered = live()
        .get_or_insert_with(HashSet::new)
        .insert(probe.clone());
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe);
    let result = match created {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io(
            path,
            std::io::Error::new(
                e.kind(),
                format!("cannot write in its folder {}: {e}", parent.display()),
            ),
        )),
    };
    if registered {
        if let Some(set) = live().as_mut() {
            set.remove(&probe);
        }
    }
    result
}

/// A file being written: lives at a temporary path until [`PendingOutput::commit`].
#[derive(Debug)]
pub struct PendingOutput {
    final_path: PathBuf,
    temp_path: PathBuf,
    overwrite: bool,
    committed: bool,
}

impl PendingOutput {
    /// Reserves `path`; fails when it exists and `overwrite` is false, or when its
    /// folder does not exist. Stale temporaries of `path` are removed.
    pub fn new(path: impl AsRef<Path>, overwrite: bool) -> Result<Self> {
        let final_path = path.as_ref().to_path_buf();
        if final_path.exists() && !overwrite {
            return Err(Error::OutputExists { path: final_path });
        }
        check_writable(&final_path)?;
        remove_stale_temporaries(&final_path);
        let temp_path = temporary_of(&final_path);
        name_temporary(&temp_path, &final_path);
        live()
            .get_or_insert_with(HashSet::new)
            .insert(temp_path.clone());
        Ok(PendingOutput {
            final_path,
            temp_path,
            overwrite,
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

    /// Names this temporary (and the file it would become) as `shown` in messages:
    /// a COG's staging GTiff is an inner step of writing the user's map.
    pub fn shown_as(&self, shown: &Path) {
        name_temporary(&self.temp_path, shown);
        name_temporary(&self.final_path, shown);
    }

    /// `err` as the user should read it: naming the output they asked for, not the
    /// hidden temporary it is written to (see [`name_outputs`]).
    pub fn user_error(&self, err: Error) -> Error {
        user_error(err)
    }

    /// Syncs the finished file and moves it into place (never over an existing file
    /// unless overwriting was allowed); syncs the folder.
    pub fn commit(mut self) -> Result<PathBuf> {
        let sync = |p: &Path| std::fs::File::open(p).and_then(|f| f.sync_all());
        sync(&self.temp_path).map_err(|e| Error::io(&self.final_path, e))?;
        if self.overwrite {
            std::fs::rename(&self.temp_path, &self.final_path)
                .map_err(|e| Error::io(&self.final_path, e))?;
        } else {
            move_no_replace(&self.temp_path, &self.final_path)?;
        }
        self.committed = true;
        if let Some(set) = live().as_mut() {
            set.remove(&self.temp_path);
        }
        let _ = sync(folder_of(&self.final_path));
        Ok(self.final_path.clone())
    }
}

impl Drop for PendingOutput {
    fn drop(&mut self) {
        if !self.committed {
            remove_temporary(&self.temp_path);
            if let Some(set) = live().as_mut() {
                set.remove(&self.temp_path);
            }
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
mod tests;
