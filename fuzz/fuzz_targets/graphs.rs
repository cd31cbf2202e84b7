//! Fuzzes the map engine with models that lie about their output: a real exported
//! model (`GEOMAML_FUZZ_MODEL`, default `fuzz/corpus/base/model.onnx`, written by
//! `fuzz/seed.sh`) whose `probabilities` output goes through 1-3 operations the
//! input's bytes choose (slices to 0-8 classes, concatenations, reshapes, a
//! transpose, products with NaN, ±inf, 0, -1 or 1e30), its output shape undeclared.
//! It maps a small scene (`GEOMAML_FUZZ_SCENE`, default `fuzz/corpus/base/scene.tif`)
//! through ONNX Runtime, in this process, with and without probabilities and
//! confidence. Every graph must give a map or an error, never a panic or an abort,
//! and an error must leave no map behind.
#![no_main]

#[path = "../../tests/lying_graph.rs"]
mod lying_graph;

use geomaml::infer::{map_scene, MapConfig, MapRequest};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The base model's bytes and the scene, read once.
fn base() -> &'static (Vec<u8>, PathBuf) {
    static BASE: OnceLock<(Vec<u8>, PathBuf)> = OnceLock::new();
    BASE.get_or_init(|| {
        let var = |name: &str, default: &str| {
            PathBuf::from(std::env::var_os(name).unwrap_or_else(|| default.into()))
        };
        let model = var("GEOMAML_FUZZ_MODEL", "fuzz/corpus/base/model.onnx");
        let scene = var("GEOMAML_FUZZ_SCENE", "fuzz/corpus/base/scene.tif");
        let bytes = std::fs::read(&model)
            .unwrap_or_else(|e| panic!("{}: {e} (run fuzz/seed.sh first)", model.display()));
        assert!(scene.exists(), "{}: missing (run fuzz/seed.sh first)", scene.display());
        (bytes, scene)
    })
}

fuzz_target!(|data: &[u8]| {
    let (model, scene) = base();
    let Some((&flags, choices)) = data.split_first() else {
        return;
    };
    let mut at = 0;
    let next = |n: u64| {
        let b = choices.get(at).copied().unwrap_or(0);
        at += 1;
        u64::from(b) % n
    };
    let (bytes, _ops) = lying_graph::compose(model, next);
    let dir = std::env::temp_dir().join(format!("geomaml-fuzz-graphs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir writable");
    let onnx = dir.join("lying.onnx");
    std::fs::write(&onnx, bytes).expect("temp dir writable");
    let output = dir.join("map.tif");
    let mut request = MapRequest::new(&onnx, scene);
    request.options.probabilities = flags & 1 != 0;
    request.options.confidence = flags & 2 != 0;
    request.options.exact = flags & 4 != 0;
    if flags & 8 != 0 {
        request.batch_size = 1;
    }
    let cfg = MapConfig {
        request,
        output: output.clone(),
        cog: false,
        overwrite: true,
        progress: false,
    };
    if map_scene(&cfg).is_err() {
        assert!(!output.exists(), "a map beside an error");
    }
    let _ = std::fs::remove_file(&output);
});
