//! `geomaml synth`: layouts, georeferencing, nodata, determinism, and the property the
//! paper is about (a class's appearance shifts from region to region).

use crate::util::*;
use gdal::raster::GdalDataType;
use gdal::{Dataset, Metadata};
use geomaml::catalog::classes::{
    deepglobe_class_of, dfc2020, find_class, igbp_to_dfc, DEEPGLOBE_IGNORE,
};
use geomaml::catalog::regions::region;
use geomaml::synth::separability::{measure, TileSample};
use std::path::Path;

/// Runs `geomaml synth KIND OUT OPTIONS...` (options split at spaces).
fn synth(kind: &str, out: &Path, options: &str) {
    run_ok(
        geomaml()
            .args(["synth", kind])
            .arg(out)
            .args(options.split_whitespace()),
    );
}

fn open(path: &Path) -> Dataset {
    Dataset::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn descriptions(ds: &Dataset) -> Vec<String> {
    (1..=ds.raster_count())
        .map(|b| ds.rasterband(b).unwrap().description().unwrap())
        .collect()
}

#[test]
fn sen12ms_patches_have_the_real_layout_bands_and_georeferencing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s12");
    synth(
        "sen12ms",
        &out,
        "--regions 91,57 --seasons summer,winter --patches 2 --size 32 --seed 5",
    );
    let files = files_under(&out);
    assert_eq!(files.len(), 2 * 2 * 2 * 3, "{files:?}");
    for f in &files {
        let s = f.to_string_lossy();
        let parts: Vec<&str> = s.split('/').collect();
        assert!(
            ["ROIs1868_summer", "ROIs2017_winter"].contains(&parts[0]),
            "{s}"
        );
        let (kind, id) = parts[1].split_once('_').unwrap();
        assert!(
            parts[2].starts_with(&format!("{}_{kind}_{id}_p", parts[0]))
                && parts[2].ends_with(".tif"),
            "{s}"
        );
        let ds = open(&out.join(f));
        assert_eq!(ds.raster_size(), (32, 32));
        let epsg = ds.spatial_ref().unwrap().auth_code().unwrap() as u32;
        assert_eq!(epsg, region(id.parse().unwrap()).unwrap().utm_epsg(), "{s}");
        let gt = ds.geo_transform().unwrap();
        assert_eq!((gt[1], gt[2], gt[4], gt[5]), (10.0, 0.0, 0.0, -10.0));
        assert_eq!(gt[0] % 10.0, 0.0);
        let band1 = ds.rasterband(1).unwrap();
        match kind {
            "s1" => {
                assert_eq!(ds.raster_count(), 2);
                assert_eq!(band1.band_type(), GdalDataType::Float32);
                assert_eq!(descriptions(&ds), ["VV", "VH"]);
                assert!(band1.no_data_value().unwrap().is_nan());
                let vv: Vec<f32> = read_band_f32(&out.join(f), 1)
                    .into_iter()
                    .filter(|v| v.is_finite())
                    .collect();
                let mean = vv.iter().sum::<f32>() / vv.len().max(1) as f32;
                assert!((-25.0..0.0).contains(&mean), "VV mean {mean} dB");
            }
            "s2" => {
                assert_eq!(ds.raster_count(), 13);
                assert_eq!(band1.band_type(), GdalDataType::UInt16);
                assert_eq!(descriptions(&ds)[8], "B8A");
                assert_eq!(band1.no_data_value(), Some(0.0));
                assert!(read_band_f32(&out.join(f), 8).iter().all(|v| *v <= 12000.0));
            }
            _ => {
                assert_eq!(ds.raster_count(), 4);
                assert_eq!(band1.band_type(), GdalDataType::UInt16);
                assert_eq!(descriptions(&ds), ["IGBP", "LCCS_LC", "LCCS_LU", "LCCS_SH"]);
                assert!(read_band_f32(&out.join(f), 1)
                    .iter()
                    .all(|v| (1.0..=17.0).contains(v)));
            }
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, seed: &str| {
        let out = dir.path().join(name);
        synth(
            "sen12ms",
            &out,
            &format!("--regions train:1,test:1 --seasons fall --patches 2 --size 24 --seed {seed}"),
        );
        synth(
            "deepglobe",
            &out.join("dg"),
            &format!("--images 2 --size 40 --seed {seed}"),
        );
        files_under(&out)
            .into_iter()
            .map(|f| (f.clone(), std::fs::read(out.join(f)).unwrap()))
            .collect::<Vec<_>>()
    };
    let (a, b, c) = (run("a", "7"), run("b", "7"), run("c", "8"));
    assert_eq!(a.len(), 2 * 2 * 3 + 2 * 2);
    assert_eq!(a, b);
    assert_ne!(
        a.iter().map(|f| &f.1).collect::<Vec<_>>(),
        c.iter().map(|f| &f.1).collect::<Vec<_>>()
    );
}

#[test]
fn some_patches_carry_nan_and_zero_nodata_as_real_ones_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s12");
    synth(
        "sen12ms",
        &out,
        "--regions train:8 --seasons spring,winter --patches 6 --size 24 --seed 1",
    );
    let (mut nan, mut zero) = (0, 0);
    for f in files_under(&out) {
        let s = f.to_string_lossy().to_string();
        if s.contains("_s1_") {
            nan += read_band_f32(&out.join(&f), 1)
                .iter()
                .filter(|v| v.is_nan())
                .count();
        } else if s.contains("_s2_") {
            zero += read_band_f32(&out.join(&f), 2)
                .iter()
                .filter(|v| **v == 0.0)
                .count();
        }
    }
    assert!(nan > 0 && zero > 0, "NaN pixels {nan}, zero pixels {zero}");
}

/// Tile features (paper normalisation, band means) and majority DFC classes of a
/// generated tree.
fn tiles(root: &Path, tile: usize) -> Vec<TileSample> {
    let mut out = Vec::new();
    for f in files_under(root)
        .into_iter()
        .filter(|f| f.to_string_lossy().contains("_lc_"))
    {
        let lc = root.join(&f);
        let s1 = root.join(f.to_string_lossy().replace("lc_", "s1_"));
        let s2 = root.join(f.to_string_lossy().replace("lc_", "s2_"));
        let id: u32 = f
            .to_string_lossy()
            .split("lc_")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let size = open(&lc).raster_size().0;
        let labels: Vec<u8> = read_band_f32(&lc, 1)
            .iter()
            .map(|v| igbp_to_dfc(*v as u16))
            .collect();
        let bands: Vec<Vec<f32>> = (1..=2)
            .map(|b| {
                read_band_f32(&s1, b)
                    .iter()
                    .map(|v| if v.is_finite() { v * 1e-2 } else { 0.0 })
                    .collect()
            })
            .chain((1..=13).map(|b| read_band_f32(&s2, b).iter().map(|v| v * 1e-4).collect()))
            .collect();
        for ty in 0..size / tile {
            for tx in 0..size / tile {
                let mut counts = [0usize; 11];
                let mut feat = vec![0f32; 15];
                for y in ty * tile..(ty + 1) * tile {
                    for x in tx * tile..(tx + 1) * tile {
                        counts[labels[y * size + x] as usize] += 1;
                        feat.iter_mut()
                            .zip(&bands)
                            .for_each(|(m, b)| *m += b[y * size + x] / (tile * tile) as f32);
                    }
                }
                let (class, n) = counts.iter().enumerate().max_by_key(|c| *c.1).unwrap();
                if *n * 2 > tile * tile {
                    out.push(TileSample {
                        region: id,
                        class: class as u8,
                        features: feat,
                    });
                }
            }
        }
    }
    out
}

#[test]
fn a_few_samples_of_a_region_beat_centroids_pooled_over_other_regions() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s12");
    synth(
        "sen12ms",
        &out,
        "--regions train:7,test:3 --seasons summer --patches 4 --size 64 --seed 11",
    );
    let samples = tiles(&out, 16);
    let s = measure(&samples, 5, 3);
    eprintln!("nearest-centroid accuracy: pooled over other regions {:.3}, 5 local shots {:.3} ({} tiles)", s.pooled, s.local, s.evaluated);
    assert!(s.evaluated >= 150, "{s:?}");
    assert!(s.local >= 0.75, "{s:?}");
    assert!(s.local - s.pooled >= 0.15, "{s:?}");
}

