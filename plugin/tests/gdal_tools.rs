//! The GEOMAML driver through GDAL's own tools (gdalinfo, gdal_translate, gdalwarp)
//! and GDAL's Python bindings, compared with `geomaml map`.
//!
//! Needs the release plugin (`target/release/libgdal_GeoMAML.so`, built by
//! `cargo build --release -p geomaml-gdal` or `make plugin`) and the release CLI
//! (`target/release/geomaml`); each test copies the plugin as `gdal_GeoMAML.so` into
//! a temporary `GDAL_DRIVER_PATH`.

use gdal::raster::RasterCreationOptions;
use gdal::{Dataset, DriverManager, Metadata};
use geomaml::card::ModelCard;
use geomaml::catalog::classes::dfc2020;
use geomaml::model::{Arch, ModelSpec};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn target_release() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release")
}

/// A temporary directory holding `plugins/gdal_GeoMAML.so`.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let so = target_release().join("libgdal_GeoMAML.so");
        assert!(
            so.is_file(),
            "{} is missing: build it with `cargo build --release -p geomaml-gdal` (or `make plugin`)",
            so.display()
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("plugins")).unwrap();
        std::fs::copy(&so, dir.path().join("plugins/gdal_GeoMAML.so")).unwrap();
        Env { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A GDAL command that sees only this plugin directory.
    fn tool(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("GDAL_DRIVER_PATH", self.path().join("plugins"))
            .env_remove("GDAL_SKIP");
        c
    }
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn geomaml_cli() -> Command {
    let bin = target_release().join("geomaml");
    assert!(
        bin.is_file(),
        "{} is missing: build the CLI with `cargo build --release`",
        bin.display()
    );
    Command::new(bin)
}

/// Exports a random 4-class model of `arch` reading B02, B03, B04.
fn model(dir: &Path, name: &str, arch: Arch, tile: usize) -> PathBuf {
    let bands = ["B02", "B03", "B04"];
    let spec = ModelSpec {
        arch,
        in_channels: bands.len(),
        num_classes: 4,
        width: 8,
        depth: 2,
        tile_size: tile,
    };
    let card = ModelCard::untrained(spec, &bands, dfc2020().into_iter().take(4).collect());
    let ckpt = geomaml::export::random_checkpoint(card, 42);
    let onnx = dir.join(format!("{name}.onnx"));
    geomaml::export::export_file(&ckpt, &onnx, false).unwrap();
    onnx
}

/// A `w x h` UTM 33N scene of bands named `bands`, 10 m pixels; the top-left 12x12
/// corner is nodata (0).
fn scene(dir: &Path, name: &str, bands: &[&str], (w, h): (usize, usize)) -> PathBuf {
    let path = dir.join(name);
    let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = driver
        .create_with_band_type_with_options::<u16, _>(
            &path,
            w,
            h,
            bands.len(),
            &RasterCreationOptions::new(),
        )
        .unwrap();
    ds.set_geo_transform(&[500_000.0, 10.0, 0.0, 4_600_000.0, 0.0, -10.0])
        .unwrap();
    ds.set_spatial_ref(&gdal::spatial_ref::SpatialRef::from_epsg(32633).unwrap())
        .unwrap();
    for (b, name) in bands.iter().enumerate() {
        let mut band = ds.rasterband(b + 1).unwrap();
        band.set_description(name).unwrap();
        band.set_no_data_value(Some(0.0)).unwrap();
        let data: Vec<u16> = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                if x < 12 && y < 12 {
                    0
                } else {
                    (1000 + (x * 37 + y * 11 * (b + 1)) % 4000 + 2000 * ((x / 16 + y / 16 + b) % 2))
                        as u16
                }
            })
            .collect();
        band.write((0, 0), (w, h), &mut gdal::raster::Buffer::new((w, h), data))
            .unwrap();
    }
    path
}

fn connection(model: &Path, scene: &Path) -> String {
    format!("GEOMAML:{}:{}", model.display(), scene.display())
}

/// `geomaml map` of `scene` with `model` into `dir/name`.
fn cli_map(dir: &Path, name: &str, model: &Path, scene: &Path) -> PathBuf {
    cli_map_with(dir, name, model, scene, &[])
}

/// [`cli_map`] with extra options.
fn cli_map_with(dir: &Path, name: &str, model: &Path, scene: &Path, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    run(geomaml_cli()
        .arg("map")
        .args(extra)
        .arg("--model")
        .arg(model)
        .arg(scene)
        .arg("-o")
        .arg(&out));
    out
}

