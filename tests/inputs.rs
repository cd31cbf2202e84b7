//! Inputs as users hand them over, beyond the scene kinds of `scenes`: labels and
//! references inside a zip under accented names, point tables (CSV) with coordinate
//! columns, mosaics with an alpha band, projected GeoJSON without a `crs` member,
//! non-finite coordinates, and outputs in a folder that cannot be written.

use crate::scenes::{
    adapt, assert_nodata_exactly_over, lonlat, map, model, scene, utm, value, H, POINTS, X0, Y0,
};
use crate::util::{geomaml, list_dir, map_command, run_fail, run_ok};
use gdal::raster::{Buffer, RasterCreationOptions};
use gdal::spatial_ref::SpatialRef;
use gdal::vector::{Feature, Geometry, LayerAccess, LayerOptions, OGRFieldType};
use gdal::DriverManager;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Writes `POINTS` as GeoJSON in EPSG:4326 with GDAL's GeoJSON driver at `path`
/// (a plain path or a `/vsizip/` one: GDAL writes into zip archives).
fn geojson_points(path: &Path) {
    let drv = DriverManager::get_driver_by_name("GeoJSON").unwrap();
    let mut ds = drv.create_vector_only(path).unwrap();
    let mut wgs = SpatialRef::from_epsg(4326).unwrap();
    wgs.set_axis_mapping_strategy(gdal::spatial_ref::AxisMappingStrategy::TraditionalGisOrder);
    let layer = ds
        .create_layer(LayerOptions {
            name: "points terrain",
            srs: Some(&wgs),
            ty: gdal::vector::OGRwkbGeometryType::wkbPoint,
            options: None,
        })
        .unwrap();
    layer
        .create_defn_fields(&[("class", OGRFieldType::OFTString)])
        .unwrap();
    for (c, col, row) in POINTS {
        let (lon, lat) = lonlat(
            X0 + (col as f64 + 0.5) * 10.0,
            Y0 - (row as f64 + 0.5) * 10.0,
        );
        let mut f = Feature::new(layer.defn()).unwrap();
        f.set_field_string(0, c).unwrap();
        f.set_geometry(Geometry::from_wkt(&format!("POINT ({lon} {lat})")).unwrap())
            .unwrap();
        f.create(&layer).unwrap();
    }
}

/// The `/vsizip/` path of `member` inside the zip archive `zip`.
fn in_zip(zip: &Path, member: &str) -> PathBuf {
    PathBuf::from(format!("/vsizip/{}/{member}", zip.display()))
}

#[test]
fn labels_and_references_inside_a_zip_with_accented_names_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let (st, onnx) = model(dir.path());
    let folder = dir.path().join("données été");
    std::fs::create_dir(&folder).unwrap();
    let scene_path = folder.join("scène 1.tif");
    scene::<u16>(&scene_path, true, |b, x, y| value(b, x, y) as u16);
    let plain = folder.join("points terrain.geojson");
    geojson_points(&plain);
    let zip = dir.path().join("archive été.zip");
    let zipped = in_zip(&zip, "étiquettes été/points terrain.geojson");
    geojson_points(&zipped);

    // adapt reads the zipped labels, and records the hash of the file itself (the
    // same bytes as the plain copy GDAL wrote), not of the archive.
    let adapted = dir.path().join("sorties été").join("modèle adapté.onnx");
    std::fs::create_dir(adapted.parent().unwrap()).unwrap();
    run_ok(&mut adapt(&st, &scene_path, &zipped, &adapted, &[]));
    let info = run_ok(geomaml().arg("info").arg(&adapted).arg("--json"));
    let card: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    let want = format!("{:x}", Sha256::digest(std::fs::read(&plain).unwrap()));
    assert_eq!(card["adaptation"]["labels_sha256"], want.as_str(), "{card}");

    // assess takes the zipped file as its reference: every label compared.
    let out = dir.path().join("sorties été").join("carte été.tif");
    map(&onnx, &scene_path, &out);
    let a = run_ok(
        geomaml()
            .arg("assess")
            .arg(&out)
            .arg("--reference")
            .arg(&zipped)
            .arg("--json"),
    );
    let v: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    assert_eq!(v["samples"], POINTS.len(), "{v}");
    // A reference that is not in the archive is still "no such file".
    let missing = in_zip(&zip, "étiquettes été/absent.geojson");
    let err = run_fail(
        geomaml()
            .arg("assess")
            .arg(&out)
            .arg("--reference")
            .arg(&missing),
    );
    assert!(err.contains("absent.geojson: no such file"), "{err}");
}

