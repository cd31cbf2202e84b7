//! `geomaml`: the command line without libtorch.
//!
//! Built from the library without the `train` feature, it starts in milliseconds and
//! a fraction of the memory, and runs every command that does not compute with
//! libtorch (`map` with an ONNX model, batch mapping, `assess`, `export`, `info`,
//! `catalog`, `tasks`, `synth`). The others (`train`, `adapt`, `evaluate`,
//! `map`/`suggest` adapting a `.safetensors` checkpoint, `doctor`, `schemas`) are
//! handed to
//! `geomaml-train` beside this executable (or `GEOMAML_TRAIN_BIN`) by `exec`, with the
//! same arguments, so they behave exactly as if run directly. Without
//! `geomaml-train`, `doctor` reports on this executable alone.

#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::ExitCode;

/// The executable with libtorch: `GEOMAML_TRAIN_BIN`, else `geomaml-train` beside
/// this one.
fn train_executable() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("GEOMAML_TRAIN_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let exe = exe.canonicalize().unwrap_or(exe);
    Ok(exe.with_file_name("geomaml-train"))
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    if !geomaml::cli::entry::needs_libtorch(&args) {
        return geomaml::cli::entry::run_process();
    }
    let command = args[1].to_string_lossy().to_string();
    let train = match train_executable() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("geomaml: {e}");
            return ExitCode::from(1);
        }
    };
    if !train.is_file() && command == "doctor" {
        // An installation without the training build: report on this one.
        return geomaml::cli::entry::run_process();
    }
    if !train.is_file() {
        eprintln!(
            "geomaml: `{command}` needs `geomaml-train` (geomaml with libtorch), not found at {} \
             (build it with `cargo build --release`, or set GEOMAML_TRAIN_BIN)",
            train.display()
        );
        return ExitCode::from(1);
    }
    // Held pending across `exec` and libtorch's loading, until `geomaml-train`
    // installs its handler: a signal then ends it with 128 + signal, cleanly.
    geomaml::output::block_termination_signals();
    let mut cmd = std::process::Command::new(&train);
    cmd.arg0(&args[0]).args(&args[1..]);
    if let Some((variable, value)) = geomaml::cli::entry::wait_policy(&args) {
        cmd.env(variable, value);
    }
    let err = cmd.exec();
    eprintln!("geomaml: cannot start {}: {err}", train.display());
    ExitCode::from(1)
}