#[test]
fn scenes_match_the_sen12ms_look_and_carry_labels_inside_homogeneous_areas() {
    let dir = tempfile::tempdir().unwrap();
    let (scene, tree) = (dir.path().join("scene"), dir.path().join("s12"));
    synth(
        "scene",
        &scene,
        "--region 91 --size 160 --seed 4 --season summer",
    );
    synth(
        "sen12ms",
        &tree,
        "--regions 91 --seasons summer --patches 1 --size 32 --seed 4",
    );
    assert_eq!(
        list_dir(&scene),
        ["labels.geojson", "scene.tif", "truth.tif"]
    );
    let ds = open(&scene.join("scene.tif"));
    assert_eq!(ds.raster_count(), 15);
    assert_eq!(descriptions(&ds), geomaml::bands::sen12ms_bands());
    assert_eq!(ds.rasterband(1).unwrap().band_type(), GdalDataType::Float32);
    assert!(ds.rasterband(15).unwrap().no_data_value().unwrap().is_nan());
    assert_eq!(ds.spatial_ref().unwrap().auth_code().unwrap(), 32634);
    let gt = ds.geo_transform().unwrap();
    let vv = read_band_f32(&scene.join("scene.tif"), 1);
    assert!(
        vv.iter().any(|v| v.is_nan()) && vv.iter().filter(|v| v.is_nan()).count() < vv.len() / 5
    );
    let truth = open(&scene.join("truth.tif"));
    assert_eq!(
        truth.rasterband(1).unwrap().band_type(),
        GdalDataType::UInt8
    );
    assert!(truth.rasterband(1).unwrap().color_table().is_some());
    let classes = read_band_f32(&scene.join("truth.tif"), 1);
    assert!(classes.iter().all(|c| (0.0..=10.0).contains(c)));

    // Same seed, same region, same season: the sen12ms patch has the scene's pixels.
    let patch = files_under(&tree)
        .into_iter()
        .find(|f| f.to_string_lossy().contains("_s2_"))
        .unwrap();
    let pgt = open(&tree.join(&patch)).geo_transform().unwrap();
    let (dx, dy) = (
        ((pgt[0] - gt[0]) / 10.0) as usize,
        ((gt[3] - pgt[3]) / 10.0) as usize,
    );
    let (sb, pb) = (
        read_band_f32(&scene.join("scene.tif"), 6),
        read_band_f32(&tree.join(&patch), 4),
    );
    let mut same = 0;
    for r in 0..32 {
        for c in 0..32 {
            let (s, p) = (sb[(dy + r) * 160 + dx + c], pb[r * 32 + c]);
            if s.is_finite() && p > 0.0 {
                assert_eq!(s, p, "B04 at patch pixel ({c}, {r})");
                same += 1;
            }
        }
    }
    assert!(same > 500);

    // Points: EPSG:4326 lon/lat, class names, a 32 px window mostly of that class.
    let geojson: serde_json::Value =
        serde_json::from_slice(&std::fs::read(scene.join("labels.geojson")).unwrap()).unwrap();
    let features = geojson["features"].as_array().unwrap();
    assert!(features.len() >= 8, "{} points", features.len());
    let to_utm = proj::Proj::new_known_crs("EPSG:4326", "EPSG:32634", None).unwrap();
    for f in features {
        let name = f["properties"]["class"].as_str().unwrap();
        let class = find_class(&dfc2020(), name)
            .unwrap_or_else(|| panic!("unknown class {name}"))
            .id as f32;
        let c = &f["geometry"]["coordinates"];
        let (x, y) = to_utm
            .convert((c[0].as_f64().unwrap(), c[1].as_f64().unwrap()))
            .unwrap();
        let (col, row) = (((x - gt[0]) / 10.0) as usize, ((gt[3] - y) / 10.0) as usize);
        let mut hits = 0;
        for r in row - 16..row + 16 {
            for cc in col - 16..col + 16 {
                hits += usize::from(classes[r * 160 + cc] == class);
            }
        }
        assert!(
            hits as f64 >= 0.6 * 1024.0,
            "{name} at ({col}, {row}): {hits}/1024"
        );
    }
}

