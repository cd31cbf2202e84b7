//! Shards: which scenes of a manifest one process of an array job maps.
//!
//! A scene belongs to shard `h mod N`, where `h` is the first 8 bytes of the
//! SHA-256 of its input string: the assignment depends on neither the manifest's
//! order nor its other entries, so every process of an array job reading the same
//! manifest agrees on it without talking to the others.
//!
//! The shard comes from `--shard I/N` (0-based), else from the scheduler:
//! - Kubernetes Indexed Jobs: `JOB_COMPLETION_INDEX`, N from `--shards` or
//!   `GEOMAML_SHARDS` (the Job's `completions`);
//! - Slurm job arrays: `SLURM_ARRAY_TASK_ID` minus `SLURM_ARRAY_TASK_MIN`, divided
//!   by `SLURM_ARRAY_TASK_STEP`; N from `--shards`/`GEOMAML_SHARDS`, else
//!   `SLURM_ARRAY_TASK_COUNT`;
//! - AWS Batch array jobs: `AWS_BATCH_JOB_ARRAY_INDEX`, N from `--shards` or
//!   `GEOMAML_SHARDS` (the array size).
//!
//! Without any of these, one process maps everything (shard 0/1).

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};

/// One shard of N.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Shard {
    /// 0-based index.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl Shard {
    /// The whole manifest.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// A checked shard; `option` names where the values came from.
    pub fn new(index: usize, count: usize, option: &str) -> Result<Self> {
        if count == 0 {
            return Err(Error::config(
                option,
                "the number of shards must be at least 1",
            ));
        }
        if index >= count {
            return Err(Error::config(
                option,
                format!("shard index {index} is out of range for {count} shards (indices are 0-based: 0..={})", count - 1),
            ));
        }
        Ok(Shard { index, count })
    }

    /// Parses `I/N` as given to `--shard`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            Error::config(
                "--shard",
                format!("expected I/N with 0 <= I < N (e.g. 0/4), got {text:?}"),
            )
        };
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let i: usize = i.trim().parse().map_err(|_| bad())?;
        let n: usize = n.trim().parse().map_err(|_| bad())?;
        Shard::new(i, n, "--shard")
    }

    /// The shard of this process: `--shard` (`shard`), else the scheduler's
    /// variables read through `var`; `shards` is `--shards`.
    pub fn resolve(
        shard: Option<&str>,
        shards: Option<usize>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        if let Some(s) = shard {
            let parsed = Shard::parse(s)?;
            if let Some(n) = shards.filter(|&n| n != parsed.count) {
                return Err(Error::config(
                    "--shards",
                    format!("{n} contradicts --shard {s}"),
                ));
            }
            return Ok(parsed);
        }
        let int = |name: &str| -> Result<Option<usize>> {
            match var(name) {
                None => Ok(None),
                Some(v) if v.trim().is_empty() => Ok(None),
                Some(v) => v.trim().parse().map(Some).map_err(|_| {
                    Error::config(name, format!("expected a non-negative integer, got {v:?}"))
                }),
            }
        };
        let given = match shards {
            Some(n) => Some((n, "--shards")),
            None => int("GEOMAML_SHARDS")?.map(|n| (n, "GEOMAML_SHARDS")),
        };
        let need_count = |var_name: &str| -> Result<(usize, &'static str)> {
            given.ok_or_else(|| {
                Error::config(
                    "--shards",
                    format!("{var_name} is set: give the number of shards with --shards N or GEOMAML_SHARDS"),
                )
            })
        };
        if let Some(i) = int("JOB_COMPLETION_INDEX")? {
            let (n, src) = need_count("JOB_COMPLETION_INDEX")?;
            return Shard::new(i, n, &format!("JOB_COMPLETION_INDEX with {src}"));
        }
        if let Some(id) = int("SLURM_ARRAY_TASK_ID")? {
            let min = int("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let step = int("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
            if id < min || (id - min) % step != 0 {
                return Err(Error::config(
                    "SLURM_ARRAY_TASK_ID",
                    format!("task {id} is not on the array's grid (min {min}, step {step}); use --array=0-(N-1) or pass --shard I/N"),
                ));
            }
            let (n, src) = match given {
                Some(g) => g,
                None => (
                    int("SLURM_ARRAY_TASK_COUNT")?.ok_or_else(|| {
                        Error::config(
                            "--shards",
                            "SLURM_ARRAY_TASK_ID is set without SLURM_ARRAY_TASK_COUNT: give --shards N",
                        )
                    })?,
                    "SLURM_ARRAY_TASK_COUNT",
                ),
            };
            return Shard::new(
                (id - min) / step,
                n,
                &format!("SLURM_ARRAY_TASK_ID with {src}"),
            );
        }
        if let Some(i) = int("AWS_BATCH_JOB_ARRAY_INDEX")? {
            let (n, src) = need_count("AWS_BATCH_JOB_ARRAY_INDEX")?;
            return Shard::new(i, n, &format!("AWS_BATCH_JOB_ARRAY_INDEX with {src}"));
        }
        match given {
            Some((n, src)) if n != 1 => Err(Error::config(
                src,
                format!("{n} shards but no shard index: give --shard I/{n} or run as an array job"),
            )),
            _ => Ok(Shard::ALL),
        }
    }

    /// Whether the scene with this input belongs to this shard.
    pub fn owns(&self, input: &str) -> bool {
        shard_of(input, self.count) == self.index
    }

    /// The summary file name of this shard.
    pub fn summary_name(&self) -> String {
        if self.count == 1 {
            "summary.json".into()
        } else {
            format!("summary-{}-of-{}.json", self.index, self.count)
        }
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The shard (of `count`) that maps `input`.
pub fn shard_of(input: &str, count: usize) -> usize {
    let d = Sha256::digest(input.as_bytes());
    let h = u64::from_be_bytes(d[..8].try_into().expect("8 bytes"));
    (h % count.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn shard_flags_parse_and_validate() {
        assert_eq!(Shard::parse("1/3").unwrap(), Shard { index: 1, count: 3 });
        for bad in ["3/3", "1", "a/2", "0/0", "-1/2"] {
            let e = Shard::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("--shard"), "{e}");
        }
        assert!(Shard::resolve(Some("0/2"), Some(3), env(&[])).is_err());
        assert_eq!(Shard::resolve(None, None, env(&[])).unwrap(), Shard::ALL);
        assert!(Shard::resolve(None, Some(4), env(&[])).is_err());
        // --shard wins over the scheduler.
        let e = env(&[("JOB_COMPLETION_INDEX", "2")]);
        assert_eq!(Shard::resolve(Some("1/2"), None, &e).unwrap().index, 1);
    }

    #[test]
    fn scheduler_variables_give_the_shard() {
        let k8s = env(&[("JOB_COMPLETION_INDEX", "2"), ("GEOMAML_SHARDS", "4")]);
        assert_eq!(
            Shard::resolve(None, None, k8s).unwrap(),
            Shard { index: 2, count: 4 }
        );
        let e = Shard::resolve(None, None, env(&[("JOB_COMPLETION_INDEX", "2")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--shards"), "{e}");
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "8"),
        ]);
        assert_eq!(
            Shard::resolve(None, None, slurm).unwrap(),
            Shard { index: 4, count: 8 }
        );
        let stepped = env(&[
            ("SLURM_ARRAY_TASK_ID", "6"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]);
        assert_eq!(Shard::resolve(None, None, stepped).unwrap().index, 3);
        let aws = env(&[("AWS_BATCH_JOB_ARRAY_INDEX", "7")]);
        assert_eq!(
            Shard::resolve(None, Some(10), &aws).unwrap(),
            Shard {
                index: 7,
                count: 10
            }
        );
        assert!(Shard::resolve(None, Some(5), &aws).is_err());
    }

    #[test]
    fn assignment_is_stable_and_covers_all_shards() {
        let inputs: Vec<String> = (0..300).map(|i| format!("/data/s{i}.tif")).collect();
        let mut counts = [0usize; 3];
        for s in &inputs {
            let k = shard_of(s, 3);
            assert_eq!(k, shard_of(s, 3));
            counts[k] += 1;
            let owners = (0..3)
                .filter(|&i| Shard { index: i, count: 3 }.owns(s))
                .count();
            assert_eq!(owners, 1);
        }
        assert!(counts.iter().all(|&c| c > 60), "{counts:?}");
    }
}
