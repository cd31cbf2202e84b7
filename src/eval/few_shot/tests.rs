use super::*;
use crate::catalog::classes::dfc2020;
use crate::catalog::Split;
use crate::model::spec::ModelSpec;
use ndarray::{Array2, Array4};

fn batch() -> TaskBatch {
    // 2-way, 3 shots per class (values mark the row), 2 queries.
    let mut sx = Array4::<f32>::zeros((6, 1, 2, 2));
    for r in 0..6 {
        sx[[r, 0, 0, 0]] = r as f32;
    }
    TaskBatch {
        support_x: sx,
        support_y: Array2::from_shape_vec((6, 1), vec![0, 0, 0, 1, 1, 1]).unwrap(),
        query_x: Array4::zeros((2, 1, 2, 2)),
        query_y: Array2::from_shape_vec((2, 1), vec![1, 0]).unwrap(),
        classes: vec![4, 1],
    }
}

#[test]
fn first_shots_takes_the_first_k_of_each_class() {
    let b = first_shots(&batch(), TaskKind::Classification, 3, 2);
    let rows: Vec<f32> = (0..4).map(|r| b.support_x[[r, 0, 0, 0]]).collect();
    assert_eq!(rows, vec![0.0, 1.0, 3.0, 4.0]);
    assert_eq!(
        b.support_y.iter().copied().collect::<Vec<_>>(),
        [0, 0, 1, 1]
    );
    let none = first_shots(&batch(), TaskKind::Classification, 3, 0);
    assert_eq!(none.support_x.len_of(Axis(0)), 0);
    assert_eq!(none.query_y, batch().query_y);
}

fn model(labelling: Labelling) -> EvalModel {
    let spec = ModelSpec {
        width: 4,
        depth: 1,
        tile_size: 2,
        ..ModelSpec::paper_cnn(1, 10)
    };
    let mut m = EvalModel::random(&spec, &dfc2020(), vec!["B01".into()], Device::Cpu, 0).unwrap();
    m.labelling = labelling;
    m
}

#[test]
fn tasks_are_labelled_the_way_each_method_trained() {
    assert_eq!(Labelling::for_method("maml"), Some(Labelling::TaskLocal));
    assert_eq!(Labelling::for_method("pretrain"), Some(Labelling::Legend));
    assert_eq!(Labelling::for_method("random"), Some(Labelling::Legend));
    assert_eq!(Labelling::for_method("sgd"), None);
    let b = batch();
    let local = model(Labelling::TaskLocal);
    let t = local.tensors(&b).unwrap();
    assert_eq!(
        Vec::<i64>::try_from(t.query_y.view([-1])).unwrap(),
        vec![1, 0]
    );
    assert_eq!(local.columns(&b.classes).unwrap(), vec![0, 1]);
    // Legend: class 4 is DFC position 3, class 1 position 0.
    let legend = model(Labelling::Legend);
    let t = legend.tensors(&b).unwrap();
    assert_eq!(
        Vec::<i64>::try_from(t.query_y.view([-1])).unwrap(),
        vec![0, 3]
    );
    assert_eq!(legend.columns(&b.classes).unwrap(), vec![3, 0]);
    assert!(legend.columns(&[99]).is_err());
}

#[test]
fn trajectories_score_each_checkpoint_and_zero_shots_stay_unadapted() {
    let b = batch();
    let m = model(Labelling::Legend);
    let out = trajectory(&m, &b, 0.1, &[0, 1, 3]).unwrap();
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(|c| c.total() == 2 && c.len() == 2));
    let zero = first_shots(&b, TaskKind::Classification, 3, 0);
    let a = trajectory(&m, &zero, 0.1, &[5]).unwrap();
    assert_eq!(a[0], out[0], "no support: no adaptation");
    let m = task_confusion(&[0, 1, IGNORE_INDEX], &[0, 0, 1], 2);
    assert_eq!(m.counts, vec![vec![1, 0], vec![1, 0]]);
}

