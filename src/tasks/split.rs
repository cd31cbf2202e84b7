//! Meta-train / meta-val / meta-test splits of regions (Sen12MS) or images (DeepGlobe).
//!
//! Sen12MS: the paper author's region split ([`crate::catalog::regions`]) by default,
//! or a user file `{"train": [ids], "val": [ids], "test": [ids]}`. DeepGlobe
//! (Russwurm et al. 2020, section 4.2): a seeded random split in 500/150/153
//! proportions, or a clustered split: k-means on per-image features (class fractions
//! and mean colour) into 6 clusters, whole clusters assigned to the split whose
//! share (454/166/183) is furthest from reached, so meta-test images differ from
//! meta-train ones. A region or image in no split is in none of the sampled tasks.

use super::kmeans::kmeans;
use crate::catalog::{regions, Catalog, ImageRecord, Split};
use crate::error::{Error, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Random DeepGlobe split proportions (train, val, test) of the paper.
pub const RANDOM_PROPORTIONS: [usize; 3] = [500, 150, 153];
/// Clustered DeepGlobe split proportions (train, val, test) of the paper.
pub const CLUSTERED_PROPORTIONS: [usize; 3] = [454, 166, 183];
/// Number of k-means clusters of the clustered split.
pub const CLUSTERS: usize = 6;

const SPLITS: [Split; 3] = [Split::Train, Split::Val, Split::Test];

/// A user split file: region (or image) ids per split.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitFile {
    /// Meta-train ids.
    #[serde(default)]
    pub train: Vec<u32>,
    /// Meta-validation ids.
    #[serde(default)]
    pub val: Vec<u32>,
    /// Meta-test ids.
    #[serde(default)]
    pub test: Vec<u32>,
}

/// How to split a catalog's regions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitStrategy {
    /// Sen12MS: the paper author's region split; DeepGlobe: random with seed 0.
    Default,
    /// A [`SplitFile`] on disk.
    File(PathBuf),
    /// DeepGlobe-style seeded random split of regions (500/150/153).
    Random {
        /// Seed of the shuffle.
        seed: u64,
    },
    /// DeepGlobe clustered split (k-means, 6 clusters, 454/166/183).
    Clustered {
        /// Seed of k-means.
        seed: u64,
    },
}

/// Which split each region belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Splits {
    by_region: HashMap<u32, Split>,
}

impl Splits {
    /// The paper author's Sen12MS region split (75/25/25 regions).
    pub fn sen12ms_default() -> Self {
        Splits {
            by_region: regions::REGIONS.iter().map(|r| (r.id, r.split)).collect(),
        }
    }

    /// Reads a [`SplitFile`]; an id listed in two splits is an error.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let file: SplitFile = serde_json::from_slice(&text).map_err(|e| {
            Error::catalog_source(
                path,
                "not a split file {\"train\": [ids], \"val\": [...], \"test\": [...]}",
                e,
            )
        })?;
        let mut by_region = HashMap::new();
        for (split, ids) in [
            (Split::Train, &file.train),
            (Split::Val, &file.val),
            (Split::Test, &file.test),
        ] {
            for &id in ids {
                if let Some(other) = by_region.insert(id, split) {
                    if other != split {
                        return Err(Error::catalog(
                            path,
                            format!("id {id} is in both `{other}` and `{split}`"),
                        ));
                    }
                }
            }
        }
        Ok(Splits { by_region })
    }

    /// Seeded random split of `ids` in [`RANDOM_PROPORTIONS`].
    pub fn random(ids: &[u32], seed: u64) -> Self {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        ids.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let counts = apportion(ids.len(), RANDOM_PROPORTIONS);
        let mut by_region = HashMap::new();
        let mut it = ids.into_iter();
        for (split, n) in SPLITS.into_iter().zip(counts) {
            by_region.extend(it.by_ref().take(n).map(|id| (id, split)));
        }
        Splits { by_region }
    }

    /// Clustered split of DeepGlobe images: k-means on [`ImageRecord::features`] into
    /// [`CLUSTERS`] clusters; the largest clusters are placed first, each into the
    /// split furthest below its [`CLUSTERED_PROPORTIONS`] target.
    pub fn clustered(images: &[ImageRecord], seed: u64) -> Self {
        let features: Vec<Vec<f64>> = images.iter().map(ImageRecord::features).collect();
        let assign = kmeans(&features, CLUSTERS, seed, 100);
        let k = assign.iter().copied().max().map_or(0, |m| m + 1);
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); k];
        for (img, &c) in images.iter().zip(&assign) {
            members[c].push(img.id);
        }
        members.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        let total: usize = CLUSTERED_PROPORTIONS.iter().sum();
        let targets: Vec<f64> = CLUSTERED_PROPORTIONS
            .iter()
            .map(|&p| p as f64 * images.len() as f64 / total as f64)
            .collect();
        let mut filled = [0usize; 3];
        let mut by_region = HashMap::new();
        for (i, cluster) in members.into_iter().enumerate() {
            // Every split gets a cluster first (when there are enough), then deficits decide.
            let s = if i < 3 && k >= 3 {
                i
            } else {
                (0..3)
                    .max_by(|&a, &b| {
                        (targets[a] - filled[a] as f64).total_cmp(&(targets[b] - filled[b] as f64))
                    })
                    .unwrap()
            };
            filled[s] += cluster.len();
            by_region.extend(cluster.into_iter().map(|id| (id, SPLITS[s])));
        }
        Splits { by_region }
    }

    /// The split a catalog's regions get under `strategy`.
    pub fn for_catalog(catalog: &Catalog, strategy: &SplitStrategy) -> Result<Self> {
        let dataset = catalog.kind.dataset();
        Ok(match strategy {
            SplitStrategy::File(p) => Splits::from_file(p)?,
            SplitStrategy::Default => dataset.default_split(catalog),
            SplitStrategy::Random { seed } => Splits::random(&catalog.regions(), *seed),
            SplitStrategy::Clustered { seed } => {
                dataset.clustered_split(catalog, *seed).ok_or_else(|| {
                    Error::config(
                        "--split-strategy",
                        "the clustered split needs a DeepGlobe catalog",
                    )
                })?
            }
        })
    }

    /// The split of a region (or image), if it is in one.
    pub fn split_of(&self, region: u32) -> Option<Split> {
        self.by_region.get(&region).copied()
    }

    /// Ids of one split, sorted.
    pub fn regions(&self, split: Split) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .by_region
            .iter()
            .filter(|(_, &s)| s == split)
            .map(|(&r, _)| r)
            .collect();
        v.sort_unstable();
        v
    }
}

