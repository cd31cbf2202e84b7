//! The tile store (`geomaml store`): tasks read from it are bit for bit the tasks
//! read from the files (masks, nodata, non-finite values, scale/offset, points,
//! DeepGlobe crops, augmentation), training from it writes the same checkpoint,
//! a stale store is refused with how to rebuild it, and building it writes
//! progress lines. See issue 30.

use crate::util::*;
use geomaml::catalog::{Catalog, Split};
use geomaml::store::{default_path, TileStore};
use geomaml::tasks::{
    LoaderOptions, PointLabels, SamplerConfig, SplitStrategy, Splits, TaskBatch, TaskLoader,
    TaskSampler, TileIndex,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Copies a folder tree.
fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let dst = to.join(e.path().strip_prefix(from).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// The sample Sen12MS tree with pixels the pipeline must treat specially: a NaN
/// in a Sentinel-1 patch, Sentinel-2 nodata (0) pixels and a packed band (scale
/// 0.0001, offset 0) whose values stay as they are.
fn awkward_sen12ms(dir: &Path) -> PathBuf {
    let root = dir.join("sen12ms");
    copy_tree(&sample("sen12ms"), &root);
    let mut s1 = None;
    let mut s2 = None;
    for e in walkdir::WalkDir::new(&root).sort_by_file_name() {
        let p = e.unwrap().path().to_path_buf();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.contains("_s1_") && s1.is_none() {
            s1 = Some(p);
        } else if name.contains("_s2_") && s2.is_none() {
            s2 = Some(p);
        }
    }
    let open = |p: &Path| {
        gdal::Dataset::open_ex(
            p,
            gdal::DatasetOptions {
                open_flags: gdal::GdalOpenFlags::GDAL_OF_UPDATE,
                ..Default::default()
            },
        )
        .unwrap()
    };
    let ds = open(&s1.unwrap());
    let mut b = ds.rasterband(1).unwrap();
    let nan = gdal::raster::Buffer::new((3, 1), vec![f32::NAN; 3]);
    let mut nan = nan;
    b.write((5, 7), (3, 1), &mut nan).unwrap();
    let ds = open(&s2.unwrap());
    let mut b = ds.rasterband(3).unwrap();
    let mut zeros = gdal::raster::Buffer::new((4, 2), vec![0u16; 8]);
    b.write((10, 20), (4, 2), &mut zeros).unwrap();
    let mut b4 = ds.rasterband(4).unwrap();
    b4.set_scale(0.0001).unwrap();
    b4.set_offset(0.0).unwrap();
    root
}

fn catalog_of(root: &Path, path: &Path, tile: u32) -> Catalog {
    run_ok(
        geomaml()
            .arg("catalog")
            .arg(root)
            .arg("-o")
            .arg(path)
            .args(["--tile-size", &tile.to_string()]),
    );
    Catalog::load(path).unwrap()
}

fn same_bits(a: &TaskBatch, b: &TaskBatch) {
    let bits = |x: &ndarray::Array4<f32>| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(a.support_x.shape(), b.support_x.shape());
    assert_eq!(a.query_x.shape(), b.query_x.shape());
    assert!(
        bits(&a.support_x) == bits(&b.support_x),
        "support images differ"
    );
    assert!(bits(&a.query_x) == bits(&b.query_x), "query images differ");
    assert_eq!(a.support_y, b.support_y);
    assert_eq!(a.query_y, b.query_y);
    assert_eq!(a.classes, b.classes);
}

/// Draws `n` tasks and loads each from the files and from the store.
fn compare(
    cat: &Catalog,
    store: &Arc<TileStore>,
    options: LoaderOptions,
    cfg: SamplerConfig,
    n: usize,
) {
    let splits = Splits::for_catalog(cat, &SplitStrategy::Default).unwrap();
    let index = TileIndex::new(cat, &splits);
    let sampler = TaskSampler::new(&index, cfg).unwrap();
    let files = TaskLoader::new(cat, options.clone()).unwrap();
    let mut stored = TaskLoader::new(cat, options).unwrap();
    stored.set_store(Some(store.clone())).unwrap();
    assert!(stored.reads_store() && !files.reads_store());
    for task in sampler.sample_many(n, 7).unwrap() {
        same_bits(&files.load(&task).unwrap(), &stored.load(&task).unwrap());
    }
}

#[test]
fn tasks_from_the_store_equal_tasks_from_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = awkward_sen12ms(dir.path());
    let path = dir.path().join("catalog.json");
    let cat = catalog_of(&root, &path, 32);
    let err = run_ok(geomaml().arg("store").arg(&path));
    let err = String::from_utf8_lossy(&err.stderr);
    assert!(err.contains("s2 as uint16") && err.contains("MiB"), "{err}");
    let store = Arc::new(TileStore::open(&default_path(&path), &path).unwrap());
    let cfg = SamplerConfig {
        way: 3,
        shot: 2,
        query: 2,
        split: Some(Split::Train),
    };
    let mut options = LoaderOptions::for_kind(cat.kind);
    compare(&cat, &store, options.clone(), cfg, 8);
    options.augment = true;
    options.seed = 11;
    compare(&cat, &store, options.clone(), cfg, 8);
    options.points = Some(PointLabels::default());
    compare(&cat, &store, options, cfg, 4);

    // The awkward pixels are in the store: some invalid, the packed band as DN.
    let mut count_invalid = 0;
    let valid = std::fs::read(default_path(&path).join("valid.u8")).unwrap();
    count_invalid += valid.iter().filter(|&&v| v == 0).count();
    assert!(
        count_invalid >= 3 + 8,
        "{count_invalid} invalid pixels stored"
    );

    // Another band selection is not the store's: the loader refuses it.
    let mut other = LoaderOptions::for_kind(cat.kind);
    other.bands = geomaml::bands::parse_band_list("B04,VH");
    let mut loader = TaskLoader::new(&cat, other).unwrap();
    assert!(loader.set_store(Some(store)).is_err());
}

#[test]
fn deepglobe_crops_from_the_store_equal_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.json");
    let cat = catalog_of(&sample("deepglobe"), &path, 64);
    run_ok(geomaml().arg("store").arg(&path));
    let store = Arc::new(TileStore::open(&default_path(&path), &path).unwrap());
    let mut options = LoaderOptions::for_kind(cat.kind);
    options.augment = true;
    let cfg = SamplerConfig {
        way: 4,
        shot: 2,
        query: 2,
        split: None,
    };
    compare(&cat, &store, options, cfg, 4);
}

