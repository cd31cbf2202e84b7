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

/// How many temporary names [`name_outputs`] remembers: enough for every file of
/// the scenes a batch has in flight, bounded so that a batch of a million scenes
/// does not grow without end.
const NAMES_KEPT: usize = 4096;

/// Temporaries of this process and the output the user asked for, newest last.
/// Kept after the temporary is gone: the error that removed it is shown later.
static NAMES: Mutex<std::collections::VecDeque<(String, String)>> =
    Mutex::new(std::collections::VecDeque::new());

/// Held while a set of outputs is moved into place; the signal thread takes it
/// before it ends the process, so a signal never leaves half a set.
static COMMIT: Mutex<()> = Mutex::new(());

/// Registers `temporary` as a name of `shown` (the user's output) for messages.
pub fn name_temporary(temporary: &Path, shown: &Path) {
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let entry = (temporary.display().to_string(), shown.display().to_string());
    if names.contains(&entry) {
        return;
    }
    if names.len() == NAMES_KEPT {
        names.pop_front();
    }
    names.push_back(entry);
}

/// `text` with every temporary of this process replaced by the output the user
/// asked for: what any message about an output must name. Longer names first, so
/// a COG's staging temporary is not half-replaced through the shorter name it
/// contains.
pub fn name_outputs(text: &str) -> String {
    let names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if names.is_empty() {
        return text.to_string();
    }
    let mut by_length: Vec<&(String, String)> = names.iter().collect();
    by_length.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
    let mut out = text.to_string();
    for (temp, shown) in by_length {
        if out.contains(temp.as_str()) {
            out = out.replace(temp.as_str(), shown);
        }
    }
    out
}

/// The output the user asked for behind `path`, when `path` is a temporary of
/// this process (or GDAL's `.aux.xml` beside one); else `path`.
pub fn user_path(path: &Path) -> PathBuf {
    PathBuf::from(name_outputs(&path.display().to_string()))
}

/// `err` naming the outputs the user asked for wherever it named a temporary of
/// this process: in its path, its text and its cause's text.
pub fn user_error(err: Error) -> Error {
    let text = |r: String| name_outputs(&r);
    let named = |c: crate::error::Cause| -> crate::error::Cause {
        let m = c.to_string();
        let n = name_outputs(&m);
        if n == m {
            c
        } else {
            n.into()
        }
    };
    match err {
        Error::Raster {
            path,
            reason,
            cause,
        } => Error::Raster {
            path: user_path(&path),
            reason: text(reason),
            cause: cause.map(named),
        },
        Error::Model {
            path,
            reason,
            cause,
        } => Error::Model {
            path: user_path(&path),
            reason: text(reason),
            cause: cause.map(named),
        },
        Error::Io { path, source } => Error::Io {
            path: user_path(&path),
            source,
        },
        Error::OutputExists { path } => Error::OutputExists {
            path: user_path(&path),
        },
        Error::Other(m) => Error::Other(text(m)),
        // GDAL's messages name the file it was writing: the temporary.
        Error::Runtime { what, cause } => Error::Runtime {
            what: text(what),
            cause: cause.map(named),
        },
        other => other,
    }
}

/// Removes a temporary and the `.aux.xml` GDAL may have put beside it.
fn remove_temporary(path: &Path) {
    let _ = std::fs::remove_file(path);
    let mut aux = path.to_path_buf().into_os_string();
    aux.push(".aux.xml");
    let _ = std::fs::remove_file(aux);
}

/// Removes every uncommitted temporary of this process (used on SIGINT/SIGTERM).
pub fn remove_live_temporaries() {
    if let Some(set) = live().as_ref() {
        for p in set {
            remove_temporary(p);
        }
    }
}

/// Holds SIGINT and SIGTERM pending (blocked) in the calling thread and in every
/// thread and program it starts. `geomaml` calls it before it hands a command to
/// `geomaml-train` and `geomaml-train` first thing in `main`: the mask survives
/// `exec`, so a signal that arrives while the process is still loading (libtorch
/// takes about a second, twice with the restart for the OpenMP wait policy) waits
/// for [`install_signal_cleanup`] instead of killing the process by the signal.
#[allow(unsafe_code)]
pub fn block_termination_signals() {
    // SAFETY: an initialised, emptied signal set; changes only this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Undoes [`block_termination_signals`] for the calling thread (and the threads it
/// starts afterwards); a signal held pending is delivered now.
#[allow(unsafe_code)]
fn unblock_termination_signals() {
    // SAFETY: as in `block_termination_signals`.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}

/// The signal (SIGINT/SIGTERM) this process received, 0 before any: set inside
/// the signal handler itself, so code that must not outrun a signal (the end of a
/// set's commit, the end of the command) sees it the moment it is delivered.
static SIGNALLED: std::sync::LazyLock<std::sync::Arc<std::sync::atomic::AtomicUsize>> =
    std::sync::LazyLock::new(|| std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0)));

