use super::*;
use crate::catalog::classes::dfc2020;
use crate::raster::GeoTransform;

/// The labels of `p` (default layer and field, DFC legend) in EPSG:`epsg`.
fn read_in(p: &Path, epsg: u32) -> Result<LabelSet> {
    let wkt = SpatialRef::from_epsg(epsg).unwrap().to_wkt().unwrap();
    read_labels(
        p,
        &LabelOptions::default(),
        ClassSource::Fixed(&dfc2020()),
        &wkt,
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn points_by_name_are_reprojected_to_utm() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "l.geojson",
        r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","properties":{"class":"Water"},"geometry":{"type":"Point","coordinates":[9.0,48.0]}},
          {"type":"Feature","properties":{"class":"6"},"geometry":{"type":"Point","coordinates":[9.001,48.001]}}]}"#,
    );
    let set = read_in(&p, 32632).unwrap();
    assert_eq!(set.labels.len(), 2);
    assert_eq!(set.labels[0].class.id, 10);
    assert_eq!(set.labels[1].class.name, "Croplands");
    let geo::Geometry::Point(pt) = set.labels[0].geometry else {
        panic!()
    };
    // 9E 48N is the central meridian of zone 32: easting 500 km.
    assert!((pt.x() - 500_000.0).abs() < 1.0, "{pt:?}");
    assert!((pt.y() - 5_316_300.2).abs() < 1.0, "{pt:?}");
    assert_eq!(set.counts()[&10], 1);
}

#[test]
fn labels_land_right_in_geographic_and_polar_crss() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "l.geojson",
        r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","properties":{"class":"Water"},"geometry":{"type":"Point","coordinates":[9.0,48.0]}},
          {"type":"Feature","properties":{"class":"Snow/Ice"},"geometry":{"type":"Point","coordinates":[90.0,-80.0]}},
          {"type":"Feature","properties":{"class":"Snow/Ice"},"geometry":{"type":"Point","coordinates":[0.0,-90.0]}}]}"#,
    );
    let xy = |set: &LabelSet, i: usize| match set.labels[i].geometry {
        geo::Geometry::Point(p) => (p.x(), p.y()),
        ref g => panic!("{g:?}"),
    };
    // A scene in EPSG:4326 (latitude first by the authority): x is longitude.
    let geo = read_in(&p, 4326).unwrap();
    assert_eq!(xy(&geo, 0), (9.0, 48.0));
    // Antarctic polar stereographic: the pole is the origin, 90 E lies on +x.
    let polar = read_in(&p, 3031).unwrap();
    let (x, y) = xy(&polar, 1);
    assert!(x > 1.0e6 && y.abs() < 1e-3, "{x} {y}");
    let (x, y) = xy(&polar, 2);
    assert!(x.abs() < 1e-3 && y.abs() < 1e-3, "{x} {y}");
}

#[test]
fn unknown_classes_are_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "bad.geojson",
        r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","properties":{"class":"Lava"},"geometry":{"type":"Point","coordinates":[9.0,48.0]}}]}"#,
    );
    let err = read_in(&p, 32632).unwrap_err().to_string();
    assert!(
        err.contains("bad.geojson") && err.contains("Lava") && err.contains("Forest"),
        "{err}"
    );
}

#[test]
fn polygons_yield_pixels_inside_them() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "poly.geojson",
        r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::32632"}},"features":[
          {"type":"Feature","properties":{"label":"Forest"},"geometry":{"type":"Polygon","coordinates":[[[100,-100],[300,-100],[300,-300],[100,-300],[100,-100]]]}}]}"#,
    );
    let set = read_in(&p, 32632).unwrap();
    let gt = PixelLocator::Affine(GeoTransform::north_up(0.0, 0.0, 10.0));
    let px = set.pixels(&gt, 5);
    assert!(!px.is_empty());
    assert!(px
        .iter()
        .all(|p| (10..30).contains(&p.col) && (10..30).contains(&p.row) && p.class_id == 1));
    assert_eq!(px.len(), 16);
}