/// Asserts two single-band maps agree in every pixel and in everything GDAL
/// reports about them.
fn assert_same_map(ours: &Path, theirs: &Path) {
    let (a, b) = (Dataset::open(ours).unwrap(), Dataset::open(theirs).unwrap());
    assert_eq!(a.raster_size(), b.raster_size());
    assert_eq!(a.geo_transform().unwrap(), b.geo_transform().unwrap());
    assert_eq!(a.projection(), b.projection());
    let (ba, bb) = (a.rasterband(1).unwrap(), b.rasterband(1).unwrap());
    let size = a.raster_size();
    let pa = ba.read_as::<u8>((0, 0), size, size, None).unwrap();
    let pb = bb.read_as::<u8>((0, 0), size, size, None).unwrap();
    let differ = pa
        .data()
        .iter()
        .zip(pb.data())
        .filter(|(x, y)| x != y)
        .count();
    assert_eq!(differ, 0, "{differ} of {} pixels differ", pa.data().len());
    assert_eq!(ba.no_data_value(), bb.no_data_value());
    let (ca, cb) = (ba.color_table().unwrap(), bb.color_table().unwrap());
    assert_eq!(ca.entry_count(), cb.entry_count());
    for i in 0..cb.entry_count() {
        assert_eq!(ca.entry(i), cb.entry(i), "colour {i}");
    }
    for key in [
        "GEOMAML_CLASSES",
        "GEOMAML_ARCH",
        "GEOMAML_STRIDE",
        "CLASS_1",
    ] {
        assert_eq!(a.metadata_item(key, ""), b.metadata_item(key, ""), "{key}");
    }
}

#[test]
fn gdalinfo_formats_lists_the_driver() {
    let env = Env::new();
    let out = run(env.tool("gdalinfo").arg("--formats"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("GEOMAML -raster-")),
        "{text}"
    );
}

