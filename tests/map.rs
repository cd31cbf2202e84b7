//! `geomaml export`, `info` and `map`: ONNX export of generated checkpoints and maps
//! of small generated GeoTIFF scenes (and, opt-in, of the real Landsat RGB scene).

use crate::util::{
    geomaml, list_dir, random_model, reference_data, run_fail, run_ok, write_utm_scene,
};
use gdal::{Dataset, Metadata};
use geomaml::model::Arch;
use std::path::{Path, PathBuf};

/// Exports a random model of `arch` reading `bands` into `dir/name.onnx`.
fn model(dir: &Path, name: &str, arch: Arch, bands: &[&str], tile: usize) -> PathBuf {
    random_model(dir, name, arch, bands, tile, 42).1
}

/// A `w x h` UTM scene of named bands, north-up 10 m pixels; the top-left 12x12
/// corner is nodata (0).
fn scene(dir: &Path, bands: &[&str], size: (usize, usize)) -> PathBuf {
    write_utm_scene(&dir.join("scene.tif"), bands, size, 500_000.0, |b, x, y| {
        if x < 12 && y < 12 {
            0
        } else {
            (1000 + (x * 37 + y * 11 * (b + 1)) % 4000 + 2000 * ((x / 16 + y / 16 + b) % 2)) as u16
        }
    })
}

fn read_band(path: &Path, b: usize) -> (Vec<u8>, (usize, usize)) {
    let ds = Dataset::open(path).unwrap();
    let size = ds.raster_size();
    let buf = ds
        .rasterband(b)
        .unwrap()
        .read_as::<u8>((0, 0), size, size, None)
        .unwrap();
    (buf.data().to_vec(), size)
}

#[test]
fn export_writes_an_onnx_model_whose_card_info_prints() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = model(dir.path(), "cnn", Arch::Cnn, &["B02", "B03", "B04"], 16);
    let out = run_ok(geomaml().arg("info").arg(&onnx).arg("--json"));
    let card: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(card["bn_frozen"], true);
    assert_eq!(card["bands"], serde_json::json!(["B02", "B03", "B04"]));
    let text = run_ok(geomaml().arg("info").arg(&onnx));
    assert!(String::from_utf8_lossy(&text.stdout).contains("frozen statistics"));
    // An existing output is refused without --overwrite.
    let st = dir.path().join("cnn.safetensors");
    let err = run_fail(geomaml().arg("export").arg(&st).arg("-o").arg(&onnx));
    assert!(err.contains("already exists"), "{err}");
    run_ok(
        geomaml()
            .arg("export")
            .arg(&st)
            .arg("-o")
            .arg(&onnx)
            .arg("--overwrite"),
    );
}

#[test]
fn classifier_maps_carry_crs_stride_grid_colours_and_nodata() {
    let dir = tempfile::tempdir().unwrap();
    let bands = ["B02", "B03", "B04"];
    let onnx = model(dir.path(), "cnn", Arch::Cnn, &bands, 16);
    let scene = scene(dir.path(), &["B04", "B03", "B02"], (100, 70));
    let map = dir.path().join("map.tif");
    run_ok(
        geomaml()
            .args(["map", "--stride", "4", "--model"])
            .arg(&onnx)
            .arg(&scene)
            .arg("-o")
            .arg(&map),
    );
    let ds = Dataset::open(&map).unwrap();
    assert_eq!(ds.raster_size(), (25, 18));
    assert_eq!(
        ds.geo_transform().unwrap(),
        [500_000.0, 40.0, 0.0, 4_600_000.0, 0.0, -40.0]
    );
    assert_eq!(ds.spatial_ref().unwrap().auth_code().unwrap(), 32633);
    let band = ds.rasterband(1).unwrap();
    assert_eq!(band.no_data_value(), Some(0.0));
    let ct = band.color_table().unwrap();
    assert_eq!(ct.entry_as_rgb(1).unwrap().g, 0x99);
    assert_eq!(ds.metadata_item("CLASS_2", ""), Some("Shrubland".into()));
    let (classes, _) = read_band(&map, 1);
    // Per-window (exact) inference gives the same footprint and nearly the same classes.
    let exact = dir.path().join("exact.tif");
    run_ok(
        geomaml()
            .args(["map", "--exact", "--stride", "4", "--model"])
            .arg(&onnx)
            .arg(&scene)
            .arg("-o")
            .arg(&exact),
    );
    let (exact_classes, _) = read_band(&exact, 1);
    let same = classes
        .iter()
        .zip(&exact_classes)
        .filter(|(a, b)| a == b)
        .count();
    assert!(classes
        .iter()
        .zip(&exact_classes)
        .all(|(a, b)| (*a == 0) == (*b == 0)));
    assert!(
        same * 10 >= classes.len() * 7,
        "shared and exact maps agree on {same} of {} cells",
        classes.len()
    );
    // The 12x12 nodata corner is 3x3 cells of 4 px.
    for (i, v) in classes.iter().enumerate() {
        let (x, y) = (i % 25, i / 25);
        if x < 3 && y < 3 {
            assert_eq!(*v, 0, "cell ({x}, {y})");
        } else {
            assert!((1..=4).contains(v), "cell ({x}, {y}) = {v}");
        }
    }
}

