//! MAML meta-step throughput: the paper's CNN, n-way k-shot, per-task and batched.
//!
//! The peer is `../shared/bench/maml_reference.py` (PyTorch, one task after another
//! with `autograd.grad(create_graph=True)`, or torch.func's vmap); this runs the same
//! shapes through geomaml's meta-step and the hand-written Adam and prints one JSON
//! line per setting in the reference's format, plus `inner_steps`, `order`, `group`
//! and the first and last loss. Seeded; the first step warms up and is not timed.
//!
//! Modes: `loop` is [`meta_gradient`] (one task after another, the reference path),
//! `batched` is [`meta_gradient_batched`] (the whole meta-batch, or groups of
//! `--group` tasks, in one pass per layer). `--sweep` runs meta-batches 4/16/64 x
//! inner steps 1/5 x second/first order for every mode.
//!
//! `peak_gpu_mib` on CUDA is the growth of the device's used memory (NVML) over the
//! timed run, measured after the CUDA context and the model exist: what libtorch's
//! caching allocator reserved, which bounds the allocated peak that the reference
//! reports (`torch.cuda.max_memory_allocated`) from above.
//!
//! `cargo bench --bench maml_step -- [--modes loop,batched] [--iters 10] [--tasks 16]
//! [--inner-steps 1] [--first-order] [--group 0] [--size 128] [--way 4] [--shot 2]
//! [--bands 15] [--inner-lr 0.4] [--device auto] [--threads N] [--sweep]`

mod common;

use common::{arg, num};
use geomaml::model::{ModelSpec, Params, TaskTensors};
use geomaml::train::batched::meta_gradient_batched;
use geomaml::train::maml::{meta_gradient, InnerSettings};
use geomaml::train::optim::{clip_grad_norm, Adam};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// Shapes and settings shared by every run of one invocation.
struct Setup {
    iters: usize,
    size: i64,
    way: i64,
    shot: i64,
    bands: usize,
    inner_lr: f64,
    group: usize,
    device: Device,
}

/// One measured setting.
struct Run<'a> {
    mode: &'a str,
    tasks: usize,
    inner_steps: usize,
    first_order: bool,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