/// Writes `header` and one row per label of `POINTS` (`row(class, lon, lat, x, y)`)
/// as `dir/name`.
fn csv(
    dir: &Path,
    name: &str,
    header: &str,
    row: impl Fn(&str, f64, f64, f64, f64) -> String,
) -> PathBuf {
    let mut text = format!("{header}\n");
    for (c, col, r) in POINTS {
        let (x, y) = (X0 + (col as f64 + 0.5) * 10.0, Y0 - (r as f64 + 0.5) * 10.0);
        let (lon, lat) = lonlat(x, y);
        text += &row(c, lon, lat, x, y);
        text += "\n";
    }
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn point_tables_are_read_from_lon_lat_columns_or_refused_saying_how() {
    let dir = tempfile::tempdir().unwrap();
    let (st, _) = model(dir.path());
    let path = dir.path().join("scene.tif");
    scene::<u16>(&path, true, |b, x, y| value(b, x, y) as u16);
    let adapted = dir.path().join("adapted.onnx");

    // Longitude/latitude columns, in any case: WGS 84 points, all four used.
    let lonlat_csv = csv(
        dir.path(),
        "field.csv",
        "id,Longitude,LATITUDE,class",
        |c, lon, lat, _, _| format!("1,{lon:.8},{lat:.8},{c}"),
    );
    let out = run_ok(&mut adapt(&st, &path, &lonlat_csv, &adapted, &[]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("adapted on 4 shots"), "{stderr}");

    // x/y columns: no CRS, and the error says how to give one.
    let xy = csv(dir.path(), "xy.csv", "x,y,class", |c, _, _, x, y| {
        format!("{x},{y},{c}")
    });
    let never = dir.path().join("never.onnx");
    let err = run_fail(&mut adapt(&st, &path, &xy, &never, &[]));
    assert!(
        err.contains("xy.csv")
            && err.contains("`x`/`y` have no CRS")
            && err.contains("xy.prj")
            && err.contains("ogr2ogr -a_srs"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // ... which a .prj beside the table gives.
    std::fs::write(dir.path().join("xy.prj"), utm().to_wkt().unwrap()).unwrap();
    let adapted_xy = dir.path().join("adapted_xy.onnx");
    let out = run_ok(&mut adapt(&st, &path, &xy, &adapted_xy, &[]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("adapted on 4 shots"));

    // Columns that are not recognised: no geometry, and the names that would be.
    let en = csv(
        dir.path(),
        "en.csv",
        "easting,northing,class",
        |c, _, _, x, y| format!("{x},{y},{c}"),
    );
    let err = run_fail(&mut adapt(&st, &path, &en, &never, &[]));
    assert!(
        err.contains("en.csv")
            && err.contains("has no geometry")
            && err.contains("easting, northing, class")
            && err.contains("lon/lat or longitude/latitude")
            && err.contains("x/y"),
        "{err}"
    );
    assert!(!never.exists());
}

#[test]
fn projected_coordinates_in_geojson_without_crs_get_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (st, _) = model(dir.path());
    let path = dir.path().join("scene.tif");
    scene::<u16>(&path, true, |b, x, y| value(b, x, y) as u16);
    // UTM metres saved as GeoJSON without a `crs` member: GDAL reads EPSG:4326.
    let pts: Vec<(&str, f64, f64)> = POINTS
        .iter()
        .map(|(c, col, row)| {
            (
                *c,
                X0 + (*col as f64 + 0.5) * 10.0,
                Y0 - (*row as f64 + 0.5) * 10.0,
            )
        })
        .collect();
    let l = crate::util::points(dir.path(), "utm.geojson", None, &pts);
    let never = dir.path().join("never.onnx");
    let err = run_fail(&mut adapt(&st, &path, &l, &never, &[]));
    assert!(
        err.contains("utm.geojson: feature 0: coordinates (500105, 4599695)")
            && err.contains("are not longitude/latitude")
            && err.contains("ogr2ogr -a_srs"),
        "{err}"
    );
    assert!(
        !err.contains("error: '6'"),
        "an OGR error code leaked: {err}"
    );
    assert!(!never.exists());
}

#[test]
fn non_finite_label_coordinates_are_refused_naming_file_and_feature() {
    let dir = tempfile::tempdir().unwrap();
    let (st, onnx) = model(dir.path());
    let path = dir.path().join("scene.tif");
    scene::<u16>(&path, true, |b, x, y| value(b, x, y) as u16);
    let good = crate::scenes::labels(&dir.path().join("good.geojson"), &POINTS, false);
    let text = std::fs::read_to_string(&good).unwrap();
    let never = dir.path().join("never.onnx");
    // GDAL's JSON reader takes these literals, as files written by JavaScript and
    // Python tools may hold them. (A point at NaN is OGR's empty point: skipped
    // with a warning, as features without geometry are.)
    let geometries = [
        (
            "inf.geojson",
            r#"{"type":"Point","coordinates":[Infinity,-Infinity]}"#,
        ),
        (
            "nan.geojson",
            r#"{"type":"Polygon","coordinates":[[[15.0,41.5],[NaN,41.5],[15.0,41.6],[15.0,41.5]]]}"#,
        ),
    ];
    for (name, geometry) in geometries {
        let bad = text.replacen(
            r#""features":["#,
            &format!(
                r#""features":[{{"type":"Feature","id":5,"properties":{{"class":"Forest"}},"geometry":{geometry}}},"#
            ),
            1,
        );
        let l = dir.path().join(name);
        std::fs::write(&l, bad).unwrap();
        let err = run_fail(&mut adapt(&st, &path, &l, &never, &[]));
        assert!(
            err.contains(&format!("{name}: feature 5")) && err.contains("not a finite number"),
            "{err}"
        );
        assert!(!never.exists());
        // assess never counts such a label as pixel (0, 0) either.
        let out = dir.path().join(format!("{name}.map.tif"));
        map(&onnx, &path, &out);
        let err = run_fail(geomaml().arg("assess").arg(&out).arg("--reference").arg(&l));
        assert!(
            err.contains("feature 5") && err.contains("not a finite number"),
            "{err}"
        );
    }
}

/// A tile of the three bands, `w` px wide and `H` high, starting `x` px east of
/// `X0`, with no nodata value and no band names (as many exports are).
fn tile(path: &Path, x: usize, w: usize) -> gdal::Dataset {
    let drv = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = drv
        .create_with_band_type_with_options::<u16, _>(path, w, H, 3, &RasterCreationOptions::new())
        .unwrap();
    ds.set_geo_transform(&[X0 + 10.0 * x as f64, 10.0, 0.0, Y0, 0.0, -10.0])
        .unwrap();
    ds.set_spatial_ref(&utm()).unwrap();
    for b in 0..3 {
        let data: Vec<u16> = (0..w * H)
            .map(|i| value(b, x + i % w, i / w) as u16)
            .collect();
        ds.rasterband(b + 1)
            .unwrap()
            .write((0, 0), (w, H), &mut Buffer::new((w, H), data))
            .unwrap();
    }
    ds
}

#[test]
fn the_alpha_band_of_a_mosaic_is_its_mask_not_a_model_band() {
    let dir = tempfile::tempdir().unwrap();
    let (st, onnx) = model(dir.path());
    // Two tiles with a 16 px gap between them (columns 24..40), mosaicked as
    // `gdalbuildvrt -addalpha` does: 3 data bands and band 4, Alpha, 0 over the gap.
    let west = tile(&dir.path().join("west.tif"), 0, 24);
    let east = tile(&dir.path().join("east.tif"), 40, 24);
    let vrt = dir.path().join("mosaic.vrt");
    let opts = gdal::programs::raster::BuildVRTOptions::new(["-addalpha"]).unwrap();
    drop(gdal::programs::raster::build_vrt(Some(&vrt), &[west, east], Some(opts)).unwrap());
    let ds = gdal::Dataset::open(&vrt).unwrap();
    assert_eq!(ds.raster_count(), 4);
    assert_eq!(
        ds.rasterband(4).unwrap().color_interpretation(),
        gdal::raster::ColorInterpretation::AlphaBand
    );
    // GDAL itself does not make it the data bands' mask (it does for 2 and 4 bands
    // only when the first are grey or RGB): geomaml must.
    let out = dir.path().join("map.tif");
    map(&onnx, &vrt, &out);
    assert_nodata_exactly_over(&out, (24, 40, 0, H));
    // adapt counts 3 bands too, and a label in the gap is on nodata.
    let outside: Vec<(&str, usize, usize)> = vec![
        ("Forest", 10, 30),
        ("Grassland", 20, 40),
        ("Forest", 50, 10),
        ("Grassland", 50, 40),
    ];
    let l = crate::scenes::labels(&dir.path().join("l.geojson"), &outside, false);
    let adapted = dir.path().join("adapted.onnx");
    run_ok(&mut adapt(&st, &vrt, &l, &adapted, &[]));
    let mut gap = outside.clone();
    gap.push(("Forest", 32, 20));
    let l = crate::scenes::labels(&dir.path().join("gap.geojson"), &gap, false);
    let never = dir.path().join("never.onnx");
    let err = run_fail(&mut adapt(&st, &vrt, &l, &never, &[]));
    assert!(
        err.contains("feature 4 (Forest) lies on nodata")
            && err.contains("its own pixel is nodata"),
        "{err}"
    );
}

/// A read-only folder, unmounted on drop: a read-only tmpfs where mounting is
/// allowed (root, to whom permission bits mean nothing), else mode 0555.
struct ReadOnly(PathBuf, bool);

impl ReadOnly {
    fn at(path: PathBuf) -> Self {
        std::fs::create_dir_all(&path).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "ro,size=64k", "tmpfs"])
            .arg(&path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o555)).unwrap();
        }
        ReadOnly(path, mounted)
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        if self.1 {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        } else {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755));
        }
    }
}

