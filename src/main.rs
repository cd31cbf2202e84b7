//! The `geomaml` command line: parse, run, print one error line, own the exit code.

use clap::Parser;
use std::process::ExitCode;

/// Busy-wait iterations of libtorch's OpenMP threads before they sleep, for commands
/// that compute with libtorch. libgomp's default (300,000) keeps idle threads
/// spinning on cores that other processes need: with two CPU-bound processes
/// beside it, `adapt` on the demo scene took 58.5 s instead of 12.8 s; with 10,000
/// it took 32.9 s, and 12.6 s on an idle machine (PASSIVE: 25.5 s and 14.7 s).
const GOMP_SPINCOUNT: &str = "10000";

/// libgomp reads its wait policy once, when libtorch loads it (before `main`), so
/// the limit takes a restart of the process with the variable set. Nothing happens
/// when the user set `OMP_WAIT_POLICY` or `GOMP_SPINCOUNT`, or for commands that do
/// not compute with libtorch.
fn restart_with_spin_limit() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("OMP_WAIT_POLICY").is_some() || std::env::var_os("GOMP_SPINCOUNT").is_some()
    {
        return;
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let computes = match args.get(1).and_then(|a| a.to_str()) {
        Some("train" | "adapt" | "evaluate") => true,
        Some("map" | "suggest") => args
            .iter()
            .any(|a| a.to_string_lossy().ends_with(".safetensors")),
        _ => false,
    };
    if !computes {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .arg0(&args[0])
        .args(&args[1..])
        .env("GOMP_SPINCOUNT", GOMP_SPINCOUNT)
        .exec();
    // `exec` returns only when it failed: carry on with libgomp's default.
    eprintln!("geomaml: warning: could not restart with GOMP_SPINCOUNT={GOMP_SPINCOUNT}: {err}");
}

fn main() -> ExitCode {
    restart_with_spin_limit();
    // Output cut short by a closed pipe (`geomaml info --json | head`) ends the
    // process quietly, as it does for other command-line tools, instead of a panic
    // in `println!`.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = geomaml::cli::Cli::parse();
    geomaml::gdal_messages::route_to_geomaml();
    if let Err(err) = geomaml::output::install_signal_cleanup() {
        eprintln!("geomaml: warning: {err}");
    }
    match cli.run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("geomaml: {err:#}");
            ExitCode::from(1)
        }
    }
}
