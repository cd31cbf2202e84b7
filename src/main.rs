//! `geomaml-train`: the command line with libtorch (every command). The `geomaml`
//! executable (package `geomaml-cli`) runs the commands that do not need libtorch
//! without loading it and hands the others to this one.

use std::process::ExitCode;

/// libgomp reads its wait policy once, when libtorch loads it (before `main`), so
/// the spin limit of [`geomaml::cli::entry::spin_limit`] takes a restart of the
/// process with the variable set (`geomaml` sets it when it hands a command over).
fn restart_with_spin_limit() {
    use std::os::unix::process::CommandExt;
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let Some(spins) = geomaml::cli::entry::spin_limit(&args) else {
        return;
    };
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .arg0(&args[0])
        .args(&args[1..])
        .env("GOMP_SPINCOUNT", spins)
        .exec();
    // `exec` returns only when it failed: carry on with libgomp's default.
    eprintln!("geomaml: warning: could not restart with GOMP_SPINCOUNT={spins}: {err}");
}

fn main() -> ExitCode {
    restart_with_spin_limit();
    geomaml::cli::entry::run_process()
}
