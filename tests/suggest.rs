//! `geomaml suggest`: points in the requested CRS, on mapped cells, away from the
//! labels and from each other, covering the classes the model predicts,
//! reproducible by seed.

use crate::util::*;
use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use gdal::vector::LayerAccess;
use gdal::Dataset;
use geomaml::model::Arch;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const BANDS: [&str; 3] = ["B02", "B03", "B04"];

/// A 120 x 90 UTM scene (10 m pixels from x = 500,000 m, y = 4,600,000 m) whose
/// top-left 40 x 40 corner is nodata.
fn scene(dir: &Path) -> PathBuf {
    write_utm_scene(
        &dir.join("scene.tif"),
        &BANDS,
        (120, 90),
        500_000.0,
        |b, x, y| {
            if x < 40 && y < 40 {
                0
            } else {
                (1000 + (x * 37 + y * 11 * (b + 1)) % 4000 + 2000 * ((x / 16 + y / 16 + b) % 2))
                    as u16
            }
        },
    )
}

/// Labels at scene pixels, as a GeoJSON in the scene's CRS.
fn labels(dir: &Path, px: &[(usize, usize, &str)]) -> PathBuf {
    let pts: Vec<(&str, f64, f64)> = px
        .iter()
        .map(|&(x, y, class)| {
            let e = 500_000.0 + 10.0 * x as f64 + 5.0;
            (class, e, 4_600_000.0 - 10.0 * y as f64 - 5.0)
        })
        .collect();
    points(
        dir,
        "labels.geojson",
        Some("urn:ogc:def:crs:EPSG::32633"),
        &pts,
    )
}

/// `geomaml suggest --model MODEL SCENE --labels LABELS -o OUT`; callers append
/// their options.
fn suggest_with_labels(model: &Path, scene: &Path, labels: &Path, out: &Path) -> Command {
    let mut cmd = geomaml();
    cmd.args(["suggest", "--model"])
        .arg(model)
        .arg(scene)
        .arg("--labels")
        .arg(labels)
        .arg("-o")
        .arg(out);
    cmd
}

/// Points of a suggestion layer as scene pixels, with their `predicted` class.
fn suggested_pixels(path: &Path) -> (Vec<(f64, f64, i64)>, Option<u32>) {
    let ds = Dataset::open(path).unwrap();
    let mut layer = ds.layer(0).unwrap();
    let mut srs = layer.spatial_ref().unwrap();
    let epsg = srs.auth_code().ok().map(|c| c as u32);
    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let mut utm = SpatialRef::from_epsg(32633).unwrap();
    utm.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let t = CoordTransform::new(&srs, &utm).unwrap();
    let mut out = Vec::new();
    for f in layer.features() {
        let (x, y, _) = f.geometry().unwrap().get_point(0);
        let (mut xs, mut ys, mut zs) = ([x], [y], [0.0]);
        t.transform_coords(&mut xs, &mut ys, &mut zs).unwrap();
        let idx = f.field_index("predicted").unwrap();
        let predicted = f.field_as_integer(idx).unwrap().unwrap() as i64;
        out.push((
            (xs[0] - 500_000.0) / 10.0,
            (4_600_000.0 - ys[0]) / 10.0,
            predicted,
        ));
    }
    (out, epsg)
}

