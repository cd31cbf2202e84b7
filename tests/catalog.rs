//! Catalog, tasks and batch loading on Sen12MS and DeepGlobe trees generated here
//! with GDAL (tiny patches: 64 px patches cut into 32 px tiles), malformed trees,
//! and, opt-in, the reference fixtures (`GEOMAML_REFERENCE_DATA`).

use crate::util::*;
use gdal::spatial_ref::SpatialRef;
use gdal::DriverManager;
use geomaml::catalog::{Catalog, Split};
use geomaml::raster::{GeoTiffWriter, GeoTransform, Raster, Window, WriterOptions};
use geomaml::tasks::{
    load_task, LoaderOptions, SamplerConfig, SplitStrategy, Splits, TaskSampler, TileIndex,
    IGNORE_INDEX,
};
use serde_json::Value;
use std::path::Path;

/// IGBP values whose DFC classes are Forest (1), Shrubland (2), Grassland (4), Water (10).
const IGBP: [u16; 4] = [1, 6, 10, 17];
const PATCH: usize = 64;
const TILE: usize = 32;

fn wkt(epsg: u32) -> String {
    SpatialRef::from_epsg(epsg).unwrap().to_wkt().unwrap()
}

fn write_tif<T: gdal::raster::GdalType + Copy>(
    path: &Path,
    bands: usize,
    gt: GeoTransform,
    crs: &str,
    f: impl Fn(usize, usize, usize) -> T,
) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let opts = WriterOptions {
        compress: "NONE".into(),
        ..Default::default()
    };
    let mut w = GeoTiffWriter::create::<T>(path, (PATCH, PATCH), bands, gt, crs, &opts).unwrap();
    for b in 1..=bands {
        let data: Vec<T> = (0..PATCH * PATCH)
            .map(|i| f(b, i / PATCH, i % PATCH))
            .collect();
        w.write(b, (0, 0), (PATCH, PATCH), data).unwrap();
    }
    w.finish().unwrap();
}

/// Writes one Sen12MS patch triplet; tile t of patch p has DFC class of `IGBP[(p + t) % 4]`,
/// `nodata_tile` (if any) is all IGBP 0. Patches lie side by side, 1 km apart.
fn write_patch(root: &Path, season: &str, scene: u32, patch: u32, nodata_tile: Option<usize>) {
    let folder = format!("ROIs1158_{season}");
    let gt = GeoTransform::north_up(500_000.0 + 1000.0 * patch as f64, 5_320_000.0, 10.0);
    let crs = wkt(32632);
    let name = |m: &str| {
        root.join(&folder)
            .join(format!("{m}_{scene}"))
            .join(format!("{folder}_{m}_{scene}_p{patch}.tif"))
    };
    write_tif::<f32>(&name("s1"), 2, gt, &crs, |b, _, _| -10.0 * b as f32);
    write_tif::<u16>(&name("s2"), 13, gt, &crs, |b, _, _| 1000 + b as u16);
    write_tif::<u16>(&name("lc"), 4, gt, &crs, |_, r, c| {
        let t = (r / TILE) * (PATCH / TILE) + c / TILE;
        if Some(t) == nodata_tile {
            0
        } else {
            IGBP[(patch as usize + t) % 4]
        }
    });
}

/// Regions 3 and 57 (train) and 8 (test), spring and fall, 4 patches each; patch 9
/// of region 3 in spring has a nodata tile.
fn sen12ms_tree(root: &Path) {
    for season in ["spring", "fall"] {
        for scene in [3, 57, 8] {
            for patch in 1..=4 {
                write_patch(root, season, scene, patch, None);
            }
        }
    }
    write_patch(root, "spring", 3, 9, Some(0));
}

fn catalog(root: &Path, out: &Path) -> Value {
    run_ok(
        geomaml()
            .arg("catalog")
            .arg(root)
            .arg("-o")
            .arg(out)
            .args(["--tile-size", "32"]),
    );
    serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap()
}