#[test]
fn reports_serialise_and_render() {
    let cfg = EvalConfig {
        shots: vec![0, 1],
        adaptation: Adaptation::Search {
            name: "small".into(),
            grid: Grid::small(),
        },
        task_group: 1,
    };
    let b = batch();
    let m = model(Labelling::Legend);
    let res = evaluate_model(
        &m,
        &[b.clone(), b.clone()],
        std::slice::from_ref(&b),
        TaskKind::Classification,
        &cfg,
        &dfc2020(),
        &|| {},
    )
    .unwrap();
    assert_eq!(res.results.len(), 2);
    assert_eq!(res.results[0].inner_steps, 0);
    assert!(res.results[1].val_accuracy.is_some());
    assert!(Grid::small()
        .lrs
        .contains(&res.results[1].inner_lr.unwrap()));
    assert_eq!(res.results[1].accuracy.n, 2);
    assert_eq!(res.results[1].per_task.len(), 2);
    let mean = res.results[1]
        .per_task
        .iter()
        .map(|t| t.accuracy)
        .sum::<f64>()
        / 2.0;
    assert!((mean - res.results[1].accuracy.mean).abs() < 1e-12);
    // Pooled per-class rows: classes 1 and 4 only.
    let ids: Vec<u16> = res.results[0].per_class.iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![1, 4]);
    assert_eq!(res.results[0].confusion.total(), 4);
    let r = report(
        "c.json",
        TaskKind::Classification,
        Split::Test,
        (2, 1, 2, 0),
        &cfg,
        1,
        dfc2020(),
        vec![
            res.clone(),
            ModelResult {
                name: "again".into(),
                ..res
            },
        ],
        "cpu".into(),
        0.1,
    );
    // The same model against itself: every task a tie.
    assert_eq!(r.comparisons.len(), 1);
    let same = &r.comparisons[0].results[1];
    assert_eq!((same.wins, same.ties, same.losses), (0, 2, 0));
    assert_eq!(same.accuracy.mean, 0.0);
    let json = serde_json::to_string(&r).unwrap();
    let back: EvalReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
    assert!(json.contains("\"labels\":\"legend\""));
    let csv = curves_csv(&r);
    assert_eq!(csv.lines().count(), 5);
    assert!(csv.lines().nth(2).unwrap().starts_with("random,random,1,"));
    assert!(curves_svg(&r).contains("<polyline"));
    assert!(table(&r).contains("1 shot"));
    assert!(table(&r).contains("random - again, 1 shot: +0.0 [+0.0, +0.0] pp"));
    assert_eq!(work(&cfg, 2, 1), 2 + 2 + 6);
}

/// A `way`-way task of random `size` px images with `n` support and `q` query
/// examples per class, labelled per pixel (`pixel`) or per tile.
fn random_task(seed: u64, way: usize, n: usize, q: usize, size: usize, pixel: bool) -> TaskBatch {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let per = if pixel { size * size } else { 1 };
    let mut make = |rows: usize| {
        let x = Array4::from_shape_fn((rows * way, 2, size, size), |(r, b, _, _)| {
            (r / rows) as f32 * if b == 0 { 0.5 } else { -0.3 } + rng.random_range(-1.0..1.0)
        });
        let y = Array2::from_shape_fn((rows * way, per), |(r, _)| (r / rows) as i64);
        (x, y)
    };
    let (support_x, support_y) = make(n);
    let (query_x, query_y) = make(q);
    TaskBatch {
        support_x,
        support_y,
        query_x,
        query_y,
        classes: (1..=way as u16).collect(),
    }
}

#[test]
fn stacked_trajectories_follow_each_tasks_own() {
    let cnn = {
        let spec = ModelSpec {
            width: 4,
            depth: 1,
            tile_size: 4,
            ..ModelSpec::paper_cnn(2, 10)
        };
        EvalModel::random(&spec, &dfc2020(), vec!["B01".into(); 2], Device::Cpu, 3).unwrap()
    };
    let pixel = {
        let spec = ModelSpec::default_pixel(2, 10);
        EvalModel::random(&spec, &dfc2020(), vec!["B01".into(); 2], Device::Cpu, 4).unwrap()
    };
    for (model, pixel) in [(cnn, false), (pixel, true)] {
        // Two shapes, interleaved (3 queries per class, then 2): groups must keep order.
        let tasks: Vec<TaskBatch> = (0..5)
            .map(|i| random_task(i, 3, 2, if i % 2 == 0 { 3 } else { 2 }, 4, pixel))
            .collect();
        let ticks = std::cell::Cell::new(0);
        let tick = || ticks.set(ticks.get() + 1);
        let one = trajectories(&model, &tasks, 0.3, &[0, 1, 4], 1, &tick).unwrap();
        for group in [0, 2] {
            let stacked = trajectories(&model, &tasks, 0.3, &[0, 1, 4], group, &tick).unwrap();
            assert_eq!(stacked, one, "group {group}, pixel {pixel}");
        }
        assert_eq!(ticks.get(), 15, "one tick per task per call");
        // Adaptation moved the predictions: the test compares trajectories, not copies.
        assert!(one.iter().any(|t| t[0] != t[2]));
        // Without support, every checkpoint is the unadapted model.
        let zero: Vec<TaskBatch> = tasks
            .iter()
            .map(|b| first_shots(b, TaskKind::Classification, 2, 0))
            .collect();
        let none = trajectories(&model, &zero, 0.3, &[0, 4], 0, &|| {}).unwrap();
        assert!(none
            .iter()
            .zip(&one)
            .all(|(n, o)| n[0] == o[0] && n[1] == o[0]));
    }
}
