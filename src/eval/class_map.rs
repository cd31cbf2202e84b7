//! `assess --class-map`: which class of the map each reference class is, when the
//! reference uses other names or ids (a national nomenclature against the analyst's
//! legend, DFC ids against names).
//!
//! Written inline (`--class-map "cleared=pasture,3=water"`) or as a file of one pair
//! per line (`reference = map`, or `reference,map`; `#` starts a comment). The
//! reference side is a name or id of the reference's classes, the map side a name or
//! id of the map's legend (names case-insensitively, integers however written).

use crate::legend::{find_class, ClassInfo, ClassKey};
use std::path::Path;

/// Reference class (as written) -> map class (as written).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassMap {
    /// The pairs, in the order given.
    pub pairs: Vec<(String, String)>,
}

/// A class map that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassMapError {
    /// A pair without a separator.
    #[error("`{0}` is not `reference=map`")]
    Pair(String),
    /// The map side names no class of the map.
    #[error("`{wanted}` is not a class of the map (its classes: {legend})")]
    NotInMap {
        /// The value given.
        wanted: String,
        /// The map's classes.
        legend: String,
    },
    /// The reference side names no class of a raster reference.
    #[error("`{wanted}` is not a class of the reference (give its id, or a name of its legend: {legend})")]
    NotInReference {
        /// The value given.
        wanted: String,
        /// The reference's legend.
        legend: String,
    },
    /// The same reference class twice.
    #[error("reference class `{0}` is mapped twice")]
    Twice(String),
}

impl ClassMap {
    /// Parses `spec`: the path of a file of pairs, or pairs inline, comma-separated.
    pub fn parse(spec: &str) -> Result<ClassMap, ClassMapError> {
        let p = Path::new(spec);
        let (text, sep) = match std::fs::read_to_string(p) {
            Ok(text) if p.is_file() => (text, '\n'),
            _ => (spec.to_string(), ','),
        };
        let mut pairs: Vec<(String, String)> = Vec::new();
        for item in text.split(sep) {
            let item = item.split('#').next().unwrap_or_default().trim();
            if item.is_empty() {
                continue;
            }
            let (r, m) = item
                .split_once('=')
                .or_else(|| item.split_once(','))
                .ok_or_else(|| ClassMapError::Pair(item.to_string()))?;
            let (r, m) = (r.trim(), m.trim());
            if r.is_empty() || m.is_empty() {
                return Err(ClassMapError::Pair(item.to_string()));
            }
            if pairs
                .iter()
                .any(|(x, _)| ClassKey::of(x) == ClassKey::of(r))
            {
                return Err(ClassMapError::Twice(r.to_string()));
            }
            pairs.push((r.to_string(), m.to_string()));
        }
        Ok(ClassMap { pairs })
    }

    /// The map class each pair names, checked against the map's `legend`.
    fn targets<'a>(
        &self,
        legend: &'a [ClassInfo],
    ) -> Result<Vec<(&str, &'a ClassInfo)>, ClassMapError> {
        self.pairs
            .iter()
            .map(|(r, m)| {
                find_class(legend, m)
                    .map(|c| (r.as_str(), c))
                    .ok_or_else(|| ClassMapError::NotInMap {
                        wanted: m.clone(),
                        legend: describe(legend),
                    })
            })
            .collect()
    }

    /// For a vector reference: (reference value, the map class it stands for).
    pub fn aliases(&self, legend: &[ClassInfo]) -> Result<Vec<(String, ClassInfo)>, ClassMapError> {
        Ok(self
            .targets(legend)?
            .into_iter()
            .map(|(r, c)| (r.to_string(), c.clone()))
            .collect())
    }

    /// For a raster reference: (reference id, map id) pairs, reference names
    /// resolved in the reference's legend.
    pub fn id_pairs(
        &self,
        reference_legend: &[ClassInfo],
        legend: &[ClassInfo],
    ) -> Result<Vec<(u16, u16)>, ClassMapError> {
        self.targets(legend)?
            .into_iter()
            .map(|(r, c)| {
                let id = match ClassKey::of(r) {
                    ClassKey::Id(v) => u16::try_from(v).ok(),
                    ClassKey::Name(_) => find_class(reference_legend, r).map(|k| k.id),
                };
                id.map(|id| (id, c.id))
                    .ok_or_else(|| ClassMapError::NotInReference {
                        wanted: r.to_string(),
                        legend: describe(reference_legend),
                    })
            })
            .collect()
    }
}

fn describe(legend: &[ClassInfo]) -> String {
    if legend.is_empty() {
        return "none named".into();
    }
    legend
        .iter()
        .map(|c| format!("{} ({})", c.name, c.id))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legend() -> Vec<ClassInfo> {
        vec![
            ClassInfo::new(1, "forest", "#006400"),
            ClassInfo::new(11, "pasture", "#f3c300"),
        ]
    }

    #[test]
    fn inline_and_file_pairs_resolve_against_both_legends() {
        let m = ClassMap::parse("Wald = forest, 3=11").unwrap();
        assert_eq!(m.pairs.len(), 2);
        let aliases = m.aliases(&legend()).unwrap();
        assert_eq!((aliases[0].0.as_str(), aliases[0].1.id), ("Wald", 1));
        assert_eq!((aliases[1].0.as_str(), aliases[1].1.id), ("3", 11));
        let reference = vec![ClassInfo::new(7, "Wald", "#000000")];
        assert_eq!(
            m.id_pairs(&reference, &legend()).unwrap(),
            vec![(7, 1), (3, 11)]
        );

        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("map.txt");
        std::fs::write(&f, "# ref,map\ncleared,pasture\n2 = Forest\n").unwrap();
        let m = ClassMap::parse(f.to_str().unwrap()).unwrap();
        assert_eq!(m.id_pairs(&[], &legend()).unwrap_err().to_string(),
            "`cleared` is not a class of the reference (give its id, or a name of its legend: none named)");
        assert_eq!(m.pairs[1], ("2".to_string(), "Forest".to_string()));
    }

    #[test]
    fn unmatched_classes_are_named() {
        let err = ClassMap::parse("a=lava")
            .unwrap()
            .aliases(&legend())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`lava` is not a class of the map (its classes: forest (1), pasture (11))"
        );
        assert!(matches!(
            ClassMap::parse("a=b, a = c"),
            Err(ClassMapError::Twice(_))
        ));
        assert!(matches!(ClassMap::parse("ab"), Err(ClassMapError::Pair(_))));
    }
}