/// A checkpoint's header (its creation time left out) and its tensor bytes.
fn checkpoint_parts(path: &Path) -> (serde_json::Value, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let meta = header["__metadata__"].as_object_mut().unwrap();
    let mut card: serde_json::Value =
        serde_json::from_str(meta["geomaml.card"].as_str().unwrap()).unwrap();
    card["provenance"]
        .as_object_mut()
        .unwrap()
        .remove("created")
        .expect("a creation time");
    meta.insert("geomaml.card".into(), card);
    (header, bytes[8 + n..].to_vec())
}

fn train(catalog: &Path, model: &Path, bands: &str, extra: &[&str]) -> String {
    let config = model.with_extension("config.json");
    std::fs::write(&config, r#"{"width": 4}"#).unwrap();
    let out = run_ok(
        geomaml()
            .arg("train")
            .arg(catalog)
            .args(["--method", "maml", "--steps", "3", "--meta-batch", "2"])
            .args([
                "--way",
                "2",
                "--shot",
                "1",
                "--query",
                "1",
                "--val-every",
                "0",
            ])
            .args(["--seed", "9", "--device", "cpu", "--bands", bands])
            .arg("--config")
            .arg(&config)
            .args(["--threads", "1"])
            .args(extra)
            .arg("-o")
            .arg(model),
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn training_from_the_store_writes_the_same_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.json");
    catalog_of(&sample("sen12ms"), &path, 32);
    run_ok(
        geomaml()
            .arg("store")
            .arg(&path)
            .args(["--bands", "B02,B03,B04,VV"]),
    );
    let (a, b) = (
        dir.path().join("store.safetensors"),
        dir.path().join("files.safetensors"),
    );
    let from_store = train(&path, &a, "B02,B03,B04,VV", &[]);
    assert!(
        from_store.contains("tiles read from the tile store"),
        "{from_store}"
    );
    let from_files = train(&path, &b, "B02,B03,B04,VV", &["--no-store"]);
    assert!(
        from_files.contains("tiles read from the dataset files (--no-store)"),
        "{from_files}"
    );
    let (ha, da) = checkpoint_parts(&a);
    let (hb, db) = checkpoint_parts(&b);
    assert!(da == db, "the checkpoints' tensors differ");
    assert_eq!(ha, hb, "the checkpoints' headers differ");
    // Other bands than the store's: the files, saying why.
    let other = train(
        &path,
        &dir.path().join("other.safetensors"),
        "B02,B03,B04,VH",
        &[],
    );
    assert!(other.contains("holds bands B02,B03,B04,VV"), "{other}");
}

#[test]
fn a_stale_store_is_refused_naming_how_to_rebuild_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.json");
    catalog_of(&sample("sen12ms"), &path, 64);
    let lines: Vec<String> = {
        let out = run_ok(
            geomaml()
                .arg("store")
                .arg(&path)
                .env("GEOMAML_PROGRESS", "lines"),
        );
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| l.starts_with("progress: "))
            .map(str::to_string)
            .collect()
    };
    let total = Catalog::load(&path).unwrap().len();
    assert_eq!(
        lines.last().map(String::as_str),
        Some(format!("progress: {total}/{total}").as_str()),
        "{lines:?}"
    );
    // Building again is refused without --overwrite.
    let again = run_fail(geomaml().arg("store").arg(&path));
    assert!(again.contains("already exists"), "{again}");
    // The catalog written again (other tiles): the store no longer fits it.
    run_ok(
        geomaml()
            .arg("catalog")
            .arg(sample("sen12ms"))
            .arg("-o")
            .arg(&path)
            .args(["--tile-size", "32", "--overwrite"]),
    );
    let err = run_fail(
        geomaml()
            .arg("train")
            .arg(&path)
            .args(["--steps", "1", "--device", "cpu", "-o"])
            .arg(dir.path().join("m.safetensors")),
    );
    assert!(
        err.contains("manifest.json") && err.contains("stale") && err.contains("geomaml store"),
        "{err}"
    );
    assert!(!dir.path().join("m.safetensors").exists());
    // Rebuilt, it is read again.
    run_ok(geomaml().arg("store").arg(&path).arg("--overwrite"));
    TileStore::open(&default_path(&path), &path).unwrap();
}

