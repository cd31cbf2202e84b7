//! Rasters and label files as GIS people have them (the kinds of
//! `../shared/cases/`): mask bands, float32 nodata through a VRT, scale/offset,
//! complex bands, GCP-only scenes, scenes without georeferencing, labels with Z,
//! multi-layer GeoPackages and features without geometry. Each asserts what a user
//! relies on, through the real CLI.

use crate::util::{geomaml, list_dir, map_command, random_model, run_fail, run_ok};
use gdal::raster::{Buffer, GdalType, RasterCreationOptions};
use gdal::spatial_ref::SpatialRef;
use gdal::vector::LayerAccess;
use gdal::{Dataset, DriverManager, Metadata};
use geomaml::model::Arch;
use std::path::{Path, PathBuf};

pub(crate) const BANDS: [&str; 3] = ["B02", "B03", "B04"];
pub(crate) const W: usize = 64;
pub(crate) const H: usize = 48;
pub(crate) const X0: f64 = 500_000.0;
pub(crate) const Y0: f64 = 4_600_000.0;
/// Map stride of the tests' classifier (tile 16).
pub(crate) const STRIDE: usize = 4;

/// A random CNN (16 px tiles, 4 DFC classes) as a checkpoint and its ONNX export.
pub(crate) fn model(dir: &Path) -> (PathBuf, PathBuf) {
    random_model(dir, "model", Arch::Cnn, &BANDS, 16, 42)
}

/// Reflectance-like values with patches, so the model gives varied classes.
pub(crate) fn value(b: usize, x: usize, y: usize) -> f64 {
    (800 + (x * 37 + y * 11 * (b + 1)) % 3000 + 1500 * ((x / 16 + y / 16 + b) % 2)) as f64
}

pub(crate) fn utm() -> SpatialRef {
    SpatialRef::from_epsg(32633).unwrap()
}

/// A `W x H` GeoTIFF of the three bands, type `T`, values from `f`, north-up 10 m
/// in UTM 33N unless `georeferenced` is false.
pub(crate) fn scene<T: GdalType + Copy>(
    path: &Path,
    georeferenced: bool,
    f: impl Fn(usize, usize, usize) -> T,
) -> Dataset {
    let drv = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = drv
        .create_with_band_type_with_options::<T, _>(path, W, H, 3, &RasterCreationOptions::new())
        .unwrap();
    if georeferenced {
        ds.set_geo_transform(&[X0, 10.0, 0.0, Y0, 0.0, -10.0])
            .unwrap();
        ds.set_spatial_ref(&utm()).unwrap();
    }
    for (b, name) in BANDS.iter().enumerate() {
        let mut band = ds.rasterband(b + 1).unwrap();
        band.set_description(name).unwrap();
        let data: Vec<T> = (0..W * H).map(|i| f(b, i % W, i / W)).collect();
        band.write((0, 0), (W, H), &mut Buffer::new((W, H), data))
            .unwrap();
    }
    ds
}

pub(crate) fn map(onnx: &Path, scene: &Path, out: &Path) {
    run_ok(&mut map_command(onnx, scene, out, &["--threads", "1"]));
}

pub(crate) fn classes(path: &Path) -> (Vec<u8>, (usize, usize)) {
    let ds = Dataset::open(path).unwrap();
    let size = ds.raster_size();
    let buf = ds
        .rasterband(1)
        .unwrap()
        .read_as::<u8>((0, 0), size, size, None)
        .unwrap();
    (buf.data().to_vec(), size)
}

/// Map cells wholly inside the scene block `[x0, x1) x [y0, y1)` (scene pixels)
/// are nodata (0); cells wholly outside it and away from the scene edge are not.
pub(crate) fn assert_nodata_exactly_over(
    map: &Path,
    (x0, x1, y0, y1): (usize, usize, usize, usize),
) {
    let (cls, (mw, _)) = classes(map);
    for (i, v) in cls.iter().enumerate() {
        let (cx, cy) = ((i % mw) * STRIDE, (i / mw) * STRIDE);
        let inside = cx >= x0 && cx + STRIDE <= x1 && cy >= y0 && cy + STRIDE <= y1;
        let outside = cx + STRIDE <= x0 || cx >= x1 || cy + STRIDE <= y0 || cy >= y1;
        if inside {
            assert_eq!(*v, 0, "cell at scene ({cx}, {cy}) is masked but mapped");
        } else if outside {
            assert_ne!(*v, 0, "cell at scene ({cx}, {cy}) is valid but nodata");
        }
    }
}

