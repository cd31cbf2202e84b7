//! `geomaml doctor`: what this installation has, and how to fix what it lacks.

use crate::error::Result;
use clap::Args;
use std::process::ExitCode;

/// Options of `geomaml doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

impl DoctorArgs {
    /// Runs all checks; non-zero exit when a required one fails.
    pub fn run(&self) -> Result<ExitCode> {
        let checks = crate::doctor::checks();
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&checks).expect("checks serialise")
            );
        }
        for c in &checks {
            let mark = if c.ok {
                "ok "
            } else if c.required {
                "ERR"
            } else {
                "-- "
            };
            eprintln!("{mark} {:<13} {}", c.component, c.detail);
            if let (false, Some(fix)) = (c.ok, &c.fix) {
                eprintln!("    fix: {fix}");
            }
        }
        let failed = checks.iter().any(|c| c.required && !c.ok);
        Ok(if failed {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    }
}