#[test]
fn an_unwritable_output_folder_is_named_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let (st, onnx) = model(dir.path());
    let path = dir.path().join("scene.tif");
    scene::<u16>(&path, true, |b, x, y| value(b, x, y) as u16);
    let l = crate::scenes::labels(&dir.path().join("l.geojson"), &POINTS, false);
    let ro = ReadOnly::at(dir.path().join("locked"));
    if std::fs::write(ro.0.join("probe"), b"").is_ok() {
        eprintln!("skipped: this user can write in a read-only folder");
        return;
    }
    // adapt: refused before the adaptation, naming the output.
    let out = ro.0.join("adapted.onnx");
    let cmd_out = adapt(&st, &path, &l, &out, &[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&cmd_out.stderr);
    assert_eq!(cmd_out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("locked/adapted.onnx: cannot write in its folder"),
        "{stderr}"
    );
    assert!(!stderr.contains("adapted on"), "adapted first: {stderr}");
    // map (plain, COG, with adaptation): the map's name, never a temporary's.
    for args in [&[][..], &["--cog"][..]] {
        let err = run_fail(&mut map_command(&onnx, &path, &ro.0.join("map.tif"), args));
        assert!(err.contains("locked/map.tif: cannot write"), "{err}");
        assert!(
            !err.contains("partial") && !err.contains("staging"),
            "{err}"
        );
    }
    let mut cmd = map_command(
        &st,
        &path,
        &ro.0.join("map.tif"),
        &["--no-cross-validation"],
    );
    cmd.arg("--labels").arg(&l);
    let err = run_fail(&mut cmd);
    assert!(err.contains("locked/map.tif: cannot write"), "{err}");
    assert!(!err.contains("adapted on"), "adapted first: {err}");
    assert!(list_dir(&ro.0).is_empty());
}
