//! `geomaml` without libtorch: what it runs itself, what it hands to `geomaml-train`,
//! and what it says when `geomaml-train` is not there.
//!
//! Needs `target/release/geomaml-train` (`cargo build --release`) beside the
//! `geomaml` these tests build.

use geomaml::card::ModelCard;
use geomaml::catalog::classes::dfc2020;
use geomaml::model::{Arch, ModelSpec};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn lite() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_geomaml"))
}

fn train_bin() -> PathBuf {
    let t = lite().with_file_name("geomaml-train");
    assert!(
        t.is_file(),
        "{} is missing: build it with `cargo build --release`",
        t.display()
    );
    t
}

fn sample_scene() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample_data/scene/scene.tif")
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A random CNN reading the sample scene's 15 bands.
fn model(dir: &Path) -> PathBuf {
    let bands = [
        "VV", "VH", "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10",
        "B11", "B12",
    ];
    let spec = ModelSpec {
        arch: Arch::Cnn,
        in_channels: bands.len(),
        num_classes: 4,
        width: 8,
        depth: 2,
        tile_size: 16,
    };
    let card = ModelCard::untrained(spec, &bands, dfc2020().into_iter().take(4).collect());
    let onnx = dir.join("cnn.onnx");
    geomaml::export::export_file(&geomaml::export::random_checkpoint(card, 7), &onnx, false)
        .unwrap();
    onnx
}

#[test]
fn geomaml_does_not_link_libtorch() {
    let out = run(Command::new("ldd").arg(lite()));
    let libs = String::from_utf8_lossy(&out.stdout);
    assert!(!libs.contains("libtorch"), "{libs}");
    let out = run(Command::new(lite()).arg("--version"));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("geomaml "));
}

#[test]
fn map_runs_here_and_equals_geomaml_train() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path());
    let (a, b) = (dir.path().join("lite.tif"), dir.path().join("train.tif"));
    for (bin, out) in [(lite(), &a), (train_bin(), &b)] {
        run(Command::new(bin)
            .args(["map", "--model"])
            .arg(&m)
            .arg(sample_scene())
            .arg("-o")
            .arg(out));
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

#[test]
fn training_commands_go_to_geomaml_train_with_their_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-catalog.json");
    let mut outs = Vec::new();
    for bin in [lite(), train_bin()] {
        let out = Command::new(bin)
            .arg("train")
            .arg(&missing)
            .args(["-o", "m.safetensors", "--device", "cpu"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        outs.push(String::from_utf8_lossy(&out.stderr).to_string());
    }
    assert_eq!(outs[0], outs[1]);
    assert!(outs[0].contains("no-catalog.json"), "{}", outs[0]);
    // Usage errors come from geomaml-train's parser too (exit 2).
    let out = Command::new(lite())
        .args(["adapt", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn without_geomaml_train_the_error_says_where_it_was_looked_for() {
    let dir = tempfile::tempdir().unwrap();
    let alone = dir.path().join("geomaml");
    std::fs::copy(lite(), &alone).unwrap();
    let out = Command::new(&alone)
        .args(["train", "catalog.json", "-o", "m.safetensors"])
        .env_remove("GEOMAML_TRAIN_BIN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("geomaml-train") && err.contains(&dir.path().display().to_string()),
        "{err}"
    );
    // GEOMAML_TRAIN_BIN names it explicitly.
    let out = Command::new(&alone)
        .args(["train", "--help"])
        .env("GEOMAML_TRAIN_BIN", train_bin())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Meta-train"));
    // Commands without libtorch need no geomaml-train.
    let out = Command::new(&alone)
        .args(["assess", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn doctor_without_geomaml_train_reports_on_this_executable() {
    let dir = tempfile::tempdir().unwrap();
    let alone = dir.path().join("geomaml");
    std::fs::copy(lite(), &alone).unwrap();
    let out = Command::new(&alone)
        .arg("doctor")
        .env_remove("GEOMAML_TRAIN_BIN")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("ONNX Runtime"), "{text}");
    assert!(!text.contains("not found at"), "{text}");
}

#[test]
fn schemas_are_the_full_set_written_by_geomaml_train() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("lite"), dir.path().join("train"));
    run(Command::new(lite()).arg("schemas").arg(&a));
    run(Command::new(train_bin()).arg("schemas").arg(&b));
    let names = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&a), names(&b));
    assert!(names(&a).iter().any(|n| n.starts_with("train_config")));
}
