//! Labels as web maps and field work leave them, placed on the scene: KML folders
//! as classes, polygons partly outside the scene or over nodata, and labels across
//! the antimeridian on a scene in longitude/latitude.

use crate::scenes::{adapt, lonlat, model, scene, value, POINTS, X0, Y0};
use crate::util::{run_fail, run_ok};
use gdal::spatial_ref::SpatialRef;
use std::path::Path;

/// The scene pixel centre `(col, row)` of the tests' UTM scene, in lon/lat.
fn centre(col: usize, row: usize) -> (f64, f64) {
    lonlat(
        X0 + (col as f64 + 0.5) * 10.0,
        Y0 - (row as f64 + 0.5) * 10.0,
    )
}

#[test]
fn kml_folders_without_a_class_field_are_the_classes() {
    let dir = tempfile::tempdir().unwrap();
    let (st, _) = model(dir.path());
    let path = dir.path().join("scene.tif");
    scene::<u16>(&path, true, |b, x, y| value(b, x, y) as u16);
    // As Google My Maps exports it: one folder per class, placemarks with a name.
    let folder = |class: &str| {
        let marks: String = POINTS
            .iter()
            .filter(|(c, _, _)| *c == class)
            .enumerate()
            .map(|(i, (_, col, row))| {
                let (lon, lat) = centre(*col, *row);
                format!(
                    "<Placemark><name>point {i}</name><Point><coordinates>{lon},{lat}</coordinates></Point></Placemark>"
                )
            })
            .collect();
        format!("<Folder><name>{class}</name>{marks}</Folder>")
    };
    let kml = dir.path().join("my map.kml");
    std::fs::write(
        &kml,
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>survey</name>{}{}</Document></kml>"#,
            folder("Forest"),
            folder("Grassland")
        ),
    )
    .unwrap();
    let adapted = dir.path().join("adapted.onnx");
    let out = run_ok(&mut adapt(&st, &path, &kml, &adapted, &[]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Forest 2") && stderr.contains("Grassland 2"),
        "{stderr}"
    );
    assert!(
        stderr.contains("each layer's name is the class of its features (Forest, Grassland)"),
        "{stderr}"
    );
    // A class field asked for that no layer has stays an error naming the way out.
    let never = dir.path().join("never.onnx");
    let err = run_fail(&mut adapt(
        &st,
        &path,
        &kml,
        &never,
        &["--class-field", "kind"],
    ));
    assert!(
        err.contains("my map.kml") && err.contains("one layer (folder) per class"),
        "{err}"
    );
}

/// `[col0, col1) x [row0, row1)` in scene pixels.
type Rect = (f64, f64, f64, f64);

/// A GeoJSON file of UTM polygons `(class, rectangle)`.
fn polygons(path: &Path, polys: &[(&str, Rect)]) {
    let features: Vec<String> = polys
        .iter()
        .map(|(c, (c0, c1, r0, r1))| {
            let (x0, x1) = (X0 + c0 * 10.0, X0 + c1 * 10.0);
            let (y0, y1) = (Y0 - r0 * 10.0, Y0 - r1 * 10.0);
            format!(
                r#"{{"type":"Feature","properties":{{"class":"{c}"}},"geometry":{{"type":"Polygon","coordinates":[[[{x0},{y0}],[{x1},{y0}],[{x1},{y1}],[{x0},{y1}],[{x0},{y0}]]]}}}}"#
            )
        })
        .collect();
    std::fs::write(
        path,
        format!(
            r#"{{"type":"FeatureCollection","crs":{{"type":"name","properties":{{"name":"urn:ogc:def:crs:EPSG::32633"}}}},"features":[{}]}}"#,
            features.join(",")
        ),
    )
    .unwrap();
}