#[test]
fn scenes_refuse_meta_train_regions() {
    let dir = tempfile::tempdir().unwrap();
    let err = run_fail(geomaml().args([
        "synth",
        "scene",
        dir.path().join("s").to_str().unwrap(),
        "--region",
        "57",
        "--size",
        "64",
    ]));
    assert!(
        err.contains("--region") && err.contains("meta-train"),
        "{err}"
    );
    assert!(!dir.path().join("s").exists());
}

#[test]
fn deepglobe_pairs_use_the_colour_code_with_few_off_colour_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dg");
    synth("deepglobe", &out, "--images 3 --size 96 --seed 2");
    let files = list_dir(&out);
    assert_eq!(files.len(), 6);
    let mut means = Vec::new();
    for sat in files.iter().filter(|f| f.ends_with("_sat.jpg")) {
        let mask = out.join(sat.replace("_sat.jpg", "_mask.png"));
        let (img, m) = (open(&out.join(sat)), open(&mask));
        assert_eq!(
            (img.driver().short_name(), m.driver().short_name()),
            ("JPEG".to_string(), "PNG".to_string())
        );
        assert_eq!(
            (img.raster_count(), m.raster_count(), img.raster_size()),
            (3, 3, (96, 96))
        );
        let rgb: Vec<Vec<f32>> = (1..=3).map(|b| read_band_f32(&mask, b)).collect();
        let ignored = (0..96 * 96)
            .filter(|&i| deepglobe_class_of([0, 1, 2].map(|b| rgb[b][i] as u8)) == DEEPGLOBE_IGNORE)
            .count();
        assert!(ignored * 50 < 96 * 96, "{ignored} unmatched mask pixels");
        means.push(
            (1..=3)
                .map(|b| read_band_f32(&out.join(sat), b).iter().sum::<f32>() / (96.0 * 96.0))
                .collect::<Vec<_>>(),
        );
    }
    // Three kinds of image: mean colours differ visibly.
    let d = |a: &Vec<f32>, b: &Vec<f32>| a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>();
    assert!(
        d(&means[0], &means[1]) > 10.0
            && d(&means[1], &means[2]) > 10.0
            && d(&means[0], &means[2]) > 10.0,
        "{means:?}"
    );
}

