//! The analyst's own legend: classes from the label file as they are (names, ids,
//! decimal Shapefile fields, colours from an attribute or a style beside the file),
//! through `adapt` to the map's categories, colour table and metadata in GDAL's own
//! `gdalinfo`, to adapted checkpoints and Deepness exports, and `assess --class-map`.

use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const BANDS: [&str; 3] = ["B02", "B03", "B04"];
const X0: f64 = 500_000.0;

/// A 96 px scene whose pixels differ everywhere, in EPSG:32633.
fn scene(dir: &Path) -> PathBuf {
    write_utm_scene(&dir.join("scene.tif"), &BANDS, (96, 96), X0, |b, x, y| {
        (500 + 40 * x + 25 * y + 300 * b) as u16
    })
}

/// Easting/northing of the centre of scene pixel (`col`, `row`).
fn at(col: usize, row: usize) -> (f64, f64) {
    (
        X0 + (col as f64 + 0.5) * 10.0,
        4_600_000.0 - (row as f64 + 0.5) * 10.0,
    )
}

/// A random 16 px CNN over [`BANDS`] with the first 4 DFC classes, trained "by"
/// `method` (a MAML model's outputs are task-local), saved as `dir/model.safetensors`.
fn model(dir: &Path, method: &str) -> PathBuf {
    let spec = geomaml::model::ModelSpec {
        arch: geomaml::model::Arch::Cnn,
        in_channels: BANDS.len(),
        num_classes: 4,
        width: 8,
        depth: 2,
        tile_size: 16,
    };
    let legend = geomaml::catalog::classes::dfc2020()
        .into_iter()
        .take(4)
        .collect();
    let mut card = geomaml::card::ModelCard::untrained(spec, &BANDS, legend);
    card.provenance.method = method.into();
    card.provenance.config = serde_json::json!({"way": 4});
    let path = dir.join(format!("{method}.safetensors"));
    geomaml::export::random_checkpoint(card, 3)
        .save(&path, false)
        .unwrap();
    path
}

/// `n` labels of each of `classes`, spread over the scene, as UTM GeoJSON points.
fn labels(dir: &Path, name: &str, classes: &[&str], n: usize) -> PathBuf {
    let mut pts = Vec::new();
    for (i, c) in classes.iter().enumerate() {
        for k in 0..n {
            let cell = i * n + k;
            let (x, y) = at(8 + (cell % 8) * 10, 8 + (cell / 8) * 10);
            pts.push((*c, x, y));
        }
    }
    points(dir, name, Some("urn:ogc:def:crs:EPSG::32633"), &pts)
}

fn adapt(model: &Path, scene: &Path, labels: &Path, out: &Path) -> Command {
    let mut cmd = geomaml();
    crate::util::adapt_args(&mut cmd, model, scene, labels, out).args([
        "--inner-steps",
        "2",
        "--bn-windows",
        "4",
        "--no-cross-validation",
    ]);
    cmd
}

