//! Mapping benchmark (not a test): `geomaml map` next to a plain Python sliding-window
//! script (`benches/map_reference.py`, GDAL + onnxruntime) on the same model and
//! scenes of several sizes. Prints one JSON line per run with megapixels/s and peak
//! RSS (from `/usr/bin/time -v`), then one summary line per size.
//!
//! ```text
//! cargo bench --bench map --no-default-features --features infer -- [--sizes 512,1024,2048]
//!     [--stride 32] [--batch-size 64] [--dir target/bench-map] [--skip-reference (geomaml's default mode only)]
//! ```
//!
//! The model is the paper CNN (13 Sentinel-2 bands, 128 px, 7 blocks of 64
//! filters, 10 classes) with fixed pseudo-random weights (seed 7); scenes are
//! deterministic 13-band uint16 GeoTIFFs.

use gdal::raster::{Buffer, RasterCreationOptions};
use gdal::{DriverManager, Metadata};
use geomaml::bands::S2_BANDS;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

#[path = "common/mod.rs"]
mod common;
use common::{arg, paper_cnn as model};

fn scene(dir: &Path, size: usize) -> PathBuf {
    let path = dir.join(format!("scene_{size}.tif"));
    if path.exists() {
        return path;
    }
    let mut opts = RasterCreationOptions::new();
    for o in ["TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256"] {
        opts.add_string(o).unwrap();
    }
    let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = driver
        .create_with_band_type_with_options::<u16, _>(&path, size, size, 13, &opts)
        .unwrap();
    ds.set_geo_transform(&[600_000.0, 10.0, 0.0, 5_000_000.0, 0.0, -10.0])
        .unwrap();
    ds.set_spatial_ref(&gdal::spatial_ref::SpatialRef::from_epsg(32632).unwrap())
        .unwrap();
    for (b, name) in S2_BANDS.iter().enumerate() {
        let mut band = ds.rasterband(b + 1).unwrap();
        band.set_description(name).unwrap();
        for y0 in (0..size).step_by(256) {
            let rows = 256.min(size - y0);
            let data: Vec<u16> = (0..rows * size)
                .map(|i| {
                    let (x, y) = ((i % size) as f64, (y0 + i / size) as f64);
                    let field = ((x / 97.0).sin() * (y / 71.0).cos()
                        + (x + y * (b + 1) as f64 / 13.0) / 900.0)
                        .sin();
                    (2500.0 + 2000.0 * field + 300.0 * ((x * 0.7 + y * 1.3).sin())) as u16
                })
                .collect();
            band.write(
                (0, y0 as isize),
                (size, rows),
                &mut Buffer::new((size, rows), data),
            )
            .unwrap();
        }
    }
    path
}

/// Runs `cmd` under `/usr/bin/time -v`; returns (wall seconds, peak RSS MiB).
fn timed(cmd: &mut Command) -> (f64, f64) {
    let mut full = Command::new("/usr/bin/time");
    full.arg("-v").arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            full.env(k, v);
        }
    }
    let start = Instant::now();
    let out = full.output().expect("runs");
    let secs = start.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?} failed:\n{err}");
    let kb: f64 = err
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN);
    (secs, kb / 1024.0)
}

fn agreement(a: &Path, b: &Path) -> f64 {
    let read = |p: &Path| {
        let ds = gdal::Dataset::open(p).unwrap();
        let size = ds.raster_size();
        ds.rasterband(1)
            .unwrap()
            .read_as::<u8>((0, 0), size, size, None)
            .unwrap()
            .data()
            .to_vec()
    };
    let (x, y) = (read(a), read(b));
    x.iter().zip(&y).filter(|(p, q)| p == q).count() as f64 / x.len().max(1) as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sizes: Vec<usize> = arg(&args, "--sizes", "512,1024,2048")
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let stride = arg(&args, "--stride", "32");
    let batch = arg(&args, "--batch-size", "64");
    let dir = PathBuf::from(arg(&args, "--dir", "target/bench-map"));
    let skip_reference = args.iter().any(|a| a == "--skip-reference");
    std::fs::create_dir_all(&dir).unwrap();
    let onnx = model(&dir);
    let python = std::env::var("GEOMAML_VENV")
        .unwrap_or_else(|_| "/root/.cache/geomaml/venv".into())
        + "/bin/python";
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/map_reference.py");
    for size in sizes {
        let scene = scene(&dir, size);
        let mpx = (size * size) as f64 / 1e6;
        let line = |tool: &str, secs: f64, rss: f64| {
            serde_json::json!({"bench": "map", "tool": tool, "size": size, "megapixels": mpx, "seconds": secs,
                "megapixels_per_s": mpx / secs, "peak_rss_mib": rss, "stride": stride, "batch_size": batch})
        };
        let run_geomaml = |out: &Path, extra: &[&str]| {
            timed(
                Command::new(env!("CARGO_BIN_EXE_geomaml-train"))
                    .args([
                        "map",
                        "--overwrite",
                        "--stride",
                        &stride,
                        "--batch-size",
                        &batch,
                    ])
                    .args(extra)
                    .arg("--model")
                    .arg(&onnx)
                    .arg(&scene)
                    .arg("-o")
                    .arg(out),
            )
        };
        let (shared, exact) = (
            dir.join(format!("map_{size}.tif")),
            dir.join(format!("map_exact_{size}.tif")),
        );
        let (secs, rss) = run_geomaml(&shared, &[]);
        println!("{}", line("geomaml", secs, rss));
        let mut summary = serde_json::json!({"bench": "map", "size": size});
        if skip_reference {
            println!("{summary}");
            continue;
        }
        let (esecs, erss) = run_geomaml(&exact, &["--exact"]);
        println!("{}", line("geomaml_exact", esecs, erss));
        summary["speedup_shared_vs_exact"] = (esecs / secs).into();
        summary["class_agreement_shared_vs_exact"] = agreement(&shared, &exact).into();
        {
            let theirs = dir.join(format!("reference_{size}.tif"));
            let (rsecs, rrss) = timed(
                Command::new(&python)
                    .arg(&script)
                    .arg(&onnx)
                    .arg(&scene)
                    .arg(&theirs)
                    .args(["--stride", &stride, "--batch-size", &batch]),
            );
            println!("{}", line("python_reference", rsecs, rrss));
            summary["speedup_vs_reference"] = (rsecs / secs).into();
            summary["speedup_exact_vs_reference"] = (rsecs / esecs).into();
            summary["rss_ratio_vs_reference"] = (rss / rrss).into();
            summary["class_agreement_exact_vs_reference"] = agreement(&exact, &theirs).into();
            summary["class_agreement_shared_vs_reference"] = agreement(&shared, &theirs).into();
        }
        println!("{summary}");
    }
}
