//! How the class values of a label file become the classes of a map.
//!
//! Two situations:
//!
//! - **A fixed legend** ([`ClassSource::Fixed`]): the labels must name classes of a
//!   map's or an adapted model's legend (`assess`, `suggest`); anything else is an
//!   error naming the value and the legend.
//! - **The analyst's own classes** ([`ClassSource::Own`], `adapt`): every distinct value
//!   of the class field is a class, whatever its name. A model's legend (`known`)
//!   only lends what it can: a name it has keeps that class's id and colour (so maps
//!   of the classes a model was trained with still compare with reference rasters of
//!   its legend), an integer value keeps its id.
//!
//! Matching rules, the same in both situations ([`ClassKey`]): values are trimmed and
//! compared case-insensitively; a value that is an integer, however written (`7`,
//! `7.0`, `7.000000000000000` from a decimal Shapefile field), is that integer id.
//! Values differing otherwise (`forest` and `forests`, `crop 1` and `crop_1`) are
//! different classes; spellings merged by case or spaces are reported.
//!
//! Ids of the analyst's classes (documented in the README):
//! - an integer value is its own id (1..=254: 0 is a map's nodata value, and ids
//!   must fit its 8-bit class band);
//! - a name the model's legend has is that class: its id, its spelling, its colour
//!   (`forest`, ` FOREST`, `Forest` all become the legend's `Forest`);
//! - every other name takes the smallest id no other class of the file has, in the
//!   names' case-insensitive alphabetical order, so the ids stay dense (GDAL colour
//!   tables run from 0 to the largest id, and QGIS lists every entry).
//!
//! An id may so mean another class than in the model's legend (`dryout` = 2 where
//! the legend's 2 is Shrubland); maps carry their legend, and `assess` matches
//! reference classes by name and refuses a reference that names an id otherwise.
//!
//! Output order (the map's probability bands, the model's outputs) is by id.

use super::style::{palette_colour, LabelStyle};
use crate::legend::ClassInfo;
pub use crate::legend::{find_class, ClassKey};
use std::collections::BTreeMap;

/// Largest class id of the analyst's classes (a map's class band is 8-bit).
pub const MAX_CLASS_ID: u16 = 254;

/// Where the classes of labels come from.
#[derive(Debug, Clone, Copy)]
pub enum ClassSource<'a> {
    /// Labels must name classes of this legend (a map's, an adapted model's).
    Fixed(&'a [ClassInfo]),
    /// The label file's own classes; `known` (a model's legend, possibly empty)
    /// lends ids and colours to the names it has.
    Own {
        /// The model's legend.
        known: &'a [ClassInfo],
    },
    /// A fixed legend, with values (names or ids, matched as [`ClassKey`]s) that
    /// stand for one of its classes first (`assess --class-map`).
    Aliased {
        /// The legend.
        legend: &'a [ClassInfo],
        /// (value, the class it stands for).
        aliases: &'a [(String, ClassInfo)],
    },
}

/// One distinct class value of a label file, as it was read.
#[derive(Debug, Clone, Default)]
pub struct SeenClass {
    /// Spellings met, in order of first appearance (trimmed).
    pub spellings: Vec<String>,
    /// Colour from the feature's `color`/`colour` attribute (first one met).
    pub colour: Option<String>,
    /// Other colours met on features of this class.
    pub other_colours: Vec<String>,
}

/// The legend of the analyst's classes and what the user should know about it.
#[derive(Debug, Clone, Default)]
pub struct OwnLegend {
    /// The classes, by id.
    pub classes: Vec<ClassInfo>,
    /// Which key became which class id.
    pub ids: BTreeMap<ClassKey, u16>,
    /// Where names and colours came from, merged spellings, conflicting colours.
    pub notes: Vec<String>,
}

/// Why the analyst's classes cannot make a map.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegendError {
    /// An integer class outside 1..=254.
    #[error("class id {0} is outside 1..={MAX_CLASS_ID} (0 is no data in a map and its class band is 8-bit): renumber the classes, or give them names")]
    IdRange(i64),
    /// More classes than ids.
    #[error("{0} classes do not fit into a map's 8-bit class ids (at most {MAX_CLASS_ID})")]
    TooMany(usize),
}