#[test]
fn suggestions_are_points_in_the_requested_crs_on_mapped_cells_away_from_labels() {
    let dir = tempfile::tempdir().unwrap();
    let (_, onnx) = random_model(dir.path(), "m", Arch::Cnn, &BANDS, 16, 42);
    let scene = scene(dir.path());
    let labels = labels(dir.path(), &[(60, 60, "Forest"), (100, 20, "Shrubland")]);
    let map = dir.path().join("map.tif");
    run_ok(&mut map_command(&onnx, &scene, &map, &["--stride", "4"]));
    let out = dir.path().join("next.gpkg");
    run_ok(suggest_with_labels(&onnx, &scene, &labels, &out).args([
        "-n",
        "6",
        "--stride",
        "4",
        "--spacing",
        "12",
        "--crs",
        "EPSG:4326",
        "--classes",
        "1,2,3,4",
    ]));
    let (points, epsg) = suggested_pixels(&out);
    assert_eq!(epsg, Some(4326));
    assert_eq!(points.len(), 6, "{points:?}");
    let ds = Dataset::open(&map).unwrap();
    let (mw, mh) = ds.raster_size();
    let cells = ds
        .rasterband(1)
        .unwrap()
        .read_as::<u8>((0, 0), (mw, mh), (mw, mh), None)
        .unwrap()
        .data()
        .to_vec();
    let mapped: BTreeSet<i64> = cells
        .iter()
        .filter(|&&c| c != 0)
        .map(|&c| c as i64)
        .collect();
    for (k, &(x, y, predicted)) in points.iter().enumerate() {
        // On the stride-4 map's cells, inside the scene.
        assert!(
            (0.0..120.0).contains(&x) && (0.0..90.0).contains(&y),
            "({x}, {y})"
        );
        // The centre of the cell's part inside the scene.
        for (v, extent) in [(x, 120.0), (y, 90.0)] {
            let c = (v / 4.0).floor() * 4.0;
            let centre = (c + (c + 4.0f64).min(extent)) / 2.0;
            assert!((v - centre).abs() < 1e-6, "({x}, {y}) is not a cell centre");
        }
        let cell = cells[(y / 4.0).floor() as usize * mw + (x / 4.0).floor() as usize];
        assert_ne!(cell, 0, "({x}, {y}) is on nodata");
        assert_eq!(cell as i64, predicted, "({x}, {y}): the map says {cell}");
        // More than --spacing (12 px) from the labels and from each other.
        for (lx, ly) in [(60.5, 60.5), (100.5, 20.5)] {
            assert!(
                (x - lx).abs().max((y - ly).abs()) > 12.0,
                "({x}, {y}) is near a label"
            );
        }
        for &(ox, oy, _) in &points[k + 1..] {
            assert!(
                (x - ox).abs().max((y - oy).abs()) > 12.0,
                "({x}, {y}) and ({ox}, {oy})"
            );
        }
    }
    // Every requested class the map has is among the suggestions (6 places, at most
    // 4 classes).
    let suggested: BTreeSet<i64> = points.iter().map(|p| p.2).collect();
    assert_eq!(suggested, mapped);
}

#[test]
fn suggestions_from_a_per_pixel_map_lie_on_its_pixels() {
    // The pixel network's map has the scene's pixels: a suggestion is a pixel
    // centre whose class in that map is the one it reports, and --spacing counts
    // scene pixels, not windows.
    let dir = tempfile::tempdir().unwrap();
    let (_, onnx) = random_model(dir.path(), "p", Arch::Pixel, &BANDS, 16, 7);
    let scene = scene(dir.path());
    let labels = labels(dir.path(), &[(60, 60, "Forest")]);
    let map = dir.path().join("map.tif");
    run_ok(&mut map_command(&onnx, &scene, &map, &[]));
    let out = dir.path().join("next.gpkg");
    run_ok(suggest_with_labels(&onnx, &scene, &labels, &out).args(["-n", "8", "--spacing", "10"]));
    let (points, _) = suggested_pixels(&out);
    assert_eq!(points.len(), 8, "{points:?}");
    let ds = Dataset::open(&map).unwrap();
    assert_eq!(ds.raster_size(), (120, 90));
    let cells = ds
        .rasterband(1)
        .unwrap()
        .read_band_as::<u8>()
        .unwrap()
        .data()
        .to_vec();
    for (k, &(x, y, predicted)) in points.iter().enumerate() {
        assert!(
            (x - x.floor() - 0.5).abs() < 1e-6 && (y - y.floor() - 0.5).abs() < 1e-6,
            "({x}, {y}) is not a pixel centre"
        );
        let cell = cells[y.floor() as usize * 120 + x.floor() as usize];
        assert_eq!(cell as i64, predicted, "({x}, {y}): the map says {cell}");
        assert!((x - 60.5).abs().max((y - 60.5).abs()) > 10.0, "({x}, {y})");
        for &(ox, oy, _) in &points[k + 1..] {
            assert!(
                (x - ox).abs().max((y - oy).abs()) > 10.0,
                "({x}, {y}) and ({ox}, {oy})"
            );
        }
    }
}

#[test]
fn the_same_seed_writes_the_same_suggestions() {
    let dir = tempfile::tempdir().unwrap();
    let (st, _) = random_model(dir.path(), "m", Arch::Cnn, &BANDS, 16, 7);
    let scene = scene(dir.path());
    let run = |name: &str, seed: &str| {
        let out = dir.path().join(name);
        // A .safetensors model without labels is mapped as it is.
        run_ok(
            geomaml()
                .args(["suggest", "-n", "5", "--seed", seed, "--model"])
                .arg(&st)
                .arg(&scene)
                .arg("-o")
                .arg(&out),
        );
        suggested_pixels(&out).0
    };
    let a = run("a.geojson", "3");
    assert_eq!(a.len(), 5);
    assert_eq!(a, run("b.geojson", "3"));
}

#[test]
fn an_unknown_output_format_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let (_, onnx) = random_model(dir.path(), "m", Arch::Cnn, &BANDS, 16, 1);
    let scene = scene(dir.path());
    let out = dir.path().join("next.shp");
    let err = run_fail(
        geomaml()
            .args(["suggest", "--model"])
            .arg(&onnx)
            .arg(&scene)
            .arg("-o")
            .arg(&out),
    );
    assert!(err.contains("--output") && err.contains(".gpkg"), "{err}");
    assert!(!out.exists());
}

