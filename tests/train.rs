//! `geomaml train` and `geomaml info` on a small Sen12MS-layout tree generated here
//! (64 px patches cut into 32 px tiles, two meta-train regions and one meta-val
//! region, classes that look different in every region), plus the bad-input cases.

use crate::util::*;
use gdal::spatial_ref::SpatialRef;
use geomaml::catalog::regions::regions_in;
use geomaml::catalog::Split;
use geomaml::raster::{GeoTiffWriter, GeoTransform, WriterOptions};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const PATCH: usize = 64;
const TILE: usize = 32;
/// IGBP values of the DFC classes Forest (1), Shrubland (2), Grassland (4), Water (10).
const IGBP: [u16; 4] = [1, 6, 10, 17];

fn write_tif<T: gdal::raster::GdalType + Copy>(
    path: &Path,
    bands: usize,
    gt: GeoTransform,
    f: impl Fn(usize, usize, usize) -> T,
) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let crs = SpatialRef::from_epsg(32632).unwrap().to_wkt().unwrap();
    let opts = WriterOptions {
        compress: "NONE".into(),
        ..Default::default()
    };
    let mut w = GeoTiffWriter::create::<T>(path, (PATCH, PATCH), bands, gt, &crs, &opts).unwrap();
    for b in 1..=bands {
        let data: Vec<T> = (0..PATCH * PATCH)
            .map(|i| f(b, i / PATCH, i % PATCH))
            .collect();
        w.write(b, (0, 0), (PATCH, PATCH), data).unwrap();
    }
    w.finish().unwrap();
}

/// Tile t of patch p has class `(p + t) % 4`; a class brightens the S2 bands
/// b with `(b + class) % 4 == 0`, scaled by a per-region gain, with pixel noise.
fn write_region(root: &Path, scene: u32, gain: f32) {
    for patch in 0..7u32 {
        let gt = GeoTransform::north_up(
            500_000.0 + 1000.0 * patch as f64,
            5_320_000.0 + 10_000.0 * scene as f64,
            10.0,
        );
        let name = |m: &str| {
            root.join(format!(
                "ROIs1158_summer/{m}_{scene}/ROIs1158_summer_{m}_{scene}_p{patch}.tif"
            ))
        };
        let class = move |r: usize, c: usize| (patch as usize + (r / TILE) * 2 + c / TILE) % 4;
        let noise = move |b: usize, r: usize, c: usize| {
            ((r * 31 + c * 17 + b * 7 + patch as usize * 13) % 23) as f32 / 23.0
        };
        write_tif::<f32>(&name("s1"), 2, gt, move |b, r, c| {
            -20.0 + 3.0 * class(r, c) as f32 + b as f32 + noise(b, r, c)
        });
        write_tif::<u16>(&name("s2"), 13, gt, move |b, r, c| {
            let bright = (b + class(r, c)) % 4 == 0;
            ((if bright { 3000.0 } else { 1200.0 } * gain) + 600.0 * noise(b, r, c)) as u16
        });
        write_tif::<u16>(&name("lc"), 4, gt, move |_, r, c| IGBP[class(r, c)]);
    }
}

/// The tree and its catalog, made once for all tests of this module.
fn catalog() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("sen12ms");
        let train: Vec<u32> = regions_in(Split::Train).take(2).map(|r| r.id).collect();
        let val = regions_in(Split::Val).next().unwrap().id;
        for (i, scene) in train.iter().chain([&val]).enumerate() {
            write_region(&root, *scene, 0.7 + 0.3 * i as f32);
        }
        let cat = dir.path().join("catalog.json");
        run_ok(
            geomaml()
                .arg("catalog")
                .arg(&root)
                .args(["--tile-size", "32"])
                .arg("-o")
                .arg(&cat),
        );
        (dir, cat)
    })
    .1
}

fn log_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn short_maml_run_writes_checkpoint_card_and_log_and_lowers_meta_val_loss() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        r#"{"width": 16, "val_tasks": 4, "outer_lr": 0.003, "inner_lr": 0.1}"#,
    )
    .unwrap();
    let model = dir.path().join("maml.safetensors");
    let log = dir.path().join("log.jsonl");
    let out = run_ok(
        geomaml()
            .arg("train")
            .arg(catalog())
            .args([
                "--method",
                "maml",
                "--steps",
                "8",
                "--meta-batch",
                "4",
                "--val-every",
                "4",
                "--seed",
                "3",
            ])
            .args(["--bands", "s2", "--device", "cpu"])
            .arg("--config")
            .arg(&config)
            .arg("--log")
            .arg(&log)
            .arg("-o")
            .arg(&model),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("trained maml for 8 steps on cpu"),
        "{stderr}"
    );
    assert!(dir.path().join("maml.last.safetensors").is_file());

    let lines = log_lines(&log);
    assert_eq!(lines.iter().filter(|l| l["kind"] == "train").count(), 8);
    let val: Vec<f64> = lines
        .iter()
        .filter(|l| l["kind"] == "val")
        .map(|l| l["loss"].as_f64().unwrap())
        .collect();
    assert_eq!(val.len(), 3, "{lines:?}");
    assert!(val[2] < val[0], "meta-val loss did not fall: {val:?}");
    assert!(lines[1]["tasks_per_s"].as_f64().unwrap() > 0.0);

    let info = String::from_utf8(run_ok(geomaml().arg("info").arg(&model)).stdout).unwrap();
    assert!(
        info.contains("maml") && info.contains("B02") && !info.contains("VV"),
        "{info}"
    );
    let card =
        String::from_utf8(run_ok(geomaml().args(["info", "--json"]).arg(&model)).stdout).unwrap();
    let card: serde_json::Value = serde_json::from_str(&card).unwrap();
    assert_eq!(card["spec"]["arch"], "cnn");
    assert_eq!(card["spec"]["depth"], 5, "32 px tiles take 5 halvings");
    assert_eq!(card["spec"]["in_channels"], 13);
    assert_eq!(card["provenance"]["config"]["meta_batch"], 4);
    assert!(card["provenance"]["catalog"]
        .as_str()
        .unwrap()
        .ends_with("catalog.json"));

    // Without --overwrite nothing is replaced; --resume continues the step count.
    let again = run_fail(
        geomaml()
            .arg("train")
            .arg(catalog())
            .arg("-o")
            .arg(&model)
            .args(["--device", "cpu"]),
    );
    assert!(again.contains("already exists"), "{again}");
    run_ok(
        geomaml()
            .arg("train")
            .arg(catalog())
            .args([
                "--steps",
                "10",
                "--meta-batch",
                "2",
                "--val-every",
                "5",
                "--bands",
                "s2",
                "--device",
                "cpu",
            ])
            .arg("--config")
            .arg(&config)
            .arg("--log")
            .arg(&log)
            .arg("--resume")
            .arg(dir.path().join("maml.last.safetensors"))
            .arg("-o")
            .arg(&model),
    );
    assert_eq!(log_lines(&log).last().unwrap()["step"], 10);
}