fn measure(s: &Setup, r: &Run<'_>) -> serde_json::Value {
    tch::manual_seed(0);
    // Seven blocks at 128 px (the paper); fewer for small tiles, one per halving.
    let spec = ModelSpec {
        tile_size: s.size as usize,
        depth: (s.size as f64).log2().floor().clamp(1.0, 7.0) as usize,
        ..ModelSpec::paper_cnn(s.bands, 10)
    };
    let params = Params::init(&spec, s.device, Kind::Float, 0).expect("init");
    let opts = (Kind::Float, s.device);
    let labels = Tensor::arange(s.way, (Kind::Int64, s.device))
        .repeat_interleave_self_int(s.shot, 0, None)
        .view([-1, 1]);
    let batch = || Tensor::randn([s.way * s.shot, s.bands as i64, s.size, s.size], opts);
    let tasks: Vec<TaskTensors> = (0..r.tasks)
        .map(|_| TaskTensors {
            support_x: batch(),
            support_y: labels.copy(),
            query_x: batch(),
            query_y: labels.copy(),
        })
        .collect();
    let inner = InnerSettings {
        lr: s.inner_lr,
        steps: r.inner_steps,
        first_order: r.first_order,
        bn_momentum: None,
        prototype_head: false,
    };
    let mut adam = Adam::new(&params.trainable(), 1e-3);
    sync(s.device);
    let before = gpu::used_mib(s.device);
    let (mut times, mut losses) = (Vec::new(), Vec::new());
    for it in 0..=s.iters {
        sync(s.device);
        let t0 = Instant::now();
        let (mut grads, stats) = match r.mode {
            "loop" => meta_gradient(&params, &tasks, &inner),
            _ => meta_gradient_batched(&params, &tasks, &inner, s.group),
        };
        clip_grad_norm(&mut grads, 0.0);
        adam.step(&params.trainable(), &grads);
        sync(s.device);
        losses.push(stats.query_loss);
        if it > 0 {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    let peak = match (before, gpu::used_mib(s.device)) {
        (Some(b), Some(a)) => serde_json::json!(a - b),
        _ => serde_json::Value::Null,
    };
    let med = median(times);
    let round = |v: f64, d: i32| (v * 10f64.powi(d)).round() / 10f64.powi(d);
    serde_json::json!({
        "mode": format!("tch-{}{}", r.mode, if r.first_order { "-first-order" } else { "" }),
        "device": geomaml::train::device::device_name(s.device),
        "torch": env!("GEOMAML_LIBTORCH_VERSION"),
        "tasks": r.tasks, "size": s.size, "way": s.way, "shot": s.shot,
        "inner_steps": r.inner_steps,
        "order": if r.first_order { 1 } else { 2 },
        "group": if r.mode == "loop" { 1 } else { s.group },
        "median_step_s": round(med, 5),
        "tasks_per_s": round(r.tasks as f64 / med, 2),
        "first_loss": round(losses[0], 4),
        "final_loss": round(*losses.last().unwrap_or(&f64::NAN), 4),
        "threads": tch::get_num_threads(),
        "peak_gpu_mib": peak,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let device = geomaml::train::parse_device(&arg(&args, "--device", "auto")).expect("device");
    if device.is_cuda() {
        tch::Cuda::cudnn_set_benchmark(true);
    }
    // parse_device sized the thread pools as PyTorch does; --threads overrides.
    if let Some(threads) = args
        .iter()
        .position(|a| a == "--threads")
        .and_then(|i| args.get(i + 1))
    {
        tch::set_num_threads(threads.parse().expect("--threads N"));
    }
    let setup = Setup {
        iters: num(&args, "--iters", "10"),
        size: num(&args, "--size", "128"),
        way: num(&args, "--way", "4"),
        shot: num(&args, "--shot", "2"),
        bands: num(&args, "--bands", "15"),
        inner_lr: num(&args, "--inner-lr", "0.4"),
        group: num(&args, "--group", "0"),
        device,
    };
    let modes = arg(&args, "--modes", "loop,batched");
    let modes: Vec<&str> = modes.split(',').filter(|m| !m.is_empty()).collect();
    for m in &modes {
        assert!(
            matches!(*m, "loop" | "batched"),
            "--modes: unknown mode {m} (loop, batched)"
        );
    }
    let settings: Vec<(usize, usize, bool)> = if args.iter().any(|a| a == "--sweep") {
        let mut v = Vec::new();
        for first_order in [false, true] {
            for steps in [1, 5] {
                for tasks in [4, 16, 64] {
                    v.push((tasks, steps, first_order));
                }
            }
        }
        v
    } else {
        vec![(
            num(&args, "--tasks", "16"),
            num(&args, "--inner-steps", "1"),
            args.iter().any(|a| a == "--first-order"),
        )]
    };
    for (tasks, inner_steps, first_order) in settings {
        for mode in &modes {
            let line = measure(
                &setup,
                &Run {
                    mode,
                    tasks,
                    inner_steps,
                    first_order,
                },
            );
            println!("{line}");
        }
    }
}

/// Device memory in use, read through NVML (loaded at run time, so the benchmark
/// builds and runs without a GPU driver).
mod gpu {
    use tch::Device;

    #[repr(C)]
    struct Memory {
        total: u64,
        free: u64,
        used: u64,
    }

    /// MiB in use on `device`; `None` on CPU or without NVML.
    pub fn used_mib(device: Device) -> Option<f64> {
        let Device::Cuda(index) = device else {
            return None;
        };
        // SAFETY: the NVML entry points are called with the signatures of nvml.h
        // (nvmlInit_v2, nvmlDeviceGetHandleByIndex_v2, nvmlDeviceGetMemoryInfo), and
        // the library stays loaded while they run.
        unsafe {
            let lib = libloading::Library::new("libnvidia-ml.so.1").ok()?;
            let init: libloading::Symbol<unsafe extern "C" fn() -> i32> =
                lib.get(b"nvmlInit_v2").ok()?;
            let handle_by_index: libloading::Symbol<
                unsafe extern "C" fn(u32, *mut *mut std::ffi::c_void) -> i32,
            > = lib.get(b"nvmlDeviceGetHandleByIndex_v2").ok()?;
            let memory_info: libloading::Symbol<
                unsafe extern "C" fn(*mut std::ffi::c_void, *mut Memory) -> i32,
            > = lib.get(b"nvmlDeviceGetMemoryInfo").ok()?;
            if init() != 0 {
                return None;
            }
            let mut handle = std::ptr::null_mut();
            if handle_by_index(index as u32, &mut handle) != 0 {
                return None;
            }
            let mut m = Memory {
                total: 0,
                free: 0,
                used: 0,
            };
            (memory_info(handle, &mut m) == 0).then(|| m.used as f64 / (1u64 << 20) as f64)
        }
    }
}
