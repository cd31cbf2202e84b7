//! JSON Schemas of every JSON file geomaml reads or writes (model cards, catalogs,
//! tasks, splits, training configs, evaluation reports, trajectories, descriptor
//! files, batch sidecars and summaries), generated from the Rust types.
//!
//! `geomaml schemas DIR` writes them; `schemas/` in the repository holds the current
//! set and a test keeps it in step with the types.

use schemars::{schema_for, Schema};

/// `(file name, schema)` for each JSON format.
pub fn all() -> Vec<(&'static str, Schema)> {
    #[allow(unused_mut)]
    let mut all = vec![
        (
            "model_card.schema.json",
            schema_for!(crate::card::ModelCard),
        ),
        ("catalog.schema.json", schema_for!(crate::catalog::Catalog)),
        ("task.schema.json", schema_for!(crate::tasks::Task)),
        (
            "store_manifest.schema.json",
            schema_for!(crate::store::StoreManifest),
        ),
        ("split.schema.json", schema_for!(crate::tasks::SplitFile)),
    ];
    // Batch mapping's and the GDAL driver's files (feature `infer`).
    #[cfg(feature = "infer")]
    all.extend([
        (
            "descriptor.schema.json",
            schema_for!(crate::infer::descriptor::Descriptor),
        ),
        (
            "batch_sidecar.schema.json",
            schema_for!(crate::bulk::sidecar::Sidecar),
        ),
        (
            "batch_summary.schema.json",
            schema_for!(crate::bulk::BatchSummary),
        ),
    ]);
    // The training config lives with the tch code (feature `train`).
    #[cfg(feature = "train")]
    all.push((
        "train_config.schema.json",
        schema_for!(crate::train::TrainConfig),
    ));
    #[cfg(feature = "train")]
    all.push((
        "eval_report.schema.json",
        schema_for!(crate::eval::few_shot::EvalReport),
    ));
    #[cfg(feature = "train")]
    all.push((
        "trajectories.schema.json",
        schema_for!(crate::eval::trajectories::TrajectoryReport),
    ));
    all
}

/// A schema as the pretty JSON committed under `schemas/`.
pub fn render(schema: &Schema) -> String {
    serde_json::to_string_pretty(schema).expect("schemas serialise") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed schemas must be what the types generate; regenerate with
    /// `cargo run -- schemas schemas/`.
    #[test]
    fn committed_schemas_match_the_types() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
        for (name, schema) in all() {
            let committed = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|_| {
                panic!("schemas/{name} is missing; run `cargo run -- schemas schemas/`")
            });
            assert_eq!(
                committed,
                render(&schema),
                "schemas/{name} is stale; run `cargo run -- schemas schemas/`"
            );
        }
    }
}
