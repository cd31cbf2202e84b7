//! The training loop end to end on small synthetic task sources: selection,
//! resume, logs, validation.

use super::*;
use crate::checkpoint::Checkpoint;
use crate::train::source::{tests::info, DataInfo, RandomSource};

fn config(steps: u64) -> TrainConfig {
    TrainConfig {
        way: 3,
        meta_batch: 4,
        steps,
        val_every: 5,
        val_tasks: 4,
        width: Some(8),
        inner_lr: 0.1,
        outer_lr: 3e-3,
        device: "cpu".into(),
        ..TrainConfig::default()
    }
}

fn read_log(path: &std::path::Path) -> Vec<LogRecord> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_resumed_run_equals_the_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, steps: u64, resume: Option<PathBuf>| {
        let opts = RunOptions {
            resume,
            overwrite: true,
            ..RunOptions::new(dir.path().join(format!("{name}.safetensors")))
        };
        let mut src = RandomSource::new(info(3, 8), 3, 2, 2, 1);
        train(&config(steps), &mut src, &opts).unwrap()
    };
    let whole = run("whole", 10, None);
    // Interrupted after the checkpoint of step 5 (and two more logged steps that
    // the checkpoint does not hold), then resumed to step 10.
    let part = run("part", 5, None);
    let extra = read_log(&whole.log)
        .into_iter()
        .filter(|r| r.kind == "train" && (6..=7).contains(&r.step))
        .map(|r| serde_json::to_string(&r).unwrap() + "\n")
        .collect::<String>();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&part.log)
        .unwrap();
    std::io::Write::write_all(&mut f, extra.as_bytes()).unwrap();
    let resumed = run("part", 10, Some(part.last.clone()));
    let (a, b) = (
        Checkpoint::load(&whole.last).unwrap(),
        Checkpoint::load(&resumed.last).unwrap(),
    );
    assert_eq!(a.tensors.len(), b.tensors.len());
    for (name, t) in &a.tensors {
        let u = &b.tensors[name];
        assert!(
            t.shape == u.shape && t.data == u.data,
            "{name} differs after resuming"
        );
    }
    let steps = |p: &std::path::Path| {
        read_log(p)
            .iter()
            .map(|r| (r.kind.clone(), r.step, r.loss))
            .collect::<Vec<_>>()
    };
    assert_eq!(steps(&whole.log), steps(&resumed.log));
}

#[test]
fn maml_run_writes_model_resume_state_and_log_and_learns() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.safetensors");
    let opts = RunOptions::new(out.clone());
    let mut src = RandomSource::new(info(3, 8), 3, 2, 2, 1);
    let s = train(&config(10), &mut src, &opts).unwrap();
    assert_eq!(s.steps, 10);
    let log = read_log(&s.log);
    assert_eq!(log.iter().filter(|r| r.kind == "train").count(), 10);
    let val: Vec<&LogRecord> = log.iter().filter(|r| r.kind == "val").collect();
    assert_eq!(
        val.iter().map(|r| r.step).collect::<Vec<_>>(),
        vec![0, 5, 10]
    );
    assert!(
        val[2].loss < val[0].loss,
        "meta-val loss did not fall: {val:?}"
    );
    let model = Checkpoint::load(&out).unwrap();
    assert_eq!(model.card.provenance.method, "maml");
    assert_eq!(model.card.spec.depth, 3);
    assert!(!model.tensors.keys().any(|k| k.starts_with("optim.")));
    // The default adaptation steps are the most accurate candidate on the
    // meta-validation tasks, recorded in the card `adapt` reads.
    let ChosenSteps { chosen, scores, .. } =
        s.adapt_steps.clone().expect("MAML with validation chooses");
    assert_eq!(
        scores.iter().map(|s| s.0).collect::<Vec<_>>(),
        crate::card::ADAPT_STEP_CANDIDATES.to_vec()
    );
    let best = scores.iter().map(|s| s.1).fold(f64::MIN, f64::max);
    assert_eq!(scores.iter().find(|s| s.1 == best).unwrap().0, chosen);
    assert_eq!(model.card.inner_loop.chosen_steps, Some(chosen));
    assert_eq!(model.card.inner_loop.adapt_steps(), chosen);
    // Outputs are never replaced silently.
    let mut again = RandomSource::new(info(3, 8), 3, 2, 2, 1);
    assert!(matches!(
        train(&config(10), &mut again, &opts),
        Err(Error::OutputExists { .. })
    ));
    // Resume continues the step count and appends to the log.
    let resume = RunOptions {
        resume: Some(s.last.clone()),
        ..opts
    };
    let s2 = train(&config(15), &mut again, &resume).unwrap();
    assert_eq!(s2.steps, 15);
    let log = read_log(&s2.log);
    assert_eq!(log.last().unwrap().step, 15);
    assert_eq!(log.iter().filter(|r| r.kind == "train").count(), 15);
    assert_eq!(
        Checkpoint::load(&s2.last).unwrap().extra["geomaml.step"],
        "15"
    );
}

