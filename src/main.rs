//! The `geomaml` command line: parse, run, print one error line, own the exit code.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
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
