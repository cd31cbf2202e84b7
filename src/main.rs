//! `geomaml-train`: the command line with libtorch (every command). The `geomaml`
//! executable (package `geomaml-cli`) runs the commands that do not need libtorch
//! without loading it and hands the others to this one.

use std::process::ExitCode;

/// libgomp reads its wait policy once, when libtorch loads it (before `main`), so
/// the setting of [`geomaml::cli::entry::wait_policy`] takes a restart of the
/// process with the variable set (`geomaml` sets it when it hands a command over).
fn restart_with_wait_policy() {
    use std::os::unix::process::CommandExt;
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let Some((variable, value)) = geomaml::cli::entry::wait_policy(&args) else {
        return;
    };
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .arg0(&args[0])
        .args(&args[1..])
        .env(variable, value)
        .exec();
    // `exec` returns only when it failed: carry on with libgomp's default.
    eprintln!("geomaml: warning: could not restart with {variable}={value}: {err}");
}

fn main() -> ExitCode {
    // SIGINT/SIGTERM wait (pending) through the restart until the handler that
    // removes temporaries and exits 128 + signal is installed.
    geomaml::output::block_termination_signals();
    restart_with_wait_policy();
    geomaml::cli::entry::run_process()
}