#[test]
fn sen12ms_tree_is_cut_into_labelled_tiles_with_footprints() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sen12ms");
    sen12ms_tree(&root);
    std::fs::write(root.join("train_list.txt"), "ignored\n").unwrap();
    let out = geomaml()
        .arg("catalog")
        .arg(&root)
        .arg("-o")
        .arg(dir.path().join("c.json"))
        .args(["--tile-size", "32"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("regions: 3") && stderr.contains("tiles:   100"),
        "{stderr}"
    );
    let cat: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("c.json")).unwrap()).unwrap();
    assert_eq!(cat["kind"], "sen12ms");
    let tiles = cat["tiles"].as_array().unwrap();
    assert_eq!(tiles.len(), 25 * 4);
    let t = tiles
        .iter()
        .find(|t| t["region"] == 57 && t["patch"] == 2 && t["tile"] == 3 && t["season"] == "fall")
        .unwrap();
    assert_eq!(t["label"], [1, 2, 4, 10][(2 + 3) % 4]);
    assert_eq!(
        t["window"],
        serde_json::json!({"x": 32, "y": 32, "width": 32, "height": 32})
    );
    assert_eq!(
        t["sources"]["lc"],
        "ROIs1158_fall/lc_57/ROIs1158_fall_lc_57_p2.tif"
    );
    // UTM 32N easting 502.32..502.64 km, northing 5320 km: about 9.03 E, 48.03 N.
    let b: Vec<f64> = t["bbox_wgs84"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(
        b[0] > 9.03 && b[2] < 9.04 && b[1] > 47.9 && b[3] < 48.1 && b[2] - b[0] < 0.01,
        "{b:?}"
    );
    let nodata = tiles
        .iter()
        .find(|t| t["patch"] == 9 && t["tile"] == 0)
        .unwrap();
    assert!(nodata["label"].is_null());
    assert!(nodata["unlabelled_reason"]
        .as_str()
        .unwrap()
        .contains("mostly nodata"));
    assert_eq!(cat["summary"]["labelled"], 99);
    assert_eq!(cat["skipped"]["total"], 0);
}

#[test]
fn malformed_trees_are_counted_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    sen12ms_tree(&root);
    // Missing lc, wrong band count, unknown season, unknown name.
    std::fs::remove_file(root.join("ROIs1158_spring/lc_3/ROIs1158_spring_lc_3_p1.tif")).unwrap();
    let s2 = root.join("ROIs1158_spring/s2_3/ROIs1158_spring_s2_3_p2.tif");
    let gt = GeoTransform::north_up(500_000.0, 5_320_000.0, 10.0);
    write_tif::<u16>(&s2, 3, gt, &wkt(32632), |_, _, _| 1);
    let odd = root.join("ROIs1234_autumn/s2_3/ROIs1234_autumn_s2_3_p1.tif");
    write_tif::<u16>(&odd, 13, gt, &wkt(32632), |_, _, _| 1);
    std::fs::write(root.join("ROIs1158_spring/s2_3/notes.tif"), b"not a tiff").unwrap();
    let cat = catalog(&root, &dir.path().join("c.json"));
    let by_kind = &cat["skipped"]["by_kind"];
    assert_eq!(by_kind["missing_sibling"], 1, "{by_kind}");
    assert_eq!(by_kind["wrong_band_count"], 1, "{by_kind}");
    assert_eq!(by_kind["unknown_season"], 1, "{by_kind}");
    assert_eq!(by_kind["unknown_name"], 1, "{by_kind}");
    assert_eq!(cat["tiles"].as_array().unwrap().len(), 23 * 4);
    let examples = cat["skipped"]["examples"].to_string();
    assert!(examples.contains("has 3 bands; Sen12MS S2"), "{examples}");
}

#[test]
fn empty_and_unusable_trees_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = run_fail(
        geomaml()
            .arg("catalog")
            .arg(&empty)
            .arg("-o")
            .arg(dir.path().join("c.json")),
    );
    assert!(
        err.contains("found no Sen12MS") && err.contains("empty"),
        "{err}"
    );
    let lonely = dir.path().join("lonely");
    write_patch(&lonely, "winter", 3, 1, None);
    std::fs::remove_file(lonely.join("ROIs1158_winter/lc_3/ROIs1158_winter_lc_3_p1.tif")).unwrap();
    let err = run_fail(
        geomaml()
            .arg("catalog")
            .arg(&lonely)
            .arg("-o")
            .arg(dir.path().join("c.json")),
    );
    assert!(
        err.contains("no usable Sen12MS patches") && err.contains("no lc file"),
        "{err}"
    );
    assert!(!dir.path().join("c.json").exists());
    let err = run_fail(
        geomaml()
            .arg("catalog")
            .arg(dir.path().join("nowhere"))
            .arg("-o")
            .arg(dir.path().join("c.json")),
    );
    assert!(err.contains("nowhere"), "{err}");
}