#[test]
fn pretraining_runs_on_merged_batches() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("pre.safetensors");
    run_ok(
        geomaml()
            .arg("train")
            .arg(catalog())
            .args([
                "--method",
                "pretrain",
                "--steps",
                "4",
                "--val-every",
                "0",
                "--device",
                "cpu",
            ])
            .arg("-o")
            .arg(&model),
    );
    let info = String::from_utf8(run_ok(geomaml().arg("info").arg(&model)).stdout).unwrap();
    assert!(info.contains("pretrain (4 steps)"), "{info}");
    assert!(dir.path().join("pre.log.jsonl").is_file());
}

/// A U-Net on tasks labelled per tile once panicked inside libtorch (`shape '[16, 32,
/// 32]' is invalid for input of size 16`: one label per tile reshaped as a label per
/// pixel); it is refused before training, naming `--arch` and what works.
#[test]
fn a_per_pixel_architecture_on_tile_labels_is_refused_naming_arch() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("u.safetensors");
    for method in ["pretrain", "maml"] {
        let err = run_fail(
            geomaml()
                .arg("train")
                .arg(catalog())
                .args(["--method", method, "--arch", "unet", "--steps", "3"])
                .args(["--val-every", "0", "--device", "cpu", "-o"])
                .arg(&model),
        );
        assert!(
            err.contains("--arch") && err.contains("--arch cnn") && err.contains("--arch pixel"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!model.exists());
    }
}

#[test]
fn bad_train_inputs_fail_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    let missing = run_fail(
        geomaml()
            .arg("train")
            .arg(dir.path().join("nope.json"))
            .arg("-o")
            .arg(&model),
    );
    assert!(missing.contains("nope.json"), "{missing}");
    let config = dir.path().join("bad.json");
    std::fs::write(&config, r#"{"inner_lrr": 0.1}"#).unwrap();
    let bad = run_fail(
        geomaml()
            .arg("train")
            .arg(catalog())
            .arg("--config")
            .arg(&config)
            .arg("-o")
            .arg(&model),
    );
    assert!(
        bad.contains("bad.json") && bad.contains("inner_lrr"),
        "{bad}"
    );
    let cuda = run_fail(
        geomaml()
            .arg("train")
            .arg(catalog())
            .args(["--device", "cuda:7"])
            .arg("-o")
            .arg(&model),
    );
    assert!(cuda.contains("cuda:7 is not available"), "{cuda}");
    let bands = run_fail(
        geomaml()
            .arg("train")
            .arg(catalog())
            .args(["--bands", "B99", "--device", "cpu"])
            .arg("-o")
            .arg(&model),
    );
    assert!(bands.contains("B99"), "{bands}");
    assert!(!model.exists());
}

/// sample_data/sen12ms (generated by `scripts/make_sample_data.sh`) with the paper's
/// task shape; its meta-val regions are too small for 4-way 2-shot 2-query tasks,
/// so this runs without meta-validation.
#[test]
fn sample_data_meta_trains_and_pretrains() {
    let root = sample("sen12ms");
    if !root.is_dir() {
        eprintln!(
            "skipping: {} is missing (run scripts/make_sample_data.sh)",
            root.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cat = dir.path().join("catalog.json");
    run_ok(
        geomaml()
            .arg("catalog")
            .arg(&root)
            .args(["--tile-size", "32"])
            .arg("-o")
            .arg(&cat),
    );
    for method in ["maml", "pretrain"] {
        let model = dir.path().join(format!("{method}.safetensors"));
        run_ok(
            geomaml()
                .arg("train")
                .arg(&cat)
                .args([
                    "--method",
                    method,
                    "--steps",
                    "2",
                    "--meta-batch",
                    "2",
                    "--val-every",
                    "0",
                ])
                .args(["--device", "cpu"])
                .arg("-o")
                .arg(&model),
        );
        let info = String::from_utf8(run_ok(geomaml().arg("info").arg(&model)).stdout).unwrap();
        assert!(info.contains(&format!("{method} (2 steps)")), "{info}");
    }
}
