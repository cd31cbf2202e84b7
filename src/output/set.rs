//! Files that belong together (a map, its `.aux.xml`, probabilities, confidence,
//! style) moved into place as one set.

use super::*;

/// One file of a set moved into place by [`commit_set`].
#[derive(Debug)]
pub struct SetMember {
    /// The written file.
    pub output: PendingOutput,
    /// A GDAL raster: its `.aux.xml` (category names) goes with it, and an old
    /// `.aux.xml` at the final name goes when the new file has none.
    pub with_aux: bool,
}

/// One move of a set: `from` onto `to` (`from` absent: `to` is removed).
struct SetMove {
    from: Option<PathBuf>,
    to: PathBuf,
    replace: bool,
}

/// Where `to` is kept while a set replaces it: `.<name>.<pid>.previous-<name>`.
/// A process killed (SIGKILL) during the moves leaves it; the next run writing
/// `to` removes it once the process is gone.
fn previous_of(to: &Path) -> PathBuf {
    let name = to
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    folder_of(to).join(format!(".{name}.{}.previous-{name}", std::process::id()))
}

/// Test hook: `GEOMAML_COMMIT_PAUSE_MS` pauses a set's commit after its first
/// file (with its `.aux.xml`) is in place, so that a test can signal the process at exactly that moment.
fn commit_pause() -> Option<std::time::Duration> {
    std::env::var("GEOMAML_COMMIT_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(std::time::Duration::from_millis)
}

/// Moves the files of a set into place, in order (put the file that says the set
/// is there, e.g. a map, last), as one unit:
///
/// - every file is synced before anything moves, and an existing output that may
///   not be replaced fails the set before anything moves;
/// - each file it replaces is kept (hard link) until the whole set is in place;
///   when a move fails, the moves already made are undone (old files back, new
///   ones removed), so the outputs are wholly old or wholly new;
/// - SIGINT/SIGTERM wait for the set (the signal thread takes the same lock) and
///   end the process once it is in place.
///
/// SIGKILL or power loss between two moves leaves the companions moved so far new,
/// the rest old, and the last file absent (an old one is removed first): a last
/// file present always has its own set, and the rerun of the command completes it.
pub fn commit_set(mut members: Vec<SetMember>) -> Result<PathBuf> {
    let sync = |p: &Path| std::fs::File::open(p).and_then(|f| f.sync_all());
    let mut moves = Vec::new();
    // The last file says the set is there. When it and companions replace an old
    // set, the old last file (and its `.aux.xml`) goes first, so that even a kill
    // between two moves (SIGKILL, power loss) never leaves an old map beside new
    // companions: a map present always has its own set.
    if let Some(last) = members.last() {
        let out = &last.output;
        let companions = members.len() > 1 || members.iter().any(|m| m.with_aux);
        if companions && out.overwrite && std::fs::symlink_metadata(&out.final_path).is_ok() {
            let aux = last.with_aux.then(|| sidecar_of(&out.final_path));
            for to in std::iter::once(out.final_path.clone()).chain(aux) {
                moves.push(SetMove {
                    from: None,
                    to,
                    replace: true,
                });
            }
        }
    }
    // The old map is gone on disk before any companion moves (power loss too).
    let set_aside = moves.len();
    for m in &members {
        let out = &m.output;
        if m.with_aux {
            let aux = sidecar_of(&out.temp_path);
            moves.push(SetMove {
                from: aux.exists().then_some(aux),
                to: sidecar_of(&out.final_path),
                replace: true,
            });
        }
        moves.push(SetMove {
            from: Some(out.temp_path.clone()),
            to: out.final_path.clone(),
            replace: out.overwrite,
        });
    }
    let Some(last) = members.last().map(|m| m.output.final_path.clone()) else {
        return Err(Error::runtime("moving an empty set of outputs into place"));
    };
    for m in &moves {
        if let Some(from) = &m.from {
            sync(from).map_err(|e| Error::io(&m.to, e))?;
        }
    }
    let _commit = COMMIT.lock().unwrap_or_else(|e| e.into_inner());
    COMMIT_OWNER.store(thread_tag(), std::sync::atomic::Ordering::SeqCst);
    let _owner = ClearOwner;
    if let Some(m) = moves.iter().find(|m| !m.replace && m.to.exists()) {
        return Err(Error::OutputExists { path: m.to.clone() });
    }
    let pause = commit_pause();
    let first_file = members[0].output.final_path.clone();
    let mut kept: Vec<Option<PathBuf>> = Vec::new();
    for (i, m) in moves.iter().enumerate() {
        let step = move_keeping_previous(m);
        match step {
            Ok(previous) => kept.push(previous),
            Err(e) => {
                undo_moves(&moves[..i], &kept);
                return Err(user_error(e));
            }
        }
        if i + 1 == set_aside {
            let _ = sync(folder_of(&m.to));
        }
        if m.from.is_some() && m.to == first_file {
            if let Some(p) = pause {
                std::thread::sleep(p);
            }
        }
    }
    for previous in kept.iter().flatten() {
        let _ = std::fs::remove_file(previous);
    }
    let mut folders = HashSet::new();
    {
        let mut live = live();
        for m in &mut members {
            m.output.committed = true;
            if let Some(set) = live.as_mut() {
                set.remove(&m.output.temp_path);
            }
            folders.insert(folder_of(&m.output.final_path).to_path_buf());
        }
    }
    for f in folders {
        let _ = sync(&f);
    }
    // A signal that came during the moves waited for them: end now, with the set
    // whole, before the command can report success.
    exit_if_signalled();
    Ok(last)
}

/// Clears [`COMMIT_OWNER`] when a commit ends, however it ends.
struct ClearOwner;

impl Drop for ClearOwner {
    fn drop(&mut self) {
        COMMIT_OWNER.store(0, std::sync::atomic::Ordering::SeqCst);
    }
}

/// One move of a set; returns where the file it replaced is kept.
fn move_keeping_previous(m: &SetMove) -> Result<Option<PathBuf>> {
    let previous = if std::fs::symlink_metadata(&m.to).is_ok() {
        let keep = previous_of(&m.to);
        let _ = std::fs::remove_file(&keep);
        std::fs::hard_link(&m.to, &keep)
            .or_else(|_| std::fs::copy(&m.to, &keep).map(|_| ()))
            .map_err(|e| Error::io(&m.to, e))?;
        Some(keep)
    } else {
        None
    };
    let moved = match &m.from {
        Some(from) if m.replace => std::fs::rename(from, &m.to).map_err(|e| Error::io(&m.to, e)),
        Some(from) => move_no_replace(from, &m.to),
        None if previous.is_some() => std::fs::remove_file(&m.to).map_err(|e| Error::io(&m.to, e)),
        None => Ok(()),
    };
    match moved {
        Ok(()) => Ok(previous),
        Err(e) => {
            if let Some(p) = previous {
                let _ = std::fs::remove_file(p);
            }
            Err(e)
        }
    }
}

/// Undoes the moves of a set that were made, last first.
fn undo_moves(moves: &[SetMove], kept: &[Option<PathBuf>]) {
    for (m, previous) in moves.iter().zip(kept).rev() {
        match previous {
            Some(p) => {
                let _ = std::fs::rename(p, &m.to);
            }
            None if m.from.is_some() => {
                let _ = std::fs::remove_file(&m.to);
            }
            None => {}
        }
    }
}

/// GDAL's `.aux.xml` beside `p`.
pub(super) fn sidecar_of(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".aux.xml");
    PathBuf::from(s)
}