#[test]
fn existing_catalogs_need_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("t");
    write_patch(&root, "summer", 3, 1, None);
    let out = dir.path().join("c.json");
    catalog(&root, &out);
    let err = run_fail(geomaml().arg("catalog").arg(&root).arg("-o").arg(&out));
    assert!(err.contains("--overwrite"), "{err}");
    run_ok(
        geomaml()
            .arg("catalog")
            .arg(&root)
            .arg("-o")
            .arg(&out)
            .args(["--tile-size", "32", "--overwrite"]),
    );
}

fn tasks(cat: &Path, extra: &[&str]) -> Vec<Value> {
    let out = run_ok(geomaml().arg("tasks").arg(cat).args(extra));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn tasks_follow_the_protocol_and_are_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sen12ms");
    sen12ms_tree(&root);
    let cat = dir.path().join("c.json");
    catalog(&root, &cat);
    let args = [
        "--way", "4", "--shot", "1", "--query", "2", "--split", "train", "--count", "20", "--seed",
        "5",
    ];
    let a = tasks(&cat, &args);
    assert_eq!(a, tasks(&cat, &args));
    assert_ne!(
        a,
        tasks(
            &cat,
            &["--way", "4", "--shot", "1", "--query", "2", "--count", "20", "--seed", "6"]
        )
    );
    for t in &a {
        assert!(t["region"] == 3 || t["region"] == 57, "{t}");
        assert_eq!(t["classes"].as_array().unwrap().len(), 4);
        assert_eq!(
            (
                t["support"].as_array().unwrap().len(),
                t["query"].as_array().unwrap().len()
            ),
            (4, 8)
        );
        let sup: Vec<&Value> = t["support"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| &s["tile"])
            .collect();
        assert!(t["query"]
            .as_array()
            .unwrap()
            .iter()
            .all(|q| !sup.contains(&&q["tile"])));
    }
    // Each class has 4 tiles per (season, region) here: 4 > 1 + 2, but not > 2 + 2.
    let err = run_fail(
        geomaml()
            .arg("tasks")
            .arg(&cat)
            .args(["--shot", "2", "--query", "2"]),
    );
    assert!(err.contains("more than 4 labelled tiles"), "{err}");
    let test = tasks(
        &cat,
        &[
            "--way", "4", "--shot", "1", "--query", "1", "--split", "test", "--count", "3",
        ],
    );
    assert!(test.iter().all(|t| t["region"] == 8));
    let split = dir.path().join("split.json");
    std::fs::write(&split, r#"{"train": [8], "test": [3, 57]}"#).unwrap();
    let custom = tasks(
        &cat,
        &[
            "--way",
            "2",
            "--shot",
            "1",
            "--query",
            "1",
            "--split-file",
            split.to_str().unwrap(),
            "--count",
            "5",
        ],
    );
    assert!(custom.iter().all(|t| t["region"] == 8));
}

#[test]
fn loader_reads_normalised_windows_and_task_local_labels() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sen12ms");
    sen12ms_tree(&root);
    let path = dir.path().join("c.json");
    catalog(&root, &path);
    let cat = Catalog::load(&path).unwrap();
    let splits = Splits::for_catalog(&cat, &SplitStrategy::Default).unwrap();
    let index = TileIndex::new(&cat, &splits);
    let sampler = TaskSampler::new(
        &index,
        SamplerConfig {
            way: 3,
            shot: 2,
            query: 1,
            split: Some(Split::Train),
        },
    )
    .unwrap();
    let task = &sampler.sample_many(1, 1).unwrap()[0];
    let mut opts = LoaderOptions::for_kind(cat.kind);
    let b = load_task(&cat, task, &opts).unwrap();
    assert_eq!(b.support_x.shape(), &[6, 15, 32, 32]);
    assert_eq!(b.query_x.shape(), &[3, 15, 32, 32]);
    assert_eq!(b.support_y.shape(), &[6, 1]);
    assert_eq!(
        b.support_y.iter().copied().collect::<Vec<_>>(),
        vec![0, 0, 1, 1, 2, 2]
    );
    assert_eq!(b.classes, task.classes);
    assert!(
        (b.support_x[[0, 0, 5, 5]] + 0.1).abs() < 1e-6,
        "VV -10 dB x 1e-2"
    );
    assert!(
        (b.support_x[[0, 2, 5, 5]] - 0.1001).abs() < 1e-6,
        "B01 1001 x 1e-4"
    );
    opts.bands = geomaml::bands::parse_band_list("B04,VH");
    opts.augment = true;
    let b = load_task(&cat, task, &opts).unwrap();
    assert_eq!(b.query_x.shape(), &[3, 2, 32, 32]);
    assert!(
        (b.query_x[[0, 0, 0, 0]] - 0.1004).abs() < 1e-6
            && (b.query_x[[0, 1, 0, 0]] + 0.2).abs() < 1e-6
    );
}

