//! `geomaml train` as one library call: a catalog, a checked config, a split
//! strategy and where to write ([`TrainPlan`]).

use super::{parse_device, train, CatalogSource, RunOptions, TrainConfig, TrainSummary};
use crate::catalog::Catalog;
use crate::error::Result;
use crate::model::spec::Arch;
use crate::tasks::{SplitStrategy, Splits, TileIndex};
use std::path::PathBuf;

/// Everything a training run needs, checked where it is built.
#[derive(Debug, Clone)]
pub struct TrainPlan {
    /// `catalog.json` written by `geomaml catalog`.
    pub catalog: PathBuf,
    /// The JSON config file the settings came from, if any (never an output).
    pub config_file: Option<PathBuf>,
    /// The settings (config file, then command-line overrides).
    pub config: TrainConfig,
    /// Which regions or images are meta-train, -validation and -test.
    pub splits: SplitStrategy,
    /// Outputs, resume state, overwrite and progress.
    pub run: RunOptions,
    /// Read tiles from the tile store beside the catalog when there is one
    /// ([`crate::store`]); `false` reads the files (`--no-store`).
    pub use_store: bool,
}

/// Meta-trains (or pretrains) on the catalog's tasks.
///
/// Errors: an output that is one of the inputs, an unusable device (before any
/// data is read), an unreadable catalog, a split that leaves a set empty, and
/// whatever training reports.
pub fn train_catalog(plan: &TrainPlan) -> Result<TrainSummary> {
    let mut inputs = vec![plan.catalog.as_path()];
    inputs.extend(plan.config_file.as_deref());
    for out in plan.run.outputs() {
        crate::output::refuse_input(&out, &inputs)?;
    }
    parse_device(&plan.config.device)?;
    let cfg = &plan.config;
    let catalog = Catalog::load(&plan.catalog)?;
    for out in plan.run.outputs() {
        crate::output::refuse_reached_input(&out, &plan.catalog, catalog.files())?;
    }
    let splits = Splits::for_catalog(&catalog, &plan.splits)?;
    let index = TileIndex::new(&catalog, &splits);
    let name = plan.catalog.display().to_string();
    // The pixel network learns from pixels: on tile-labelled data, point tasks.
    let points = (cfg.arch == Some(Arch::Pixel) && !catalog.kind.dataset().per_pixel_labels())
        .then(|| cfg.points.unwrap_or_default());
    let mut source = CatalogSource::new(
        &catalog,
        &name,
        &index,
        cfg.bands.clone(),
        (cfg.way, cfg.shot, cfg.query),
        cfg.seed,
    )?
    .with_points(points)
    .with_standardised_bands(cfg.standardises_bands());
    let path = crate::store::DataPath::for_catalog(&plan.catalog, source.bands(), plan.use_store)?;
    source.set_store(path.store())?;
    let mut summary = train(cfg, &mut source, &plan.run)?;
    summary.data_path = path.describe();
    Ok(summary)
}