#[test]
fn polygons_partly_outside_the_scene_or_over_nodata_use_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (st, _) = model(dir.path());
    let path = dir.path().join("scene.tif");
    // Nodata (0) over columns 40.. of rows ..20.
    {
        let ds = scene::<u16>(&path, true, |b, x, y| {
            if x >= 40 && y < 20 {
                0
            } else {
                value(b, x, y) as u16
            }
        });
        for b in 1..=3 {
            ds.rasterband(b)
                .unwrap()
                .set_no_data_value(Some(0.0))
                .unwrap();
        }
    }
    let labels = dir.path().join("polygons.geojson");
    polygons(
        &labels,
        &[
            // 10 of its 25 columns left of the scene.
            ("Forest", (-10.0, 15.0, 25.0, 35.0)),
            // Half of it over the nodata block.
            ("Grassland", (30.0, 50.0, 5.0, 15.0)),
        ],
    );
    let adapted = dir.path().join("adapted.onnx");
    let out = run_ok(&mut adapt(&st, &path, &labels, &adapted, &[]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "warning: feature 0 (Forest): 40% of its pixels dropped (40% outside the scene, 0% on nodata)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "warning: feature 1 (Grassland): 50% of its pixels dropped (0% outside the scene, 50% on nodata)"
        ),
        "{stderr}"
    );
    // Windows of the half-covered polygon that hold too few valid pixels for a
    // strict --min-valid are left out, and the run says how many.
    let strict = dir.path().join("strict.onnx");
    let out = run_ok(&mut adapt(
        &st,
        &path,
        &labels,
        &strict,
        &["--min-valid", "0.9"],
    ));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said = stderr
        .lines()
        .find(|l| l.starts_with("warning: feature 1 (Grassland): ") && l.contains("shot windows"))
        .unwrap_or_else(|| panic!("no warning about left-out windows in\n{stderr}"));
    assert!(
        said.ends_with(
            "have fewer than the 90% valid pixels --min-valid asks for and were left out"
        ),
        "{said}"
    );

    // A polygon with no usable pixel is refused, naming it; nothing is written.
    for (poly, why) in [
        ((-30.0, -5.0, 25.0, 35.0), "100% outside the scene"),
        ((45.0, 60.0, 2.0, 15.0), "100% on nodata"),
    ] {
        polygons(
            &labels,
            &[
                ("Forest", (5.0, 15.0, 25.0, 35.0)),
                ("Grassland", (20.0, 30.0, 25.0, 35.0)),
                ("Grassland", poly),
            ],
        );
        let never = dir.path().join("never.onnx");
        let err = run_fail(&mut adapt(&st, &path, &labels, &never, &[]));
        assert!(
            err.contains("feature 2 (Grassland) has no pixel inside the scene")
                && err.contains(why),
            "{err}"
        );
        assert!(!never.exists());
    }
}

#[test]
fn labels_across_the_antimeridian_land_on_a_geographic_scene() {
    let dir = tempfile::tempdir().unwrap();
    let (st, _) = model(dir.path());
    let path = dir.path().join("fiji.tif");
    // 0.0001 degree pixels (about 11 m at 17 S) from 179.997 E to 180.0034.
    let (lon0, lat0, d) = (179.997, -17.0, 0.0001);
    {
        let mut ds = scene::<u16>(&path, false, |b, x, y| value(b, x, y) as u16);
        ds.set_geo_transform(&[lon0, d, 0.0, lat0, 0.0, -d])
            .unwrap();
        ds.set_spatial_ref(&SpatialRef::from_epsg(4326).unwrap())
            .unwrap();
    }
    // Columns 35 and 50 lie east of 180: their longitudes as GPS units write them.
    let features: Vec<String> = POINTS
        .iter()
        .map(|(c, col, row)| {
            let mut lon = lon0 + (*col as f64 + 0.5) * d;
            if lon > 180.0 {
                lon -= 360.0;
            }
            let lat = lat0 - (*row as f64 + 0.5) * d;
            format!(
                r#"{{"type":"Feature","properties":{{"class":"{c}"}},"geometry":{{"type":"Point","coordinates":[{lon},{lat}]}}}}"#
            )
        })
        .collect();
    let labels = dir.path().join("points.geojson");
    std::fs::write(
        &labels,
        format!(
            r#"{{"type":"FeatureCollection","features":[{}]}}"#,
            features.join(",")
        ),
    )
    .unwrap();
    assert!(std::fs::read_to_string(&labels)
        .unwrap()
        .contains("-179.99"));
    let adapted = dir.path().join("adapted.onnx");
    let out = run_ok(&mut adapt(&st, &path, &labels, &adapted, &[]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Forest 2") && stderr.contains("Grassland 2"),
        "{stderr}"
    );
    // About 11 m pixels against the card's 10 m: no resolution warning.
    assert!(!stderr.contains("trained at"), "{stderr}");
}
