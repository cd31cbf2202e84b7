//! Batch mapping benchmark (not a test): `geomaml map --manifest` on a folder of
//! scenes, as one process, as two concurrent shard processes, and as four
//! concurrent shard processes, so a user can size a cluster. Prints one JSON line
//! per configuration: wall seconds and scenes/hour (aggregate over the processes).
//!
//! ```text
//! cargo bench --bench batch --no-default-features --features infer -- [--scenes 8]
//!     [--size 512] [--dir target/bench-batch]
//! ```
//!
//! The model is the paper CNN (13 Sentinel-2 bands, 128 px, 10 classes) with fixed
//! pseudo-random weights (seed 7), mapped with the default stride (32 px); scenes
//! are deterministic 13-band uint16 GeoTIFFs of `size` x `size` pixels. Each
//! process gets `cores / processes` ONNX Runtime threads (at least 1).

use gdal::raster::{Buffer, RasterCreationOptions};
use gdal::{DriverManager, Metadata};
use geomaml::bands::S2_BANDS;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

#[path = "common/mod.rs"]
mod common;
use common::{arg, paper_cnn as model};

fn scene(path: &Path, size: usize, seed: usize) {
    if path.exists() {
        return;
    }
    let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = driver
        .create_with_band_type_with_options::<u16, _>(
            path,
            size,
            size,
            13,
            &RasterCreationOptions::new(),
        )
        .unwrap();
    ds.set_geo_transform(&[
        600_000.0 + 10_000.0 * seed as f64,
        10.0,
        0.0,
        5_000_000.0,
        0.0,
        -10.0,
    ])
    .unwrap();
    ds.set_spatial_ref(&gdal::spatial_ref::SpatialRef::from_epsg(32632).unwrap())
        .unwrap();
    for (b, name) in S2_BANDS.iter().enumerate() {
        let mut band = ds.rasterband(b + 1).unwrap();
        band.set_description(name).unwrap();
        let data: Vec<u16> = (0..size * size)
            .map(|i| {
                let (x, y) = ((i % size) as f64, (i / size) as f64);
                let field = ((x / (97.0 + seed as f64)).sin() * (y / 71.0).cos()
                    + (x + y * (b + 1) as f64 / 13.0) / 900.0)
                    .sin();
                (2500.0 + 2000.0 * field + 300.0 * ((x * 0.7 + y * 1.3).sin())) as u16
            })
            .collect();
        band.write((0, 0), (size, size), &mut Buffer::new((size, size), data))
            .unwrap();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let count: usize = arg(&args, "--scenes", "8").parse().expect("--scenes N");
    let size: usize = arg(&args, "--size", "512").parse().expect("--size PX");
    let dir = PathBuf::from(arg(&args, "--dir", "target/bench-batch"));
    std::fs::create_dir_all(dir.join("scenes")).unwrap();
    let onnx = model(&dir);
    let mut manifest = String::new();
    for i in 0..count {
        let p = dir.join(format!("scenes/scene_{size}_{i}.tif"));
        scene(&p, size, i);
        manifest.push_str(&format!("{}\n", p.canonicalize().unwrap().display()));
    }
    let list = dir.join("scenes.txt");
    std::fs::write(&list, manifest).unwrap();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let bin = env!("CARGO_BIN_EXE_geomaml-train");
    for processes in [1usize, 2, 4] {
        let out = dir.join(format!("maps-{processes}"));
        let _ = std::fs::remove_dir_all(&out);
        let threads = (cores / processes).max(1);
        let start = Instant::now();
        let children: Vec<_> = (0..processes)
            .map(|i| {
                let mut c = Command::new(bin);
                c.args(["map", "--model"])
                    .arg(&onnx)
                    .arg("--manifest")
                    .arg(&list)
                    .arg("-o")
                    .arg(&out)
                    .arg("--shard")
                    .arg(format!("{i}/{processes}"))
                    .arg("--threads")
                    .arg(threads.to_string())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped());
                c.spawn().expect("geomaml runs")
            })
            .collect();
        for child in children {
            let o = child.wait_with_output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        let seconds = start.elapsed().as_secs_f64();
        let mapped = std::fs::read_dir(&out)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                let n = e.file_name().to_string_lossy().to_string();
                n.ends_with(".tif") && !n.starts_with('.')
            })
            .count();
        assert_eq!(mapped, count, "every scene mapped once");
        println!(
            "{}",
            serde_json::json!({
                "bench": "batch",
                "processes": processes,
                "threads_per_process": threads,
                "cores": cores,
                "scenes": count,
                "scene_px": size,
                "bands": 13,
                "model": "paper CNN, 128 px, stride 32",
                "seconds": (seconds * 100.0).round() / 100.0,
                "scenes_per_hour": (count as f64 * 3600.0 / seconds).round(),
                "megapixels_per_s": ((count * size * size) as f64 / 1e6 / seconds * 100.0).round() / 100.0,
            })
        );
    }
}
