//! `geomaml adapt` and `geomaml map --labels`: adaptation to the sample scene beats
//! the unadapted model, and every kind of bad label input fails cleanly with nothing
//! written.

use crate::util::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A model pretrained for a few steps on sample_data (16 px tiles), shared by the
/// tests of this module.
fn pretrained() -> &'static Path {
    static MODEL: OnceLock<PathBuf> = OnceLock::new();
    MODEL.get_or_init(|| pretrain_on_sample(60, 3).1)
}

fn overall_accuracy(map: &Path) -> f64 {
    let out = run_ok(
        geomaml()
            .arg("assess")
            .arg(map)
            .arg("--reference")
            .arg(sample("scene/truth.tif"))
            .arg("--json"),
    );
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    a["overall_accuracy"].as_f64().unwrap()
}

#[test]
fn adaptation_beats_the_unadapted_model_on_the_sample_scene() {
    let dir = tempfile::tempdir().unwrap();
    let scene = sample("scene/scene.tif");
    let onnx = dir.path().join("unadapted.onnx");
    run_ok(
        geomaml()
            .arg("export")
            .arg(pretrained())
            .arg("-o")
            .arg(&onnx),
    );
    let unadapted = dir.path().join("unadapted.tif");
    run_ok(
        geomaml()
            .arg("map")
            .arg("--model")
            .arg(&onnx)
            .arg(&scene)
            .arg("-o")
            .arg(&unadapted),
    );

    let adapted_onnx = dir.path().join("adapted.onnx");
    let out = run_ok(
        geomaml()
            .args([
                "adapt",
                "--device",
                "cpu",
                "--inner-steps",
                "20",
                "--json",
                "--model",
            ])
            .arg(pretrained())
            .arg("--scene")
            .arg(&scene)
            .arg("--labels")
            .arg(sample("scene/labels.geojson"))
            .arg("-o")
            .arg(&adapted_onnx),
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["cross_validated_accuracy"][0].as_f64().unwrap() > 0.5,
        "{report}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The model is written before the (slower) accuracy estimate runs.
    let (wrote, held) = (
        stderr.find("wrote ").unwrap(),
        stderr.find("held-out accuracy").unwrap(),
    );
    assert!(wrote < held, "{stderr}");
    assert!(
        stderr.contains("single label"),
        "one class has one label in the sample: {stderr}"
    );
    let adapted = dir.path().join("adapted.tif");
    run_ok(
        geomaml()
            .arg("map")
            .arg("--model")
            .arg(&adapted_onnx)
            .arg(&scene)
            .arg("-o")
            .arg(&adapted),
    );

    let (before, after) = (overall_accuracy(&unadapted), overall_accuracy(&adapted));
    assert!(
        after > before + 0.05,
        "adapted {after:.3} vs unadapted {before:.3}"
    );

    // The card records what the model was adapted on.
    let info = run_ok(geomaml().arg("info").arg(&adapted_onnx));
    let text = String::from_utf8_lossy(&info.stdout) + String::from_utf8_lossy(&info.stderr);
    assert!(
        text.contains("adapted") && text.contains("labels.geojson"),
        "{text}"
    );

    // map --labels does adapt + map in one go, and leaves only the map.
    let direct = dir.path().join("direct.tif");
    run_ok(
        geomaml()
            .args([
                "map",
                "--device",
                "cpu",
                "--inner-steps",
                "20",
                "--no-cross-validation",
                "--model",
            ])
            .arg(pretrained())
            .arg("--labels")
            .arg(sample("scene/labels.geojson"))
            .arg(&scene)
            .arg("-o")
            .arg(&direct),
    );
    assert!((overall_accuracy(&direct) - after).abs() < 0.02);
    // The map names the checkpoint it was made from, not the temporary export.
    use gdal::Metadata;
    let recorded = gdal::Dataset::open(&direct)
        .unwrap()
        .metadata_item("GEOMAML_MODEL", "");
    assert_eq!(
        recorded.as_deref(),
        Some(pretrained().to_str().unwrap()),
        "GEOMAML_MODEL"
    );
    assert!(!list_dir(dir.path())
        .iter()
        .any(|n| n.contains("partial") || n.contains("adapted.onnx.")));
}

/// Runs `adapt` expecting failure; returns stderr and checks nothing was written.
fn adapt_fails(dir: &Path, scene: &Path, labels: &Path) -> String {
    let out = dir.join("never.onnx");
    let err = run_fail(
        geomaml()
            .args(["adapt", "--device", "cpu", "--model"])
            .arg(pretrained())
            .arg("--scene")
            .arg(scene)
            .arg("--labels")
            .arg(labels)
            .arg("-o")
            .arg(&out),
    );
    assert!(!out.exists());
    assert!(
        !list_dir(dir).iter().any(|n| n.contains("never")),
        "{:?}",
        list_dir(dir)
    );
    err
}

#[test]
fn bad_labels_fail_with_one_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let scene = sample("scene/scene.tif");
    // Scene origin 370980 E, 5258260 N (EPSG:32634), 10 m pixels, 256 x 256.
    let utm = Some("urn:ogc:def:crs:EPSG::32634");

    let outside = points(
        dir.path(),
        "outside.geojson",
        None,
        &[("Forest", 0.0, 0.0), ("Barren", 19.30, 47.45)],
    );
    let err = adapt_fails(dir.path(), &scene, &outside);
    assert!(
        err.contains("outside the scene") && err.contains("outside.geojson"),
        "{err}"
    );

    // Any name is a class of the analyst's; ids must fit a map's 8-bit class band.
    let too_big = points(
        dir.path(),
        "too_big.geojson",
        utm,
        &[
            ("Lava", 371_500.0, 5_257_500.0),
            ("300", 371_600.0, 5_257_500.0),
        ],
    );
    let err = adapt_fails(dir.path(), &scene, &too_big);
    assert!(
        err.contains("too_big.geojson") && err.contains("class id 300"),
        "{err}"
    );

    let one = points(
        dir.path(),
        "one.geojson",
        utm,
        &[("Forest", 371_500.0, 5_257_500.0)],
    );
    let err = adapt_fails(dir.path(), &scene, &one);
    assert!(err.contains("fewer than two classes"), "{err}");

    // A copy of the scene with a nodata block in its top-left corner.
    let holed = dir.path().join("holed.tif");
    std::fs::copy(&scene, &holed).unwrap();
    {
        let ds = gdal::Dataset::open_ex(
            &holed,
            gdal::DatasetOptions {
                open_flags: gdal::GdalOpenFlags::GDAL_OF_UPDATE,
                ..Default::default()
            },
        )
        .unwrap();
        for b in 1..=ds.raster_count() {
            let mut band = ds.rasterband(b).unwrap();
            let mut buf = gdal::raster::Buffer::new((40, 40), vec![f32::NAN; 1600]);
            band.write((0, 0), (40, 40), &mut buf).unwrap();
        }
    }
    let on_nodata = points(
        dir.path(),
        "nodata.geojson",
        utm,
        &[
            ("Forest", 371_185.0, 5_258_055.0),
            ("Barren", 371_900.0, 5_257_000.0),
        ],
    );
    let err = adapt_fails(dir.path(), &holed, &on_nodata);
    assert!(err.contains("nodata") && err.contains("Forest"), "{err}");

    // A scene whose bands do not match the model's (3 unnamed bands).
    let rgb = dir.path().join("rgb.tif");
    run_ok(
        std::process::Command::new("gdal_translate")
            .args(["-q", "-b", "1", "-b", "2", "-b", "3"])
            .arg(&scene)
            .arg(&rgb),
    );
    let err = adapt_fails(dir.path(), &rgb, &sample("scene/labels.geojson"));
    assert!(err.contains("B01") && err.contains("rgb.tif"), "{err}");
}