/// Removes this process's temporaries when it receives SIGINT or SIGTERM, then
/// exits with 130 or 143 as a shell reports signals. Call first thing in `main`,
/// before any work, so that a signal at any moment of a command ends it this way;
/// signals held pending by [`block_termination_signals`] are taken here.
///
/// A set of outputs being moved into place ([`commit_set`]) is finished first,
/// and no temporary can be registered once the signal is taken.
pub fn install_signal_cleanup() -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register_usize(sig, std::sync::Arc::clone(&SIGNALLED), sig as usize)
            .map_err(|e| Error::runtime_source("installing signal handlers", e))?;
    }
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| Error::runtime_source("installing signal handlers", e))?;
    std::thread::Builder::new()
        .name("geomaml-signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                end_on_signal(sig);
            }
        })
        .map_err(|e| Error::runtime_source("starting the signal thread", e))?;
    unblock_termination_signals();
    Ok(())
}

/// Ends the process as a signal asks when one was received: a command that
/// finished its work while a signal was on its way still exits 128 + signal,
/// never 0. Call at the end of a command.
pub fn exit_if_signalled() {
    let sig = SIGNALLED.load(std::sync::atomic::Ordering::SeqCst);
    if sig != 0 {
        end_on_signal(sig as i32);
    }
}

/// Removes this process's temporaries and exits 128 + `sig`, once no set of
/// outputs is being moved into place.
fn end_on_signal(sig: i32) -> ! {
    // Let a set being moved into place finish (unless this thread is the one
    // moving it, at its end); keep the lock and the list of temporaries until the
    // end, so that nothing new starts.
    let _commit = COMMIT.try_lock().ok().or_else(|| {
        if COMMIT_OWNER.load(std::sync::atomic::Ordering::SeqCst) == thread_tag() {
            None
        } else {
            Some(COMMIT.lock().unwrap_or_else(|e| e.into_inner()))
        }
    });
    let live = live();
    let remove = || {
        for p in live.iter().flatten() {
            remove_temporary(p);
        }
    };
    remove();
    // A thread inside GDAL may still create a registered temporary it was
    // opening when the signal came: look once more.
    std::thread::sleep(std::time::Duration::from_millis(50));
    remove();
    eprintln!("geomaml: interrupted; temporary files removed");
    exit_now(128 + sig)
}

/// Leaves at once: exit handlers of native libraries (ONNX Runtime, libtorch)
/// would race the threads still computing.
#[allow(unsafe_code)]
fn exit_now(code: i32) -> ! {
    // SAFETY: _exit ends the process without touching shared state.
    unsafe { libc::_exit(code) }
}

/// The thread moving a set into place (0: none), so that the check at the end of
/// [`commit_set`] does not wait for the lock its own thread holds.
static COMMIT_OWNER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A number for the calling thread, never 0.
fn thread_tag() -> usize {
    thread_local!(static TAG: u8 = const { 0 });
    TAG.with(|t| t as *const u8 as usize)
}

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

