//! The training loop: steps, meta-validation, best checkpoint, resume, log, progress.
//!
//! Invariants: the model file (`-o`) always holds the parameters with the lowest
//! meta-validation loss seen (the last ones when validation is off), written
//! atomically; `<stem>.last.safetensors` holds the latest state with the optimiser
//! for `--resume`. Meta-validation uses one fixed set of tasks drawn before training,
//! so its losses are comparable across steps. The tasks of step `k` are drawn from a
//! stream seeded by the seed and `k` alone ([`StepSeeds`]), and the resume file
//! carries the parameters, Adam's moments and the best score, so a run resumed from
//! any checkpoint takes exactly the steps the uninterrupted run took; the log is cut
//! back to the checkpoint's step so no step appears twice.

use crate::card::ADAPT_STEP_CANDIDATES;
use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use crate::model::params::Params;
use crate::model::task_tensors::TaskTensors;
use crate::progress::Progress;
use crate::train::batched::meta_gradient_batched;
use crate::train::checkpoint::{
    choose_spec, last_path, model_card, resume, to_checkpoint, BEST_KEY,
};
use crate::train::config::{Method, Selection, TrainConfig};
use crate::train::device::{device_name, parse_device};
use crate::train::log::{JsonlLog, LogRecord};
use crate::train::maml::{evaluate_tasks, meta_gradient, InnerSettings, TaskStats};
use crate::train::optim::{clip_grad_norm, Adam};
use crate::train::prefetch::{to_device, Feed, StepSeeds};
use crate::train::pretrain::{evaluate_merged, pretrain_gradient};
use crate::train::source::{Split, TaskSource};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::thread::Scope;
use std::time::Instant;
use tch::{Device, Kind};

mod adapt_steps;
mod options;
use adapt_steps::choose_adapt_steps;
pub use options::{ChosenSteps, RunOptions, TrainSummary};

/// Whether a meta-validation `score` (lower is better) replaces the kept `best`: a
/// non-finite score never beats a finite one, and any score beats a non-finite
/// best, so one NaN validation cannot freeze the kept model.
fn improves(best: Option<f64>, score: f64) -> bool {
    best.is_none_or(|b| !b.is_finite() || (score.is_finite() && score < b))
}

fn to_tensors(
    batches: &[crate::tasks::TaskBatch],
    method: Method,
    legend: &[u16],
    device: Device,
) -> Result<Vec<TaskTensors>> {
    // Tasks convert independently; a meta-batch of 128 px tiles is a few hundred MB.
    batches
        .par_iter()
        .map(|b| match method {
            Method::Maml => TaskTensors::from_batch(b, device, Kind::Float),
            Method::Pretrain => TaskTensors::from_batch_in_legend(b, legend, device, Kind::Float),
        })
        .collect()
}

/// Trains with `cfg` on tasks from `source`, writing the model, the resume file and
/// the log.
///
/// The three files are one unit. A new run (not `--resume`) that fails (a full
/// disk, a diverging loss, a bad batch) before its first resume checkpoint removes
/// every one of them that it wrote, so the same command runs again as it would have
/// the first time; files it had not written yet (an old model kept until its first
/// checkpoint under `--overwrite`) stay. Once a resume checkpoint exists, a failure
/// keeps all three: hours of training are not thrown away, and the error says how
/// to continue (`--resume`). A resumed run keeps its files on failure for the same
/// reason.
pub fn train(
    cfg: &TrainConfig,
    source: &mut dyn TaskSource,
    opts: &RunOptions,
) -> Result<TrainSummary> {
    let mut wrote = Written::default();
    let result = std::thread::scope(|scope| train_in(scope, cfg, source, opts, &mut wrote));
    match result {
        Err(e) if opts.resume.is_none() && !wrote.last => {
            let [out, last, log] = opts.outputs();
            for (path, written) in [(out, wrote.model), (last, wrote.last), (log, wrote.log)] {
                if written {
                    let _ = std::fs::remove_file(&path);
                }
            }
            Err(e)
        }
        Err(e) if wrote.last && wrote.last_step < cfg.steps => {
            let last = opts.outputs()[1].clone();
            Err(Error::Resumable {
                source: Box::new(e),
                step: wrote.last_step,
                resume: last,
            })
        }
        other => other,
    }
}

/// Which outputs a run has written so far (and must remove when it fails).
#[derive(Debug, Default)]
struct Written {
    model: bool,
    last: bool,
    /// Step of the last resume checkpoint written.
    last_step: u64,
    log: bool,
}

