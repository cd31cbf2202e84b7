//! `geomaml schemas DIR`: writes the JSON Schemas of geomaml's file formats.

use crate::error::{Error, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `geomaml schemas`.
#[derive(Debug, Args)]
pub struct SchemasArgs {
    /// Folder to write `*.schema.json` into (created if missing).
    dir: PathBuf,
}

impl SchemasArgs {
    /// Writes every schema, replacing older versions.
    pub fn run(&self) -> Result<ExitCode> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        for (name, schema) in crate::schemas::all() {
            let path = self.dir.join(name);
            crate::output::write_atomic(&path, crate::schemas::render(&schema).as_bytes(), true)?;
            eprintln!("wrote {}", path.display());
        }
        Ok(ExitCode::SUCCESS)
    }
}
