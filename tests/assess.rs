//! `geomaml assess`: rasters of different extent and resolution, vector references.

use crate::util::*;
use geomaml::catalog::classes::dfc2020;
use geomaml::raster::{GeoTiffWriter, GeoTransform, WriterOptions};
use std::path::Path;

/// Writes a u8 class raster in EPSG:32632 with the DFC legend.
fn class_raster(path: &Path, gt: GeoTransform, w: usize, h: usize, f: impl Fn(usize, usize) -> u8) {
    let srs = gdal::spatial_ref::SpatialRef::from_epsg(32632)
        .unwrap()
        .to_wkt()
        .unwrap();
    let mut out =
        GeoTiffWriter::create::<u8>(path, (w, h), 1, gt, &srs, &WriterOptions::default()).unwrap();
    let data: Vec<u8> = (0..h)
        .flat_map(|r| (0..w).map(move |c| (r, c)))
        .map(|(r, c)| f(c, r))
        .collect();
    out.write(1, (0, 0), (w, h), data).unwrap();
    out.set_nodata(1, 0.0).unwrap();
    out.set_legend(&dfc2020()).unwrap();
    out.finish().unwrap();
}

/// Reference: 10 m pixels, left half Forest (1), right half Water (10).
fn reference(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("truth.tif");
    class_raster(
        &p,
        GeoTransform::north_up(500_000.0, 5_300_000.0, 10.0),
        80,
        80,
        |c, _| if c < 40 { 1 } else { 10 },
    );
    p
}

#[test]
fn coarser_maps_are_compared_by_majority_on_the_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let truth = reference(dir.path());
    // 40 m map shifted 160 m east: its columns 0..16 (x 160..800 m) overlap the
    // 800 m wide reference, columns 16..20 lie outside. Columns 0..6 cover
    // reference columns 16..40 (Forest), 6..16 cover 40..80 (Water).
    let map = dir.path().join("map.tif");
    class_raster(
        &map,
        GeoTransform::north_up(500_160.0, 5_300_000.0, 40.0),
        20,
        20,
        |c, r| {
            if r == 0 && c == 0 {
                10 // one wrong pixel in the forest half
            } else if c < 6 {
                1
            } else {
                10
            }
        },
    );
    let out = run_ok(
        geomaml()
            .args(["assess", "--json", "--reference"])
            .arg(&truth)
            .arg(&map),
    );
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(a["samples"].as_u64().unwrap(), 16 * 20, "{a}");
    assert_eq!(a["outside_overlap"].as_u64().unwrap(), 4 * 20);
    assert_eq!(
        a["confusion"]["counts"],
        serde_json::json!([[119, 1], [0, 200]])
    );
    let oa = a["overall_accuracy"].as_f64().unwrap();
    assert!((oa - 319.0 / 320.0).abs() < 1e-9, "{oa}");
    assert_eq!(a["classes"][0]["name"], "Forest");
}

#[test]
fn vector_references_are_reprojected_and_tabulated() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("map.tif");
    class_raster(
        &map,
        GeoTransform::north_up(500_000.0, 5_316_400.0, 10.0),
        40,
        40,
        |c, _| if c < 20 { 1 } else { 10 },
    );
    // 9E 48N is easting 500000, northing 5316300.2: map column 0, row 9 -> Forest.
    let labels = dir.path().join("points.geojson");
    std::fs::write(
        &labels,
        r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","properties":{"class":"Forest"},"geometry":{"type":"Point","coordinates":[9.0,48.0]}},
          {"type":"Feature","properties":{"class":"Water"},"geometry":{"type":"Point","coordinates":[9.0,48.0]}}]}"#,
    )
    .unwrap();
    let out = run_ok(
        geomaml()
            .arg("assess")
            .arg(&map)
            .arg("--reference")
            .arg(&labels),
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("overall accuracy 50.0%"), "{table}");
    assert!(
        table.contains("1 Forest") && table.contains("10 Water"),
        "{table}"
    );
}

#[test]
fn a_missing_reference_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let truth = reference(dir.path());
    let err = run_fail(
        geomaml()
            .arg("assess")
            .arg(&truth)
            .args(["--reference", "nowhere.tif"]),
    );
    assert!(err.contains("nowhere.tif"), "{err}");
}

#[test]
fn a_scene_given_as_the_map_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let truth = reference(dir.path());
    // A 15-band float scene (and a one-band float raster) are no class maps.
    let srs = gdal::spatial_ref::SpatialRef::from_epsg(32632)
        .unwrap()
        .to_wkt()
        .unwrap();
    let float_raster = |name: &str, bands: usize| {
        let p = dir.path().join(name);
        let mut w = GeoTiffWriter::create::<f32>(
            &p,
            (80, 80),
            bands,
            GeoTransform::north_up(500_000.0, 5_300_000.0, 10.0),
            &srs,
            &WriterOptions::default(),
        )
        .unwrap();
        for b in 1..=bands {
            w.write(b, (0, 0), (80, 80), vec![0.1f32 * b as f32; 6400])
                .unwrap();
        }
        w.finish().unwrap();
        p
    };
    let scene = float_raster("scene15.tif", 15);
    let single = float_raster("float1.tif", 1);
    for (map, what) in [
        (&scene, "15 band(s) of Float32"),
        (&single, "1 band(s) of Float32"),
    ] {
        for reference in [truth.as_path(), sample("scene/labels.geojson").as_path()] {
            let err = run_fail(
                geomaml()
                    .arg("assess")
                    .arg(map)
                    .arg("--reference")
                    .arg(reference),
            );
            let name = map.file_name().unwrap().to_str().unwrap();
            assert!(
                err.contains(name) && err.contains("is not a class raster") && err.contains(what),
                "{err}"
            );
        }
    }
}