#[test]
fn existing_outputs_are_kept_unless_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keep.txt"), b"x").unwrap();
    let out = dir.path().to_str().unwrap();
    let err =
        run_fail(geomaml().args(["synth", "deepglobe", out, "--images", "1", "--size", "32"]));
    assert!(err.contains("--overwrite"), "{err}");
    assert!(dir.path().join("keep.txt").exists());
    synth(
        "deepglobe",
        Path::new(out),
        "--images 1 --size 32 --overwrite",
    );
    assert!(!dir.path().join("keep.txt").exists());
    assert_eq!(list_dir(dir.path()).len(), 2);
}

/// Coefficient of variation of band `band` (1-based) over the pixels of class `class`
/// in a scene folder.
fn within_class_spread(scene: &Path, band: usize, class: f32) -> f64 {
    let values = read_band_f32(&scene.join("scene.tif"), band);
    let truth = read_band_f32(&scene.join("truth.tif"), 1);
    let v: Vec<f64> = values
        .iter()
        .zip(&truth)
        .filter(|(v, t)| **t == class && v.is_finite())
        .map(|(v, _)| *v as f64)
        .collect();
    assert!(v.len() > 200, "{} pixels of class {class}", v.len());
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
    var.sqrt() / mean
}

#[test]
fn the_varied_appearance_is_the_default_and_the_classic_one_stays_available() {
    let dir = tempfile::tempdir().unwrap();
    let (varied, classic) = (dir.path().join("v"), dir.path().join("c"));
    synth("scene", &varied, "--region 110 --size 192 --seed 7");
    synth(
        "scene",
        &classic,
        "--region 110 --size 192 --seed 7 --appearance classic",
    );
    let provenance = |p: &Path| {
        open(&p.join("scene.tif"))
            .metadata_item("GEOMAML_SYNTH", "")
            .unwrap()
    };
    assert!(provenance(&varied).ends_with("appearance=varied"));
    assert!(!provenance(&classic).contains("appearance"));
    // The same landscape: the truth is identical, only the pixels differ.
    assert_eq!(
        read_band_f32(&varied.join("truth.tif"), 1),
        read_band_f32(&classic.join("truth.tif"), 1)
    );
    // Forest (1) varies more within the class in the varied world (broadleaf and
    // conifer stands, clearings, terrain), in NIR (B08, band 10).
    let (v, c) = (
        within_class_spread(&varied, 10, 1.0),
        within_class_spread(&classic, 10, 1.0),
    );
    assert!(
        v > 1.5 * c,
        "forest NIR spread: varied {v:.3}, classic {c:.3}"
    );
    let err = run_fail(geomaml().args([
        "synth",
        "scene",
        dir.path().join("x").to_str().unwrap(),
        "--region",
        "110",
        "--appearance",
        "hard",
    ]));
    assert!(
        err.contains("--appearance") && err.contains("classic"),
        "{err}"
    );
    assert!(!dir.path().join("x").exists());
}
