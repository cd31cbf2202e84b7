use super::*;
use crate::model::spec::ModelSpec;
use crate::train::maml::meta_gradient;
use tch::Device;

#[test]
#[ignore]
fn single_precision_batched_step_stays_near_the_double_precision_gradient() {
    tch::manual_seed(0);
    let spec = ModelSpec::paper_cnn(15, 10);
    let exact_params = Params::init(&spec, Device::Cpu, Kind::Double, 0).unwrap();
    let params = Params::init(&spec, Device::Cpu, Kind::Float, 0).unwrap();
    let labels = Tensor::from_slice(&[0i64, 0, 1, 1, 2, 2, 3, 3]).view([8, 1]);
    let images = || Tensor::randn([8, 15, 128, 128], (Kind::Double, Device::Cpu));
    let exact_tasks: Vec<TaskTensors> = (0..2)
        .map(|_| TaskTensors {
            support_x: images(),
            support_y: labels.copy(),
            query_x: images(),
            query_y: labels.copy(),
        })
        .collect();
    let tasks: Vec<TaskTensors> = exact_tasks
        .iter()
        .map(|t| TaskTensors {
            support_x: t.support_x.to_kind(Kind::Float),
            support_y: t.support_y.copy(),
            query_x: t.query_x.to_kind(Kind::Float),
            query_y: t.query_y.copy(),
        })
        .collect();
    let s = InnerSettings {
        lr: 0.4,
        steps: 1,
        first_order: false,
        bn_momentum: None,
        prototype_head: false,
    };
    let (exact, _) = meta_gradient(&exact_params, &exact_tasks, &s);
    let (per_task, _) = meta_gradient(&params, &tasks, &s);
    let (batched, _) = meta_gradient_batched(&params, &tasks, &s, 0);
    for (i, name) in params.trainable_names().iter().enumerate() {
        if name.ends_with("conv.bias") {
            continue;
        }
        let err = |g: &Tensor| {
            (g.to_kind(Kind::Double) - &exact[i])
                .norm()
                .double_value(&[])
                / exact[i].norm().double_value(&[])
        };
        let (a, b) = (err(&per_task[i]), err(&batched[i]));
        println!("{name}: per-task {a:.2e}, batched {b:.2e}");
        assert!(b < 1e-2, "{name}: batched single precision is {b:.2e} off");
    }
}