/// [`train`] inside the scope that the task reader thread runs in.
fn train_in<'s>(
    scope: &'s Scope<'s, '_>,
    cfg: &TrainConfig,
    source: &'s mut dyn TaskSource,
    opts: &RunOptions,
    wrote: &mut Written,
) -> Result<TrainSummary> {
    cfg.validate()?;
    let device = parse_device(&cfg.device)?;
    let info = source.info().clone();
    let last = last_path(&opts.out);
    let log_path = opts.log_path();
    // Resuming a run from its own resume file (`Y.last.safetensors` for `-o Y`)
    // continues writing that run's outputs; any other existing output (a resume
    // from elsewhere onto an unrelated `Y`) is replaced only with `--overwrite`.
    let resumes_own_run = opts.resume.as_ref().is_some_and(|r| {
        matches!(
            (std::fs::canonicalize(r), std::fs::canonicalize(&last)),
            (Ok(a), Ok(b)) if a == b
        )
    });
    if !resumes_own_run && !opts.overwrite {
        for p in [&opts.out, &last] {
            if p.exists() {
                return Err(Error::OutputExists { path: p.clone() });
            }
        }
    }
    if device.is_cuda() {
        tch::Cuda::cudnn_set_benchmark(true);
    }
    tch::manual_seed(cfg.seed as i64);

    let spec = choose_spec(cfg, &info)?;
    let (params, start, mut best_loss, saved_optim) = match &opts.resume {
        Some(path) => {
            let r = resume(path, device)?;
            if r.card.bands != info.bands {
                return Err(Error::Bands {
                    expected: r.card.bands.clone(),
                    got: info.bands.clone(),
                });
            }
            if r.card.spec.num_classes != info.classes.len()
                || r.card.spec.tile_size != info.tile_size
            {
                return Err(Error::model(
                    path,
                    "was trained for another class legend or tile size than this catalog",
                ));
            }
            if r.card.standardise_bands != cfg.standardises_bands() {
                return Err(Error::config(
                    "--standardise-bands",
                    format!(
                        "{} was trained with --standardise-bands {} (on by default for --arch \
                         pixel only); resume it with the same --arch and --standardise-bands",
                        path.display(),
                        r.card.standardise_bands
                    ),
                ));
            }
            if r.card.inner_loop.prototype_head != cfg.prototype_heads() {
                return Err(Error::config(
                    "--prototype-head",
                    format!(
                        "{} was trained with --prototype-head {}; resume it with the same",
                        path.display(),
                        r.card.inner_loop.prototype_head
                    ),
                ));
            }
            if r.step >= cfg.steps {
                return Err(Error::config(
                    "--steps",
                    format!(
                        "{} has already taken {} steps; ask for more than that",
                        path.display(),
                        r.step
                    ),
                ));
            }
            (r.params, r.step, r.best_val_loss, r.optimizer)
        }
        None => (
            Params::init(&spec, device, Kind::Float, cfg.seed)?,
            0,
            None,
            Default::default(),
        ),
    };
    let spec = params.spec().clone();
    let names: Vec<String> = params
        .trainable_names()
        .into_iter()
        .map(String::from)
        .collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut adam = Adam::new(&params.trainable(), cfg.outer_lr);
    adam.restore(&name_refs, &saved_optim)?;
    let legend: Vec<u16> = info.classes.iter().map(|c| c.id).collect();
    let inner = InnerSettings {
        lr: cfg.inner_lr,
        steps: cfg.inner_steps,
        first_order: cfg.first_order,
        bn_momentum: (cfg.bn_momentum > 0.0).then_some(cfg.bn_momentum),
        prototype_head: cfg.prototype_heads(),
    };

    let val_tasks = if cfg.val_every > 0 {
        let batches = source.sample(Split::Val, cfg.val_tasks).map_err(|e| {
            Error::hint(
                e,
                "meta-validation needs these tasks: pass --val-every 0 to train without \
                 it, or ask for smaller tasks with --way/--shot/--query",
            )
        })?;
        to_tensors(&batches, cfg.method, &legend, device)?
    } else {
        Vec::new()
    };
    let seeds = StepSeeds {
        seed: cfg.seed,
        first_step: start,
    };
    let mut log = match opts.resume {
        Some(_) => JsonlLog::resume(&log_path, start)?,
        // A log without a model or resume file beside it is what a run killed
        // before its first checkpoint leaves: nothing to protect, start again.
        // Only the default log name: a log the user named (`--log`) is replaced
        // with `--overwrite` alone.
        None => {
            let leftover = opts.log.is_none() && !opts.out.exists() && !last.exists();
            let log = JsonlLog::open(&log_path, false, opts.overwrite || leftover)?;
            wrote.log = true;
            log
        }
    };

    let bar = &opts.progress;
    bar.start(cfg.steps, "");
    bar.set_position(start);

    let started = Instant::now();
    let val_stats = |params: &Params| match cfg.method {
        Method::Maml => evaluate_tasks(params, &val_tasks, &inner),
        Method::Pretrain => evaluate_merged(params, &val_tasks),
    };
    if cfg.val_every > 0 && start == 0 {
        // The untrained model's score: the baseline the log's later lines improve on.
        let v = val_stats(&params);
        log.write(&LogRecord {
            kind: "val".into(),
            step: 0,
            method: cfg.method.as_str().into(),
            loss: v.query_loss,
            support_loss: v.support_loss,
            accuracy: v.query_acc,
            grad_norm: None,
            tasks_per_s: None,
            elapsed_s: 0.0,
        })?;
    }
    let per_step = if cfg.method == Method::Maml {
        cfg.meta_batch
    } else {
        1
    };
    // The batched meta-step has no prototype start (`validate` refuses a group
    // with it): such tasks adapt one by one.
    let task_group = match cfg.task_group {
        Some(g) => g,
        None if device.is_cuda() && !cfg.prototype_heads() => 16,
        None => 1,
    };
    let (mut tasks_done, mut last_loss, mut best) = (0usize, f64::NAN, None);
    let card_at = |step: u64| model_card(&spec, &info, cfg, step);
    let (method, host_legend) = (cfg.method, legend.clone());
    let mut feed = Feed::start(
        scope,
        source,
        per_step,
        cfg.steps - start,
        cfg.prefetch,
        Some(seeds),
        move |b| to_tensors(&b, method, &host_legend, Device::Cpu),
    )?;
    for step in start..cfg.steps {
        let t0 = Instant::now();
        let tasks = to_device(feed.next_batch()?, device)?;
        let (mut grads, stats) = match cfg.method {
            Method::Maml if task_group == 1 => meta_gradient(&params, &tasks, &inner),
            Method::Maml => meta_gradient_batched(&params, &tasks, &inner, task_group),
            Method::Pretrain => pretrain_gradient(&params, &tasks[0], inner.bn_momentum),
        };
        let grad_norm = clip_grad_norm(&mut grads, cfg.grad_clip);
        adam.step(&params.trainable(), &grads);
        if !stats.query_loss.is_finite() {
            return Err(Error::config(
                "--inner-lr",
                format!(
                    "training diverged at step {} (loss {}); lower --inner-lr or the outer learning rate",
                    step + 1,
                    stats.query_loss
                ),
            ));
        }
        tasks_done += per_step;
        last_loss = stats.query_loss;
        let done = step + 1;
        let record = |kind: &str, s: &TaskStats, g: Option<f64>, tps: Option<f64>| LogRecord {
            kind: kind.into(),
            step: done,
            method: cfg.method.as_str().into(),
            loss: s.query_loss,
            support_loss: s.support_loss,
            accuracy: s.query_acc,
            grad_norm: g,
            tasks_per_s: tps,
            elapsed_s: started.elapsed().as_secs_f64(),
        };
        let tps = per_step as f64 / t0.elapsed().as_secs_f64();
        log.write(&record("train", &stats, Some(grad_norm), Some(tps)))?;
        bar.set_message(format!(
            "loss {:.3} acc {:.2} {tps:.1} tasks/s",
            stats.query_loss, stats.query_acc
        ));
        bar.inc(1);

        let validate = cfg.val_every > 0 && (done % cfg.val_every == 0 || done == cfg.steps);
        if validate {
            let v = val_stats(&params);
            log.write(&record("val", &v, None, None))?;
            match cfg.select.score(v.query_loss, v.query_acc) {
                Some(score) if improves(best_loss, score) => {
                    best_loss = Some(score);
                    best = Some((done, v.query_loss, v.query_acc));
                    to_checkpoint(&params, card_at(done), done, Default::default())
                        .save(&opts.out, true)?;
                    wrote.model = true;
                }
                Some(_) => {}
                None => best = Some((done, v.query_loss, v.query_acc)),
            }
        }
        if validate || done == cfg.steps {
            let mut ckpt = to_checkpoint(&params, card_at(done), done, adam.state(&name_refs));
            if let Some(b) = best_loss {
                ckpt.extra.insert(BEST_KEY.into(), b.to_string());
            }
            ckpt.save(&last, true)?;
            wrote.last = true;
            wrote.last_step = done;
            if cfg.val_every == 0 || cfg.select == Selection::Last {
                to_checkpoint(&params, card_at(done), done, Default::default())
                    .save(&opts.out, true)?;
                wrote.model = true;
            }
        }
    }
    bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    // The trained model is complete: a failure to choose its adaptation steps leaves
    // it as it is (adapt then takes the card's default steps) and says so.
    let adapt_steps = if cfg.method == Method::Maml && !val_tasks.is_empty() {
        match choose_adapt_steps(&opts.out, &val_tasks, &inner, device) {
            Ok(chosen) => Some(chosen),
            Err(e) => {
                eprintln!(
                    "warning: adaptation steps not chosen on meta-validation ({e}); \
                     adapt takes the card's default (geomaml info says how many)"
                );
                None
            }
        }
    } else {
        None
    };
    Ok(TrainSummary {
        steps: cfg.steps,
        device: device_name(device),
        best,
        last_loss,
        tasks_per_s: tasks_done as f64 / elapsed.max(1e-9),
        out: opts.out.clone(),
        last,
        log: log_path,
        adapt_steps,
        data_path: String::new(),
    })
}

#[cfg(test)]
mod tests;