pub(crate) fn lonlat(x: f64, y: f64) -> (f64, f64) {
    let mut wgs = SpatialRef::from_epsg(4326).unwrap();
    wgs.set_axis_mapping_strategy(gdal::spatial_ref::AxisMappingStrategy::TraditionalGisOrder);
    let mut src = utm();
    src.set_axis_mapping_strategy(gdal::spatial_ref::AxisMappingStrategy::TraditionalGisOrder);
    let t = gdal::spatial_ref::CoordTransform::new(&src, &wgs).unwrap();
    let (mut xs, mut ys, mut zs) = ([x], [y], [0.0]);
    t.transform_coords(&mut xs, &mut ys, &mut zs).unwrap();
    (xs[0], ys[0])
}

/// GeoJSON points `(class, col, row)` at scene pixel centres, in EPSG:4326, with an
/// elevation when `z` is set.
pub(crate) fn labels(path: &Path, pts: &[(&str, usize, usize)], z: bool) -> PathBuf {
    let features: Vec<String> = pts
        .iter()
        .map(|(c, col, row)| {
            let (lon, lat) = lonlat(X0 + (*col as f64 + 0.5) * 10.0, Y0 - (*row as f64 + 0.5) * 10.0);
            let ele = if z { ", 112.5" } else { "" };
            format!(
                r#"{{"type":"Feature","properties":{{"class":"{c}"}},"geometry":{{"type":"Point","coordinates":[{lon},{lat}{ele}]}}}}"#
            )
        })
        .collect();
    std::fs::write(
        path,
        format!(
            r#"{{"type":"FeatureCollection","features":[{}]}}"#,
            features.join(",")
        ),
    )
    .unwrap();
    path.to_path_buf()
}

pub(crate) const POINTS: [(&str, usize, usize); 4] = [
    ("Forest", 10, 30),
    ("Grassland", 20, 40),
    ("Forest", 30, 36),
    ("Grassland", 50, 40),
];

pub(crate) fn adapt(
    st: &Path,
    scene: &Path,
    labels: &Path,
    out: &Path,
    extra: &[&str],
) -> std::process::Command {
    let mut cmd = geomaml();
    crate::util::adapt_args(&mut cmd, st, scene, labels, out)
        .args([
            "--inner-steps",
            "1",
            "--bn-windows",
            "4",
            "--no-cross-validation",
        ])
        .args(extra);
    cmd
}

#[test]
fn an_internal_mask_band_is_nodata_in_the_map() {
    let dir = tempfile::tempdir().unwrap();
    let (_, onnx) = model(dir.path());
    let path = dir.path().join("masked.tif");
    {
        // Masked pixels hold zeros, as a masked JPEG/COG area usually does.
        let ds = scene::<u16>(&path, true, |b, x, y| {
            if x >= 32 && y < 24 {
                0
            } else {
                value(b, x, y) as u16
            }
        });
        let mut band = ds.rasterband(1).unwrap();
        band.create_mask_band(true).unwrap();
        let mask: Vec<u8> = (0..W * H)
            .map(|i| if i % W >= 32 && i / W < 24 { 0 } else { 255 })
            .collect();
        band.open_mask_band()
            .unwrap()
            .write((0, 0), (W, H), &mut Buffer::new((W, H), mask))
            .unwrap();
    }
    let out = dir.path().join("map.tif");
    map(&onnx, &path, &out);
    assert_nodata_exactly_over(&out, (32, W, 0, 24));
}

#[test]
fn float32_nodata_through_a_vrt_is_nodata_in_map_and_refused_by_adapt() {
    let dir = tempfile::tempdir().unwrap();
    let (st, onnx) = model(dir.path());
    let part = dir.path().join("part.tif");
    let nd = -3.4e38f32;
    {
        let ds = scene::<f32>(&part, true, |b, x, y| {
            if x >= 32 && y < 24 {
                nd
            } else {
                value(b, x, y) as f32
            }
        });
        for b in 1..=3 {
            ds.rasterband(b)
                .unwrap()
                .set_no_data_value(Some(nd as f64))
                .unwrap();
        }
    }
    let vrt = dir.path().join("scene.vrt");
    let bands: String = (1..=3)
        .map(|b| {
            format!(
                r#"<VRTRasterBand dataType="Float32" band="{b}"><Description>{}</Description><NoDataValue>-3.399999952144364e+38</NoDataValue><SimpleSource><SourceFilename relativeToVRT="1">part.tif</SourceFilename><SourceBand>{b}</SourceBand></SimpleSource></VRTRasterBand>"#,
                BANDS[b - 1]
            )
        })
        .collect();
    std::fs::write(
        &vrt,
        format!(
            r#"<VRTDataset rasterXSize="{W}" rasterYSize="{H}"><SRS>EPSG:32633</SRS><GeoTransform>{X0}, 10, 0, {Y0}, 0, -10</GeoTransform>{bands}</VRTDataset>"#
        ),
    )
    .unwrap();
    let out = dir.path().join("map.tif");
    map(&onnx, &vrt, &out);
    assert_nodata_exactly_over(&out, (32, W, 0, 24));
    let mut pts = POINTS.to_vec();
    pts.push(("Forest", 40, 10));
    let l = labels(&dir.path().join("l.geojson"), &pts, false);
    let never = dir.path().join("never.onnx");
    let err = run_fail(&mut adapt(&st, &vrt, &l, &never, &[]));
    assert!(err.contains("nodata") && err.contains("Forest"), "{err}");
    assert!(!never.exists());
}

