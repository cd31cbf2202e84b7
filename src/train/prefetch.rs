//! Reads the next meta-batches on a background thread while the current one trains.
//!
//! A [`Feed`] hands out a run's training batches in the order the source draws them,
//! whether it reads ahead or not: while the feed lives, its thread is the only caller
//! of the source, so a seed gives the same batches (and the same log) at any depth.
//! At most `depth` meta-batches wait ahead of the training step, which bounds memory.
//! The first error ends the stream and is handed over at the step that needed the
//! batch; dropping the feed stops the thread once its current batch is read.

use crate::error::{Error, Result};
use crate::model::task_tensors::TaskTensors;
use crate::tasks::TaskBatch;
use crate::train::source::{Split, TaskSource};
use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::Scope;
use tch::{Device, Tensor};

/// Per-step seeding of the training stream: step `k` draws its tasks after the
/// source is reseeded with [`StepSeeds::for_step`]`(k)`, so the tasks of a step
/// depend on the seed and the step only. A run resumed at step `k` therefore
/// draws exactly the tasks the uninterrupted run drew from step `k` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepSeeds {
    /// The run's seed.
    pub seed: u64,
    /// The step the feed's first batch is for (0-based).
    pub first_step: u64,
}

impl StepSeeds {
    /// The source seed of step `k`.
    pub fn for_step(&self, k: u64) -> u64 {
        self.seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(k.wrapping_add(1).wrapping_mul(0xD1B5_4A32_D192_ED03))
    }
}

/// Draws step `k`'s meta-batch (reseeding first when `seeds` says so).
fn draw(
    source: &mut dyn TaskSource,
    seeds: Option<StepSeeds>,
    k: u64,
    count: usize,
) -> Result<Vec<TaskBatch>> {
    if let Some(s) = seeds {
        source.reseed(s.for_step(s.first_step + k));
    }
    source.sample(Split::Train, count)
}

/// Turns a drawn meta-batch into what the training step consumes.
type Prepare<'a, T> = Box<dyn FnMut(Vec<TaskBatch>) -> Result<T> + Send + 'a>;

/// The training batches of one run: `steps` meta-batches of `count` tasks each.
pub struct Feed<'a, T> {
    inner: Inner<'a, T>,
    left: u64,
    /// Batches handed out so far.
    drawn: u64,
}

enum Inner<'a, T> {
    /// Read when asked for, on the caller's thread.
    Direct {
        source: &'a mut dyn TaskSource,
        count: usize,
        seeds: Option<StepSeeds>,
        prepare: Prepare<'a, T>,
    },
    /// Read ahead by a thread of the scope.
    Ahead(Receiver<Result<T>>),
}

impl<'a, T: Send + 'a> Feed<'a, T> {
    /// Reads up to `depth` meta-batches ahead on a thread of `scope` (0: reads each
    /// one when [`Feed::next_batch`] asks for it), reseeding the source per step
    /// when `seeds` is given. `prepare` runs where the batch is read.
    pub fn start(
        scope: &'a Scope<'a, '_>,
        source: &'a mut dyn TaskSource,
        count: usize,
        steps: u64,
        depth: usize,
        seeds: Option<StepSeeds>,
        prepare: impl FnMut(Vec<TaskBatch>) -> Result<T> + Send + 'a,
    ) -> Result<Self> {
        if depth == 0 {
            return Ok(Self::direct(source, count, steps, seeds, prepare));
        }
        // The thread holds one more batch while it waits to hand it over.
        let (tx, rx) = sync_channel(depth - 1);
        let mut prepare = prepare;
        std::thread::Builder::new()
            .name("geomaml-tasks".into())
            .spawn_scoped(scope, move || {
                for k in 0..steps {
                    let item = draw(source, seeds, k, count).and_then(&mut prepare);
                    let failed = item.is_err();
                    // A closed channel: training ended early and wants no more.
                    if tx.send(item).is_err() || failed {
                        break;
                    }
                }
            })
            .map_err(|e| Error::runtime_source("starting the task reader thread", e))?;
        Ok(Feed {
            inner: Inner::Ahead(rx),
            left: steps,
            drawn: 0,
        })
    }

    /// Reads each meta-batch when asked for, on the caller's thread.
    pub fn direct(
        source: &'a mut dyn TaskSource,
        count: usize,
        steps: u64,
        seeds: Option<StepSeeds>,
        prepare: impl FnMut(Vec<TaskBatch>) -> Result<T> + Send + 'a,
    ) -> Self {
        Feed {
            inner: Inner::Direct {
                source,
                count,
                seeds,
                prepare: Box::new(prepare),
            },
            left: steps,
            drawn: 0,
        }
    }

    /// The next meta-batch, or the error that reading or preparing it met.
    pub fn next_batch(&mut self) -> Result<T> {
        if self.left == 0 {
            return Err(Error::runtime(
                "asked for more training batches than the run has steps",
            ));
        }
        self.left -= 1;
        let k = self.drawn;
        self.drawn += 1;
        match &mut self.inner {
            Inner::Direct {
                source,
                count,
                seeds,
                prepare,
            } => draw(*source, *seeds, k, *count).and_then(prepare),
            Inner::Ahead(rx) => rx.recv().unwrap_or_else(|_| {
                Err(Error::runtime(
                    "the task reader thread stopped without a batch or an error",
                ))
            }),
        }
    }
}

