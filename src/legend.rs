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

/// Finds a class in a legend by id (`"6"`) or by name, case-insensitively (`"croplands"`).
pub fn find_class<'a>(legend: &'a [ClassInfo], key: &str) -> Option<&'a ClassInfo> {
    let key = key.trim();
    if let Ok(id) = key.parse::<u16>() {
        return legend.iter().find(|c| c.id == id);
    }
    legend.iter().find(|c| c.name.eq_ignore_ascii_case(key))
}