/// `gdalinfo -json` of a raster.
fn gdalinfo(path: &Path) -> serde_json::Value {
    let out = Command::new("gdalinfo")
        .arg("-json")
        .arg(path)
        .output()
        .expect("gdalinfo runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// (id, name, colour) of each class a map's band 1 names, as GDAL reads them:
/// category names, colour table entries and `CLASS_<id>` metadata must agree.
fn map_classes(map: &Path) -> Vec<(u64, String, String)> {
    let info = gdalinfo(map);
    let band = &info["bands"][0];
    let names: Vec<&str> = band["categories"]
        .as_array()
        .expect("category names")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let entries = band["colorTable"]["entries"].as_array().unwrap();
    let meta = &info["metadata"][""];
    let mut out = Vec::new();
    for (id, name) in names.iter().enumerate() {
        if name.is_empty() || *name == "no data" {
            continue;
        }
        assert_eq!(meta[format!("CLASS_{id}")].as_str(), Some(*name), "{meta}");
        let e: Vec<u64> = entries[id]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        let colour = format!("#{:02x}{:02x}{:02x}", e[0], e[1], e[2]);
        out.push((id as u64, name.to_string(), colour));
    }
    out
}

fn card(model: &Path) -> serde_json::Value {
    let out = run_ok(geomaml().args(["info", "--json"]).arg(model));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn twelve_made_up_classes_reach_the_map_with_their_names_and_distinct_colours() {
    let dir = tempfile::tempdir().unwrap();
    let scene = scene(dir.path());
    let names = [
        "oil palm",
        "Burnt",
        "cleared 2019",
        "reed",
        "Mangrove",
        "rice (flooded)",
        "quarry",
        "orchard",
        "salt pan",
        "vineyard",
        "peat bog",
        "Ski run",
    ];
    let labels = labels(dir.path(), "made_up.geojson", &names, 2);
    let onnx = dir.path().join("adapted.onnx");
    let out = run_ok(adapt(&model(dir.path(), "maml"), &scene, &labels, &onnx).arg("--json"));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // A MAML head of 4 rows grows by 8 for 12 task-local classes.
    assert_eq!(
        report["new_head_rows"].as_array().unwrap().len(),
        8,
        "{report}"
    );

    let map = dir.path().join("map.tif");
    run_ok(&mut map_command(&onnx, &scene, &map, &["--probabilities"]));
    let classes = map_classes(&map);
    // Ids 1..=12 (none of the names is in the model's legend), in case-insensitive
    // alphabetical order.
    let mut sorted = names.to_vec();
    sorted.sort_by_key(|n| n.to_lowercase());
    let got: Vec<(u64, &str)> = classes.iter().map(|(i, n, _)| (*i, n.as_str())).collect();
    let want: Vec<(u64, &str)> = sorted
        .iter()
        .enumerate()
        .map(|(i, n)| (1 + i as u64, *n))
        .collect();
    assert_eq!(got, want);
    let colours: std::collections::BTreeSet<&String> = classes.iter().map(|c| &c.2).collect();
    assert_eq!(colours.len(), 12, "{classes:?}");
    // The card and the probability bands name the same classes in the same order.
    let card = card(&onnx);
    let card_names: Vec<&str> = card["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(card_names, sorted);
    let probs = gdalinfo(&dir.path().join("map.probabilities.tif"));
    let bands = probs["bands"].as_array().unwrap();
    assert_eq!(bands.len(), 12);
    assert_eq!(
        bands[0]["description"].as_str(),
        Some(format!("p_{}", sorted[0]).as_str())
    );
}

#[test]
fn a_decimal_shapefile_field_and_a_clr_style_name_the_classes() {
    let dir = tempfile::tempdir().unwrap();
    let scene = scene(dir.path());
    let src = dir.path().join("ids.geojson");
    let mut features = Vec::new();
    for (i, id) in [3.0, 3.0, 7.0, 7.0, 9.0, 9.0].iter().enumerate() {
        let (x, y) = at(10 + 12 * i, 20 + 9 * i);
        features.push(format!(
            r#"{{"type":"Feature","properties":{{"class":{id:.1}}},"geometry":{{"type":"Point","coordinates":[{x},{y}]}}}}"#
        ));
    }
    std::fs::write(
        &src,
        format!(
            r#"{{"type":"FeatureCollection","crs":{{"type":"name","properties":{{"name":"urn:ogc:def:crs:EPSG::32633"}}}},"features":[{}]}}"#,
            features.join(",")
        ),
    )
    .unwrap();
    let shp = dir.path().join("labels.shp");
    let st = Command::new("ogr2ogr")
        .arg(&shp)
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success());
    // The Shapefile's field is decimal: OGR reads 3 as "3.000000000000000".
    let dbf = std::fs::read(dir.path().join("labels.dbf")).unwrap();
    assert!(String::from_utf8_lossy(&dbf).contains("3.000000000000000"));
    std::fs::write(
        dir.path().join("labels.clr"),
        "# id red green blue name\n3 200 30 40 oil palm\n7 10 120 250 water body\n",
    )
    .unwrap();

    let onnx = dir.path().join("adapted.onnx");
    let out = run_ok(&mut adapt(&model(dir.path(), "maml"), &scene, &shp, &onnx));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("labels.clr"), "{stderr}");
    let map = dir.path().join("map.tif");
    run_ok(&mut map_command(&onnx, &scene, &map, &[]));
    assert_eq!(
        map_classes(&map),
        vec![
            (3, "oil palm".into(), "#c81e28".into()),
            (7, "water body".into(), "#0a78fa".into()),
            // Not in the style: named by its id, a palette colour.
            (9, "9".into(), "#f3c300".into()),
        ]
    );
}

#[test]
fn a_geopackage_with_colours_colours_the_map_and_pretrained_rows_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let scene = scene(dir.path());
    let src = dir.path().join("c.geojson");
    let mut features = Vec::new();
    let classes = [("Forest", "#00AA00"), ("cocoa", "#7b3f00"), ("Savanna", "")];
    for (i, (name, colour)) in classes.iter().cycle().take(6).enumerate() {
        let (x, y) = at(12 + 13 * i, 80 - 11 * i);
        features.push(format!(
            r#"{{"type":"Feature","properties":{{"class":"{name}","color":"{colour}"}},"geometry":{{"type":"Point","coordinates":[{x},{y}]}}}}"#
        ));
    }
    std::fs::write(
        &src,
        format!(
            r#"{{"type":"FeatureCollection","crs":{{"type":"name","properties":{{"name":"urn:ogc:def:crs:EPSG::32633"}}}},"features":[{}]}}"#,
            features.join(",")
        ),
    )
    .unwrap();
    let gpkg = dir.path().join("labels.gpkg");
    assert!(Command::new("ogr2ogr")
        .arg(&gpkg)
        .arg(&src)
        .status()
        .unwrap()
        .success());

    let onnx = dir.path().join("adapted.onnx");
    let out = run_ok(adapt(&model(dir.path(), "pretrain"), &scene, &gpkg, &onnx).arg("--json"));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Forest and Savanna keep the pretrained rows of their legend classes.
    assert_eq!(report["new_head_rows"], serde_json::json!(["cocoa"]));
    let map = dir.path().join("map.tif");
    run_ok(&mut map_command(&onnx, &scene, &map, &[]));
    let savanna = geomaml::catalog::classes::dfc2020()[2].color.to_lowercase();
    assert_eq!(
        map_classes(&map),
        vec![
            (1, "Forest".into(), "#00aa00".into()),
            (2, "cocoa".into(), "#7b3f00".into()),
            (3, "Savanna".into(), savanna),
        ]
    );
}

#[test]
fn outputs_by_extension_an_adapted_checkpoint_maps_and_exports_for_deepness() {
    let dir = tempfile::tempdir().unwrap();
    let scene = scene(dir.path());
    let model = model(dir.path(), "maml");
    let labels = labels(dir.path(), "l.geojson", &["village", "dryout", "forest"], 2);

    // Refused before any work, nothing written.
    let bad = dir.path().join("adapted.tif");
    let err = run_fail(&mut adapt(&model, &scene, &labels, &bad));
    assert!(
        err.contains(".onnx") && err.contains(".safetensors"),
        "{err}"
    );
    let err = run_fail(
        adapt(&model, &scene, &labels, &dir.path().join("a.safetensors")).arg("--deepness"),
    );
    assert!(err.contains("--deepness"), "{err}");
    assert_eq!(list_dir(dir.path()).len(), 3, "{:?}", list_dir(dir.path()));

    let st = dir.path().join("adapted.safetensors");
    run_ok(&mut adapt(&model, &scene, &labels, &st));
    let info = card(&st);
    assert_eq!(info["adaptation"]["class_field"], "class");
    let names: Vec<&str> = info["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    // `forest` takes the legend's id 1 (and its colour); the others the next ids.
    assert_eq!(names, ["Forest", "dryout", "village"]);

    // map takes the adapted checkpoint as it is, and equals its ONNX export.
    let from_st = dir.path().join("from_st.tif");
    run_ok(&mut map_command(&st, &scene, &from_st, &[]));
    let onnx = dir.path().join("adapted.onnx");
    run_ok(geomaml().arg("export").arg(&st).arg("-o").arg(&onnx));
    let from_onnx = dir.path().join("from_onnx.tif");
    run_ok(&mut map_command(&onnx, &scene, &from_onnx, &[]));
    assert_eq!(read_band_f32(&from_st, 1), read_band_f32(&from_onnx, 1));
    assert_eq!(map_classes(&from_st), map_classes(&from_onnx));

    // The Deepness form carries the analyst's names as class_names.
    let deepness = dir.path().join("deepness.onnx");
    run_ok(adapt(&model, &scene, &labels, &deepness).arg("--deepness"));
    let meta = geomaml::export::read_metadata(&deepness).unwrap();
    let class_names: serde_json::Value = serde_json::from_str(&meta["class_names"]).unwrap();
    assert_eq!(
        class_names,
        serde_json::json!({"0": "Forest", "1": "dryout", "2": "village"})
    );
}

#[test]
fn assess_maps_reference_classes_of_other_names_and_names_the_unmatched() {
    let dir = tempfile::tempdir().unwrap();
    let scene = scene(dir.path());
    let labels = labels(dir.path(), "l.geojson", &["urban", "pasture"], 3);
    let onnx = dir.path().join("a.onnx");
    run_ok(&mut adapt(
        &model(dir.path(), "maml"),
        &scene,
        &labels,
        &onnx,
    ));
    let map = dir.path().join("map.tif");
    run_ok(&mut map_command(&onnx, &scene, &map, &[]));

    // The same points under a survey's own names.
    let survey = labels_renamed(
        dir.path(),
        &labels,
        &[("urban", "Siedlung"), ("pasture", "Weide")],
    );
    let assess = |extra: &[&str]| {
        let mut cmd = geomaml();
        cmd.arg("assess")
            .arg(&map)
            .arg("--reference")
            .arg(&survey)
            .arg("--json")
            .args(extra);
        cmd
    };
    let err = run_fail(&mut assess(&[]));
    assert!(err.contains("Siedlung"), "{err}");
    let err = run_fail(&mut assess(&[
        "--class-map",
        "Siedlung=urban,Weide=grassland",
    ]));
    assert!(
        err.contains("grassland") && err.contains("pasture"),
        "{err}"
    );
    let out = run_ok(&mut assess(&[
        "--class-map",
        "Siedlung=urban, Weide = Pasture",
    ]));
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let direct = run_ok(
        geomaml()
            .arg("assess")
            .arg(&map)
            .arg("--reference")
            .arg(&labels)
            .arg("--json"),
    );
    let d: serde_json::Value = serde_json::from_slice(&direct.stdout).unwrap();
    assert_eq!(a["confusion"], d["confusion"]);
    assert_eq!(a["overall_accuracy"], d["overall_accuracy"]);
    // A survey of numeric codes: `2` is the map's urban id, but the class map says
    // the survey's 2 is pasture.
    let coded = labels_renamed(dir.path(), &labels, &[("urban", "7"), ("pasture", "2")]);
    let out = run_ok(
        geomaml()
            .arg("assess")
            .arg(&map)
            .arg("--reference")
            .arg(&coded)
            .arg("--json")
            .args(["--class-map", "7=urban,2=pasture"]),
    );
    let c: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(c["confusion"], d["confusion"]);
}

#[test]
fn raster_references_match_by_name_and_refuse_other_nomenclatures() {
    let dir = tempfile::tempdir().unwrap();
    let scene = scene(dir.path());
    let labels = labels(dir.path(), "l.geojson", &["urban", "pasture"], 3);
    let onnx = dir.path().join("a.onnx");
    run_ok(&mut adapt(
        &model(dir.path(), "maml"),
        &scene,
        &labels,
        &onnx,
    ));
    let map = dir.path().join("map.tif");
    run_ok(&mut map_command(&onnx, &scene, &map, &[]));
    // The map's own ids: pasture 1, urban 2 (the model's Forest and Shrubland ids).
    let ids: Vec<u64> = map_classes(&map).iter().map(|c| c.0).collect();
    assert_eq!(ids, [1, 2]);
    // A reference raster: the map's pixels under another legend.
    let reference = |name: &str, legend: &str| {
        let p = dir.path().join(name);
        let st = Command::new("gdal_translate")
            .args(["-q", "-mo"])
            .arg(format!("GEOMAML_CLASSES={legend}"))
            .arg(&map)
            .arg(&p)
            .status()
            .unwrap();
        assert!(st.success());
        p
    };
    let assess = |r: &Path, extra: &[&str]| {
        let mut cmd = geomaml();
        cmd.arg("assess")
            .arg(&map)
            .arg("--reference")
            .arg(r)
            .arg("--json")
            .args(extra);
        cmd
    };
    let oa = |out: std::process::Output| {
        let a: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        a["overall_accuracy"].as_f64().unwrap()
    };
    // Same names, same ids: agreement.
    let same = reference(
        "same.tif",
        r##"[{"id":1,"name":"Pasture","color":"#000000"},{"id":2,"name":"urban","color":"#000000"}]"##,
    );
    assert_eq!(oa(run_ok(&mut assess(&same, &[]))), 1.0);
    // Another nomenclature on the same ids: refused, not scored by id.
    let other = reference(
        "other.tif",
        r##"[{"id":1,"name":"Weide","color":"#000000"},{"id":2,"name":"Siedlung","color":"#000000"}]"##,
    );
    let err = run_fail(&mut assess(&other, &[]));
    assert!(
        err.contains("Weide") && err.contains("--class-map"),
        "{err}"
    );
    let out = run_ok(&mut assess(
        &other,
        &["--class-map", "Weide=pasture,Siedlung=urban"],
    ));
    assert_eq!(oa(out), 1.0);
    let err = run_fail(&mut assess(&other, &["--class-map", "Weide=pasture"]));
    assert!(err.contains("Siedlung"), "{err}");
}

/// `labels` with each class renamed by `pairs`.
fn labels_renamed(dir: &Path, labels: &Path, pairs: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(labels).unwrap();
    for (from, to) in pairs {
        text = text.replace(
            &format!("\"class\":\"{from}\""),
            &format!("\"class\":\"{to}\""),
        );
    }
    let p = dir.join("renamed.geojson");
    std::fs::write(&p, text).unwrap();
    p
}

/// Opt-in (GEOMAML_REFERENCE_DATA): a real Sentinel-2 scene with people's labels
/// (`dryout`, `forest`, `village`, `water`) maps in those classes as they are.
#[test]
fn a_real_scene_maps_in_its_labellers_own_classes() {
    let Some(data) = reference_data() else {
        eprintln!("skipped: GEOMAML_REFERENCE_DATA is not set");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = data.join("real_labelled/para_s2_rstoolbox");
    let bands = [
        "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12",
    ];
    let spec = geomaml::model::ModelSpec {
        arch: geomaml::model::Arch::Cnn,
        in_channels: bands.len(),
        num_classes: 4,
        width: 8,
        depth: 2,
        tile_size: 16,
    };
    let mut card = geomaml::card::ModelCard::untrained(
        spec,
        &bands,
        geomaml::catalog::classes::dfc2020()
            .into_iter()
            .take(4)
            .collect(),
    );
    card.provenance.method = "maml".into();
    let model = dir.path().join("s2.safetensors");
    geomaml::export::random_checkpoint(card, 5)
        .save(&model, false)
        .unwrap();
    let onnx = dir.path().join("para.onnx");
    let scene = root.join("scene.tif");
    run_ok(&mut adapt(&model, &scene, &root.join("labels.gpkg"), &onnx));
    let map = dir.path().join("para.tif");
    run_ok(&mut map_command(&onnx, &scene, &map, &[]));
    let names: Vec<String> = map_classes(&map).into_iter().map(|c| c.1).collect();
    // `forest` is the model legend's Forest (id 1); the others take the next ids.
    assert_eq!(names, ["Forest", "dryout", "village", "water"]);
}

#[test]
fn the_style_beside_a_map_is_geomamls_and_a_users_own_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let scene = scene(dir.path());
    let labels = labels(dir.path(), "l.geojson", &["reed", "bog"], 2);
    let onnx = dir.path().join("a.onnx");
    run_ok(&mut adapt(
        &model(dir.path(), "maml"),
        &scene,
        &labels,
        &onnx,
    ));
    let map = dir.path().join("map.tif");
    run_ok(&mut map_command(&onnx, &scene, &map, &[]));
    let style = std::fs::read_to_string(dir.path().join("map.qml")).unwrap();
    assert!(
        style.contains("label=\"bog\"") && style.contains("label=\"reed\""),
        "{style}"
    );
    // A style of the user's beside the output is never replaced.
    let mine = "<qgis><!-- my own colours --></qgis>";
    let other = dir.path().join("other.tif");
    std::fs::write(dir.path().join("other.qml"), mine).unwrap();
    run_ok(&mut map_command(&onnx, &scene, &other, &[]));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("other.qml")).unwrap(),
        mine
    );
    // geomaml's own is rewritten with the map.
    run_ok(&mut map_command(&onnx, &scene, &map, &["--overwrite"]));
    assert!(std::fs::read_to_string(dir.path().join("map.qml"))
        .unwrap()
        .contains("bog"));
}