#[test]
fn evaluation_from_the_store_scores_as_from_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.json");
    catalog_of(&sample("sen12ms"), &path, 32);
    run_ok(geomaml().arg("store").arg(&path));
    let evaluate = |out: &Path, extra: &[&str]| {
        let o = run_ok(
            geomaml()
                .arg("evaluate")
                .arg(&path)
                .args(["--model", "random", "--shots", "0,1", "--tasks", "3"])
                .args(["--way", "2", "--query", "1", "--inner-lr", "0.1"])
                .args(["--inner-steps", "2", "--device", "cpu", "--seed", "4"])
                .args(extra)
                .arg("-o")
                .arg(out),
        );
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    let (a, b) = (dir.path().join("store"), dir.path().join("files"));
    let said = evaluate(&a, &[]);
    assert!(said.contains("tiles read from the tile store"), "{said}");
    let said = evaluate(&b, &["--no-store"]);
    assert!(said.contains("(--no-store)"), "{said}");
    let curves = |d: &Path| std::fs::read_to_string(d.join("curves.csv")).unwrap();
    assert_eq!(curves(&a), curves(&b));
}

#[test]
fn a_failed_build_leaves_neither_store_nor_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sen12ms");
    copy_tree(&sample("sen12ms"), &root);
    let path = dir.path().join("catalog.json");
    catalog_of(&root, &path, 64);
    let gone = walkdir::WalkDir::new(&root)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap().path().to_path_buf())
        .filter(|p| p.to_string_lossy().contains("_s2_"))
        .last()
        .unwrap();
    std::fs::remove_file(&gone).unwrap();
    let err = run_fail(geomaml().arg("store").arg(&path));
    assert!(
        err.contains(gone.file_name().unwrap().to_str().unwrap()),
        "{err}"
    );
    assert_eq!(list_dir(dir.path()), vec!["catalog.json", "sen12ms"]);
}
