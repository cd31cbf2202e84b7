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
        Some("map" | "suggest") => args.iter().any(|a| {
            std::path::Path::new(a)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
        }),
        _ => false,
    }
}

/// Busy-wait iterations of libtorch's OpenMP threads before they sleep, for commands
/// that compute with libtorch. libgomp's default (300,000) keeps idle threads
/// spinning on cores that other processes need: with two CPU-bound processes
/// beside it, `adapt` on the demo scene took 58.5 s instead of 12.8 s; with 10,000
/// it took 32.9 s, and 12.6 s on an idle machine (PASSIVE: 25.5 s and 14.7 s).
pub const GOMP_SPINCOUNT: &str = "10000";

/// The `GOMP_SPINCOUNT` a process running `args` should start with: [`GOMP_SPINCOUNT`]
/// for commands that compute with libtorch, unless the user set `OMP_WAIT_POLICY` or
/// `GOMP_SPINCOUNT`; `None` otherwise.
pub fn spin_limit(args: &[OsString]) -> Option<&'static str> {
    let user_set = std::env::var_os("OMP_WAIT_POLICY").is_some()
        || std::env::var_os("GOMP_SPINCOUNT").is_some();
    (!user_set && computes_with_libtorch(args)).then_some(GOMP_SPINCOUNT)
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
    let cli = super::Cli::parse();
    crate::gdal_messages::route_to_geomaml();
    if let Err(err) = crate::output::install_signal_cleanup() {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        std::iter::once("geomaml")
            .chain(a.iter().copied())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn only_commands_that_compute_with_libtorch_go_to_geomaml_train() {
        for a in [
            &["train", "c.json", "-o", "m.safetensors"][..],
            &["adapt", "--model", "m.safetensors"],
            &["evaluate", "c.json"],
            &[
                "map",
                "--model",
                "m.safetensors",
                "--labels",
                "l.geojson",
                "s.tif",
            ],
            &["suggest", "--model", "m.safetensors", "s.tif"],
            &[
                "map",
                "--model",
                "M.SafeTensors",
                "--labels",
                "l.gpkg",
                "s.tif",
            ],
            &["doctor"],
            &["schemas", "out"],
        ] {
            assert!(needs_libtorch(&args(a)), "{a:?}");
        }
        for a in [
            &["map", "--model", "m.onnx", "s.tif", "-o", "out.tif"][..],
            &["info", "m.safetensors"],
            &["export", "m.safetensors", "-o", "m.onnx"],
            &["assess", "map.tif", "-r", "truth.tif"],
            &["--version"],
            &[],
        ] {
            assert!(!needs_libtorch(&args(a)), "{a:?}");
        }
        assert!(!computes_with_libtorch(&args(&["doctor"])));
    }
}