/// Temporaries of `final_path` (`.<name>.<pid>.partial-<name>`, and GDAL's
/// `.aux.xml` beside one) whose writing process is gone.
fn stale_temporaries(final_path: &Path) -> Vec<PathBuf> {
    let Some(name) = final_path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
    else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(folder_of(final_path)) else {
        return Vec::new();
    };
    let (prefix, suffix) = (format!(".{name}."), format!(".partial-{name}"));
    let kept = format!(".previous-{name}");
    entries
        .flatten()
        .filter(|e| {
            let file = e.file_name().to_string_lossy().to_string();
            file.strip_prefix(&prefix)
                .map(|rest| rest.strip_suffix(".aux.xml").unwrap_or(rest))
                .and_then(|rest| {
                    rest.strip_suffix(&suffix)
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
        .filter(|p| std::fs::remove_file(p).is_ok())
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
/// Not covered: SIGKILL or power loss between two moves leaves some files new
/// and others old (the last file, old or absent, shows the set is not complete).
pub fn commit_set(mut members: Vec<SetMember>) -> Result<PathBuf> {
    let sync = |p: &Path| std::fs::File::open(p).and_then(|f| f.sync_all());
    let mut moves = Vec::new();
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
        return Err(Error::Other("an empty set of outputs".into()));
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
        if m.to == first_file {
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
fn sidecar_of(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".aux.xml");
    PathBuf::from(s)
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
    fn errors_name_the_output_not_its_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("next.geojson");
        let out = PendingOutput::new(&target, false).unwrap();
        let temp = out.temp_path().display().to_string();
        let gdal = format!("Failed to create GeoJSON datasource: {temp}");
        let e = out.user_error(Error::runtime_source("creating the layer", gdal));
        let shown = e.to_string();
        assert!(!shown.contains(&temp), "{shown}");
        assert!(shown.contains(&target.display().to_string()), "{shown}");
    }

    #[test]
    fn a_staging_temporary_is_named_as_the_users_output() {
        let dir = tempfile::tempdir().unwrap();
        let map = dir.path().join("map.tif");
        let staging = PendingOutput::new(dir.path().join("map.tif.staging.tif"), true).unwrap();
        staging.shown_as(&map);
        let text = format!(
            "TIFFWrite: {}: No space left on device; {}.aux.xml",
            staging.temp_path().display(),
            staging.temp_path().display()
        );
        let shown = name_outputs(&text);
        assert!(
            !shown.contains("staging") && !shown.contains(".partial-"),
            "{shown}"
        );
        assert!(
            shown.contains(&format!("{}.aux.xml", map.display())),
            "{shown}"
        );
    }

    #[test]
    fn a_set_whose_move_fails_is_put_back_wholly_old() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.tif"), dir.path().join("b.tif"));
        std::fs::write(&a, b"old a").unwrap();
        std::fs::write(sidecar_of(&a), b"old a aux").unwrap();
        // `b` is a folder that is not empty: moving a file onto it fails.
        std::fs::create_dir(&b).unwrap();
        std::fs::write(b.join("x"), b"x").unwrap();
        let pa = PendingOutput::new(&a, true).unwrap();
        std::fs::write(pa.temp_path(), b"new a").unwrap();
        let pb = PendingOutput {
            final_path: b.clone(),
            temp_path: temporary_of(&b),
            overwrite: true,
            committed: false,
        };
        std::fs::write(pb.temp_path(), b"new b").unwrap();
        let set = vec![
            SetMember {
                output: pa,
                with_aux: true,
            },
            SetMember {
                output: pb,
                with_aux: false,
            },
        ];
        let err = commit_set(set).unwrap_err();
        assert!(err.to_string().contains("b.tif"), "{err}");
        assert_eq!(std::fs::read(&a).unwrap(), b"old a");
        // The old `.aux.xml` (none in the new set) is back too.
        assert_eq!(std::fs::read(sidecar_of(&a)).unwrap(), b"old a aux");
        let mut left = list_names(dir.path());
        left.sort();
        assert_eq!(left, ["a.tif", "a.tif.aux.xml", "b.tif"]);
    }

    fn list_names(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect()
    }

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

    #[test]
    fn a_file_appearing_while_writing_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("map.tif");
        let out = PendingOutput::new(&target, false).unwrap();
        std::fs::write(out.temp_path(), b"mine").unwrap();
        // Another process commits the same output first.
        std::fs::write(&target, b"theirs").unwrap();
        assert!(matches!(out.commit(), Err(Error::OutputExists { .. })));
        assert_eq!(std::fs::read(&target).unwrap(), b"theirs");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn stale_temporaries_of_dead_processes_go_and_live_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("map.tif");
        // No process has pid 4194305 (above Linux's pid_max).
        let dead = dir.path().join(".map.tif.4194305.partial-map.tif");
        let dead_aux = dir.path().join(".map.tif.4194305.partial-map.tif.aux.xml");
        let alive = dir
            .path()
            .join(format!(".map.tif.{}.partial-map.tif", std::process::id()));
        let other = dir.path().join(".other.tif.4194305.partial-other.tif");
        for p in [&dead, &dead_aux, &alive, &other] {
            std::fs::write(p, b"x").unwrap();
        }
        assert_eq!(remove_stale_temporaries(&target), 2);
        assert!(!dead.exists() && !dead_aux.exists() && alive.exists() && other.exists());
    }

    #[test]
    fn an_input_is_never_an_output() {
        let dir = tempfile::tempdir().unwrap();
        let scene = dir.path().join("s.tif");
        std::fs::write(&scene, b"scene").unwrap();
        let via_dot = dir.path().join(".").join("s.tif");
        let err = refuse_input(&via_dot, &[Path::new("model.onnx"), &scene]).unwrap_err();
        assert!(err.to_string().contains("also an input"), "{err}");
        assert!(refuse_input(&dir.path().join("map.tif"), &[&scene]).is_ok());
    }
}
