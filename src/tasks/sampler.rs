//! `TaskSampler`: seeded n-way k-shot tasks following Russwurm et al. 2020.
//!
//! Sen12MS: a task is one (season, region) of the chosen split. Only classes with
//! more than `shot + query` labelled tiles there are eligible, and only (season,
//! region) pairs with at least `way` eligible classes are drawn from. Per task:
//! `way` classes, `shot` support and `query` query tiles per class; no query tile is
//! a support tile or overlaps one ([`TileIndex::overlap`]). Per-(season, region)
//! class lists are precomputed, so a task costs a few dozen random draws.
//!
//! DeepGlobe: a task is one image; its classes are all DeepGlobe classes (Unknown
//! and unmatched colours are ignored by the loader); `shot` support crops of half a
//! sub-image (306 px of 612) are cut at random from its support sub-images, and
//! `query` whole query sub-images are drawn from its query sub-images.
//!
//! The same seed gives the same tasks ([`TaskSampler::sample_many`]).

use super::task::{Task, TaskItem, TaskKind};
use super::tile_index::TileIndex;
use crate::catalog::{PixelWindow, Season, Split, TileId, TileRole};
use crate::error::{Error, Result};
use rand::seq::{index, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

use crate::catalog::dataset::DEEPGLOBE_TASK_CLASSES;

/// Task shape and where tasks come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SamplerConfig {
    /// Classes per task (n); ignored for DeepGlobe.
    pub way: usize,
    /// Support examples per class (k); for DeepGlobe, support crops per task.
    pub shot: usize,
    /// Query examples per class; for DeepGlobe, query sub-images per task.
    pub query: usize,
    /// Only regions of this split (`None`: all tiles).
    pub split: Option<Split>,
}

#[derive(Debug, Clone)]
struct Group {
    season: Option<Season>,
    region: u32,
    /// Eligible classes with their labelled tiles (classification), or
    /// `[(0, support tiles), (1, query tiles)]` (segmentation).
    lists: Vec<(u16, Vec<TileId>)>,
}

/// Draws tasks from a [`TileIndex`].
#[derive(Debug, Clone)]
pub struct TaskSampler<'a> {
    index: &'a TileIndex,
    config: SamplerConfig,
    kind: TaskKind,
    groups: Vec<Group>,
}

impl<'a> TaskSampler<'a> {
    /// Precomputes the eligible (season, region) pairs; fails when there is none,
    /// naming the filter that emptied the pool.
    pub fn new(index: &'a TileIndex, config: SamplerConfig) -> Result<Self> {
        if config.shot == 0 && config.query == 0 {
            return Err(Error::config(
                "--shot/--query",
                "a task needs at least one support or query example",
            ));
        }
        let segmentation = index.keys().iter().any(|k| k.role.is_some());
        let kind = if segmentation {
            TaskKind::Segmentation
        } else {
            TaskKind::Classification
        };
        if kind == TaskKind::Classification && config.way == 0 {
            return Err(Error::config("--way", "must be at least 1"));
        }
        let mut pools: BTreeMap<(Option<Season>, u32), BTreeMap<u16, Vec<TileId>>> =
            BTreeMap::new();
        for (id, k) in index.keys().iter().enumerate() {
            if config.split.is_some() && k.split != config.split {
                continue;
            }
            let list = match (kind, k.role, k.label) {
                (TaskKind::Segmentation, Some(TileRole::Support), _) => 0,
                (TaskKind::Segmentation, Some(TileRole::Query), _) => 1,
                (TaskKind::Classification, _, Some(l)) => l,
                _ => continue,
            };
            pools
                .entry((k.season, k.region))
                .or_default()
                .entry(list)
                .or_default()
                .push(id as TileId);
        }
        let pairs = pools.len();
        let groups: Vec<Group> = pools
            .into_iter()
            .filter_map(|((season, region), lists)| {
                let lists: Vec<(u16, Vec<TileId>)> = match kind {
                    TaskKind::Classification => lists
                        .into_iter()
                        .filter(|(_, t)| t.len() > config.shot + config.query)
                        .collect(),
                    TaskKind::Segmentation => {
                        let s = lists.get(&0).cloned().unwrap_or_default();
                        let q = lists.get(&1).cloned().unwrap_or_default();
                        if (config.shot > 0 && s.is_empty()) || q.len() < config.query {
                            return None;
                        }
                        vec![(0, s), (1, q)]
                    }
                };
                let enough = kind == TaskKind::Segmentation || lists.len() >= config.way;
                enough.then_some(Group {
                    season,
                    region,
                    lists,
                })
            })
            .collect();
        if groups.is_empty() {
            let split = config
                .split
                .map(|s| format!(" in split `{s}`"))
                .unwrap_or_default();
            let why = match kind {
                TaskKind::Classification => format!(
                    "no (season, region) pair{split} has {} classes with more than {} labelled tiles ({} pairs looked at)",
                    config.way,
                    config.shot + config.query,
                    pairs
                ),
                TaskKind::Segmentation => {
                    format!("no image{split} has support sub-images and {} query sub-images ({pairs} looked at)", config.query)
                }
            };
            return Err(Error::config("--way/--shot/--query/--split", why));
        }
        Ok(TaskSampler {
            index,
            config,
            kind,
            groups,
        })
    }

