//! The per-pixel mapping network end to end: meta-trained on point tasks of
//! sample_data, adapted on the sample scene's points, mapped at the scene's own
//! resolution and georeferencing.

use crate::util::*;
use std::path::PathBuf;
use std::sync::OnceLock;

/// A pixel network meta-trained with MAML for a few steps on sample_data's 16 px
/// tiles, shared by the tests of this module.
fn maml_pixel() -> &'static PathBuf {
    static MODEL: OnceLock<PathBuf> = OnceLock::new();
    MODEL.get_or_init(|| {
        let args = ["--arch", "pixel", "--method", "maml", "--steps", "8"];
        let rest = ["--meta-batch", "4", "--val-every", "0", "--device", "cpu"];
        let all: Vec<&str> = args.iter().chain(&rest).copied().collect();
        train_on_sample("pixel", &all).1
    })
}

#[test]
fn point_tasks_train_a_pixel_network_whose_card_says_so() {
    let out = run_ok(geomaml().args(["info", "--json"]).arg(maml_pixel()));
    let card: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(card["spec"]["arch"], "pixel");
    assert_eq!(card["provenance"]["method"], "maml");
    assert_eq!(card["provenance"]["config"]["arch"], "pixel");
    // Pixel networks read bands standardised over the scene by default.
    assert_eq!(card["standardise_bands"], true);
    // Started from the class prototypes, adapt takes at least 50 steps by default;
    // from its own head the card's (no choice on meta-validation here: at least 20).
    let info = run_ok(geomaml().arg("info").arg(maml_pixel()));
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(
        text.contains("adapt takes 50 steps (20 with --prototype-head false)"),
        "{text}"
    );
}

/// `scene` with every band value multiplied by `gain`, as Float32 with the same
/// georeferencing, band names and nodata (the same reflectances in other units).
fn rescaled(scene: &std::path::Path, gain: f32, out: &std::path::Path) {
    use gdal::raster::Buffer;
    use gdal::Metadata;
    let src = gdal::Dataset::open(scene).unwrap();
    let (w, h) = src.raster_size();
    let drv = gdal::DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut dst = drv
        .create_with_band_type::<f32, _>(out, w, h, src.raster_count())
        .unwrap();
    dst.set_geo_transform(&src.geo_transform().unwrap())
        .unwrap();
    dst.set_spatial_ref(&src.spatial_ref().unwrap()).unwrap();
    for b in 1..=src.raster_count() {
        let band = src.rasterband(b).unwrap();
        let nodata = band.no_data_value();
        let data: Vec<f32> = band
            .read_band_as::<f32>()
            .unwrap()
            .data()
            .iter()
            .map(|&v| {
                if Some(v as f64) == nodata {
                    v
                } else {
                    v * gain
                }
            })
            .collect();
        let mut o = dst.rasterband(b).unwrap();
        o.set_description(&band.description().unwrap()).unwrap();
        o.set_no_data_value(nodata).unwrap();
        o.write((0, 0), (w, h), &mut Buffer::new((w, h), data))
            .unwrap();
    }
}

#[test]
fn an_adapted_pixel_networks_map_does_not_depend_on_the_scenes_units() {
    // Bands standardised over the scene: the same scene in units twice as large,
    // adapted on the same labels, gives the same map, pixel for pixel; the adapted
    // card carries the scene's statistics as fixed normalisation.
    let dir = tempfile::tempdir().unwrap();
    let scene = sample("scene/scene.tif");
    let doubled = dir.path().join("doubled.tif");
    rescaled(&scene, 2.0, &doubled);
    let labels = sample("scene/labels.geojson");
    let mut maps = Vec::new();
    for (name, s) in [("a", &scene), ("b", &doubled)] {
        let onnx = dir.path().join(format!("{name}.onnx"));
        run_ok(
            adapt_args(&mut geomaml(), maml_pixel(), s, &labels, &onnx).args([
                "--inner-steps",
                "10",
                "--no-cross-validation",
            ]),
        );
        let out = run_ok(geomaml().args(["info", "--json"]).arg(&onnx));
        let card: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(card.get("standardise_bands").is_none(), "{card}");
        let offset = card["normalisation"][0]["offset"].as_f64().unwrap();
        assert!(offset.abs() > 0.1, "the scene's mean is folded in: {card}");
        let map = dir.path().join(format!("{name}.tif"));
        run_ok(&mut map_command(&onnx, s, &map, &[]));
        maps.push(read_band_f32(&map, 1));
    }
    let differ = maps[0].iter().zip(&maps[1]).filter(|(a, b)| a != b).count();
    assert_eq!(differ, 0, "{differ} pixels changed class with the units");
}

