//! Shards: which scenes of a manifest one process of an array job maps.
//!
//! The manifest's distinct inputs are sorted by the SHA-256 of their input string
//! (the string itself breaks ties) and dealt round-robin: the k-th scene of that
//! order goes to shard `k mod N`. Every process of an array job reading the same
//! manifest computes the same order without talking to the others, the order does
//! not depend on how the manifest lists the scenes, and shards differ by at most
//! one scene for any list (a hash of each input alone, `h mod N`, gave 1/5/5/1
//! scenes over 4 shards for 12 scenes). Adding scenes to a manifest may move
//! others to another shard; outputs are named by input, not by shard, so a rerun
//! still skips every scene that is done.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
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

    /// The positions in `inputs` (the manifest's distinct inputs) of the scenes
    /// this shard maps, in manifest order.
    pub fn select<S: AsRef<str>>(&self, inputs: &[S]) -> Vec<usize> {
        let owner = assign(inputs, self.count);
        (0..inputs.len())
            .filter(|&i| owner[i] == self.index)
            .collect()
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

/// The shard (of `count`) that maps each of `inputs`: sorted by the SHA-256 of
/// the input (then the input), dealt round-robin (see the module doc).
pub fn assign<S: AsRef<str>>(inputs: &[S], count: usize) -> Vec<usize> {
    let mut order: Vec<([u8; 32], &str, usize)> = inputs
        .iter()
        .enumerate()
        .map(|(i, s)| (Sha256::digest(s.as_ref().as_bytes()).into(), s.as_ref(), i))
        .collect();
    order.sort_unstable();
    let mut owner = vec![0; inputs.len()];
    for (rank, (_, _, i)) in order.into_iter().enumerate() {
        owner[i] = rank % count.max(1);
    }
    owner
}

/// Parses `--shard I/N` for clap, so that a bad value is a usage error (exit 2)
/// like any other malformed option.
pub fn parse_shard_arg(text: &str) -> std::result::Result<Shard, String> {
    Shard::parse(text).map_err(|e| match e {
        Error::Config { reason, .. } => reason,
        other => other.to_string(),
    })
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
        let owner = assign(&inputs, 3);
        assert_eq!(owner, assign(&inputs, 3));
        let mut reversed = inputs.clone();
        reversed.reverse();
        let owner_rev = assign(&reversed, 3);
        for (i, s) in inputs.iter().enumerate() {
            // The manifest's order does not matter.
            let j = reversed.iter().position(|r| r == s).unwrap();
            assert_eq!(owner[i], owner_rev[j]);
        }
        let mut seen = vec![0usize; inputs.len()];
        for k in 0..3 {
            for i in (Shard { index: k, count: 3 }).select(&inputs) {
                seen[i] += 1;
            }
        }
        assert!(
            seen.iter().all(|&n| n == 1),
            "every scene in exactly one shard"
        );
    }

    #[test]
    fn shards_differ_by_at_most_one_scene_for_any_list() {
        for n_scenes in [0usize, 1, 3, 12, 13, 50, 101] {
            for count in 1..=9 {
                let inputs: Vec<String> = (0..n_scenes)
                    .map(|i| format!("/data/scene_{i}.tif"))
                    .collect();
                let sizes: Vec<usize> = (0..count)
                    .map(|k| Shard { index: k, count }.select(&inputs).len())
                    .collect();
                let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(hi - lo <= 1, "{n_scenes} scenes over {count}: {sizes:?}");
                assert_eq!(sizes.iter().sum::<usize>(), n_scenes);
            }
        }
    }

    #[test]
    fn a_bad_shard_flag_is_a_usage_message() {
        let e = parse_shard_arg("5/4").unwrap_err();
        assert!(e.contains("out of range") && e.contains("0..=3"), "{e}");
        assert_eq!(
            parse_shard_arg("1/4").unwrap(),
            Shard { index: 1, count: 4 }
        );
    }
}
