//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The executable under test: `GEOMAML_TEST_BIN` when set (`make test` sets it to
/// `target/release/geomaml`, the executable users run: commands without libtorch run
/// in it, 0.05 s to start, training commands are handed to `geomaml-train`), else
/// this package's `geomaml-train`, which runs every command itself (0.6 s to start).
pub fn geomaml() -> Command {
    match std::env::var_os("GEOMAML_TEST_BIN") {
        Some(exe) => {
            let path = Path::new(&exe);
            assert!(
                path.is_file(),
                "GEOMAML_TEST_BIN={} is not a file: build it with `make cli`",
                path.display()
            );
            Command::new(exe)
        }
        None => Command::new(env!("CARGO_BIN_EXE_geomaml-train")),
    }
}

/// Path of a file under sample_data/.
pub fn sample(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample_data")
        .join(rel)
}

/// The reference data folder, when `GEOMAML_REFERENCE_DATA` is set (opt-in tests).
pub fn reference_data() -> Option<PathBuf> {
    std::env::var_os("GEOMAML_REFERENCE_DATA")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
}

/// Runs a command, returning its output; panics with both streams if it fails.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("geomaml runs");
    assert!(
        out.status.success(),
        "command failed ({:?}): {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a command that must fail with exit code 1 and one `geomaml: ...` line;
/// returns stderr.
pub fn run_fail(cmd: &mut Command) -> String {
    let out = cmd.output().expect("geomaml runs");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected exit 1 from {cmd:?}, stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("geomaml: "),
        "no geomaml: line in\n{stderr}"
    );
    stderr
}

/// The data rows of a comma-separated table without quoting (the header skipped),
/// as geomaml's CSV outputs are.
pub fn csv_rows(text: &str) -> Vec<Vec<&str>> {
    text.lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect()
}

/// Lists a folder's entries (names), sorted.
pub fn list_dir(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

/// All files below `dir`, relative to it, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(dir).unwrap().to_path_buf())
        .collect();
    v.sort();
    v
}

/// Band `b` (1-based) of a raster as f32, row-major.
pub fn read_band_f32(path: &Path, b: usize) -> Vec<f32> {
    let ds = gdal::Dataset::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let band = ds.rasterband(b).unwrap();
    band.read_band_as::<f32>().unwrap().data().to_vec()
}

/// Catalogs sample_data's Sen12MS tree into 16 px tiles and pretrains a model on it
/// for `steps` steps on CPU with `seed`, in a folder kept for the test run; returns
/// (catalog, model).
pub fn pretrain_on_sample(steps: u32, seed: u32) -> (PathBuf, PathBuf) {
    let args = [
        "--method",
        "pretrain",
        "--val-every",
        "0",
        "--device",
        "cpu",
    ];
    let steps = steps.to_string();
    let seed = seed.to_string();
    let all: Vec<&str> = args
        .iter()
        .copied()
        .chain(["--steps", &steps, "--seed", &seed])
        .collect();
    train_on_sample("pretrain", &all)
}

/// Catalogs sample_data's Sen12MS tree into 16 px tiles and trains `dir/name.safetensors`
/// on it with `train` options `args`, in a folder kept for the test run; returns
/// (catalog, model).
pub fn train_on_sample(name: &str, args: &[&str]) -> (PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap().keep();
    let catalog = dir.join("catalog.json");
    run_ok(
        geomaml()
            .arg("catalog")
            .arg(sample("sen12ms"))
            .args(["--tile-size", "16", "-o"])
            .arg(&catalog),
    );
    let model = dir.join(format!("{name}.safetensors"));
    run_ok(
        geomaml()
            .arg("train")
            .arg(&catalog)
            .args(args)
            .arg("-o")
            .arg(&model),
    );
    (catalog, model)
}

/// Writes a u16 GeoTIFF in EPSG:32633 with north-up 10 m pixels whose top-left
/// corner is at (`x0`, 4,600,000 m), bands named `bands` with nodata 0, and pixel
/// values `value(band index, x, y)`.
pub fn write_utm_scene(
    path: &Path,
    bands: &[&str],
    (w, h): (usize, usize),
    x0: f64,
    value: impl Fn(usize, usize, usize) -> u16,
) -> PathBuf {
    let driver = gdal::DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = driver
        .create_with_band_type_with_options::<u16, _>(
            path,
            w,
            h,
            bands.len(),
            &gdal::raster::RasterCreationOptions::new(),
        )
        .unwrap();
    ds.set_geo_transform(&[x0, 10.0, 0.0, 4_600_000.0, 0.0, -10.0])
        .unwrap();
    ds.set_spatial_ref(&gdal::spatial_ref::SpatialRef::from_epsg(32633).unwrap())
        .unwrap();
    for (b, name) in bands.iter().enumerate() {
        let mut band = ds.rasterband(b + 1).unwrap();
        gdal::Metadata::set_description(&mut band, name).unwrap();
        band.set_no_data_value(Some(0.0)).unwrap();
        let data: Vec<u16> = (0..w * h).map(|i| value(b, i % w, i / w)).collect();
        band.write((0, 0), (w, h), &mut gdal::raster::Buffer::new((w, h), data))
            .unwrap();
    }
    path.to_path_buf()
}