#[test]
fn segmentation_maps_with_probabilities_and_cog() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = model(dir.path(), "unet", Arch::Unet, &["R", "G", "B"], 16);
    let scene = scene(dir.path(), &["R", "G", "B"], (90, 61));
    let map = dir.path().join("seg.tif");
    let out = run_ok(
        geomaml()
            .args(["map", "--probabilities", "--cog", "--json", "--model"])
            .arg(&onnx)
            .arg(&scene)
            .arg("-o")
            .arg(&map),
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["map_size"], serde_json::json!([90, 61]));
    let ds = Dataset::open(&map).unwrap();
    assert_eq!(ds.raster_count(), 1);
    assert_eq!(
        ds.geo_transform().unwrap(),
        [500_000.0, 10.0, 0.0, 4_600_000.0, 0.0, -10.0]
    );
    assert_eq!(
        ds.metadata_item("LAYOUT", "IMAGE_STRUCTURE"),
        Some("COG".into())
    );
    assert!(ds.rasterband(1).unwrap().color_table().is_some());
    assert_eq!(ds.rasterband(1).unwrap().no_data_value(), Some(0.0));
    let prob_path = dir.path().join("seg.probabilities.tif");
    let probs = Dataset::open(&prob_path).unwrap();
    assert_eq!(probs.raster_count(), 4);
    assert_eq!(probs.geo_transform().unwrap(), ds.geo_transform().unwrap());
    assert_eq!(
        probs.rasterband(1).unwrap().description().unwrap(),
        "p_Forest"
    );
    assert_eq!(probs.rasterband(1).unwrap().no_data_value(), Some(255.0));
    let (classes, _) = read_band(&map, 1);
    let planes: Vec<Vec<u8>> = (1..=4).map(|b| read_band(&prob_path, b).0).collect();
    for (i, v) in classes.iter().enumerate() {
        let (x, y) = (i % 90, i / 90);
        if x < 12 && y < 12 {
            assert_eq!(*v, 0);
            assert!(planes.iter().all(|p| p[i] == 255));
        } else {
            assert!((1..=4).contains(v));
            let sum: u32 = planes.iter().map(|p| p[i] as u32).sum();
            assert!(
                (98..=102).contains(&sum),
                "probabilities at ({x}, {y}) sum to {sum}"
            );
            let best = (0..4).max_by_key(|&c| planes[c][i]).unwrap();
            assert!(
                planes[best][i] <= planes[*v as usize - 1][i] + 1,
                "class {v} is not the most probable"
            );
        }
    }
    assert_eq!(
        list_dir(dir.path())
            .iter()
            .filter(|n| n.contains("partial") || n.contains("staging"))
            .count(),
        0
    );
}