    /// Number of (season, region) pairs (or images) tasks are drawn from.
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// Whether tasks are classification or segmentation tasks.
    pub fn kind(&self) -> TaskKind {
        self.kind
    }

    /// Draws one task.
    pub fn sample<R: Rng>(&self, rng: &mut R) -> Result<Task> {
        for _ in 0..32 {
            let group = &self.groups[rng.random_range(0..self.groups.len())];
            let task = match self.kind {
                TaskKind::Classification => self.classification(group, rng),
                TaskKind::Segmentation => Some(self.segmentation(group, rng)),
            };
            if let Some(t) = task {
                return Ok(t);
            }
        }
        Err(Error::config(
            "--query",
            "could not draw a task whose query tiles avoid its support footprints after 32 tries; lower --query or --shot",
        ))
    }

    /// `count` tasks from `seed`; the same seed gives the same tasks.
    pub fn sample_many(&self, count: usize, seed: u64) -> Result<Vec<Task>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..count).map(|_| self.sample(&mut rng)).collect()
    }

    fn item(&self, tile: TileId) -> TaskItem {
        let k = self.index.key(tile);
        TaskItem {
            tile,
            window: k.window,
            label: k.label,
        }
    }

    fn classification<R: Rng>(&self, g: &Group, rng: &mut R) -> Option<Task> {
        let (shot, query) = (self.config.shot, self.config.query);
        let picked = index::sample(rng, g.lists.len(), self.config.way);
        let mut classes = Vec::with_capacity(self.config.way);
        let mut support: Vec<TileId> = Vec::with_capacity(shot * self.config.way);
        for ci in picked.iter() {
            let (class, tiles) = &g.lists[ci];
            classes.push(*class);
            support.extend(
                index::sample(rng, tiles.len(), shot)
                    .iter()
                    .map(|i| tiles[i]),
            );
        }
        let mut queries: Vec<TileId> = Vec::with_capacity(query * self.config.way);
        let usable = |t: TileId, chosen: &[TileId]| {
            !chosen.contains(&t) && !support.iter().any(|&s| self.index.overlap(s, t))
        };
        for ci in picked.iter() {
            let tiles = &g.lists[ci].1;
            let start = queries.len();
            let mut tries = 0;
            while queries.len() - start < query && tries < 16 * query {
                let t = tiles[rng.random_range(0..tiles.len())];
                if usable(t, &queries) {
                    queries.push(t);
                }
                tries += 1;
            }
            if queries.len() - start < query {
                // Few usable tiles left: go through them all in random order.
                let mut rest: Vec<TileId> = tiles.clone();
                rest.shuffle(rng);
                for t in rest {
                    if queries.len() - start == query {
                        break;
                    }
                    if usable(t, &queries) {
                        queries.push(t);
                    }
                }
                if queries.len() - start < query {
                    return None;
                }
            }
        }
        Some(Task {
            kind: TaskKind::Classification,
            season: g.season,
            region: g.region,
            classes,
            support: support.into_iter().map(|t| self.item(t)).collect(),
            query: queries.into_iter().map(|t| self.item(t)).collect(),
        })
    }

    fn segmentation<R: Rng>(&self, g: &Group, rng: &mut R) -> Task {
        let (sup, qry) = (&g.lists[0].1, &g.lists[1].1);
        let mut order: Vec<TileId> = sup.clone();
        order.shuffle(rng);
        let support = (0..self.config.shot)
            .map(|i| {
                let tile = order[i % order.len()];
                let w = self.index.key(tile).window;
                let (cw, ch) = ((w.width / 2).max(1), (w.height / 2).max(1));
                let x = w.x + rng.random_range(0..=w.width - cw);
                let y = w.y + rng.random_range(0..=w.height - ch);
                TaskItem {
                    tile,
                    window: PixelWindow::new(x, y, cw, ch),
                    label: None,
                }
            })
            .collect();
        let query = index::sample(rng, qry.len(), self.config.query)
            .iter()
            .map(|i| TaskItem {
                tile: qry[i],
                window: self.index.key(qry[i]).window,
                label: None,
            })
            .collect();
        Task {
            kind: TaskKind::Segmentation,
            season: g.season,
            region: g.region,
            classes: DEEPGLOBE_TASK_CLASSES.to_vec(),
            support,
            query,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::split::Splits;
    use crate::tasks::tile_index::tests::tile;

    /// Region 3 (train): patch p has classes 1..=5 on non-overlapping 1-degree boxes.
    fn index() -> TileIndex {
        let mut tiles = Vec::new();
        for p in 0..40u32 {
            for class in 1..=5u16 {
                let n = if class == 5 { 3 } else { 10 };
                if p < n {
                    tiles.push(tile(
                        3,
                        p * 10 + class as u32,
                        0,
                        Some(class),
                        p as f64 * 2.0,
                        class as f64 * 2.0,
                    ));
                }
            }
        }
        // Region 8 (test) has only 2 classes.
        tiles.push(tile(8, 1, 0, Some(1), 100.0, 0.0));
        TileIndex::from_records(&tiles, &Splits::sen12ms_default())
    }

    fn cfg(way: usize) -> SamplerConfig {
        SamplerConfig {
            way,
            shot: 2,
            query: 3,
            split: Some(Split::Train),
        }
    }

    #[test]
    fn tasks_follow_the_protocol_and_are_reproducible() {
        let ix = index();
        let s = TaskSampler::new(&ix, cfg(4)).unwrap();
        let tasks = s.sample_many(50, 9).unwrap();
        assert_eq!(tasks, s.sample_many(50, 9).unwrap());
        for t in &tasks {
            assert_eq!(t.region, 3);
            assert_eq!(t.classes.len(), 4);
            assert!(
                !t.classes.contains(&5),
                "class 5 has only 3 <= shot + query tiles"
            );
            assert_eq!((t.support.len(), t.query.len()), (8, 12));
            for q in &t.query {
                assert!(t.support.iter().all(|s| !ix.overlap(s.tile, q.tile)));
                assert_eq!(ix.key(q.tile).label, q.label);
            }
            for (i, s) in t.support.iter().enumerate() {
                assert_eq!(s.label, Some(t.classes[i / 2]));
            }
        }
    }

    #[test]
    fn too_many_ways_name_the_filter() {
        let ix = index();
        let err = TaskSampler::new(&ix, cfg(5)).unwrap_err().to_string();
        assert!(err.contains("5 classes with more than 5"), "{err}");
        assert!(TaskSampler::new(
            &ix,
            SamplerConfig {
                split: Some(Split::Test),
                ..cfg(1)
            }
        )
        .is_err());
    }
}
