//! Meta-training throughput with tasks read from disk against tasks held in memory.
//!
//! Writes a synthetic Sen12MS tree (`geomaml::synth`), catalogs it in `--tile` px
//! tiles and runs the real training loop (`train::train`, MAML, 15 bands, the paper
//! CNN) in three modes: `memory` (a few meta-batches read once, then cycled), `disk`
//! (each meta-batch drawn and read when its step starts) and `disk-prefetch` (read
//! `--prefetch` meta-batches ahead). The modes take turns for `--rounds` rounds;
//! tasks/s is the median of the log's per-step rates after `--warmup` steps (the
//! best step too: on a shared machine it tracks capacity). A last `data-path` line
//! times the data path alone per meta-batch: draw + read (tasks read in parallel as
//! `train` does, and one task after another) and conversion to tensors, against the
//! meta-step; `--data-only` measures just that (for settings too big to train here).
//! The files sit in the page cache, so "disk" means GDAL decoding windows, not a
//! cold drive.
//!
//! With `--data-only`, the data path is timed twice per tile size, side by side in
//! turns: tiles read from the files (GDAL) and from a tile store (`geomaml store`,
//! [`geomaml::store`]) built beside the catalog, one JSON line each, at every size
//! of `--sizes` (default: `--tile`), with the store's build time and size.
//!
//! `cargo bench --bench train_data -- [--steps 4] [--warmup 1] [--rounds 3] [--tasks 4]
//! [--tile 32] [--way 4] [--shot 2] [--query 2] [--patches 16] [--prefetch 2]
//! [--device cpu] [--threads N] [--first-order] [--reps 16] [--data-only [--sizes 32,128]]`

mod common;

use common::{arg, num};
use geomaml::catalog::{self, Catalog, ScanOptions, Split};
use geomaml::model::TaskTensors;
use geomaml::tasks::{
    LoaderOptions, SamplerConfig, SplitStrategy, Splits, TaskBatch, TaskLoader, TaskSampler,
    TileIndex,
};
use geomaml::train::log::LogRecord;
use geomaml::train::{train, CatalogSource, DataInfo, RunOptions, TaskSource, TrainConfig};
use rand::SeedableRng;
use rayon::prelude::*;
use std::path::Path;
use std::time::Instant;
use tch::{Device, Kind};

/// The same pre-read meta-batches, cycled: training on tasks held in memory.
struct Memory {
    info: DataInfo,
    batches: Vec<Vec<TaskBatch>>,
    next: usize,
}

