//! What `map` and `adapt` say about a scene the model may not fit: bands taken by
//! position, values in other units than the model's, pixels of another size. And
//! that named bands in another order are reordered, not taken by position.

use crate::scenes::{adapt, classes, model, scene, value, BANDS, POINTS, X0, Y0};
use crate::util::{map_command, points, run_ok};
use gdal::raster::{Buffer, RasterCreationOptions};
use gdal::{DriverManager, Metadata};
use std::path::Path;

/// stderr of `geomaml map` of `scene` with `onnx`, which must succeed.
fn map_stderr(onnx: &Path, scene: &Path, out: &Path, args: &[&str]) -> String {
    let mut a = vec!["--threads", "1"];
    a.extend_from_slice(args);
    let o = run_ok(&mut map_command(onnx, scene, out, &a));
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn unnamed_bands_are_taken_by_position_with_a_warning_and_named_ones_reordered() {
    let dir = tempfile::tempdir().unwrap();
    let (_, onnx) = model(dir.path());
    let ordered = dir.path().join("ordered.tif");
    scene::<u16>(&ordered, true, |b, x, y| value(b, x, y) as u16);
    let reference = dir.path().join("ordered_map.tif");
    let stderr = map_stderr(&onnx, &ordered, &reference, &[]);
    assert!(!stderr.contains("warning"), "{stderr}");

    // The same bands stored in reverse order under their names: reordered by name,
    // the same map, no warning.
    let reversed = dir.path().join("reversed.tif");
    {
        let ds = scene::<u16>(&reversed, true, |b, x, y| value(2 - b, x, y) as u16);
        for (b, name) in BANDS.iter().rev().enumerate() {
            ds.rasterband(b + 1).unwrap().set_description(name).unwrap();
        }
    }
    let out = dir.path().join("reversed_map.tif");
    let stderr = map_stderr(&onnx, &reversed, &out, &[]);
    assert!(!stderr.contains("warning"), "{stderr}");
    assert_eq!(classes(&out), classes(&reference));

    // Without names: taken by position, and said so once, with the model's order
    // and --bands.
    let anonymous = dir.path().join("anonymous.tif");
    {
        let drv = DriverManager::get_driver_by_name("GTiff").unwrap();
        let mut ds = drv
            .create_with_band_type_with_options::<u16, _>(
                &anonymous,
                crate::scenes::W,
                crate::scenes::H,
                3,
                &RasterCreationOptions::new(),
            )
            .unwrap();
        let src = gdal::Dataset::open(&reversed).unwrap();
        ds.set_geo_transform(&src.geo_transform().unwrap()).unwrap();
        ds.set_spatial_ref(&src.spatial_ref().unwrap()).unwrap();
        for b in 1..=3 {
            let size = src.raster_size();
            let mut buf: Buffer<u16> = src
                .rasterband(b)
                .unwrap()
                .read_as((0, 0), size, size, None)
                .unwrap();
            ds.rasterband(b)
                .unwrap()
                .write((0, 0), size, &mut buf)
                .unwrap();
        }
    }
    let out = dir.path().join("anonymous_map.tif");
    let stderr = map_stderr(&onnx, &anonymous, &out, &[]);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("taken by position"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].starts_with("warning: ")
            && warnings[0].contains("anonymous.tif")
            && warnings[0].contains("1=B02, 2=B03, 3=B04")
            && warnings[0].contains("--bands 3,2,1"),
        "{stderr}"
    );
    // The advice works: the map of the reversed bands is the ordered scene's.
    let fixed = dir.path().join("fixed_map.tif");
    let stderr = map_stderr(&onnx, &anonymous, &fixed, &["--bands", "3,2,1"]);
    assert!(!stderr.contains("taken by position"), "{stderr}");
    assert_eq!(classes(&fixed), classes(&reference));
}