#[test]
fn the_analyst_loop_runs_on_the_sample_scene() {
    let (_, model) = pretrain_on_sample(3, 1);
    let dir = tempfile::tempdir().unwrap();
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_geomaml-train"));
    let example = exe.parent().unwrap().join("examples").join("analyst_loop");
    assert!(example.exists(), "build the example: {}", example.display());
    let out = dir.path().join("loop");
    let res = std::process::Command::new(&example)
        .arg("--geomaml")
        .arg(&exe)
        .arg("--model")
        .arg(&model)
        .arg("--scene")
        .arg(sample("scene"))
        .args([
            "--rounds",
            "1",
            "--per-round",
            "3",
            "--seeds",
            "1",
            "--inner-steps",
            "2",
            "--strategies",
            "suggest,random,oracle",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv_rows(&summary);
    // Three strategies, rounds 0 and 1; round 0 is the same start for all.
    assert_eq!(rows.len(), 6, "{summary}");
    let acc = |strategy: &str, round: &str| -> f64 {
        let r = rows
            .iter()
            .find(|r| r[0] == strategy && r[1] == round)
            .unwrap();
        r[3].parse().unwrap()
    };
    assert_eq!(acc("random", "0"), acc("suggest", "0"));
    assert_eq!(acc("random", "0"), acc("oracle", "0"));
    for r in &rows {
        let a: f64 = r[3].parse().unwrap();
        assert!((0.0..=1.0).contains(&a), "{summary}");
    }
    let rounds = std::fs::read_to_string(out.join("rounds.csv")).unwrap();
    // Round 1 adds 3 labels to the start's one per class.
    let labels = |strategy: &str, round: &str| -> usize {
        csv_rows(&rounds)
            .into_iter()
            .find(|r| r[0] == strategy && r[3] == round)
            .unwrap()[4]
            .parse()
            .unwrap()
    };
    assert_eq!(labels("random", "1"), labels("random", "0") + 3);
    assert_eq!(labels("suggest", "1"), labels("suggest", "0") + 3);
    // The oracle finds 3 wrongly mapped pixels after 2 adaptation steps.
    assert_eq!(labels("oracle", "1"), labels("oracle", "0") + 3);
    // Accuracy by distance to a class edge: four bands per strategy and round whose
    // shares of the scored cells add up to one.
    let edges = std::fs::read_to_string(out.join("edges.csv")).unwrap();
    let bands: Vec<Vec<&str>> = csv_rows(&edges);
    assert_eq!(bands.len(), 3 * 2 * 4, "{edges}");
    for group in bands.chunks(4) {
        let labels: Vec<&str> = group.iter().map(|r| r[3]).collect();
        assert_eq!(labels, ["1-2", "3-5", "6-10", "11+"], "{edges}");
        let share: f64 = group.iter().map(|r| r[4].parse::<f64>().unwrap()).sum();
        assert!((share - 1.0).abs() < 1e-3, "{edges}");
        for r in group {
            // A band without cells has no accuracy, never a made-up 0.
            let cells: f64 = r[4].parse().unwrap();
            assert_eq!(r[5].is_empty(), cells == 0.0, "{edges}");
            if cells > 0.0 {
                assert!(
                    (0.0..=1.0).contains(&r[5].parse::<f64>().unwrap()),
                    "{edges}"
                );
            }
        }
    }
    assert!(std::fs::metadata(out.join("loop.png")).unwrap().len() > 1000);
}

#[test]
fn a_bad_output_is_refused_before_adapting_and_named_as_given() {
    let dir = tempfile::tempdir().unwrap();
    let (st, _) = random_model(dir.path(), "m", Arch::Cnn, &BANDS, 16, 7);
    let scene = scene(dir.path());
    let labels = dir.path().join("labels.geojson");
    std::fs::write(&labels, "{}").unwrap();
    let suggest = |out: &Path| {
        run_fail(
            geomaml()
                .args(["suggest", "--device", "cpu", "--model"])
                .arg(&st)
                .arg(&scene)
                .arg("--labels")
                .arg(&labels)
                .arg("-o")
                .arg(out),
        )
    };
    // An existing output: refused before the (unreadable) labels are adapted on.
    let existing = dir.path().join("next.gpkg");
    std::fs::write(&existing, "mine").unwrap();
    let err = suggest(&existing);
    assert!(
        err.contains("next.gpkg") && err.contains("already exists"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "mine");
    // A folder that does not exist: the message names the output, not a temporary.
    let err = suggest(&dir.path().join("missing").join("next.gpkg"));
    assert!(
        err.contains("next.gpkg") && !err.contains("adapted.onnx"),
        "{err}"
    );
}
