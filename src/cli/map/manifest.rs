//! `geomaml map --manifest SCENES -o OUT_DIR`: batch mode ([`crate::bulk`]).

use super::MapArgs;
use crate::error::Result;
use std::process::ExitCode;

impl MapArgs {
    /// Batch mode: every scene of the manifest (this shard's) into the folder -o.
    pub(super) fn run_batch(&self, manifest: &std::path::Path) -> Result<ExitCode> {
        use crate::bulk::{run_batch, BatchConfig, Shard};
        use crate::Error;
        if self.adapt.labels.is_some() {
            return Err(Error::config(
                "--labels",
                "adapts one model to one scene; with --manifest, adapt first (geomaml adapt -o M.onnx) and map with --model M.onnx",
            ));
        }
        if self.overwrite {
            return Err(Error::config(
                "--overwrite",
                "with --manifest, use --force to map scenes that are done again",
            ));
        }
        let shard = Shard::resolve(self.shard.as_deref(), self.shards, |k| {
            std::env::var(k).ok()
        })?;
        let cfg = BatchConfig {
            model: self.model.clone(),
            manifest: manifest.to_path_buf(),
            asset: self.asset.clone(),
            out_dir: self.output.clone(),
            shard,
            force: self.force,
            options: self.options(),
            batch_size: self.map.batch_size,
            threads: self.map.threads,
            // A terminal gets a line per scene from the run itself.
            progress: crate::progress::Progress::lines_only(),
        };
        let s = run_batch(&cfg)?;
        eprintln!(
            "shard {}: {} mapped, {} skipped, {} failed of {} scenes in {:.1} s; summary {}",
            s.shard,
            s.mapped,
            s.skipped,
            s.failed,
            s.scenes,
            s.seconds,
            s.summary.display()
        );
        if self.json {
            println!("{}", serde_json::to_string(&s).expect("summary serialises"));
        }
        if s.failed > 0 {
            // The run itself finished: a scheduler can tell this from a crash (1).
            eprintln!(
                "geomaml: {} of {} scenes failed (see {})",
                s.failed,
                s.scenes,
                s.summary.display()
            );
            return Ok(ExitCode::from(crate::cli::EXIT_SOME_FAILED));
        }
        Ok(ExitCode::SUCCESS)
    }
}
