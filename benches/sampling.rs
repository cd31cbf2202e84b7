//! Task sampling and tile loading throughput, printed as JSON lines.
//!
//! `cargo bench --bench sampling`. Fixed seeds. Sampling: 1,000,000 in-memory tiles
//! (125 regions x 4 seasons x 2,000 tiles, 10 classes), 4-way 2-shot tasks (the
//! paper's meta-training) and 4-way 10-shot 10-query tasks (its evaluation); the
//! target is at least 10,000 tasks/s. Loading: a generated Sen12MS tree of 256 px patches cut into
//! 128 px tiles, 15 bands, read through `TaskLoader` (files in the page cache).

use geomaml::catalog::{self, PixelWindow, ScanOptions, Season, Sources, Split, TileRecord};
use geomaml::raster::{GeoTiffWriter, GeoTransform, WriterOptions};
use geomaml::tasks::{LoaderOptions, SamplerConfig, Splits, TaskLoader, TaskSampler, TileIndex};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use std::time::Instant;

fn synthetic_tiles(n_per_group: usize) -> Vec<TileRecord> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut tiles = Vec::with_capacity(125 * 4 * n_per_group);
    for region in geomaml::catalog::regions::REGIONS.iter() {
        for season in Season::ALL {
            for i in 0..n_per_group {
                let (col, row) = ((i % 50) as f64, (i / 50) as f64);
                let (x, y) = (region.lon + col * 0.012, region.lat + row * 0.012);
                // Skewed class mix: a few common classes, some rare ones.
                let label = [1u16, 1, 1, 2, 4, 4, 6, 6, 7, 10, 3, 9][rng.random_range(0..12)];
                tiles.push(TileRecord {
                    season: Some(season),
                    region: region.id,
                    patch: (i / 4) as u32,
                    tile: (i % 4) as u32,
                    label: Some(label),
                    unlabelled_reason: None,
                    purity: 1.0,
                    bbox_wgs84: Some([x, y, x + 0.0115, y + 0.0115]),
                    window: PixelWindow::new(
                        128 * (i as u32 % 2),
                        128 * ((i as u32 / 2) % 2),
                        128,
                        128,
                    ),
                    sources: Sources::default(),
                    role: None,
                });
            }
        }
    }
    tiles
}

fn bench_sampling() {
    let t0 = Instant::now();
    let tiles = synthetic_tiles(2000);
    let index = TileIndex::from_records(&tiles, &Splits::sen12ms_default());
    let build_s = t0.elapsed().as_secs_f64();
    for (way, shot, query) in [(4, 2, 2), (4, 10, 10)] {
        let sampler = TaskSampler::new(
            &index,
            SamplerConfig {
                way,
                shot,
                query,
                split: Some(Split::Train),
            },
        )
        .unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (start, mut n) = (Instant::now(), 0usize);
        while start.elapsed().as_secs_f64() < 2.0 {
            for _ in 0..1000 {
                std::hint::black_box(sampler.sample(&mut rng).unwrap());
            }
            n += 1000;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{}",
            serde_json::json!({"bench": "task_sampling", "tiles": index.len(), "index_build_s": build_s,
                "way": way, "shot": shot, "query": query, "groups": sampler.group_count(),
                "tasks": n, "tasks_per_s": n as f64 / secs, "target_tasks_per_s": 10000})
        );
    }
}

fn write(
    path: &Path,
    bands: usize,
    gt: GeoTransform,
    crs: &str,
    value: impl Fn(usize, usize) -> f32,
) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let opts = WriterOptions {
        compress: "NONE".into(),
        ..Default::default()
    };
    let size = 256;
    if bands == 2 {
        let mut w =
            GeoTiffWriter::create::<f32>(path, (size, size), bands, gt, crs, &opts).unwrap();
        for b in 1..=bands {
            w.write(
                b,
                (0, 0),
                (size, size),
                (0..size * size).map(|i| value(b, i)).collect(),
            )
            .unwrap();
        }
        w.finish().unwrap();
    } else {
        let mut w =
            GeoTiffWriter::create::<u16>(path, (size, size), bands, gt, crs, &opts).unwrap();
        for b in 1..=bands {
            w.write(
                b,
                (0, 0),
                (size, size),
                (0..size * size).map(|i| value(b, i) as u16).collect(),
            )
            .unwrap();
        }
        w.finish().unwrap();
    }
}

fn bench_loading() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let crs = gdal::spatial_ref::SpatialRef::from_epsg(32632)
        .unwrap()
        .to_wkt()
        .unwrap();
    let igbp = [1.0, 6.0, 10.0, 17.0];
    for (scene, season) in [(3, "spring"), (57, "fall")] {
        for p in 0..12u32 {
            let gt = GeoTransform::north_up(500_000.0 + 3000.0 * p as f64, 5_320_000.0, 10.0);
            let f = format!("ROIs1158_{season}");
            let name = |m: &str| {
                root.join(&f)
                    .join(format!("{m}_{scene}"))
                    .join(format!("{f}_{m}_{scene}_p{p}.tif"))
            };
            write(&name("s1"), 2, gt, &crs, |b, i| -10.0 - (b + i % 7) as f32);
            write(&name("s2"), 13, gt, &crs, |b, i| {
                (1000 + b * 100 + i % 97) as f32
            });
            write(&name("lc"), 4, gt, &crs, |_, i| {
                let t = (i / 256 / 128) * 2 + (i % 256) / 128;
                igbp[(p as usize + t) % 4]
            });
        }
    }
    let t0 = Instant::now();
    let cat = catalog::scan(root, None, &ScanOptions::default()).unwrap();
    let scan_s = t0.elapsed().as_secs_f64();
    let index = TileIndex::new(&cat, &Splits::sen12ms_default());
    let sampler = TaskSampler::new(
        &index,
        SamplerConfig {
            way: 4,
            shot: 2,
            query: 2,
            split: Some(Split::Train),
        },
    )
    .unwrap();
    let loader = TaskLoader::new(&cat, LoaderOptions::for_kind(cat.kind)).unwrap();
    let tasks = sampler.sample_many(200, 3).unwrap();
    loader.load(&tasks[0]).unwrap(); // warm the page cache and the per-thread rasters
    let start = Instant::now();
    let mut tiles = 0;
    for t in &tasks {
        let b = loader.load(t).unwrap();
        tiles += b.support_x.shape()[0] + b.query_x.shape()[0];
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"bench": "tile_loading", "patches": 24, "catalog_scan_s": scan_s,
            "scan_patches_per_s": 24.0 / scan_s,
            "tile_px": 128, "bands": 15, "tasks": tasks.len(), "tiles": tiles,
            "tiles_per_s": tiles as f64 / secs, "tasks_per_s": tasks.len() as f64 / secs,
            "threads": rayon::current_num_threads()})
    );
}

fn main() {
    bench_sampling();
    bench_loading();
}
