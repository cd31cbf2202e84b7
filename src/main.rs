//! The `geomaml` command line: parse, run, print one error line, own the exit code.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = geomaml::cli::Cli::parse();
    match cli.run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("geomaml: {err:#}");
            ExitCode::from(1)
        }
    }
}
