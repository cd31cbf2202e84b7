//! The process around the command line, shared by the two executables:
//!
//! - `geomaml` (package `geomaml-cli`, built without libtorch): starts in
//!   milliseconds; runs every command that does not compute with libtorch itself and
//!   hands the others ([`needs_libtorch`]) to `geomaml-train` beside it;
//! - `geomaml-train` (this package's binary, with libtorch): runs every command.

use std::ffi::OsString;
use std::process::ExitCode;

/// Whether the command line `args` (with the program name first) computes with
/// libtorch: `train`, `adapt`, `evaluate`, and `map`/`suggest` given a
/// `.safetensors` checkpoint (adapted on the fly).
pub fn computes_with_libtorch(args: &[OsString]) -> bool {
    match args.get(1).and_then(|a| a.to_str()) {
        Some("train" | "adapt" | "evaluate") => true,
        Some("map" | "suggest") => args
            .iter()
            .any(|a| crate::map_model::is_checkpoint(std::path::Path::new(a))),
        _ => false,
    }
}

/// How libtorch's idle OpenMP threads wait, as the environment variable to set and
/// its value, for commands that compute with libtorch. libgomp's default (300,000
/// busy-wait iterations before a thread sleeps) keeps idle threads spinning on cores
/// that other processes need.
///
/// - `adapt`, `evaluate`, and `map`/`suggest` with a checkpoint:
///   `OMP_WAIT_POLICY=PASSIVE`, threads sleep at once, so beside other CPU-bound
///   processes they slow down in proportion to the cores they lose, at a cost in
///   idle speed (runs vary by about 25 %; see `docs/analyst_loop.md`). With two
///   busy processes on 2 cores (`scripts/under_load.sh`, median of 3, one run):
///   `adapt` 2.69 s idle and 4.23 s loaded (1.6x), `evaluate` 6.40 s and 10.10 s
///   (1.6x); with 10,000 spins 1.78 s and 3.55 s (2.0x), 4.58 s and 14.08 s (3.1x).
///   `map`/`suggest` adapt like `adapt` and were not measured apart.
/// - `train`: `GOMP_SPINCOUNT=10000`, proportional either way and faster idle:
///   see `docs/analyst_loop.md`.
pub fn wait_policy(args: &[OsString]) -> Option<(&'static str, &'static str)> {
    let user_set = std::env::var_os("OMP_WAIT_POLICY").is_some()
        || std::env::var_os("GOMP_SPINCOUNT").is_some();
    if user_set || !computes_with_libtorch(args) {
        return None;
    }
    match args.get(1).and_then(|a| a.to_str()) {
        Some("adapt" | "evaluate" | "map" | "suggest") => Some(("OMP_WAIT_POLICY", "PASSIVE")),
        Some("train") => Some(("GOMP_SPINCOUNT", "10000")),
        _ => None,
    }
}

/// Whether `geomaml` hands `args` to `geomaml-train`: the commands that compute with
/// libtorch, `doctor` (which reports on libtorch and CUDA; `geomaml` runs its own
/// when there is no `geomaml-train`) and `schemas` (the train config and evaluation
/// report types are part of the training build).
pub fn needs_libtorch(args: &[OsString]) -> bool {
    computes_with_libtorch(args)
        || matches!(
            args.get(1).and_then(|a| a.to_str()),
            Some("doctor" | "schemas")
        )
}

/// Parses the command line, runs it, prints one `geomaml: ...` line on failure and
/// returns the exit code (see [`super`] for the codes).
#[allow(unsafe_code)]
pub fn run_process() -> ExitCode {
    use clap::Parser;
    // Output cut short by a closed pipe (`geomaml info --json | head`) ends the
    // process quietly, as it does for other command-line tools, instead of a panic
    // in `println!`.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Before any work: a signal at any moment of a command removes its
    // temporaries and exits 128 + signal (signals that came while the process
    // was starting were held pending and are taken here).
    if let Err(err) = crate::output::install_signal_cleanup() {
        eprintln!("geomaml: warning: {err}");
    }
    let cli = super::Cli::parse();
    crate::gdal_messages::route_to_geomaml();
    super::panics::keep_quiet();
    let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cli.run())) {
        Ok(result) => result,
        Err(_) => {
            crate::output::exit_if_signalled();
            let line = crate::output::name_outputs(&super::panics::message());
            eprintln!("geomaml: {line}");
            return ExitCode::from(1);
        }
    };
    // A signal that came while the command ended still ends it as a signal does.
    crate::output::exit_if_signalled();
    match result {
        Ok(code) => code,
        Err(err) => {
            // Whatever raised it, the message names the outputs the user asked
            // for, never the temporaries they are written to.
            eprintln!("{}", failure_line(&err));
            ExitCode::from(1)
        }
    }
}

/// The one line printed for a failed command: `geomaml: ` and the error's
/// `Display`, which already ends with its causes, each once (see
/// [`crate::error`]); the chain of `source()`s is not walked again.
pub fn failure_line(err: &crate::error::Error) -> String {
    format!(
        "geomaml: {}",
        crate::output::name_outputs(&format!("{err:#}"))
    )
}

#[cfg(test)]
mod tests;