#[test]
fn bad_inputs_fail_cleanly_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = model(dir.path(), "cnn", Arch::Cnn, &["B02", "B03", "B04"], 16);
    let scene_path = scene(dir.path(), &["B02", "B03", "B08"], (40, 40));
    let map = dir.path().join("map.tif");
    let before = list_dir(dir.path());
    let map_cmd = |model: &Path, scene: &Path| {
        let mut c = geomaml();
        c.args(["map", "--model"])
            .arg(model)
            .arg(scene)
            .arg("-o")
            .arg(&map);
        c
    };
    let err = run_fail(&mut map_cmd(&onnx, &scene_path));
    assert!(err.contains("B04") && err.contains("scene.tif"), "{err}");
    let corrupt = dir.path().join("corrupt.onnx");
    std::fs::write(&corrupt, b"this is not a model").unwrap();
    let err = run_fail(&mut map_cmd(&corrupt, &scene_path));
    assert!(
        err.contains("corrupt.onnx") && err.contains("not an ONNX model"),
        "{err}"
    );
    let err = run_fail(&mut map_cmd(&onnx, &dir.path().join("missing.tif")));
    assert!(err.contains("missing.tif"), "{err}");
    // A map named like another format would be a GeoTIFF under a false name.
    for name in ["map.img", "map.png"] {
        let mut c = geomaml();
        c.args(["map", "--bands", "1,2,3", "--model"])
            .arg(&onnx)
            .arg(&scene_path)
            .arg("-o")
            .arg(dir.path().join(name));
        let err = run_fail(&mut c);
        assert!(
            err.contains(name) && err.contains("GeoTIFF") && err.contains(".tif"),
            "{err}"
        );
    }
    let mut after = list_dir(dir.path());
    after.retain(|n| n != "corrupt.onnx");
    assert_eq!(after, before);
    // With an explicit band mapping the same scene maps; a second run needs --overwrite.
    run_ok(map_cmd(&onnx, &scene_path).args(["--bands", "1,2,3"]));
    let err = run_fail(map_cmd(&onnx, &scene_path).args(["--bands", "1,2,3"]));
    assert!(err.contains("already exists"), "{err}");
    run_ok(map_cmd(&onnx, &scene_path).args(["--bands", "B02,B03,3", "--overwrite"]));
}

/// Opt-in: the real Landsat RGB scene (rasterio's RGB.byte.tif, nodata 0 around a
/// rotated footprint), mapped with a 3-band model.
#[test]
fn real_landsat_rgb_scene_maps_with_its_georeferencing() {
    let Some(root) = reference_data() else {
        eprintln!("skipped: GEOMAML_REFERENCE_DATA not set");
        return;
    };
    let src = root.join("rasterio/RGB.byte.tif");
    let dir = tempfile::tempdir().unwrap();
    let onnx = model(dir.path(), "rgb", Arch::Cnn, &["R", "G", "B"], 32);
    let map = dir.path().join("landsat.tif");
    run_ok(
        geomaml()
            .args(["map", "--stride", "8", "--model"])
            .arg(&onnx)
            .arg(&src)
            .arg("-o")
            .arg(&map),
    );
    let input = Dataset::open(&src).unwrap();
    let ds = Dataset::open(&map).unwrap();
    assert_eq!(
        ds.spatial_ref().unwrap().to_wkt().unwrap(),
        input.spatial_ref().unwrap().to_wkt().unwrap()
    );
    let (gi, go) = (input.geo_transform().unwrap(), ds.geo_transform().unwrap());
    assert_eq!((go[0], go[3]), (gi[0], gi[3]));
    assert!((go[1] - 8.0 * gi[1]).abs() < 1e-9 && (go[5] - 8.0 * gi[5]).abs() < 1e-9);
    let (w, h) = input.raster_size();
    assert_eq!(ds.raster_size(), (w.div_ceil(8), h.div_ceil(8)));
    assert!(ds.rasterband(1).unwrap().color_table().is_some());
    // Nodata footprint: corners are outside the rotated scene, the centre inside.
    let (classes, (mw, mh)) = read_band(&map, 1);
    for (x, y) in [(0, 0), (mw - 1, 0), (0, mh - 1), (mw - 1, mh - 1)] {
        assert_eq!(classes[y * mw + x], 0, "corner ({x}, {y})");
    }
    assert_ne!(classes[mh / 2 * mw + mw / 2], 0);
    // Nodata cells agree with the input's nodata at cell centres (a few edge cells may differ).
    let r = input
        .rasterband(1)
        .unwrap()
        .read_as::<u8>((0, 0), (w, h), (w, h), None)
        .unwrap();
    let mut disagree = 0;
    for y in 0..mh {
        for x in 0..mw {
            let (cx, cy) = ((x * 8 + 4).min(w - 1), (y * 8 + 4).min(h - 1));
            disagree += usize::from((r.data()[cy * w + cx] == 0) != (classes[y * mw + x] == 0));
        }
    }
    assert!(
        disagree * 100 < mw * mh,
        "{disagree} of {} cells disagree with the input footprint",
        mw * mh
    );
}