#[test]
fn values_in_other_units_are_named_with_their_range_and_the_models() {
    let dir = tempfile::tempdir().unwrap();
    let (_, onnx) = model(dir.path());

    // 8-bit digital numbers (1..255) for a model of Sentinel-2 digital numbers.
    let bytes = dir.path().join("landsat_8bit.tif");
    scene::<u8>(&bytes, true, |b, x, y| {
        (1 + value(b, x, y) as usize % 255) as u8
    });
    let stderr = map_stderr(&onnx, &bytes, &dir.path().join("m1.tif"), &[]);
    let units: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("far smaller than the model's units"))
        .collect();
    assert_eq!(units.len(), 1, "{stderr}");
    assert!(
        units[0].starts_with("warning: ")
            && units[0].contains("landsat_8bit.tif")
            && units[0].contains("band 1 (B02)")
            && units[0].contains("band 3 (B04)")
            && units[0].contains("values of about 10000")
            && units[0].contains("8-bit"),
        "{stderr}"
    );

    // Reflectance in 0..1 as floats without a scale: the warning gives the scale,
    // and once it is set the values are the model's and the warning goes.
    let floats = dir.path().join("reflectance.tif");
    scene::<f32>(&floats, true, |b, x, y| (value(b, x, y) / 10_000.0) as f32);
    let stderr = map_stderr(&onnx, &floats, &dir.path().join("m2.tif"), &[]);
    assert!(
        stderr.contains("reflectance in 0..1? set the bands' scale to 10000"),
        "{stderr}"
    );
    {
        let ds = gdal::Dataset::open_ex(
            &floats,
            gdal::DatasetOptions {
                open_flags: gdal::GdalOpenFlags::GDAL_OF_UPDATE,
                ..Default::default()
            },
        )
        .unwrap();
        for b in 1..=3 {
            ds.rasterband(b).unwrap().set_scale(10_000.0).unwrap();
        }
    }
    let stderr = map_stderr(&onnx, &floats, &dir.path().join("m3.tif"), &[]);
    assert!(!stderr.contains("warning"), "{stderr}");

    // Values far larger than the model's units.
    let large = dir.path().join("large.tif");
    scene::<f32>(&large, true, |b, x, y| (value(b, x, y) * 100.0) as f32);
    let stderr = map_stderr(&onnx, &large, &dir.path().join("m4.tif"), &[]);
    assert_eq!(
        stderr.matches("far larger than the model's units").count(),
        3,
        "{stderr}"
    );
}

#[test]
fn a_scene_at_another_resolution_than_the_cards_is_named_by_map_and_adapt() {
    let dir = tempfile::tempdir().unwrap();
    let (st, onnx) = model(dir.path());
    let coarse = dir.path().join("coarse.tif");
    {
        let mut ds = scene::<u16>(&coarse, true, |b, x, y| value(b, x, y) as u16);
        ds.set_geo_transform(&[X0, 30.0, 0.0, Y0, 0.0, -30.0])
            .unwrap();
    }
    let stderr = map_stderr(&onnx, &coarse, &dir.path().join("m.tif"), &[]);
    let line = "pixels of 30 m, but the model was trained at 10 m";
    assert_eq!(stderr.matches(line).count(), 1, "{stderr}");
    assert!(stderr.contains("gdalwarp -tr 10 10"), "{stderr}");

    // adapt says the same, through the same checks (labels at 30 m pixel centres).
    let pts: Vec<(&str, f64, f64)> = POINTS
        .iter()
        .map(|&(c, x, y)| {
            let (col, row) = ((x / 3) as f64, (y / 3) as f64);
            (c, X0 + col * 30.0 + 15.0, Y0 - row * 30.0 - 15.0)
        })
        .collect();
    let l30 = points(
        dir.path(),
        "l30.geojson",
        Some("urn:ogc:def:crs:EPSG::32633"),
        &pts,
    );
    let out = run_ok(&mut adapt(
        &st,
        &coarse,
        &l30,
        &dir.path().join("a.onnx"),
        &[],
    ));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches(line).count(), 1, "{stderr}");
}