#[test]
fn scale_and_offset_give_the_map_of_the_same_physical_values() {
    let dir = tempfile::tempdir().unwrap();
    let (_, onnx) = model(dir.path());
    // Physical reflectance as DN, and the same packed as reflectance x 10^-4 with
    // the baseline-04.00 offset: DN 1000 higher, scale 0.0001, offset -0.1.
    let plain = dir.path().join("plain.tif");
    scene::<u16>(&plain, true, |b, x, y| value(b, x, y) as u16);
    let packed = dir.path().join("packed.tif");
    {
        let ds = scene::<u16>(&packed, true, |b, x, y| value(b, x, y) as u16 + 1000);
        for b in 1..=3 {
            let mut band = ds.rasterband(b).unwrap();
            band.set_scale(0.0001).unwrap();
            band.set_offset(-0.1).unwrap();
        }
    }
    let (a, b) = (dir.path().join("a.tif"), dir.path().join("b.tif"));
    map(&onnx, &plain, &a);
    map(&onnx, &packed, &b);
    let ((ca, _), (cb, _)) = (classes(&a), classes(&b));
    let same = ca.iter().zip(&cb).filter(|(x, y)| x == y).count();
    assert_eq!(same, ca.len(), "maps agree on {same} of {} cells", ca.len());
}

#[test]
fn complex_bands_are_refused_naming_band_and_type() {
    let dir = tempfile::tempdir().unwrap();
    let (_, onnx) = model(dir.path());
    let path = dir.path().join("slc.vrt");
    let real = dir.path().join("real.tif");
    scene::<f32>(&real, true, |b, x, y| value(b, x, y) as f32);
    // B02 as complex samples (a VRT band of type CFloat32 over real data).
    std::fs::write(
        &path,
        format!(
            r#"<VRTDataset rasterXSize="{W}" rasterYSize="{H}"><SRS>EPSG:32633</SRS><GeoTransform>{X0}, 10, 0, {Y0}, 0, -10</GeoTransform>
<VRTRasterBand dataType="CFloat32" band="1"><Description>B02</Description><SimpleSource><SourceFilename relativeToVRT="1">real.tif</SourceFilename><SourceBand>1</SourceBand></SimpleSource></VRTRasterBand>
<VRTRasterBand dataType="Float32" band="2"><Description>B03</Description><SimpleSource><SourceFilename relativeToVRT="1">real.tif</SourceFilename><SourceBand>2</SourceBand></SimpleSource></VRTRasterBand>
<VRTRasterBand dataType="Float32" band="3"><Description>B04</Description><SimpleSource><SourceFilename relativeToVRT="1">real.tif</SourceFilename><SourceBand>3</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>"#
        ),
    )
    .unwrap();
    let out = dir.path().join("map.tif");
    let err = run_fail(&mut map_command(&onnx, &path, &out, &[]));
    assert!(
        err.contains("band 1 (B02)") && err.contains("CFloat32"),
        "{err}"
    );
    assert!(
        !list_dir(dir.path()).iter().any(|n| n.starts_with("map")),
        "{:?}",
        list_dir(dir.path())
    );
}

#[test]
fn a_gcp_only_scene_maps_with_its_gcps_and_adapts_through_them() {
    let dir = tempfile::tempdir().unwrap();
    let (st, onnx) = model(dir.path());
    let path = dir.path().join("gcp.tif");
    {
        let ds = scene::<u16>(&path, false, |b, x, y| value(b, x, y) as u16);
        let mut gcps = Vec::new();
        for line in [0.0, 24.0, 48.0] {
            for pixel in [0.0, 32.0, 64.0] {
                gcps.push(gdal::Gcp {
                    id: format!("{pixel}-{line}"),
                    info: String::new(),
                    pixel,
                    line,
                    x: X0 + pixel * 10.0,
                    y: Y0 - line * 10.0,
                    z: 0.0,
                });
            }
        }
        ds.set_gcps(gcps, &utm()).unwrap();
    }
    let out = dir.path().join("map.tif");
    map(&onnx, &path, &out);
    let ds = Dataset::open(&out).unwrap();
    assert!(ds.geo_transform().is_err(), "no made-up geotransform");
    let g = ds.gcps();
    assert_eq!(g.len(), 9);
    // GCP (32, 24) of the scene is (8, 6) on the stride-4 map grid.
    assert_eq!((g[4].pixel(), g[4].line()), (8.0, 6.0));
    assert_eq!((g[4].x(), g[4].y()), (X0 + 320.0, Y0 - 240.0));
    assert_eq!(ds.gcp_spatial_ref().unwrap().auth_code().unwrap(), 32633);
    let l = labels(&dir.path().join("l.geojson"), &POINTS, false);
    let adapted = dir.path().join("adapted.onnx");
    run_ok(&mut adapt(&st, &path, &l, &adapted, &[]));
    assert!(adapted.exists());
}