#[test]
fn selection_keeps_the_most_accurate_or_the_last_validated_step() {
    for select in [Selection::Accuracy, Selection::Last] {
        let dir = tempfile::tempdir().unwrap();
        let opts = RunOptions::new(dir.path().join("m.safetensors"));
        let cfg = TrainConfig {
            val_every: 2,
            select,
            ..config(8)
        };
        let s = train(&cfg, &mut RandomSource::new(info(3, 8), 3, 2, 2, 1), &opts).unwrap();
        let val: Vec<LogRecord> = read_log(&s.log)
            .into_iter()
            .filter(|r| r.kind == "val" && r.step > 0)
            .collect();
        let expected = match select {
            // The first of the most accurate validations (a later tie does not replace it).
            Selection::Accuracy => {
                val.iter()
                    .fold(None::<&LogRecord>, |b, r| match b {
                        Some(b) if b.accuracy >= r.accuracy => Some(b),
                        _ => Some(r),
                    })
                    .unwrap()
                    .step
            }
            _ => 8,
        };
        assert_eq!(s.best.map(|b| b.0), Some(expected), "{select:?}");
        let kept = Checkpoint::load(&opts.out).unwrap();
        assert_eq!(
            kept.extra["geomaml.step"],
            expected.to_string(),
            "{select:?}"
        );
    }
}

#[test]
fn pretraining_uses_legend_labels_and_keeps_the_last_model_without_validation() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.safetensors");
    let cfg = TrainConfig {
        method: Method::Pretrain,
        val_every: 0,
        ..config(3)
    };
    let opts = RunOptions::new(out.clone());
    let s = train(&cfg, &mut RandomSource::new(info(3, 8), 3, 2, 2, 1), &opts).unwrap();
    assert!(s.best.is_none());
    assert!(s.adapt_steps.is_none());
    let card = Checkpoint::load(&out).unwrap().card;
    assert_eq!(card.provenance.method, "pretrain");
    // Without a choice on meta-validation, adapt takes at least the floor.
    assert_eq!(card.inner_loop.chosen_steps, None);
    assert_eq!(card.inner_loop.adapt_steps(), crate::card::MIN_ADAPT_STEPS);
}

#[test]
fn segmentation_tasks_train_a_unet_with_half_size_support_shots() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataInfo {
        segmentation: true,
        tile_size: 16,
        ..info(3, 16)
    };
    for method in [Method::Maml, Method::Pretrain] {
        let out = dir.path().join(format!("{}.safetensors", method.as_str()));
        let cfg = TrainConfig {
            method,
            meta_batch: 2,
            val_every: 2,
            val_tasks: 2,
            ..config(2)
        };
        let opts = RunOptions::new(out.clone());
        let s = train(
            &cfg,
            &mut RandomSource::new(data.clone(), 3, 1, 1, 2),
            &opts,
        )
        .unwrap();
        assert!(s.last_loss.is_finite());
        let spec = Checkpoint::load(&out).unwrap().card.spec;
        assert_eq!(
            (spec.arch, spec.depth),
            (crate::model::spec::Arch::Unet, 3),
            "8 px shots: 3 halvings"
        );
    }
}

#[test]
fn a_nan_validation_never_freezes_the_kept_model() {
    use super::improves;
    assert!(improves(None, 0.5));
    assert!(improves(None, f64::NAN));
    assert!(improves(Some(f64::NAN), 0.5));
    assert!(improves(Some(0.5), 0.4));
    assert!(!improves(Some(0.5), 0.6));
    assert!(!improves(Some(0.5), f64::NAN));
    assert!(!improves(Some(0.5), f64::INFINITY));
}