#[test]
fn an_adapted_pixel_network_maps_every_scene_pixel() {
    let dir = tempfile::tempdir().unwrap();
    let scene = sample("scene/scene.tif");
    let onnx = dir.path().join("adapted.onnx");
    let out = run_ok(
        geomaml()
            .args([
                "adapt",
                "--device",
                "cpu",
                "--inner-steps",
                "30",
                "--json",
                "--model",
            ])
            .arg(maml_pixel())
            .arg("--scene")
            .arg(&scene)
            .arg("--labels")
            .arg(sample("scene/labels.geojson"))
            .arg("-o")
            .arg(&onnx),
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // A per-pixel model's head starts from the labels' class prototypes.
    assert_eq!(report["prototype_head"], true, "{report}");
    // Both estimates on spatial folds, side by side.
    assert!(
        report["cross_validated_accuracy"][0].as_f64().is_some(),
        "{report}"
    );
    assert!(report["baseline_accuracy"].as_f64().is_some(), "{report}");
    let map = dir.path().join("map.tif");
    run_ok(&mut map_command(&onnx, &scene, &map, &["--probabilities"]));
    let (s, m) = (
        gdal::Dataset::open(&scene).unwrap(),
        gdal::Dataset::open(&map).unwrap(),
    );
    assert_eq!(m.raster_size(), s.raster_size());
    assert_eq!(m.geo_transform().unwrap(), s.geo_transform().unwrap());
    // Scored pixel by pixel against the truth: far above chance (8 classes).
    let out = run_ok(
        geomaml()
            .arg("assess")
            .arg(&map)
            .arg("--reference")
            .arg(sample("scene/truth.tif"))
            .arg("--json"),
    );
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let oa = a["overall_accuracy"].as_f64().unwrap();
    assert!(oa > 0.6, "per-pixel accuracy {oa}");
    let probs = gdal::Dataset::open(dir.path().join("map.probabilities.tif")).unwrap();
    assert_eq!(probs.raster_size(), s.raster_size());
}

#[test]
fn a_head_started_from_the_class_prototypes_already_fits_the_labels() {
    // Before any step, the head from the prototypes separates the labelled classes
    // far better than the meta-learnt head, whose rows MAML keeps interchangeable.
    let dir = tempfile::tempdir().unwrap();
    let scene = sample("scene/scene.tif");
    let labels = sample("scene/labels.geojson");
    let first_loss = |prototypes: &str| {
        let onnx = dir.path().join(format!("{prototypes}.onnx"));
        let out = run_ok(
            adapt_args(&mut geomaml(), maml_pixel(), &scene, &labels, &onnx).args([
                "--inner-steps",
                "1",
                "--prototype-head",
                prototypes,
                "--no-cross-validation",
                "--json",
            ]),
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["prototype_head"].as_bool(), prototypes.parse().ok());
        let info = run_ok(geomaml().args(["info", "--json"]).arg(&onnx));
        let card: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
        assert_eq!(
            card["adaptation"]["prototype_head"]
                .as_bool()
                .unwrap_or(false),
            prototypes == "true"
        );
        report["support_loss_steps"][0].as_f64().unwrap()
    };
    let (learnt, prototypes) = (first_loss("false"), first_loss("true"));
    // 8 classes: the learnt head starts near ln 8 = 2.08.
    assert!(
        prototypes < 0.8 * learnt,
        "support loss before the first step: prototypes {prototypes:.3}, learnt head {learnt:.3}"
    );
}

#[test]
fn proto_maml_meta_training_is_recorded_and_refuses_batched_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let base = [
        "--arch",
        "pixel",
        "--method",
        "maml",
        "--steps",
        "2",
        "--meta-batch",
        "2",
    ];
    let rest = [
        "--val-every",
        "0",
        "--device",
        "cpu",
        "--prototype-head",
        "true",
    ];
    let args: Vec<&str> = base.iter().chain(&rest).copied().collect();
    let (catalog, model) = train_on_sample("proto", &args);
    let out = run_ok(geomaml().args(["info", "--json"]).arg(&model));
    let card: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(card["inner_loop"]["prototype_head"], true, "{card}");
    // Batched tasks have no prototype start: refused before anything is written.
    let refused = dir.path().join("batched.safetensors");
    let out = geomaml()
        .arg("train")
        .arg(&catalog)
        .args(&args)
        .args(["--task-group", "2", "-o"])
        .arg(&refused)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("task_group"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    // evaluate adapts the model's own head, which Proto-MAML never trains: refused.
    let out = geomaml()
        .arg("evaluate")
        .arg(&catalog)
        .arg("--model")
        .arg(&model)
        .args(["--shots", "1", "--tasks", "2", "--device", "cpu", "-o"])
        .arg(dir.path().join("eval"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--prototype-head true"), "{err}");
}

/// Every band of `path`.
fn bands_of(path: &std::path::Path) -> Vec<Vec<f32>> {
    let n = gdal::Dataset::open(path).unwrap().raster_count();
    (1..=n).map(|b| read_band_f32(path, b)).collect()
}

#[test]
fn a_pixel_networks_map_does_not_depend_on_where_its_windows_fall() {
    let dir = tempfile::tempdir().unwrap();
    let scene = sample("scene/scene.tif");
    let onnx = dir.path().join("adapted.onnx");
    let labels = sample("scene/labels.geojson");
    run_ok(
        adapt_args(&mut geomaml(), maml_pixel(), &scene, &labels, &onnx).args([
            "--inner-steps",
            "30",
            "--no-cross-validation",
        ]),
    );
    // The default windows (128 px every 124) and windows every 9 px: seams in
    // different places, the same map, probabilities included, because each pixel
    // is taken from a window that sees its whole 5x5 field.
    let (a, b) = (dir.path().join("a.tif"), dir.path().join("b.tif"));
    run_ok(&mut map_command(&onnx, &scene, &a, &["--probabilities"]));
    run_ok(&mut map_command(
        &onnx,
        &scene,
        &b,
        &["--probabilities", "--stride", "9"],
    ));
    assert_eq!(bands_of(&a), bands_of(&b));
    let probs = |p: &std::path::Path| bands_of(&p.with_extension("probabilities.tif"));
    assert_eq!(probs(&a), probs(&b));
    // A stride the windows cannot keep whole is refused, naming the flag.
    let out = map_command(
        &onnx,
        &scene,
        &dir.path().join("c.tif"),
        &["--stride", "125"],
    )
    .output()
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--stride") && err.contains("at most 124"),
        "{err}"
    );
    assert!(!dir.path().join("c.tif").exists());
}

#[test]
fn suggest_reads_a_never_adapted_pixel_network_over_the_scene_it_maps() {
    // Where to label first, before any label: the meta-trained checkpoint is
    // exported as it is and the map engine standardises the scene's bands itself;
    // the suggestions lie on the scene.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("first.gpkg");
    run_ok(
        geomaml()
            .args(["suggest", "--model"])
            .arg(maml_pixel())
            .arg(sample("scene/scene.tif"))
            .args(["-n", "6", "-o"])
            .arg(&out),
    );
    let ds = gdal::Dataset::open(&out).unwrap();
    use gdal::vector::LayerAccess;
    let mut layer = ds.layer(0).unwrap();
    assert_eq!(layer.features().count(), 6);
    // The map engine standardises over the scene it maps: the never-adapted model,
    // exported as it is (batch norm frozen at its training statistics), maps the
    // scene and the same scene in doubled units alike. Read unstandardised, the
    // doubled values would move every pixel's input.
    let onnx = dir.path().join("meta.onnx");
    run_ok(
        geomaml()
            .arg("export")
            .arg(maml_pixel())
            .arg("-o")
            .arg(&onnx),
    );
    let doubled = dir.path().join("doubled.tif");
    rescaled(&sample("scene/scene.tif"), 2.0, &doubled);
    let (a, b) = (dir.path().join("a.tif"), dir.path().join("b.tif"));
    run_ok(&mut map_command(
        &onnx,
        &sample("scene/scene.tif"),
        &a,
        &["--probabilities"],
    ));
    run_ok(&mut map_command(&onnx, &doubled, &b, &["--probabilities"]));
    let probs = |p: &std::path::Path| bands_of(&p.with_extension("probabilities.tif"));
    assert_eq!(probs(&a), probs(&b));
    // Exported for Deepness before adaptation, it is refused: Deepness cannot
    // standardise over a scene.
    let fail = geomaml()
        .args(["export", "--deepness"])
        .arg(maml_pixel())
        .arg("-o")
        .arg(dir.path().join("d.onnx"))
        .output()
        .unwrap();
    assert!(!fail.status.success());
    let err = String::from_utf8_lossy(&fail.stderr);
    assert!(err.contains("Deepness") && err.contains("adapt"), "{err}");
    assert!(!dir.path().join("d.onnx").exists());
}