#[test]
fn a_scene_without_georeferencing_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, onnx) = model(dir.path());
    let path = dir.path().join("bare.tif");
    scene::<u16>(&path, false, |b, x, y| value(b, x, y) as u16);
    let out = dir.path().join("map.tif");
    let err = run_fail(&mut map_command(&onnx, &path, &out, &[]));
    assert!(
        err.contains("bare.tif") && err.contains("not georeferenced"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn labels_with_elevation_adapt_and_assess() {
    let dir = tempfile::tempdir().unwrap();
    let (st, onnx) = model(dir.path());
    let path = dir.path().join("scene.tif");
    scene::<u16>(&path, true, |b, x, y| value(b, x, y) as u16);
    let l = labels(&dir.path().join("l3d.geojson"), &POINTS, true);
    let adapted = dir.path().join("adapted.onnx");
    run_ok(&mut adapt(&st, &path, &l, &adapted, &[]));
    let out = dir.path().join("map.tif");
    map(&onnx, &path, &out);
    let a = run_ok(
        geomaml()
            .arg("assess")
            .arg(&out)
            .arg("--reference")
            .arg(&l)
            .arg("--json"),
    );
    let v: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    assert_eq!(v["samples"], 4, "{v}");
}

#[test]
fn the_label_layer_of_a_multilayer_geopackage_is_found_or_named() {
    let dir = tempfile::tempdir().unwrap();
    let (st, _) = model(dir.path());
    let path = dir.path().join("scene.tif");
    scene::<u16>(&path, true, |b, x, y| value(b, x, y) as u16);
    let gpkg = dir.path().join("labels.gpkg");
    {
        let drv = DriverManager::get_driver_by_name("GPKG").unwrap();
        let mut ds = drv.create_vector_only(&gpkg).unwrap();
        let srs = utm();
        let area = ds
            .create_layer(gdal::vector::LayerOptions {
                name: "study_area",
                srs: Some(&srs),
                ty: gdal::vector::OGRwkbGeometryType::wkbPolygon,
                options: None,
            })
            .unwrap();
        area.create_defn_fields(&[("name", gdal::vector::OGRFieldType::OFTString)])
            .unwrap();
        let pts = ds
            .create_layer(gdal::vector::LayerOptions {
                name: "training_points",
                srs: Some(&srs),
                ty: gdal::vector::OGRwkbGeometryType::wkbPoint,
                options: None,
            })
            .unwrap();
        pts.create_defn_fields(&[("class", gdal::vector::OGRFieldType::OFTString)])
            .unwrap();
        for (c, col, row) in POINTS {
            let g = gdal::vector::Geometry::from_wkt(&format!(
                "POINT ({} {})",
                X0 + (col as f64 + 0.5) * 10.0,
                Y0 - (row as f64 + 0.5) * 10.0
            ))
            .unwrap();
            let mut f = gdal::vector::Feature::new(pts.defn()).unwrap();
            f.set_field_string(0, c).unwrap();
            f.set_geometry(g).unwrap();
            f.create(&pts).unwrap();
        }
    }
    let adapted = dir.path().join("adapted.onnx");
    let out = run_ok(&mut adapt(&st, &path, &gpkg, &adapted, &[]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Grassland 2"));
    let never = dir.path().join("never.onnx");
    let err = run_fail(&mut adapt(&st, &path, &gpkg, &never, &["--layer", "roads"]));
    assert!(
        err.contains("no layer `roads`") && err.contains("study_area, training_points"),
        "{err}"
    );
}

#[test]
fn features_without_geometry_are_skipped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let (st, _) = model(dir.path());
    let path = dir.path().join("scene.tif");
    scene::<u16>(&path, true, |b, x, y| value(b, x, y) as u16);
    let l = labels(&dir.path().join("l.geojson"), &POINTS, false);
    let text = std::fs::read_to_string(&l).unwrap().replace(
        r#""features":["#,
        r#""features":[{"type":"Feature","id":7,"properties":{"class":"Forest"},"geometry":null},"#,
    );
    std::fs::write(&l, text).unwrap();
    let adapted = dir.path().join("adapted.onnx");
    let out = run_ok(&mut adapt(&st, &path, &l, &adapted, &[]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: feature") && stderr.contains("has no geometry: skipped"),
        "{stderr}"
    );
}