#[test]
fn gdalinfo_shows_crs_grid_colour_table_and_classes() {
    let env = Env::new();
    let m = model(env.path(), "cnn", Arch::Cnn, 16);
    let s = scene(env.path(), "scene.tif", &["B02", "B03", "B04"], (100, 70));
    let out = run(env.tool("gdalinfo").arg(connection(&m, &s)));
    let text = String::from_utf8_lossy(&out.stdout);
    // Default stride tile/4 = 4: 25 x 18 pixels of 40 m.
    for want in [
        "Driver: GEOMAML/",
        "Size is 25, 18",
        "WGS 84 / UTM zone 33N",
        "Pixel Size = (40.000000000000000,-40.000000000000000)",
        "ColorInterp=Palette",
        "NoData Value=0",
        "Color Table (RGB with",
        "CLASS_1=",
        "GEOMAML_STRIDE=4",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

/// `gdal_translate` of the plugin's dataset next to `geomaml map` of the same model
/// and scene: the two maps must be equal. Returns the translated file.
fn translate_and_compare_with_cli(env: &Env, m: &Path, s: &Path) -> PathBuf {
    let theirs = cli_map(env.path(), "map.tif", m, s);
    let ours = env.path().join("translated.tif");
    run(env
        .tool("gdal_translate")
        .arg("-q")
        .arg(connection(m, s))
        .arg(&ours));
    assert_same_map(&ours, &theirs);
    ours
}

#[test]
fn gdal_translate_equals_geomaml_map_for_a_multi_block_classifier_map() {
    let env = Env::new();
    let m = model(env.path(), "cnn", Arch::Cnn, 16);
    // Stride 4, blocks of 512 source px = 128 map px: a 2 x 2 grid of blocks, the
    // last ones partial; bands in another order than the model's.
    let s = scene(env.path(), "scene.tif", &["B04", "B03", "B02"], (600, 530));
    let ours = translate_and_compare_with_cli(&env, &m, &s);
    assert_eq!(Dataset::open(&ours).unwrap().raster_size(), (150, 133));
}

#[test]
fn gdal_translate_equals_geomaml_map_for_a_segmentation_map() {
    let env = Env::new();
    let m = model(env.path(), "unet", Arch::Unet, 16);
    let s = scene(env.path(), "scene.tif", &["B02", "B03", "B04"], (90, 61));
    translate_and_compare_with_cli(&env, &m, &s);
}

#[test]
fn gdal_translate_equals_geomaml_map_for_a_per_pixel_network() {
    let env = Env::new();
    let m = model(env.path(), "pixel", Arch::Pixel, 40);
    let s = scene(env.path(), "scene.tif", &["B02", "B03", "B04"], (300, 170));
    let ours = translate_and_compare_with_cli(&env, &m, &s);
    // A map at the scene's resolution.
    assert_eq!(Dataset::open(&ours).unwrap().raster_size(), (300, 170));
}

#[test]
fn descriptor_file_opens_by_extension_with_map_options() {
    let env = Env::new();
    let m = model(env.path(), "cnn", Arch::Cnn, 16);
    let s = scene(env.path(), "scene.tif", &["B02", "B03", "B04"], (300, 200));
    let theirs = cli_map_with(env.path(), "map.tif", &m, &s, &["--stride", "8"]);
    // Relative paths are relative to the descriptor.
    let descriptor = env.path().join("landcover.geomaml");
    std::fs::write(
        &descriptor,
        r#"{"model": "cnn.onnx", "scene": "scene.tif", "stride": 8}"#,
    )
    .unwrap();
    let ours = env.path().join("translated.tif");
    let out = run(env.tool("gdalinfo").arg(&descriptor));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Driver: GEOMAML/") && text.contains("Size is 38, 25"),
        "{text}"
    );
    run(env
        .tool("gdal_translate")
        .arg("-q")
        .arg(&descriptor)
        .arg(&ours));
    assert_same_map(&ours, &theirs);
}

/// `gdal_translate` of a descriptor of `cnn.onnx` on `scene.tif` in the
/// environment's folder, with `"output": output`; returns the translated file.
fn translate_output(env: &Env, output: &str) -> PathBuf {
    let descriptor = env.path().join(format!("{output}.geomaml"));
    std::fs::write(
        &descriptor,
        format!(r#"{{"model": "cnn.onnx", "scene": "scene.tif", "output": "{output}"}}"#),
    )
    .unwrap();
    let ours = env.path().join("translated.tif");
    run(env
        .tool("gdal_translate")
        .arg("-q")
        .arg(&descriptor)
        .arg(&ours));
    ours
}

#[test]
fn probabilities_descriptor_equals_the_probability_file_of_geomaml_map() {
    let env = Env::new();
    let m = model(env.path(), "cnn", Arch::Cnn, 16);
    let s = scene(env.path(), "scene.tif", &["B02", "B03", "B04"], (600, 530));
    cli_map_with(env.path(), "map.tif", &m, &s, &["--probabilities"]);
    let theirs = env.path().join("map.probabilities.tif");
    let ours = translate_output(&env, "probabilities");
    let (a, b) = (
        Dataset::open(&ours).unwrap(),
        Dataset::open(&theirs).unwrap(),
    );
    assert_eq!(a.raster_count(), 4);
    assert_eq!(a.raster_count(), b.raster_count());
    assert_eq!(a.geo_transform().unwrap(), b.geo_transform().unwrap());
    let size = b.raster_size();
    assert_eq!(a.raster_size(), size);
    for i in 1..=4 {
        let (ba, bb) = (a.rasterband(i).unwrap(), b.rasterband(i).unwrap());
        assert_eq!(ba.description().unwrap(), bb.description().unwrap());
        assert_eq!(ba.no_data_value(), bb.no_data_value());
        let pa = ba.read_as::<u8>((0, 0), size, size, None).unwrap();
        let pb = bb.read_as::<u8>((0, 0), size, size, None).unwrap();
        assert!(pa.data() == pb.data(), "band {i} differs");
    }
    assert_eq!(
        a.metadata_item("GEOMAML_UNITS", ""),
        Some("percent".to_string())
    );
}

#[test]
fn confidence_descriptor_equals_the_confidence_file_of_geomaml_map() {
    let env = Env::new();
    let m = model(env.path(), "cnn", Arch::Cnn, 16);
    let s = scene(env.path(), "scene.tif", &["B02", "B03", "B04"], (300, 260));
    cli_map_with(env.path(), "map.tif", &m, &s, &["--confidence"]);
    let theirs = env.path().join("map.confidence.tif");
    let ours = translate_output(&env, "confidence");
    let (a, b) = (
        Dataset::open(&ours).unwrap(),
        Dataset::open(&theirs).unwrap(),
    );
    assert_eq!(a.raster_count(), 1);
    let size = b.raster_size();
    assert_eq!(a.raster_size(), size);
    let (ba, bb) = (a.rasterband(1).unwrap(), b.rasterband(1).unwrap());
    assert_eq!(ba.description().unwrap(), "confidence");
    assert_eq!(ba.no_data_value(), Some(255.0));
    let pa = ba.read_as::<u8>((0, 0), size, size, None).unwrap();
    let pb = bb.read_as::<u8>((0, 0), size, size, None).unwrap();
    assert!(pa.data() == pb.data(), "confidence differs");
}

#[test]
fn gdalwarp_multi_threaded_reads_equal_geomaml_map() {
    let env = Env::new();
    let m = model(env.path(), "cnn", Arch::Cnn, 16);
    let s = scene(env.path(), "scene.tif", &["B02", "B03", "B04"], (600, 530));
    let theirs = cli_map(env.path(), "map.tif", &m, &s);
    let ours = env.path().join("warped.tif");
    // Same grid, nearest neighbour: a threaded pixel copy through the driver.
    run(env
        .tool("gdalwarp")
        .args(["-q", "-multi", "-wo", "NUM_THREADS=4", "-wm", "1"])
        .args(["-r", "near", "-ts", "150", "133"])
        .env("GDAL_NUM_THREADS", "4")
        .arg(connection(&m, &s))
        .arg(&ours));
    let (a, b) = (
        Dataset::open(&ours).unwrap(),
        Dataset::open(&theirs).unwrap(),
    );
    let size = b.raster_size();
    assert_eq!(a.raster_size(), size);
    let pa = a
        .rasterband(1)
        .unwrap()
        .read_as::<u8>((0, 0), size, size, None)
        .unwrap();
    let pb = b
        .rasterband(1)
        .unwrap()
        .read_as::<u8>((0, 0), size, size, None)
        .unwrap();
    assert!(
        pa.data() == pb.data(),
        "gdalwarp -multi differs from the map"
    );
}

#[test]
fn python_bindings_read_the_same_values() {
    let env = Env::new();
    let m = model(env.path(), "cnn", Arch::Cnn, 16);
    let s = scene(env.path(), "scene.tif", &["B02", "B03", "B04"], (100, 70));
    let theirs = cli_map(env.path(), "map.tif", &m, &s);
    let script = r#"
import sys
from osgeo import gdal
gdal.UseExceptions()
# Keep the datasets referenced while their bands are used (GDAL < 3.8 bindings).
ours, theirs = gdal.Open(sys.argv[1]), gdal.Open(sys.argv[2])
a = ours.GetRasterBand(1).ReadRaster()
b = theirs.GetRasterBand(1).ReadRaster()
ok = a == b and len(a) > 0 and ours.GetGeoTransform() == theirs.GetGeoTransform()
print("same" if ok else "differ")
"#;
    let out = run(env
        .tool("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .arg(connection(&m, &s))
        .arg(&theirs));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "same");
}

#[test]
fn missing_model_and_band_mismatch_are_gdal_errors_not_crashes() {
    let env = Env::new();
    let s = scene(env.path(), "scene.tif", &["B02", "B03", "B04"], (40, 40));
    let missing = env.path().join("nope.onnx");
    let out = env
        .tool("gdalinfo")
        .arg(connection(&missing, &s))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("ERROR") && err.contains("nope.onnx"),
        "no GDAL error naming the model: {err}"
    );

    let m = model(env.path(), "cnn", Arch::Cnn, 16);
    let wrong = scene(env.path(), "wrong.tif", &["VV", "VH"], (40, 40));
    let out = env
        .tool("gdal_translate")
        .arg(connection(&m, &wrong))
        .arg(env.path().join("out.tif"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("ERROR") && err.contains("wrong.tif"),
        "no GDAL error naming the scene: {err}"
    );

    let out = env
        .tool("gdalinfo")
        .arg("GEOMAML:only-one-part")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("GEOMAML:MODEL.onnx:SCENE.tif"), "{err}");
}

/// `src` with its `probabilities` output concatenated with itself (twice the
/// card's classes) and no declared output shape: a graph that lies about its
/// output, which only running it shows.
fn lying_model(src: &Path, dst: &Path) -> PathBuf {
    use geomaml::export::proto::{attribute_type, AttributeProto, ModelProto, NodeProto};
    use prost::Message;
    let out = geomaml::export::PROBABILITIES;
    let mut model = ModelProto::decode(std::fs::read(src).unwrap().as_slice()).unwrap();
    let graph = model.graph.as_mut().unwrap();
    for o in graph.node.iter_mut().flat_map(|n| n.output.iter_mut()) {
        if o == out {
            *o = "raw".into();
        }
    }
    for o in graph.output.iter_mut().filter(|o| o.name == out) {
        if let Some(t) = o.r#type.as_mut().and_then(|t| t.tensor_type.as_mut()) {
            t.shape = None;
        }
    }
    graph.node.push(NodeProto {
        input: vec!["raw".into(), "raw".into()],
        output: vec![out.into()],
        name: "lie".into(),
        op_type: "Concat".into(),
        attribute: vec![AttributeProto {
            name: "axis".into(),
            i: 1,
            r#type: attribute_type::INT,
            ..Default::default()
        }],
        ..Default::default()
    });
    std::fs::write(dst, model.encode_to_vec()).unwrap();
    dst.to_path_buf()
}