/// A random model of `arch` (width 8, depth 2, `tile` px, the first 4 DFC classes)
/// reading `bands`, with weights drawn from `seed`: `dir/name.safetensors` and its
/// export `dir/name.onnx`.
pub fn random_model(
    dir: &Path,
    name: &str,
    arch: geomaml::model::Arch,
    bands: &[&str],
    tile: usize,
    seed: u64,
) -> (PathBuf, PathBuf) {
    let spec = geomaml::model::ModelSpec {
        arch,
        in_channels: bands.len(),
        num_classes: 4,
        width: 8,
        depth: 2,
        tile_size: tile,
    };
    let legend = geomaml::catalog::classes::dfc2020()
        .into_iter()
        .take(4)
        .collect();
    let card = geomaml::card::ModelCard::untrained(spec, bands, legend);
    let st = dir.join(format!("{name}.safetensors"));
    geomaml::export::random_checkpoint(card, seed)
        .save(&st, false)
        .unwrap();
    let onnx = dir.join(format!("{name}.onnx"));
    run_ok(geomaml().arg("export").arg(&st).arg("-o").arg(&onnx));
    (st, onnx)
}

/// `geomaml map [args] --model MODEL SCENE -o OUT`.
pub fn map_command(model: &Path, scene: &Path, out: &Path, args: &[&str]) -> Command {
    let mut cmd = geomaml();
    cmd.arg("map")
        .args(args)
        .arg("--model")
        .arg(model)
        .arg(scene)
        .arg("-o")
        .arg(out);
    cmd
}