/// The `onnx` checker (full shape inference) accepts both architectures, and ONNX
/// Runtime runs the U-Net on a size other than its tile (dynamic height/width).
/// Runs when the setup venv's python is there.
#[test]
fn onnx_checker_accepts_exported_models() {
    let venv = std::env::var("GEOMAML_VENV").unwrap_or_else(|_| "/root/.cache/geomaml/venv".into());
    let python = Path::new(&venv).join("bin/python");
    if !python.exists() {
        eprintln!("skipped: no python at {}", python.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cnn = model(dir.path(), "cnn", Arch::Cnn, &["B02", "B03"], 16);
    let unet = model(dir.path(), "unet", Arch::Unet, &["R", "G", "B"], 16);
    let script = r#"
import sys, numpy as np, onnx, onnxruntime as ort
for p in sys.argv[1:]:
    m = onnx.load(p)
    onnx.checker.check_model(m, full_check=True)
    assert m.ir_version <= 10 and m.opset_import[0].version >= 17
s = ort.InferenceSession(sys.argv[2])
# Height and width are the tile size, declared: every admissible input runs.
shape = s.get_inputs()[0].shape
assert shape[1:] == [3, 16, 16] and isinstance(shape[0], str), shape
out = s.run(["probabilities"], {"input": np.zeros((2, 3, 16, 16), np.float32)})[0]
assert out.shape == (2, 4, 16, 16), out.shape
print("ok")
"#;
    let out = std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&cnn)
        .arg(&unet)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_confidence_band_is_the_top_two_margin_with_the_maps_nodata() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = model(dir.path(), "cnn", Arch::Cnn, &["B02", "B03", "B04"], 16);
    let scene = scene(dir.path(), &["B02", "B03", "B04"], (100, 70));
    let map = dir.path().join("map.tif");
    run_ok(
        geomaml()
            .args([
                "map",
                "--stride",
                "4",
                "--probabilities",
                "--confidence",
                "--model",
            ])
            .arg(&onnx)
            .arg(&scene)
            .arg("-o")
            .arg(&map),
    );
    let conf_path = dir.path().join("map.confidence.tif");
    let (classes, _) = read_band(&map, 1);
    let (conf, size) = read_band(&conf_path, 1);
    assert_eq!(size, (25, 18));
    let probs: Vec<Vec<u8>> = (1..=4)
        .map(|b| read_band(&dir.path().join("map.probabilities.tif"), b).0)
        .collect();
    let mut low = 0;
    for i in 0..classes.len() {
        if classes[i] == 0 {
            assert_eq!(conf[i], 255, "cell {i}: nodata in the map");
            continue;
        }
        assert!(conf[i] <= 100, "cell {i}: {}", conf[i]);
        let mut p: Vec<i32> = probs.iter().map(|b| b[i] as i32).collect();
        p.sort_unstable_by(|a, b| b.cmp(a));
        // Percentages are rounded per class, so the margin of the rounded values
        // may differ by one.
        assert!(
            (conf[i] as i32 - (p[0] - p[1])).abs() <= 1,
            "cell {i}: {} vs {p:?}",
            conf[i]
        );
        low += usize::from(conf[i] < 50);
    }
    assert!(low > 0, "a random model is unsure somewhere");
    let ds = Dataset::open(&conf_path).unwrap();
    assert_eq!(
        ds.metadata_item("GEOMAML_CONFIDENCE", "").as_deref(),
        Some(geomaml::infer::layout::CONFIDENCE_DEFINITION)
    );
}

#[test]
fn min_confidence_leaves_unsure_cells_nodata_and_keeps_their_confidence() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = model(dir.path(), "cnn", Arch::Cnn, &["B02", "B03", "B04"], 16);
    let scene = scene(dir.path(), &["B02", "B03", "B04"], (100, 70));
    let map_with = |name: &str, extra: &[&str]| {
        let map = dir.path().join(name);
        run_ok(
            geomaml()
                .args(["map", "--stride", "4", "--confidence", "--model"])
                .arg(&onnx)
                .arg(&scene)
                .args(extra)
                .arg("-o")
                .arg(&map),
        );
        let stem = name.trim_end_matches(".tif");
        let conf = read_band(&dir.path().join(format!("{stem}.confidence.tif")), 1).0;
        (read_band(&map, 1).0, conf)
    };
    let (all, conf) = map_with("all.tif", &[]);
    // The median confidence of the mapped cells: some below, some at or above.
    let mut mapped: Vec<u8> = (0..all.len())
        .filter(|&i| all[i] != 0)
        .map(|i| conf[i])
        .collect();
    mapped.sort_unstable();
    let floor = mapped[mapped.len() / 2];
    let (floored, conf_floored) =
        map_with("floored.tif", &["--min-confidence", &floor.to_string()]);
    assert_eq!(conf, conf_floored, "the confidence band does not change");
    let (mut kept, mut dropped) = (0, 0);
    for i in 0..all.len() {
        if all[i] == 0 {
            assert_eq!(floored[i], 0, "cell {i}: nodata stays nodata");
        } else if conf[i] < floor {
            assert_eq!(floored[i], 0, "cell {i}: confidence {} < {floor}", conf[i]);
            dropped += 1;
        } else {
            assert_eq!(
                floored[i], all[i],
                "cell {i}: confidence {} >= {floor}",
                conf[i]
            );
            kept += 1;
        }
    }
    assert!(kept > 0 && dropped > 0, "kept {kept}, dropped {dropped}");
    // The floor is recorded in the map, so that its nodata is not taken for gaps.
    let item = |name: &str| {
        Dataset::open(dir.path().join(name))
            .unwrap()
            .metadata_item("GEOMAML_MIN_CONFIDENCE", "")
    };
    assert_eq!(item("floored.tif"), Some(floor.to_string()));
    assert_eq!(item("all.tif"), None);
    // A percentage above 100 is a usage error (exit 2) naming the flag.
    let out = geomaml()
        .args(["map", "--min-confidence", "101", "--model"])
        .arg(&onnx)
        .arg(&scene)
        .arg("-o")
        .arg(dir.path().join("bad.tif"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--min-confidence"), "{err}");
    assert!(!dir.path().join("bad.tif").exists());
}

#[test]
fn a_deepness_export_carries_the_keys_deepness_reads_and_is_refused_by_map() {
    let dir = tempfile::tempdir().unwrap();
    let (st, native) = random_model(dir.path(), "m", Arch::Cnn, &["B02", "B03", "B04"], 16, 5);
    let deepness = dir.path().join("deepness.onnx");
    run_ok(
        geomaml()
            .args(["export", "--deepness"])
            .arg(&st)
            .arg("-o")
            .arg(&deepness),
    );
    let meta = geomaml::export::metadata::read_metadata(&deepness).unwrap();
    assert_eq!(meta["model_type"], "\"Segmentor\"");
    assert_eq!(meta["tile_size"], "16");
    assert_eq!(meta["tiles_overlap"], "75", "the default stride, tile/4");
    assert_eq!(
        (
            meta["seg_thresh"].as_str(),
            meta["seg_small_segment"].as_str()
        ),
        ("0", "0")
    );
    let names: serde_json::Value = serde_json::from_str(&meta["class_names"]).unwrap();
    assert_eq!(names.as_object().unwrap().len(), 4);
    // The plain export of a tile classifier is for geomaml only: no Deepness keys.
    let plain = geomaml::export::metadata::read_metadata(&native).unwrap();
    assert!(!plain.contains_key("model_type"), "{plain:?}");
    let scene = scene(dir.path(), &["B02", "B03", "B04"], (40, 40));
    let err = run_fail(&mut crate::util::map_command(
        &deepness,
        &scene,
        &dir.path().join("map.tif"),
        &[],
    ));
    assert!(
        err.contains("--deepness") && err.contains("deepness.onnx"),
        "{err}"
    );
    assert!(!dir.path().join("map.tif").exists());
}

#[test]
fn progress_lines_for_programs_that_run_geomaml() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path(), "cnn", Arch::Cnn, &["B02", "B03", "B04"], 16);
    // Blocks of 512 source px at stride 4: 2 x 2 blocks.
    let s = scene(dir.path(), &["B02", "B03", "B04"], (600, 530));
    let out = run_ok(
        crate::util::map_command(&m, &s, &dir.path().join("map.tif"), &[])
            .env("GEOMAML_PROGRESS", "lines"),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("progress: "))
        .collect();
    assert_eq!(lines.last(), Some(&"progress: 4/4"), "{err}");
    assert!(lines.iter().all(|l| l.ends_with("/4")), "{err}");
    // Without the variable (and without a terminal) there are none.
    let out = run_ok(&mut crate::util::map_command(
        &m,
        &s,
        &dir.path().join("map2.tif"),
        &[],
    ));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("progress: "));
}