/// Builds the legend of the analyst's classes from the distinct values `seen`
/// (see the module doc for the id rules), with colours from `style`, the features'
/// colour attribute, `known`, or the default palette, in that order.
pub fn own_legend(
    seen: &BTreeMap<ClassKey, SeenClass>,
    known: &[ClassInfo],
    style: &LabelStyle,
) -> Result<OwnLegend, LegendError> {
    let mut out = OwnLegend::default();
    let mut classes: BTreeMap<u16, ClassInfo> = BTreeMap::new();
    let mut new_names: Vec<(&ClassKey, &SeenClass)> = Vec::new();
    for (key, s) in seen {
        let ClassKey::Id(v) = key else { continue };
        let id = u16::try_from(*v)
            .ok()
            .filter(|&id| (1..=MAX_CLASS_ID).contains(&id))
            .ok_or(LegendError::IdRange(*v))?;
        let known_class = known.iter().find(|c| c.id == id);
        let name = match (style.label_of(key), known_class) {
            (Some(label), _) => label.to_string(),
            (None, Some(k)) => {
                out.notes.push(format!(
                    "class {id} is named {} after the model's legend (give names in the class \
                     field, or a .qml/.clr style beside the label file, to name it yourself)",
                    k.name
                ));
                k.name.clone()
            }
            (None, None) => id.to_string(),
        };
        out.ids.insert(key.clone(), id);
        classes.insert(id, class(id, name, key, s, style, known_class));
    }
    for (key, s) in seen {
        let ClassKey::Name(_) = key else { continue };
        match known.iter().find(|c| key.matches(c)) {
            Some(k) => {
                out.ids.insert(key.clone(), k.id);
                if let Some(existing) = classes.get(&k.id) {
                    out.notes.push(format!(
                        "`{}` and id {} are the same class of the model's legend: one class {}",
                        s.spellings[0], k.id, existing.name
                    ));
                    continue;
                }
                let c = class(k.id, k.name.clone(), key, s, style, Some(k));
                classes.insert(k.id, c);
            }
            None => new_names.push((key, s)),
        }
    }
    // New names, in case-insensitive alphabetical order (the keys' order), take the
    // smallest ids no other class of the file has.
    let taken: Vec<u16> = classes.keys().copied().collect();
    let mut free = (1..=MAX_CLASS_ID).filter(|id| !taken.contains(id));
    for (key, s) in new_names.iter() {
        let id = free.next().ok_or(LegendError::TooMany(seen.len()))?;
        out.ids.insert((*key).clone(), id);
        classes.insert(id, class(id, s.spellings[0].clone(), key, s, style, None));
    }
    for s in seen.values() {
        if s.spellings.len() > 1 {
            out.notes.push(format!(
                "{} are taken as one class (case and surrounding spaces are ignored)",
                s.spellings
                    .iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !s.other_colours.is_empty() {
            out.notes.push(format!(
                "class `{}` has features of other colours ({}); {} is used",
                s.spellings[0],
                s.other_colours.join(", "),
                s.colour.as_deref().unwrap_or_default()
            ));
        }
    }
    out.classes = classes.into_values().collect();
    fill_palette(&mut out.classes);
    Ok(out)
}

/// A class with its colour from the style, the attribute or the known legend
/// (empty when none: [`fill_palette`] gives one).
fn class(
    id: u16,
    name: String,
    key: &ClassKey,
    seen: &SeenClass,
    style: &LabelStyle,
    known: Option<&ClassInfo>,
) -> ClassInfo {
    let color = style
        .colour_of(key)
        .map(str::to_string)
        .or_else(|| seen.colour.clone())
        .or_else(|| known.map(|k| k.color.clone()))
        .unwrap_or_default();
    ClassInfo { id, name, color }
}

/// Gives every class without a colour the next palette colour no class has yet.
fn fill_palette(classes: &mut [ClassInfo]) {
    let mut used: Vec<String> = classes
        .iter()
        .filter(|c| !c.color.is_empty())
        .map(|c| c.color.to_lowercase())
        .collect();
    let mut next = 0;
    for c in classes.iter_mut().filter(|c| c.color.is_empty()) {
        let colour = loop {
            let candidate = palette_colour(next);
            next += 1;
            if !used.contains(&candidate) {
                break candidate;
            }
        };
        used.push(colour.clone());
        c.color = colour;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::classes::dfc2020;

    fn seen(values: &[&str]) -> BTreeMap<ClassKey, SeenClass> {
        let mut m: BTreeMap<ClassKey, SeenClass> = BTreeMap::new();
        for v in values {
            let s = m.entry(ClassKey::of(v)).or_default();
            if !s.spellings.iter().any(|x| x == v.trim()) {
                s.spellings.push(v.trim().to_string());
            }
        }
        m
    }

    fn names(l: &OwnLegend) -> Vec<(u16, &str)> {
        l.classes.iter().map(|c| (c.id, c.name.as_str())).collect()
    }

    #[test]
    fn keys_forgive_case_spaces_and_decimal_integers_only() {
        assert_eq!(ClassKey::of(" Forest "), ClassKey::of("forest"));
        assert_eq!(ClassKey::of("1.000"), ClassKey::Id(1));
        assert_eq!(ClassKey::of("1.000000000000000"), ClassKey::of("1"));
        assert_ne!(ClassKey::of("1.5"), ClassKey::Id(1));
        assert_ne!(ClassKey::of("forest"), ClassKey::of("forests"));
        assert_ne!(ClassKey::of("crop 1"), ClassKey::of("crop_1"));
        assert_eq!(find_class(&dfc2020(), "6.0").unwrap().name, "Croplands");
        assert_eq!(find_class(&dfc2020(), " WATER").unwrap().id, 10);
    }

    #[test]
    fn own_names_keep_known_ids_and_colours_and_new_ones_take_free_ids() {
        let dfc = dfc2020();
        let l = own_legend(
            &seen(&["village", "forest", "water", "dryout", "Village "]),
            &dfc,
            &LabelStyle::default(),
        )
        .unwrap();
        assert_eq!(
            names(&l),
            vec![(1, "Forest"), (2, "dryout"), (3, "village"), (10, "Water")]
        );
        let forest = dfc.iter().find(|c| c.id == 1).unwrap();
        assert_eq!(l.classes[0].color, forest.color);
        // New classes get palette colours that no other class has.
        let colours: std::collections::BTreeSet<_> = l.classes.iter().map(|c| &c.color).collect();
        assert_eq!(colours.len(), 4);
        assert!(
            l.notes.iter().any(|n| n.contains("`village`, `Village`")),
            "{:?}",
            l.notes
        );
    }

    #[test]
    fn integer_classes_keep_their_ids_and_refuse_what_a_map_cannot_hold() {
        let l = own_legend(&seen(&["3", "7.000", "12"]), &[], &LabelStyle::default()).unwrap();
        assert_eq!(names(&l), vec![(3, "3"), (7, "7"), (12, "12")]);
        let err = own_legend(&seen(&["3", "300"]), &[], &LabelStyle::default()).unwrap_err();
        assert_eq!(err, LegendError::IdRange(300));
        let err = own_legend(&seen(&["0", "1"]), &[], &LabelStyle::default()).unwrap_err();
        assert_eq!(err, LegendError::IdRange(0));
        // Names beside integers take the free ids.
        let l = own_legend(
            &seen(&["1", "3", "reed", "bog"]),
            &[],
            &LabelStyle::default(),
        )
        .unwrap();
        assert_eq!(names(&l), vec![(1, "1"), (2, "bog"), (3, "3"), (4, "reed")]);
    }

    #[test]
    fn many_made_up_classes_get_distinct_ids_and_colours() {
        let values: Vec<String> = (0..40).map(|i| format!("type {i:02}")).collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let l = own_legend(&seen(&refs), &dfc2020(), &LabelStyle::default()).unwrap();
        assert_eq!(l.classes.len(), 40);
        assert_eq!(l.classes[0].id, 1);
        assert_eq!(l.classes[39].id, 40);
        assert_eq!(l.classes[0].name, "type 00");
        let colours: std::collections::BTreeSet<_> = l.classes.iter().map(|c| &c.color).collect();
        assert_eq!(colours.len(), 40);
        assert!(l
            .classes
            .iter()
            .all(|c| c.rgb() != [128, 128, 128] || c.color == "#808080"));
    }
}
