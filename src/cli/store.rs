//! `geomaml store CATALOG [-o DIR]`: decodes every tile of a catalog once into a
//! tile store that `train` and `evaluate` read instead of the files.

use crate::catalog::Catalog;
use crate::error::Result;
use crate::progress::Progress;
use crate::store::{self, StoreBuilder};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `geomaml store`.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// catalog.json written by `geomaml catalog`.
    catalog: PathBuf,
    /// The store folder; `train` and `evaluate` find it only at the default,
    /// beside the catalog (`catalog.json` -> `catalog.store`).
    #[arg(short, long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// Bands to store, in model order (default: the dataset's default bands, what
    /// `train` reads without --bands).
    #[arg(long)]
    bands: Option<String>,
    /// Replace an existing store.
    #[arg(long)]
    overwrite: bool,
}

impl StoreArgs {
    /// Plans the store, prints its size, writes it.
    pub fn run(&self) -> Result<ExitCode> {
        let catalog = Catalog::load(&self.catalog)?;
        let dir = self
            .output
            .clone()
            .unwrap_or_else(|| store::default_path(&self.catalog));
        crate::output::refuse_input(&dir, &[&self.catalog])?;
        if dir.exists() && !self.overwrite {
            return Err(crate::error::Error::OutputExists { path: dir });
        }
        let bands = match &self.bands {
            Some(b) => crate::bands::parse_band_list(b),
            None => crate::bands::parse_band_list(catalog.kind.dataset().default_bands()),
        };
        let builder = StoreBuilder::new(&catalog, &self.catalog, &bands)?;
        let m = builder.manifest();
        let per_tile = builder.bytes() as f64 / m.tiles.max(1) as f64;
        eprintln!(
            "writing a tile store of {} tiles ({} px, {} bands: {}) to {}: {} ({:.0} KiB a tile)",
            m.tiles,
            m.tile_size,
            m.bands.len(),
            m.groups
                .iter()
                .map(|g| format!("{} as {:?}", g.source, g.dtype).to_lowercase())
                .collect::<Vec<_>>()
                .join(", "),
            dir.display(),
            human(builder.bytes()),
            per_tile / 1024.0
        );
        let progress = Progress::for_stderr("{msg} {bar:30} {pos}/{len} ({eta})");
        let s = builder.write(&dir, self.overwrite, &progress)?;
        eprintln!(
            "wrote {} ({} tiles, {})",
            s.dir.display(),
            s.tiles,
            human(s.bytes)
        );
        Ok(ExitCode::SUCCESS)
    }
}

/// Bytes for people: `1.5 GiB`.
fn human(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}