/// Writes point labels `(class, x, y)` as GeoJSON `dir/name`, with a `crs` member
/// (e.g. `urn:ogc:def:crs:EPSG::32633`) when given.
pub fn points(dir: &Path, name: &str, crs: Option<&str>, pts: &[(&str, f64, f64)]) -> PathBuf {
    let features: Vec<String> = pts
        .iter()
        .map(|(c, x, y)| {
            format!(r#"{{"type":"Feature","properties":{{"class":"{c}"}},"geometry":{{"type":"Point","coordinates":[{x},{y}]}}}}"#)
        })
        .collect();
    let crs = crs
        .map(|c| format!(r#""crs":{{"type":"name","properties":{{"name":"{c}"}}}},"#))
        .unwrap_or_default();
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!(
            r#"{{"type":"FeatureCollection",{crs}"features":[{}]}}"#,
            features.join(",")
        ),
    )
    .unwrap();
    p
}

/// How [`lying_model`] changes a model's `probabilities` output.
#[derive(Clone, Copy, Debug)]
pub enum Lie {
    /// Twice the card's classes (the output concatenated with itself).
    MoreClasses,
    /// The first two classes only.
    FewerClasses,
    /// No class at all (an empty slice).
    ZeroClasses,
    /// Every value NaN (the output times NaN).
    NaN,
    /// Every value +inf (the output divided by zero).
    Infinite,
}

/// The exported model `src` with its `probabilities` output renamed `raw` inside the
/// graph and the output's declared shape removed ([`crate::lying_graph::undeclared`]).
fn with_undeclared_output(src: &Path, raw: &str) -> geomaml::export::proto::ModelProto {
    crate::lying_graph::undeclared(&std::fs::read(src).unwrap(), raw)
}

/// Writes `dst`: the exported model `src` (its card unchanged) whose graph computes
/// `lie` on its `probabilities` output and declares no output shape, so nothing
/// but running it shows the lie.
pub fn lying_model(src: &Path, dst: &Path, lie: Lie) -> PathBuf {
    use geomaml::export::proto::{
        AttributeProto, NodeProto, TensorProto, DATA_TYPE_FLOAT, DATA_TYPE_INT64,
    };
    use prost::Message;
    let out = geomaml::export::PROBABILITIES;
    let raw = "probabilities_before_the_lie";
    let mut model = with_undeclared_output(src, raw);
    let graph = model.graph.as_mut().unwrap();
    let node = |op: &str, inputs: &[&str], attribute: Vec<AttributeProto>| NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![out.to_string()],
        name: format!("lie_{op}"),
        op_type: op.to_string(),
        attribute,
        ..Default::default()
    };
    let ints = |name: &str, v: i64| TensorProto {
        dims: vec![1],
        data_type: DATA_TYPE_INT64,
        int64_data: vec![v],
        name: name.to_string(),
        ..Default::default()
    };
    let float = |name: &str, v: f32| TensorProto {
        dims: vec![],
        data_type: DATA_TYPE_FLOAT,
        float_data: vec![v],
        name: name.to_string(),
        ..Default::default()
    };
    let slice_to = |graph: &mut geomaml::export::proto::GraphProto, end: i64| {
        graph.initializer.extend([
            ints("lie_start", 0),
            ints("lie_end", end),
            ints("lie_axis", 1),
        ]);
        node("Slice", &[raw, "lie_start", "lie_end", "lie_axis"], vec![])
    };
    let added = match lie {
        Lie::MoreClasses => node(
            "Concat",
            &[raw, raw],
            vec![AttributeProto {
                name: "axis".into(),
                i: 1,
                r#type: geomaml::export::proto::attribute_type::INT,
                ..Default::default()
            }],
        ),
        Lie::FewerClasses => slice_to(graph, 2),
        Lie::ZeroClasses => slice_to(graph, 0),
        Lie::NaN => {
            graph.initializer.push(float("lie_value", f32::NAN));
            node("Mul", &[raw, "lie_value"], vec![])
        }
        Lie::Infinite => {
            graph.initializer.push(float("lie_value", 0.0));
            node("Div", &[raw, "lie_value"], vec![])
        }
    };
    graph.node.push(added);
    std::fs::write(dst, model.encode_to_vec()).unwrap();
    dst.to_path_buf()
}

/// Writes `dst`: the exported model `src` whose card claims `tile` px windows and
/// whose graph declares symbolic window sizes, so nothing refuses it when opened.
pub fn model_claiming_tile(src: &Path, dst: &Path, tile: usize) -> PathBuf {
    use geomaml::export::proto::Dimension;
    use prost::Message;
    let bytes = std::fs::read(src).unwrap();
    let mut model = geomaml::export::proto::ModelProto::decode(bytes.as_slice()).unwrap();
    for p in &mut model.metadata_props {
        if let Ok(mut card) = serde_json::from_str::<serde_json::Value>(&p.value) {
            if card.get("spec").is_some() {
                card["spec"]["tile_size"] = tile.into();
                p.value = card.to_string();
            }
        }
    }
    let graph = model.graph.as_mut().unwrap();
    graph.value_info.clear();
    for v in graph.input.iter_mut().chain(graph.output.iter_mut()) {
        if let Some(shape) = v
            .r#type
            .as_mut()
            .and_then(|t| t.tensor_type.as_mut())
            .and_then(|t| t.shape.as_mut())
        {
            for (i, d) in shape.dim.iter_mut().enumerate().skip(2) {
                *d = Dimension::symbolic(&format!("size{i}"));
            }
        }
    }
    std::fs::write(dst, model.encode_to_vec()).unwrap();
    dst.to_path_buf()
}

/// Writes `dst`: the exported model `src` (card unchanged) whose `probabilities`
/// output goes through 1-3 randomly chosen operations ([`crate::lying_graph::compose`])
/// and declares no output shape. Returns the operations, for messages. Deterministic
/// by `seed`.
pub fn randomly_lying_model(src: &Path, dst: &Path, seed: u64) -> (PathBuf, String) {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let (bytes, said) = crate::lying_graph::compose(&std::fs::read(src).unwrap(), next);
    std::fs::write(dst, bytes).unwrap();
    (dst.to_path_buf(), said)
}

/// `cmd` made `adapt --device cpu --model MODEL --scene SCENE --labels LABELS -o OUT`;
/// callers append what their case needs.
pub(crate) fn adapt_args<'c>(
    cmd: &'c mut std::process::Command,
    model: &Path,
    scene: &Path,
    labels: &Path,
    out: &Path,
) -> &'c mut std::process::Command {
    cmd.args(["adapt", "--device", "cpu", "--model"])
        .arg(model)
        .arg("--scene")
        .arg(scene)
        .arg("--labels")
        .arg(labels)
        .arg("-o")
        .arg(out)
}