/// Splits `n` items in proportion to `weights` (largest remainder; sums to `n`).
pub fn apportion(n: usize, weights: [usize; 3]) -> [usize; 3] {
    let total: usize = weights.iter().sum();
    let exact: Vec<f64> = weights
        .iter()
        .map(|&w| n as f64 * w as f64 / total as f64)
        .collect();
    let mut out = [0usize; 3];
    for i in 0..3 {
        out[i] = exact[i].floor() as usize;
    }
    let mut order: Vec<usize> = (0..3).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())));
    for &i in order.iter().take(n - out.iter().sum::<usize>()) {
        out[i] += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_split_of_803_images_matches_the_paper() {
        let ids: Vec<u32> = (0..803).collect();
        let s = Splits::random(&ids, 1);
        let sizes = SPLITS.map(|x| s.regions(x).len());
        assert_eq!(sizes, [500, 150, 153]);
        assert_eq!(s, Splits::random(&ids, 1));
        assert_ne!(s, Splits::random(&ids, 2));
        assert_eq!(apportion(10, RANDOM_PROPORTIONS).iter().sum::<usize>(), 10);
    }

    #[test]
    fn default_sen12ms_split_is_the_papers() {
        let s = Splits::sen12ms_default();
        assert_eq!(s.regions(Split::Test).len(), 25);
        assert_eq!(s.split_of(8), Some(Split::Test));
        assert_eq!(s.split_of(2), None);
    }

    #[test]
    fn split_files_reject_ids_in_two_splits() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("split.json");
        std::fs::write(&p, r#"{"train":[1,2],"test":[3]}"#).unwrap();
        let s = Splits::from_file(&p).unwrap();
        assert_eq!(
            (s.split_of(2), s.split_of(3), s.split_of(4)),
            (Some(Split::Train), Some(Split::Test), None)
        );
        std::fs::write(&p, r#"{"train":[1],"val":[1]}"#).unwrap();
        assert!(Splits::from_file(&p)
            .unwrap_err()
            .to_string()
            .contains("id 1"));
    }

    #[test]
    fn clustered_split_keeps_clusters_together() {
        let img = |id: u32, f: f32| ImageRecord {
            id,
            image: String::new(),
            mask: String::new(),
            width: 4,
            height: 4,
            class_fractions: vec![f, 1.0 - f, 0.0, 0.0, 0.0, 0.0, 0.0],
            ignored_fraction: 0.0,
            mean_rgb: [f; 3],
        };
        let images: Vec<ImageRecord> = (0..60).map(|i| img(i, (i % 6) as f32 / 5.0)).collect();
        let s = Splits::clustered(&images, 3);
        for i in 0..60 {
            assert_eq!(
                s.split_of(i),
                s.split_of(i % 6),
                "image {i} left its cluster"
            );
        }
        assert!(SPLITS.iter().all(|&x| !s.regions(x).is_empty()));
    }
}
