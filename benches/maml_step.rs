//! MAML meta-step throughput: the paper's CNN, n-way k-shot, second order.
//!
//! The peer is `../shared/bench/maml_reference.py` (PyTorch, one task after another
//! with `autograd.grad(create_graph=True)`); this runs the same shapes through
//! geomaml's functional model, `train::maml::meta_gradient` and the hand-written
//! Adam, and prints one JSON line in the reference's format. Seeded; the first step
//! warms up and is not timed.
//!
//! `cargo bench --bench maml_step -- [--iters 10] [--tasks 16] [--size 128] [--way 4]
//! [--shot 2] [--bands 15] [--inner-lr 0.4] [--device auto] [--threads N] [--first-order]`

use geomaml::model::{ModelSpec, Params, TaskTensors};
use geomaml::train::maml::{meta_gradient, InnerSettings};
use geomaml::train::optim::{clip_grad_norm, Adam};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let iters: usize = arg(&args, "--iters", 10);
    let tasks: usize = arg(&args, "--tasks", 16);
    let size: i64 = arg(&args, "--size", 128);
    let way: i64 = arg(&args, "--way", 4);
    let shot: i64 = arg(&args, "--shot", 2);
    let bands: usize = arg(&args, "--bands", 15);
    let inner_lr: f64 = arg(&args, "--inner-lr", 0.4);
    let device =
        geomaml::train::parse_device(&arg(&args, "--device", "auto".to_string())).expect("device");
    let first_order = args.iter().any(|a| a == "--first-order");
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

    tch::manual_seed(0);
    let spec = ModelSpec {
        tile_size: size as usize,
        ..ModelSpec::paper_cnn(bands, 10)
    };
    let params = Params::init(&spec, device, Kind::Float, 0).expect("init");
    let opts = (Kind::Float, device);
    let labels = Tensor::arange(way, (Kind::Int64, device))
        .repeat_interleave_self_int(shot, 0, None)
        .view([-1, 1]);
    let batch = || Tensor::randn([way * shot, bands as i64, size, size], opts);
    let task_set: Vec<TaskTensors> = (0..tasks)
        .map(|_| TaskTensors {
            support_x: batch(),
            support_y: labels.copy(),
            query_x: batch(),
            query_y: labels.copy(),
        })
        .collect();
    let inner = InnerSettings {
        lr: inner_lr,
        steps: 1,
        first_order,
        bn_momentum: None,
    };
    let mut adam = Adam::new(&params.trainable(), 1e-3);
    let mut times = Vec::new();
    let mut loss = f64::NAN;
    for it in 0..=iters {
        if device.is_cuda() {
            tch::Cuda::synchronize(0);
        }
        let t0 = Instant::now();
        let (mut grads, stats) = meta_gradient(&params, &task_set, &inner);
        clip_grad_norm(&mut grads, 0.0);
        adam.step(&params.trainable(), &grads);
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
        loss = stats.query_loss;
        if it > 0 {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    let med = if times.len() % 2 == 1 {
        times[times.len() / 2]
    } else {
        (times[times.len() / 2 - 1] + times[times.len() / 2]) / 2.0
    };
    let line = serde_json::json!({
        "mode": if first_order { "tch-loop-first-order" } else { "tch-loop" },
        "device": geomaml::train::device::device_name(device),
        "torch": env!("GEOMAML_LIBTORCH_VERSION"),
        "tasks": tasks, "size": size, "way": way, "shot": shot,
        "median_step_s": (med * 1e5).round() / 1e5,
        "tasks_per_s": (tasks as f64 / med * 100.0).round() / 100.0,
        "final_loss": (loss * 1e4).round() / 1e4,
        "threads": tch::get_num_threads(),
        "peak_gpu_mib": serde_json::Value::Null,
    });
    println!("{line}");
}