/// A DeepGlobe tree of 16 px images (4 px sub-images): image i's left half is Urban,
/// right half Forest, one pixel an unmatched colour (red).
fn deepglobe_tree(root: &Path, ids: &[u32]) {
    let mem = DriverManager::get_driver_by_name("MEM").unwrap();
    for &id in ids {
        for (suffix, driver) in [("sat.jpg", "JPEG"), ("mask.png", "PNG")] {
            let ds = mem.create_with_band_type::<u8, _>("", 16, 16, 3).unwrap();
            for b in 1..=3usize {
                let data: Vec<u8> = (0..256)
                    .map(|i| match (suffix, i % 16 < 8, i) {
                        ("sat.jpg", _, _) => (id * 20 + b as u32 * 10) as u8,
                        (_, _, 0) => [255, 0, 0][b - 1],
                        (_, true, _) => [0, 255, 255][b - 1],
                        (_, false, _) => [0, 255, 0][b - 1],
                    })
                    .collect();
                let mut buf = gdal::raster::Buffer::new((16, 16), data);
                ds.rasterband(b)
                    .unwrap()
                    .write((0, 0), (16, 16), &mut buf)
                    .unwrap();
            }
            let folder = root.join(if suffix == "sat.jpg" {
                "images"
            } else {
                "masks"
            });
            std::fs::create_dir_all(&folder).unwrap();
            let out = folder.join(format!("{id}_{suffix}"));
            ds.create_copy(
                &DriverManager::get_driver_by_name(driver).unwrap(),
                &out,
                &Default::default(),
            )
            .unwrap();
        }
    }
}

#[test]
fn deepglobe_images_become_segmentation_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("dg");
    deepglobe_tree(&root, &[1, 2, 3, 4, 5, 6, 7, 8]);
    std::fs::copy(root.join("images/8_sat.jpg"), root.join("images/9_sat.jpg")).unwrap();
    let path = dir.path().join("d.json");
    run_ok(
        geomaml()
            .arg("catalog")
            .arg(&root)
            .arg("-o")
            .arg(&path)
            .args(["--kind", "deepglobe", "--seed", "4"]),
    );
    let cat = Catalog::load(&path).unwrap();
    assert_eq!(
        (cat.images.len(), cat.tiles.len(), cat.tile_size),
        (8, 128, 4)
    );
    assert_eq!(cat.skipped.by_kind["missing_sibling"], 1);
    let img = &cat.images[0];
    assert!(
        (img.class_fractions[0] - 127.0 / 256.0).abs() < 1e-6
            && (img.ignored_fraction - 1.0 / 256.0).abs() < 1e-6
    );
    let roles = cat.tiles[..16]
        .iter()
        .filter(|t| t.role == Some(geomaml::catalog::TileRole::Support))
        .count();
    assert_eq!(roles, 8);
    for strategy in ["random", "clustered"] {
        let t = tasks(
            &path,
            &[
                "--shot",
                "3",
                "--query",
                "2",
                "--split",
                "all",
                "--split-strategy",
                strategy,
                "--count",
                "4",
            ],
        );
        assert_eq!(t.len(), 4);
        assert!(t
            .iter()
            .all(|t| t["kind"] == "segmentation" && t["support"].as_array().unwrap().len() == 3));
    }
    let splits = Splits::for_catalog(&cat, &SplitStrategy::Random { seed: 1 }).unwrap();
    let index = TileIndex::new(&cat, &splits);
    let sampler = TaskSampler::new(
        &index,
        SamplerConfig {
            way: 0,
            shot: 3,
            query: 2,
            split: None,
        },
    )
    .unwrap();
    let task = &sampler.sample_many(1, 2).unwrap()[0];
    let b = load_task(&cat, task, &LoaderOptions::for_kind(cat.kind)).unwrap();
    assert_eq!(b.support_x.shape(), &[3, 3, 2, 2]);
    assert_eq!(b.query_x.shape(), &[2, 3, 4, 4]);
    assert_eq!(b.query_y.shape(), &[2, 16]);
    assert!(b
        .query_y
        .iter()
        .all(|&y| y == 0 || y == 3 || y == IGNORE_INDEX));
    assert!(b.support_x.iter().all(|&v| (0.0..=1.0).contains(&v)));
}