#[test]
fn a_model_whose_output_is_not_its_cards_is_a_gdal_error_not_a_panic() {
    let env = Env::new();
    let s = scene(env.path(), "scene.tif", &["B02", "B03", "B04"], (40, 40));
    let m = model(env.path(), "cnn", Arch::Cnn, 16);
    let bad = lying_model(&m, &env.path().join("lying.onnx"));
    let out = env
        .tool("gdal_translate")
        .env("RUST_BACKTRACE", "1")
        .arg(connection(&bad, &s))
        .arg(env.path().join("out.tif"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("ERROR") && err.contains("lying.onnx") && err.contains("shape"),
        "no GDAL error naming the model and its output shape: {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "a panic reached stderr: {err}"
    );
}

/// Pixel `(i f, j f)` of band 1 of `path` for every pixel `(i, j)` of an overview
/// of `size`: the map subsampled as GDAL's nearest-neighbour overviews are.
fn subsampled(path: &Path, f: usize, size: (usize, usize)) -> Vec<u8> {
    let ds = Dataset::open(path).unwrap();
    let full = ds.raster_size();
    let px = ds
        .rasterband(1)
        .unwrap()
        .read_as::<u8>((0, 0), full, full, None)
        .unwrap();
    let px = px.data();
    (0..size.1)
        .flat_map(|i| (0..size.0).map(move |j| px[i * f * full.0 + j * f]))
        .collect()
}

/// Overview `level` (0-based) of band 1 of the GEOMAML dataset `source`, read
/// through GDAL's Python bindings in a process that sees the plugin: `(size,
/// factor, pixels)`.
fn overview(env: &Env, source: &str, level: usize) -> ((usize, usize), usize, Vec<u8>) {
    let script = r#"
import sys
from osgeo import gdal
gdal.UseExceptions()
ds = gdal.Open(sys.argv[1])
band = ds.GetRasterBand(1)
ov = band.GetOverview(int(sys.argv[2]))
sys.stdout.write(f"{ov.XSize} {ov.YSize} {band.XSize // ov.XSize if band.XSize % ov.XSize == 0 else -1}\n")
sys.stdout.flush()
sys.stdout.buffer.write(ov.ReadRaster())
"#;
    let out = run(env
        .tool("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .arg(source)
        .arg(level.to_string()));
    let nl = out.stdout.iter().position(|&b| b == b'\n').unwrap();
    let head = String::from_utf8_lossy(&out.stdout[..nl]).to_string();
    let v: Vec<i64> = head
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    let size = (v[0] as usize, v[1] as usize);
    let factor = 2usize.pow(level as u32 + 1);
    (size, factor, out.stdout[nl + 1..].to_vec())
}

/// Asserts that overview `level` of the map at `connection` is `map` (of
/// `full` pixels) subsampled, pixel for pixel, for each of `levels`.
fn assert_overviews_subsample(
    env: &Env,
    connection: &str,
    map: &Path,
    full: (usize, usize),
    levels: &[usize],
) {
    for &level in levels {
        let (size, f, pixels) = overview(env, connection, level);
        assert_eq!(size, (full.0.div_ceil(f), full.1.div_ceil(f)));
        let want = subsampled(map, f, size);
        let differ = pixels.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(pixels.len(), want.len());
        assert_eq!(
            differ,
            0,
            "level {level}: {differ} of {} pixels differ",
            want.len()
        );
    }
}

#[test]
fn classifier_overviews_are_every_fth_window_of_the_exact_map() {
    let env = Env::new();
    let m = model(env.path(), "cnn", Arch::Cnn, 16);
    // Stride 4: a 150 x 133 map with overviews of 75 x 67 and 38 x 34.
    let s = scene(env.path(), "scene.tif", &["B02", "B03", "B04"], (600, 530));
    let out = run(env.tool("gdalinfo").arg(connection(&m, &s)));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Overviews: 75x67, 38x34"), "{text}");
    let exact = cli_map_with(env.path(), "exact.tif", &m, &s, &["--exact"]);
    // Factor 2 (windows overlap: read as one region) and 4 (windows side by side:
    // read row by row).
    assert_overviews_subsample(&env, &connection(&m, &s), &exact, (150, 133), &[0, 1]);
}

#[test]
fn segmentation_overviews_are_the_map_of_non_overlapping_windows_subsampled() {
    let env = Env::new();
    let m = model(env.path(), "unet", Arch::Unet, 16);
    let s = scene(env.path(), "scene.tif", &["B02", "B03", "B04"], (700, 530));
    // The driver's blocks (512) are not `geomaml map`'s (1024): same classes.
    let out = run(env.tool("gdalinfo").arg(connection(&m, &s)));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Block=512x512"), "{text}");
    translate_and_compare_with_cli(&env, &m, &s);
    let tiled = cli_map_with(env.path(), "tiled.tif", &m, &s, &["--stride", "16"]);
    assert_overviews_subsample(&env, &connection(&m, &s), &tiled, (700, 530), &[1, 3]);
    // Windows smaller than the overview factor: only those holding a kept pixel
    // run, with the same result.
    let small_tiles = model(env.path(), "unet8", Arch::Unet, 8);
    let tiled8 = cli_map_with(
        env.path(),
        "tiled8.tif",
        &small_tiles,
        &s,
        &["--stride", "8"],
    );
    let (size, f, pixels) = overview(&env, &connection(&small_tiles, &s), 3);
    assert_eq!(f, 16);
    assert_eq!(pixels, subsampled(&tiled8, f, size));
    // A raster smaller than a block gets one block of its own size.
    let small = scene(env.path(), "small.tif", &["B02", "B03", "B04"], (300, 200));
    let out = run(env.tool("gdalinfo").arg(connection(&m, &small)));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Block=304x304"), "{text}");
}

#[test]
fn pixel_network_overviews_are_its_exact_map_subsampled() {
    let env = Env::new();
    // 16 px windows keep 12 px each: blocks of 516 px, and overview blocks of whole
    // strides at full resolution (2 x 258, 4 x 129, 16 x 33 px).
    let m = model(env.path(), "pixel", Arch::Pixel, 16);
    let s = scene(env.path(), "scene.tif", &["B02", "B03", "B04"], (700, 530));
    let map = cli_map_with(env.path(), "map.tif", &m, &s, &[]);
    assert_overviews_subsample(&env, &connection(&m, &s), &map, (700, 530), &[0, 1, 3]);
}

#[test]
fn a_block_is_computed_once_for_all_handles_and_statistics_use_overviews() {
    let env = Env::new();
    let m = model(env.path(), "cnn", Arch::Cnn, 16);
    let s = scene(env.path(), "scene.tif", &["B02", "B03", "B04"], (600, 530));
    // Two handles of one map in one process: the second reads the first's blocks.
    let script = r#"
import sys
from osgeo import gdal
gdal.UseExceptions()
a = gdal.Open(sys.argv[1])
b = gdal.Open(sys.argv[1])
same = a.GetRasterBand(1).ReadRaster() == b.GetRasterBand(1).ReadRaster()
print("same" if same else "differ")
"#;
    let out = run(env
        .tool("/usr/bin/python3")
        .env("CPL_DEBUG", "GEOMAML")
        .arg("-c")
        .arg(script)
        .arg(connection(&m, &s)));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "same");
    let log = String::from_utf8_lossy(&out.stderr);
    // 150 x 133 map pixels in blocks of 128: 2 x 2 blocks, each computed once.
    assert_eq!(log.matches("computed block").count(), 4, "{log}");
    assert_eq!(log.matches("from the cache").count(), 4, "{log}");

    // Statistics (as QGIS asks for them when a layer opens) come from an overview.
    let out = run(env
        .tool("gdalinfo")
        .env("CPL_DEBUG", "GEOMAML")
        .arg("-stats")
        .arg(connection(&m, &s)));
    let text = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("STATISTICS_APPROXIMATE=YES"), "{text}");
    assert!(
        !log.contains("of level 0"),
        "the map itself was computed: {log}"
    );
    let _ = std::fs::remove_file(env.path().join("scene.tif.aux.xml"));
}
