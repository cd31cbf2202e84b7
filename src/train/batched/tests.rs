use super::*;
use crate::model::spec::ModelSpec;
use crate::train::maml::meta_gradient;
use tch::Device;

fn task(labels: &[i64], query: &[i64], bands: i64, size: i64, per_pixel: bool) -> TaskTensors {
    let opts = (Kind::Double, Device::Cpu);
    let y = |l: &[i64]| {
        let t = Tensor::from_slice(l).view([-1, 1]);
        if per_pixel {
            // Per-pixel labels: the tile's class, with one unlabelled pixel.
            let px = t.repeat([1, size * size]);
            let _ = px.get(0).get(0).fill_(IGNORE_INDEX);
            px
        } else {
            t
        }
    };
    TaskTensors {
        support_x: Tensor::randn([labels.len() as i64, bands, size, size], opts),
        support_y: y(labels),
        query_x: Tensor::randn([query.len() as i64, bands, size, size], opts),
        query_y: y(query),
    }
}

/// Tasks with uneven class counts, two shapes (so two groups), labels in
/// different orders.
fn tasks(bands: i64, size: i64, per_pixel: bool) -> Vec<TaskTensors> {
    vec![
        task(&[0, 0, 0, 1, 2, 2], &[0, 1, 2, 2], bands, size, per_pixel),
        task(&[2, 1, 1, 1, 0], &[1, 0, 2], bands, size, per_pixel),
        task(&[1, 2, 0, 0, 0, 2], &[2, 0, 1, 1], bands, size, per_pixel),
        task(&[0, 1, 2, 2, 2], &[0, 0, 2], bands, size, per_pixel),
    ]
}

/// `|a - b| / |b|`; absolute where `b` is zero up to rounding (the conv biases
/// before batch norm), so rounding noise is not compared with itself.
fn relative_error(a: &Tensor, b: &Tensor) -> f64 {
    let diff = (a - b).norm().double_value(&[]);
    let scale = b.norm().double_value(&[]);
    if scale < 1e-12 {
        diff
    } else {
        diff / scale
    }
}

fn check(spec: ModelSpec, per_pixel: bool) {
    tch::manual_seed(3);
    let size = spec.tile_size as i64;
    let params = Params::init(&spec, Device::Cpu, Kind::Double, 9).unwrap();
    let tasks = tasks(spec.in_channels as i64, size, per_pixel);
    for first_order in [false, true] {
        for steps in [1, 3] {
            let s = InnerSettings {
                lr: 0.3,
                steps,
                first_order,
                bn_momentum: None,
                prototype_head: false,
            };
            let (reference, ref_stats) = meta_gradient(&params, &tasks, &s);
            for group in [0, 1, 2] {
                let (batched, stats) = meta_gradient_batched(&params, &tasks, &s, group);
                let what = format!("first order {first_order}, {steps} steps, group {group}");
                for ((name, a), b) in params
                    .trainable_names()
                    .iter()
                    .zip(&batched)
                    .zip(&reference)
                {
                    let err = relative_error(a, b);
                    assert!(err <= 1e-5, "{what}: {name} relative error {err}");
                    if name.ends_with("conv.bias")
                        || name.contains(".conv1.bias")
                        || name.contains(".conv2.bias")
                    {
                        let max = a.abs().max().double_value(&[]);
                        assert!(
                            max < 1e-10,
                            "{what}: {name} should get no gradient, has {max}"
                        );
                    }
                }
                assert!(
                    (stats.query_loss - ref_stats.query_loss).abs() < 1e-10,
                    "{what}"
                );
                assert!(
                    (stats.support_loss - ref_stats.support_loss).abs() < 1e-10,
                    "{what}"
                );
                assert!(
                    (stats.query_acc - ref_stats.query_acc).abs() < 1e-10,
                    "{what}"
                );
            }
        }
    }
}

#[test]
fn batched_cnn_meta_gradient_equals_the_per_task_one() {
    check(
        ModelSpec {
            width: 4,
            depth: 2,
            tile_size: 8,
            ..ModelSpec::paper_cnn(3, 3)
        },
        false,
    );
}

#[test]
fn batched_unet_meta_gradient_equals_the_per_task_one() {
    check(
        ModelSpec {
            width: 2,
            depth: 1,
            ..ModelSpec::default_unet(2, 3, 4)
        },
        true,
    );
}

#[test]
fn single_precision_gradients_agree_to_rounding() {
    let spec = ModelSpec {
        width: 8,
        depth: 3,
        tile_size: 8,
        ..ModelSpec::paper_cnn(3, 3)
    };
    tch::manual_seed(6);
    let params = Params::init(&spec, Device::Cpu, Kind::Float, 2).unwrap();
    let tasks: Vec<TaskTensors> = tasks(3, 8, false)
        .into_iter()
        .map(|t| TaskTensors {
            support_x: t.support_x.to_kind(Kind::Float),
            query_x: t.query_x.to_kind(Kind::Float),
            ..t
        })
        .collect();
    let s = InnerSettings {
        lr: 0.4,
        steps: 2,
        first_order: false,
        bn_momentum: None,
        prototype_head: false,
    };
    let (reference, _) = meta_gradient(&params, &tasks, &s);
    let (batched, _) = meta_gradient_batched(&params, &tasks, &s, 0);
    for ((name, a), b) in params
        .trainable_names()
        .iter()
        .zip(&batched)
        .zip(&reference)
    {
        if name.ends_with("conv.bias") {
            continue;
        }
        let err = relative_error(a, b);
        assert!(err <= 1e-4, "{name}: relative error {err}");
    }
}

#[test]
fn groups_follow_shapes_and_the_size_limit() {
    let t = tasks(1, 2, false);
    assert_eq!(shape_groups(&t, 0), vec![vec![0, 2], vec![1, 3]]);
    assert_eq!(
        shape_groups(&t, 1),
        vec![vec![0], vec![2], vec![1], vec![3]]
    );
}

#[test]
fn batched_step_moves_running_statistics_like_the_per_task_one() {
    let spec = ModelSpec {
        width: 4,
        depth: 2,
        tile_size: 8,
        ..ModelSpec::paper_cnn(3, 3)
    };
    tch::manual_seed(4);
    let a = Params::init(&spec, Device::Cpu, Kind::Double, 9).unwrap();
    let b = Params::init(&spec, Device::Cpu, Kind::Double, 9).unwrap();
    let same: Vec<TaskTensors> = (0..3)
        .map(|_| task(&[0, 1, 2], &[0, 1, 2], 3, 8, false))
        .collect();
    let s = InnerSettings {
        lr: 0.3,
        steps: 2,
        first_order: false,
        bn_momentum: Some(0.2),
        prototype_head: false,
    };
    let _ = meta_gradient(&a, &same, &s);
    let _ = meta_gradient_batched(&b, &same, &s, 0);
    for name in a.names().iter().filter(|n| n.contains("running")) {
        let err = relative_error(b.get(name), a.get(name));
        assert!(err < 1e-10, "{name}: {err}");
    }
}
