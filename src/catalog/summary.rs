//! Counts that describe a catalog, and the report of files a scan could not use.
//!
//! Skipping is never silent: every file or patch left out is counted by reason, and
//! the first [`MAX_EXAMPLES`] are listed with their path.

use super::record::TileRecord;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How many skipped paths a report lists by name.
pub const MAX_EXAMPLES: usize = 50;

/// Tiles per region, season and class.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Number of tiles.
    pub tiles: usize,
    /// Tiles with a label.
    pub labelled: usize,
    /// Tiles per region id.
    pub per_region: BTreeMap<String, usize>,
    /// Tiles per season (`none` for datasets without seasons).
    pub per_season: BTreeMap<String, usize>,
    /// Labelled tiles per class id.
    pub per_class: BTreeMap<String, usize>,
}

impl Summary {
    /// Counts `tiles`.
    pub fn of(tiles: &[TileRecord]) -> Self {
        let mut s = Summary {
            tiles: tiles.len(),
            ..Default::default()
        };
        for t in tiles {
            *s.per_region.entry(t.region.to_string()).or_default() += 1;
            let season = t.season.map(|x| x.name()).unwrap_or("none");
            *s.per_season.entry(season.to_string()).or_default() += 1;
            if let Some(l) = t.label {
                s.labelled += 1;
                *s.per_class.entry(l.to_string()).or_default() += 1;
            }
        }
        s
    }
}

/// One skipped file or patch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SkippedFile {
    /// Path relative to the catalog root.
    pub path: String,
    /// Why it was left out.
    pub reason: String,
}

/// Files a scan found but could not use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SkipReport {
    /// Total number of skipped files or patches.
    pub total: usize,
    /// Count per kind of problem (`missing_sibling`, `unreadable`, `unknown_name`, ...).
    pub by_kind: BTreeMap<String, usize>,
    /// The first few, with their reason.
    pub examples: Vec<SkippedFile>,
}

impl SkipReport {
    /// Records one skipped `path` of problem `kind`.
    pub fn add(&mut self, kind: &str, path: impl Into<String>, reason: impl Into<String>) {
        self.total += 1;
        *self.by_kind.entry(kind.to_string()).or_default() += 1;
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(SkippedFile {
                path: path.into(),
                reason: reason.into(),
            });
        }
    }

    /// Adds another report's counts and examples.
    pub fn merge(&mut self, other: SkipReport) {
        self.total += other.total;
        for (k, n) in other.by_kind {
            *self.by_kind.entry(k).or_default() += n;
        }
        let room = MAX_EXAMPLES.saturating_sub(self.examples.len());
        self.examples.extend(other.examples.into_iter().take(room));
    }

    /// The error for a scan of `root` that found nothing usable (`what`: "Sen12MS
    /// patches"), with the counts and the first example of what was skipped.
    pub fn nothing_usable(&self, root: &std::path::Path, what: &str) -> crate::error::Error {
        let example = self
            .examples
            .first()
            .map(|s| format!("; e.g. {}: {}", s.path, s.reason))
            .unwrap_or_default();
        crate::error::Error::catalog(
            root,
            format!(
                "no usable {what} ({} files skipped: {}){example}",
                self.total,
                self.brief()
            ),
        )
    }

    /// `missing_sibling: 2, unreadable: 1`, or `none`.
    pub fn brief(&self) -> String {
        if self.by_kind.is_empty() {
            return "none".into();
        }
        self.by_kind
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_count_by_kind_and_keep_examples() {
        let mut a = SkipReport::default();
        a.add("unreadable", "x.tif", "truncated");
        let mut b = SkipReport::default();
        b.add("unreadable", "y.tif", "truncated");
        b.add("unknown_name", "z.tif", "not a Sen12MS name");
        a.merge(b);
        assert_eq!(a.total, 3);
        assert_eq!(a.brief(), "unknown_name: 1, unreadable: 2");
        assert_eq!(a.examples.len(), 3);
    }
}
