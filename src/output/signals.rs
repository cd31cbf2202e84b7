//! SIGINT/SIGTERM: temporaries removed, a set being committed finished, exit
//! 128 + signal.

use super::*;

/// Removes a temporary and the `.aux.xml` GDAL may have put beside it.
pub(super) fn remove_temporary(path: &Path) {
    if path.is_dir() {
        let _ = std::fs::remove_dir_all(path);
        return;
    }
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
    let mut ids = Vec::new();
    let installed = (|| {
        for sig in [SIGINT, SIGTERM] {
            let id = signal_hook::flag::register_usize(
                sig,
                std::sync::Arc::clone(&SIGNALLED),
                sig as usize,
            )
            .map_err(|e| Error::runtime_source("installing signal handlers", e))?;
            ids.push(id);
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
        Ok(())
    })();
    if installed.is_err() {
        // Without the thread nothing would act on the flag: give SIGINT/SIGTERM
        // back their default action rather than leave Ctrl-C without effect.
        for id in ids {
            signal_hook::low_level::unregister(id);
        }
    }
    // Always: signals held since the start must not stay held for the whole run.
    unblock_termination_signals();
    installed
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
pub(super) static COMMIT_OWNER: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

/// A number for the calling thread, never 0.
pub(super) fn thread_tag() -> usize {
    thread_local!(static TAG: u8 = const { 0 });
    TAG.with(|t| t as *const u8 as usize)
}
