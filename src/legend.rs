//! The legend type: a land-cover class (id, name, colour), below rasters, catalogs,
//! model cards and labels, which all speak of classes. The datasets' legends are in
//! [`crate::catalog::classes`].

use serde::{Deserialize, Serialize};

/// One land-cover class: its id in label rasters, its name and its display colour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ClassInfo {
    /// Id as written in label rasters and maps.
    pub id: u16,
    /// Human-readable name.
    pub name: String,
    /// Display colour as `#rrggbb`.
    pub color: String,
}

impl ClassInfo {
    pub(crate) fn new(id: u16, name: &str, color: &str) -> Self {
        ClassInfo {
            id,
            name: name.into(),
            color: color.into(),
        }
    }

    /// The colour as RGB bytes (grey when the hex string is malformed).
    pub fn rgb(&self) -> [u8; 3] {
        let hex = self.color.trim_start_matches('#');
        let byte =
            |i: usize| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("80"), 16).unwrap_or(128);
        [byte(0), byte(2), byte(4)]
    }
}

/// A class value as compared with a legend: trimmed, case-insensitive, and an
/// integer however written (`7`, `7.0`, `7.000000000000000` from a decimal
/// Shapefile field) is that integer id. Values differing otherwise are different.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClassKey {
    /// An integer value (`7`, `7.0`).
    Id(i64),
    /// Any other value, trimmed and lower-cased.
    Name(String),
}

impl ClassKey {
    /// The key of a raw value.
    pub fn of(raw: &str) -> ClassKey {
        let t = raw.trim();
        if let Ok(v) = t.parse::<f64>() {
            if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
                return ClassKey::Id(v as i64);
            }
        }
        ClassKey::Name(t.to_lowercase())
    }

    /// Whether `class` is this value (by id for integers, by name otherwise).
    pub fn matches(&self, class: &ClassInfo) -> bool {
        match self {
            ClassKey::Id(id) => i64::from(class.id) == *id,
            ClassKey::Name(n) => class.name.trim().to_lowercase() == *n,
        }
    }
}

/// Finds a class in a legend by id (`"6"`, `"6.0"`) or by name, case-insensitively
/// (`"croplands"`), under the rules of [`ClassKey`].
pub fn find_class<'a>(legend: &'a [ClassInfo], key: &str) -> Option<&'a ClassInfo> {
    let key = ClassKey::of(key);
    legend.iter().find(|c| key.matches(c))
}