fn map_tasks(
    tasks: Vec<TaskTensors>,
    what: &str,
    f: impl Fn(&Tensor) -> std::result::Result<Tensor, tch::TchError>,
) -> Result<Vec<TaskTensors>> {
    let err = |e: tch::TchError| Error::runtime_source(what, e);
    tasks
        .into_iter()
        .map(|t| {
            Ok(TaskTensors {
                support_x: f(&t.support_x).map_err(err)?,
                support_y: f(&t.support_y).map_err(err)?,
                query_x: f(&t.query_x).map_err(err)?,
                query_y: f(&t.query_y).map_err(err)?,
            })
        })
        .collect()
}

/// Moves host tensors onto `device` with a plain (pageable) copy.
///
/// Batches are not page-locked: tch 0.24 passes a device to `pin_memory` and
/// `is_pinned`, which libtorch 2.11 deprecates with a warning on every call (38,400
/// lines on stderr in 300 meta-steps on an H200), and the copy is small next to the
/// reading of the windows that bounds training throughput there.
pub fn to_device(tasks: Vec<TaskTensors>, device: Device) -> Result<Vec<TaskTensors>> {
    if device == Device::Cpu {
        return Ok(tasks);
    }
    map_tasks(tasks, &format!("moving a meta-batch to {device:?}"), |t| {
        t.f_to_device_(device, t.kind(), false, false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::config::TrainConfig;
    use crate::train::log::LogRecord;
    use crate::train::source::tests::info;
    use crate::train::source::{DataInfo, RandomSource};
    use crate::train::trainer::{train, RunOptions};

    /// A [`RandomSource`] that counts its draws and fails at draw `fail_at` (1-based)
    /// the way an unreadable tile fails.
    struct Flaky {
        inner: RandomSource,
        calls: usize,
        fail_at: Option<usize>,
    }

    impl Flaky {
        fn new(seed: u64, fail_at: Option<usize>) -> Self {
            Flaky {
                inner: RandomSource::new(info(3, 8), 3, 2, 2, seed),
                calls: 0,
                fail_at,
            }
        }
    }

    impl TaskSource for Flaky {
        fn info(&self) -> &DataInfo {
            self.inner.info()
        }
        fn sample(&mut self, split: Split, count: usize) -> Result<Vec<TaskBatch>> {
            self.calls += 1;
            if self.fail_at == Some(self.calls) {
                return Err(Error::raster("tiles/s2_57_p3.tif", "cannot read window"));
            }
            self.inner.sample(split, count)
        }
        fn reseed(&mut self, seed: u64) {
            self.inner.reseed(seed)
        }
    }

    fn same(a: &[TaskBatch], b: &[TaskBatch]) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| {
                x.support_x == y.support_x
                    && x.support_y == y.support_y
                    && x.query_x == y.query_x
                    && x.query_y == y.query_y
                    && x.classes == y.classes
            })
    }

    #[test]
    fn reading_ahead_yields_the_batches_of_direct_sampling() {
        let mut direct = Flaky::new(5, None);
        let expected: Vec<Vec<TaskBatch>> = (0..7)
            .map(|_| direct.sample(Split::Train, 3).unwrap())
            .collect();
        for depth in [0, 1, 2, 4] {
            let mut src = Flaky::new(5, None);
            let got: Vec<Vec<TaskBatch>> = std::thread::scope(|s| {
                let mut feed = Feed::start(s, &mut src, 3, 7, depth, None, Ok).unwrap();
                (0..7).map(|_| feed.next_batch().unwrap()).collect()
            });
            assert_eq!(got.len(), expected.len());
            for (step, (g, e)) in got.iter().zip(&expected).enumerate() {
                assert!(same(g, e), "depth {depth}: step {step} differs");
            }
            assert_eq!(src.calls, 7, "depth {depth}: draws exactly the run's steps");
        }
    }

    #[test]
    fn a_read_error_arrives_at_its_step_and_ends_the_reads() {
        let mut src = Flaky::new(1, Some(3));
        std::thread::scope(|s| {
            let mut feed = Feed::start(s, &mut src, 2, 10, 2, None, Ok).unwrap();
            assert!(feed.next_batch().is_ok() && feed.next_batch().is_ok());
            let err = feed.next_batch().unwrap_err().to_string();
            assert!(err.contains("tiles/s2_57_p3.tif"), "{err}");
        });
        assert_eq!(src.calls, 3, "no reads after the error");
    }

    #[test]
    fn dropping_the_feed_stops_the_reader() {
        let mut src = Flaky::new(1, None);
        std::thread::scope(|s| {
            let mut feed = Feed::start(s, &mut src, 1, 1000, 2, None, Ok).unwrap();
            feed.next_batch().unwrap();
        });
        // One taken, two waiting at most, one being read when the feed went away.
        assert!(src.calls <= 4, "{} draws", src.calls);
    }

    fn run(dir: &std::path::Path, name: &str, prefetch: usize, src: &mut Flaky) -> Result<()> {
        let cfg = TrainConfig {
            way: 3,
            meta_batch: 2,
            steps: 6,
            val_every: 3,
            val_tasks: 2,
            width: Some(8),
            inner_lr: 0.1,
            outer_lr: 3e-3,
            device: "cpu".into(),
            prefetch,
            ..TrainConfig::default()
        };
        let opts = RunOptions::new(dir.join(format!("{name}.safetensors")));
        train(&cfg, src, &opts).map(|_| ())
    }

    /// Log lines without their timings.
    fn log(dir: &std::path::Path, name: &str) -> Vec<(String, u64, f64, f64, Option<f64>)> {
        std::fs::read_to_string(dir.join(format!("{name}.log.jsonl")))
            .unwrap()
            .lines()
            .map(|l| {
                let r: LogRecord = serde_json::from_str(l).unwrap();
                (r.kind, r.step, r.loss, r.accuracy, r.grad_norm)
            })
            .collect()
    }

    #[test]
    fn training_logs_the_same_run_with_and_without_reading_ahead() {
        let dir = tempfile::tempdir().unwrap();
        run(dir.path(), "sync", 0, &mut Flaky::new(3, None)).unwrap();
        run(dir.path(), "ahead", 2, &mut Flaky::new(3, None)).unwrap();
        let (sync, ahead) = (log(dir.path(), "sync"), log(dir.path(), "ahead"));
        assert_eq!(sync.iter().filter(|r| r.0 == "train").count(), 6);
        assert_eq!(sync, ahead);
    }

    #[test]
    fn a_read_error_ends_training_with_that_error() {
        let dir = tempfile::tempdir().unwrap();
        // Draw 1 is the validation set, so draw 4 feeds step 3.
        let mut src = Flaky::new(3, Some(4));
        let err = run(dir.path(), "bad", 2, &mut src).unwrap_err().to_string();
        assert!(err.contains("tiles/s2_57_p3.tif"), "{err}");
        // Reading stopped at the failing draw; the run failed before its first
        // checkpoint, so it left nothing and the same command can run again.
        assert_eq!(src.calls, 4);
        assert!(!dir.path().join("bad.log.jsonl").exists());
        assert!(!dir.path().join("bad.last.safetensors").exists());
    }

    #[test]
    fn a_read_error_after_a_checkpoint_keeps_the_progress_and_says_how_to_continue() {
        let dir = tempfile::tempdir().unwrap();
        // Draw 6 feeds step 5; step 3 wrote the first resume checkpoint.
        let mut src = Flaky::new(3, Some(6));
        let err = run(dir.path(), "late", 2, &mut src)
            .unwrap_err()
            .to_string();
        assert!(err.contains("tiles/s2_57_p3.tif"), "{err}");
        let last = dir.path().join("late.last.safetensors");
        assert!(
            err.contains(&format!("--resume {}", last.display())),
            "{err}"
        );
        assert!(last.exists());
        let lines = log(dir.path(), "late");
        assert_eq!(lines.iter().filter(|r| r.0 == "train").count(), 4);
    }
}
