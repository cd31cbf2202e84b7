//! Pieces shared by the benchmarks: argument lookup and the paper CNN model.

// Each benchmark compiles this module on its own and uses a part of it.
#![allow(dead_code)]

use geomaml::bands::S2_BANDS;
use geomaml::card::ModelCard;
use geomaml::catalog::classes::dfc2020;
use geomaml::model::ModelSpec;
use std::path::{Path, PathBuf};

/// The value after `name` in `args`, else `default`.
pub fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.into())
}

/// The number after `name` in `args`, else `default`; a value that does not parse
/// stops the benchmark naming the flag.
pub fn num<T: std::str::FromStr>(args: &[String], name: &str, default: &str) -> T {
    arg(args, name, default)
        .parse()
        .unwrap_or_else(|_| panic!("{name} takes a number"))
}

/// The paper CNN (13 Sentinel-2 bands, 10 classes) with fixed pseudo-random
/// weights (seed 7), exported to `dir/paper_cnn.onnx`.
pub fn paper_cnn(dir: &Path) -> PathBuf {
    let card = ModelCard::untrained(ModelSpec::paper_cnn(13, 10), &S2_BANDS, dfc2020());
    let path = dir.join("paper_cnn.onnx");
    geomaml::export::export_file(&geomaml::export::random_checkpoint(card, 7), &path, true)
        .expect("export");
    path
}