#[test]
fn a_support_loss_that_rises_keeps_the_best_step_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let adapt = |extra: &[&str], out: &Path| {
        run_ok(
            geomaml()
                .args([
                    "adapt",
                    "--device",
                    "cpu",
                    "--no-cross-validation",
                    "--json",
                ])
                .args(extra)
                .arg("--model")
                .arg(pretrained())
                .arg("--scene")
                .arg(sample("scene/scene.tif"))
                .arg("--labels")
                .arg(sample("scene/labels.geojson"))
                .arg("-o")
                .arg(out),
        )
    };
    // A step size far too large: the loss climbs by orders of magnitude, finitely.
    let out_path = dir.path().join("overshoot.onnx");
    let out = adapt(&["--inner-lr", "20", "--inner-steps", "5"], &out_path);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let losses: Vec<f64> = r["support_loss_steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(losses.len(), 6, "{r}");
    assert!(losses[5] > losses[0], "{losses:?}");
    assert_eq!(r["support_loss_rose"], true, "{r}");
    let kept = r["steps_kept"].as_u64().unwrap() as usize;
    assert!(kept < 5, "{r}");
    assert_eq!(r["inner_steps"], 5);
    // The delivered weights are the best step's, not the last.
    let (before, after) = (
        r["support_loss"][0].as_f64().unwrap(),
        r["support_loss"][1].as_f64().unwrap(),
    );
    assert!(after <= before + 1e-6, "{r}");
    assert!(
        (after - losses[kept]).abs() < 1e-3 * losses[kept].max(1.0),
        "{r}"
    );
    let warning = r["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w.as_str())
        .find(|w| w.contains("support loss rose"))
        .unwrap_or_else(|| panic!("no warning: {r}"));
    assert!(
        warning.contains("--inner-lr 20") && warning.contains("--inner-steps 5"),
        "{warning}"
    );
    assert!(
        stderr.contains("warning: the support loss rose"),
        "{stderr}"
    );
    assert!(out_path.is_file());
    let card: serde_json::Value =
        serde_json::from_slice(&run_ok(geomaml().args(["info", "--json"]).arg(&out_path)).stdout)
            .unwrap();
    assert_eq!(
        card["adaptation"]["inner_steps"].as_u64(),
        Some(kept as u64)
    );
    // A step size that works: the loss falls and the last step is kept.
    let out = adapt(
        &["--inner-lr", "0.5", "--inner-steps", "5"],
        &dir.path().join("fine.onnx"),
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["support_loss_rose"], false, "{r}");
    assert_eq!(r["steps_kept"], 5);
}

#[test]
fn adapt_writes_progress_lines_for_its_steps_and_folds_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(
        geomaml()
            .env("GEOMAML_PROGRESS", "lines")
            .args(["adapt", "--device", "cpu", "--inner-steps", "7", "--model"])
            .arg(pretrained())
            .arg("--scene")
            .arg(sample("scene/scene.tif"))
            .arg("--labels")
            .arg(sample("scene/labels.geojson"))
            .arg("-o")
            .arg(dir.path().join("adapted.onnx")),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("progress: "))
        .collect();
    // One sequence: the inner loop's 7 steps, then the cross-validation's folds,
    // never going back (the QGIS provider draws one bar from it).
    let done: Vec<(u64, u64)> = lines
        .iter()
        .map(|l| {
            let (d, t) = l["progress: ".len()..].split_once('/').unwrap();
            (d.parse().unwrap(), t.parse().unwrap())
        })
        .collect();
    let total = done.last().map(|&(_, t)| t).unwrap_or(0);
    assert!(total > 7, "{stderr}");
    assert!(done.iter().all(|&(_, t)| t == total), "{stderr}");
    assert!(done.windows(2).all(|w| w[0].0 <= w[1].0), "{stderr}");
    assert!(done.contains(&(7, total)), "{stderr}");
    assert_eq!(done.last(), Some(&(total, total)), "{stderr}");
}