impl TaskSource for Memory {
    fn info(&self) -> &DataInfo {
        &self.info
    }
    fn sample(&mut self, _split: Split, _count: usize) -> geomaml::Result<Vec<TaskBatch>> {
        let b = self.batches[self.next % self.batches.len()].clone();
        self.next += 1;
        Ok(b)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Per-step tasks/s of a training run after `warmup` steps.
fn run(
    dir: &Path,
    name: &str,
    cfg: &TrainConfig,
    source: &mut dyn TaskSource,
    warmup: u64,
) -> Vec<f64> {
    let opts = RunOptions {
        out: dir.join(format!("{name}.safetensors")),
        log: None,
        resume: None,
        overwrite: true,
        progress: geomaml::progress::Progress::hidden(),
    };
    let s = train(cfg, source, &opts).expect("training");
    std::fs::read_to_string(&s.log)
        .expect("log")
        .lines()
        .map(|l| serde_json::from_str::<LogRecord>(l).expect("log line"))
        .filter(|r| r.kind == "train" && r.step > warmup)
        .filter_map(|r| r.tasks_per_s)
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let steps: u64 = num(&args, "--steps", "4");
    let warmup: u64 = num(&args, "--warmup", "1");
    let rounds: usize = num(&args, "--rounds", "3");
    let data_only = args.iter().any(|a| a == "--data-only");
    let tasks: usize = num(&args, "--tasks", "4");
    let tile: u32 = num(&args, "--tile", "32");
    let (way, shot, query): (usize, usize, usize) = (
        num(&args, "--way", "4"),
        num(&args, "--shot", "2"),
        num(&args, "--query", "2"),
    );
    let patches: usize = num(&args, "--patches", "16");
    let prefetch: usize = num(&args, "--prefetch", "2");
    let device_arg = arg(&args, "--device", "cpu");
    let device = geomaml::train::parse_device(&device_arg).expect("device");
    if let Some(t) = args.iter().position(|a| a == "--threads") {
        tch::set_num_threads(args[t + 1].parse().expect("--threads N"));
    }

    if data_only {
        let sizes = arg(&args, "--sizes", &tile.to_string());
        for size in sizes.split(',') {
            let size: u32 = size.parse().expect("--sizes takes numbers");
            let reps: usize = num(&args, "--reps", "16");
            files_vs_store(size, patches, tasks, (way, shot, query), reps);
        }
        return;
    }
    let dir = tempfile::tempdir().expect("temporary folder");
    let t0 = Instant::now();
    let (cat, cat_path, written) = tree(dir.path(), tile, patches);
    let splits = Splits::for_catalog(&cat, &SplitStrategy::Default).expect("splits");
    let index = TileIndex::new(&cat, &splits);
    let setup_s = t0.elapsed().as_secs_f64();
    let name = cat_path.display().to_string();
    let source =
        || CatalogSource::new(&cat, &name, &index, None, (way, shot, query), 0).expect("source");

    let cfg = TrainConfig {
        way,
        shot,
        query,
        steps: warmup + steps,
        meta_batch: tasks,
        first_order: args.iter().any(|a| a == "--first-order"),
        val_every: 0,
        device: device_arg.clone(),
        ..TrainConfig::default()
    };
    let line = |mode: &str, tps: f64, memory: f64, depth: usize| {
        serde_json::json!({
            "mode": mode, "tasks_per_s": (tps * 1000.0).round() / 1000.0,
            "ratio_to_memory": (tps / memory * 1000.0).round() / 1000.0,
            "prefetch": depth, "device": geomaml::train::device::device_name(device),
            "tasks": tasks, "size": tile, "way": way, "shot": shot, "query": query,
            "bands": 15, "steps": steps, "warmup": warmup, "rounds": rounds, "tiles": cat.len(),
            "patches_written": written, "setup_s": (setup_s * 100.0).round() / 100.0,
            "torch_threads": tch::get_num_threads(),
            "rayon_threads": rayon::current_num_threads(),
        })
    };

    let mut pre = source();
    let batches = (0..4)
        .map(|_| pre.sample(Split::Train, tasks).expect("tasks"))
        .collect();
    let mut memory = Memory {
        info: pre.info().clone(),
        batches,
        next: 0,
    };
    // Modes take turns, so that load from other processes spreads over all of them.
    let sync = TrainConfig {
        prefetch: 0,
        ..cfg.clone()
    };
    let ahead_cfg = TrainConfig { prefetch, ..cfg };
    let mut rates: [Vec<f64>; 3] = Default::default();
    let rounds = if data_only { 0 } else { rounds };
    for _ in 0..rounds {
        memory.next = 0;
        rates[0].extend(run(dir.path(), "memory", &sync, &mut memory, warmup));
        rates[1].extend(run(dir.path(), "disk", &sync, &mut source(), warmup));
        rates[2].extend(run(dir.path(), "ahead", &ahead_cfg, &mut source(), warmup));
    }
    let [mem, disk, ahead] = rates.clone().map(median);
    let best = |v: &Vec<f64>| v.iter().copied().fold(f64::NAN, f64::max);
    let round = |v: &Vec<f64>| {
        v.iter()
            .map(|r| (r * 1000.0).round() / 1000.0)
            .collect::<Vec<_>>()
    };
    for ((mode, tps, depth), all) in [
        ("memory", mem, 0),
        ("disk", disk, 0),
        ("disk-prefetch", ahead, prefetch),
    ]
    .into_iter()
    .zip(&rates)
    {
        if data_only {
            break;
        }
        let mut l = line(mode, tps, mem, depth);
        l["best_tasks_per_s"] = ((best(all) * 1000.0).round() / 1000.0).into();
        l["best_ratio_to_memory"] =
            ((best(all) / best(&rates[0]) * 1000.0).round() / 1000.0).into();
        l["step_tasks_per_s"] = round(all).into();
        println!("{l}");
    }
    let mem = (!data_only).then_some(mem);

    // The data path alone, per meta-batch; the three timings take turns.
    let reps: usize = num(&args, "--reps", "16");
    let mut src = source();
    let sampler = TaskSampler::new(
        &index,
        SamplerConfig {
            way,
            shot,
            query,
            split: Some(Split::Train),
        },
    )
    .expect("sampler");
    let loader = TaskLoader::new(&cat, LoaderOptions::for_kind(cat.kind)).expect("loader");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let (mut read, mut serial, mut convert) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..=reps {
        let t = Instant::now();
        let b = src.sample(Split::Train, tasks).expect("tasks");
        read.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        // In parallel over tasks, as `train` converts a meta-batch.
        let host: Vec<TaskTensors> = b
            .par_iter()
            .map(|task| TaskTensors::from_batch(task, Device::Cpu, Kind::Float).unwrap())
            .collect();
        std::hint::black_box(host);
        convert.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        for _ in 0..tasks {
            std::hint::black_box(loader.load(&sampler.sample(&mut rng).unwrap()).unwrap());
        }
        serial.push(t.elapsed().as_secs_f64());
    }
    let ms = |s: f64| (s * 1e5).round() / 100.0;
    // The first round opens the rasters and is not counted.
    let stats = |v: &[f64]| {
        let v = v[1..].to_vec();
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        serde_json::json!({"median_ms": ms(median(v)), "min_ms": ms(min)})
    };
    let step_ms = mem.map(|m| ms(tasks as f64 / m));
    let data_ms = ms(median(read[1..].to_vec()) + median(convert[1..].to_vec()));
    println!(
        "{}",
        serde_json::json!({
            "mode": "data-path", "device": geomaml::train::device::device_name(device),
            "tasks": tasks, "size": tile, "way": way, "shot": shot, "query": query,
            "tiles_per_meta_batch": tasks * way * (shot + query), "reps": reps,
            "draw_read": stats(&read), "draw_read_task_by_task": stats(&serial),
            "to_tensors": stats(&convert), "meta_step_ms": step_ms,
            "data_share_of_step": step_ms.map(|st| (data_ms / st * 1000.0).round() / 1000.0),
            "rayon_threads": rayon::current_num_threads(),
        })
    );
}

/// The synthetic tree of `patches` patches per region and season at `2 * tile` px,
/// catalogued in `tile` px tiles (written to `dir/catalog.json`).
fn tree(dir: &Path, tile: u32, patches: usize) -> (Catalog, std::path::PathBuf, usize) {
    let root = dir.join("sen12ms");
    let opts = geomaml::synth::Sen12msOptions {
        regions: geomaml::synth::choice::choose_regions("train:6", 0).expect("regions"),
        seasons: vec![1, 2],
        patches,
        size: 2 * tile as usize,
        seed: 0,
        appearance: geomaml::synth::Appearance::Varied,
    };
    let hidden = geomaml::progress::Progress::hidden();
    let written =
        geomaml::synth::sen12ms::generate(&root, &opts, false, &hidden).expect("synthetic tree");
    let scan = ScanOptions {
        tile_size: tile,
        ..ScanOptions::default()
    };
    let cat: Catalog = catalog::scan(&root, None, &scan).expect("catalog");
    let path = dir.join("catalog.json");
    cat.save(&path, true).expect("catalog written");
    (cat, path, written)
}

/// The data path of 16-task meta-batches (draw + read, then conversion to tensors
/// as `train` does it) from the files and from a tile store, taking turns.
fn files_vs_store(
    tile: u32,
    patches: usize,
    tasks: usize,
    (way, shot, query): (usize, usize, usize),
    reps: usize,
) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let (cat, cat_path, written) = tree(dir.path(), tile, patches);
    let splits = Splits::for_catalog(&cat, &SplitStrategy::Default).expect("splits");
    let index = TileIndex::new(&cat, &splits);
    let bands = LoaderOptions::for_kind(cat.kind).bands;
    let t = Instant::now();
    let builder = geomaml::store::StoreBuilder::new(&cat, &cat_path, &bands).expect("store plan");
    let store_dir = geomaml::store::default_path(&cat_path);
    builder
        .write(&store_dir, true, &geomaml::progress::Progress::hidden())
        .expect("store written");
    let build_s = t.elapsed().as_secs_f64();
    let store = std::sync::Arc::new(
        geomaml::store::TileStore::open(&store_dir, &cat_path).expect("store opened"),
    );
    let name = cat_path.display().to_string();
    let mut sources = [false, true].map(|use_store| {
        let mut s =
            CatalogSource::new(&cat, &name, &index, None, (way, shot, query), 0).expect("source");
        s.set_store(use_store.then(|| store.clone()))
            .expect("store fits");
        s
    });
    let mut times: [(Vec<f64>, Vec<f64>); 2] = Default::default();
    for rep in 0..=reps {
        for (i, src) in sources.iter_mut().enumerate() {
            // Both paths draw the same tasks.
            src.reseed(rep as u64);
            let t = Instant::now();
            let b = src.sample(Split::Train, tasks).expect("tasks");
            let read = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let host: Vec<TaskTensors> = b
                .par_iter()
                .map(|task| TaskTensors::from_batch(task, Device::Cpu, Kind::Float).unwrap())
                .collect();
            std::hint::black_box(host);
            let convert = t.elapsed().as_secs_f64();
            // The first round opens the rasters and maps the store: not counted.
            if rep > 0 {
                times[i].0.push(read);
                times[i].1.push(convert);
            }
        }
    }
    let cores = rayon::current_num_threads();
    let ms = |s: f64| (s * 1e5).round() / 100.0;
    let r3 = |v: f64| (v * 1000.0).round() / 1000.0;
    let per_s: Vec<f64> = times
        .iter()
        .map(|(read, conv)| tasks as f64 / (median(read.clone()) + median(conv.clone())))
        .collect();
    for (i, path) in ["files", "store"].into_iter().enumerate() {
        let (read, conv) = &times[i];
        let mut line = serde_json::json!({
            "mode": "data-path", "path": path, "size": tile, "tasks": tasks,
            "way": way, "shot": shot, "query": query, "bands": bands.len(),
            "tiles_per_meta_batch": tasks * way * (shot + query), "reps": reps,
            "draw_read_ms": ms(median(read.clone())),
            "to_tensors_ms": ms(median(conv.clone())),
            "tasks_per_s": r3(per_s[i]),
            "tasks_per_s_per_core": r3(per_s[i] / cores as f64),
            "speedup_over_files": r3(per_s[i] / per_s[0]),
            "rayon_threads": cores, "tiles": cat.len(), "patches_written": written,
        });
        if path == "store" {
            line["store_bytes"] = builder.bytes().into();
            line["store_bytes_per_tile"] = (builder.bytes() / cat.len().max(1) as u64).into();
            line["store_build_s"] = r3(build_s).into();
        }
        println!("{line}");
    }
}