/// Opt-in: the torchgeo fixture trees and real BigEarthNet rasters.
#[test]
fn reference_fixtures_catalog_and_read() {
    let Some(data) = reference_data() else {
        eprintln!("GEOMAML_REFERENCE_DATA not set; skipping");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("s.json");
    run_ok(
        geomaml()
            .arg("catalog")
            .arg(data.join("torchgeo_fixtures/sen12ms"))
            .arg("-o")
            .arg(&s)
            .args(["--tile-size", "32"]),
    );
    let cat = Catalog::load(&s).unwrap();
    assert_eq!(
        (
            cat.tiles.len(),
            cat.summary.per_season.len(),
            cat.skipped.total
        ),
        (32, 4, 0)
    );
    let b = cat.tiles[0].bbox_wgs84.unwrap();
    assert!(
        b[0] > 36.0 && b[2] < 42.0 && b[1] > -20.0 && b[3] < 0.0,
        "UTM 37S: {b:?}"
    );
    let t = tasks(
        &s,
        &[
            "--way", "1", "--shot", "1", "--query", "1", "--split", "all", "--count", "2",
        ],
    );
    assert_eq!(t.len(), 2);
    let d = dir.path().join("d.json");
    run_ok(
        geomaml()
            .arg("catalog")
            .arg(data.join("torchgeo_fixtures/deepglobelandcover"))
            .arg("-o")
            .arg(&d),
    );
    let dg = Catalog::load(&d).unwrap();
    assert_eq!(dg.images.len(), 6);
    for folder in std::fs::read_dir(data.join("bigearthnet/s2-tiny")).unwrap() {
        let folder = folder.unwrap().path();
        let name = folder.file_name().unwrap().to_string_lossy().to_string();
        let r = Raster::open(folder.join(format!("{name}_B04.tif"))).unwrap();
        let (w, h) = r.size();
        let v = r
            .read_window(&[1], Window::new(0, 0, w, h), f32::NAN)
            .unwrap();
        assert!(
            v.iter().all(|&x| (0.0..=20_000.0).contains(&x)),
            "{name} B04 out of reflectance range"
        );
        assert!(r.epsg().is_some());
    }
    for folder in std::fs::read_dir(data.join("bigearthnet/s1-tiny")).unwrap() {
        let folder = folder.unwrap().path();
        let name = folder.file_name().unwrap().to_string_lossy().to_string();
        let r = Raster::open(folder.join(format!("{name}_VV.tif"))).unwrap();
        let v = r
            .read_window(&[1], Window::new(0, 0, 120, 120), f32::NAN)
            .unwrap();
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        assert!(
            v.iter().all(|&x| (-50.0..=30.0).contains(&x)) && mean < 0.0,
            "{name} VV not in dB: mean {mean}"
        );
    }
}

/// End to end on `geomaml synth` output: the Sen12MS and DeepGlobe layouts it
/// writes catalog cleanly and yield tasks.
#[test]
fn synth_trees_catalog_and_sample() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("s");
    run_ok(geomaml().args(["synth", "sen12ms"]).arg(&s).args([
        "--regions",
        "train:2,test:1",
        "--seasons",
        "spring",
        "--patches",
        "4",
        "--size",
        "64",
    ]));
    let cat = dir.path().join("s.json");
    run_ok(
        geomaml()
            .arg("catalog")
            .arg(&s)
            .arg("-o")
            .arg(&cat)
            .args(["--tile-size", "32"]),
    );
    let c = Catalog::load(&cat).unwrap();
    assert_eq!(
        (c.tiles.len(), c.skipped.total, c.summary.per_region.len()),
        (3 * 4 * 4, 0, 3)
    );
    assert!(c.tiles.iter().all(|t| t.bbox_wgs84.is_some()));
    let t = tasks(
        &cat,
        &[
            "--way", "1", "--shot", "1", "--query", "1", "--split", "all", "--count", "3",
        ],
    );
    assert_eq!(t.len(), 3);
    let d = dir.path().join("d");
    run_ok(
        geomaml()
            .args(["synth", "deepglobe"])
            .arg(&d)
            .args(["--images", "3", "--size", "64"]),
    );
    let dj = dir.path().join("d.json");
    run_ok(geomaml().arg("catalog").arg(&d).arg("-o").arg(&dj));
    let dg = Catalog::load(&dj).unwrap();
    assert_eq!((dg.images.len(), dg.tiles.len(), dg.tile_size), (3, 48, 16));
}
