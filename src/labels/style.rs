//! Class colours and names an analyst already has: a QGIS style (`.qml`) or a
//! colour map (`.clr`) beside the label file, a `color`/`colour` attribute, and
//! the default palette for classes without any.
//!
//! - `.qml`: a vector layer's categorized renderer (`<category value=.. symbol=..
//!   label=..>` with the symbol's fill colour, written by QGIS as `r,g,b,a`) or a
//!   raster's paletted renderer (`<paletteEntry value=.. color=.. label=..>`).
//! - `.clr`: one class per line, `value red green blue [alpha] [label]` (the
//!   ArcGIS/GDAL colour map text; an integer after the colour is its alpha; lines
//!   starting with `#` are comments).
//! - The palette: Kelly's 20 colours of maximum contrast (K. L. Kelly, "Twenty-two
//!   colors of maximum contrast", Color Engineering 3(6), 1965, without white and
//!   black), then hues spaced by the golden angle.

use super::classes::ClassKey;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Names and colours by class value, from a style file beside the labels.
#[derive(Debug, Clone, Default)]
pub struct LabelStyle {
    /// The style file read, if any.
    pub path: Option<PathBuf>,
    entries: BTreeMap<ClassKey, StyleEntry>,
}

#[derive(Debug, Clone, Default)]
struct StyleEntry {
    label: Option<String>,
    colour: Option<String>,
}

/// A style file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StyleError {
    /// Not readable.
    #[error("cannot read it: {0}")]
    Io(#[from] std::io::Error),
    /// Not XML.
    #[error("not a QGIS style: {0}")]
    Xml(#[from] roxmltree::Error),
    /// A line of a colour map that is not `value r g b [label]`.
    #[error("line {line}: expected `value red green blue [label]`, found `{text}`")]
    ClrLine {
        /// 1-based line.
        line: usize,
        /// The line.
        text: String,
    },
}

impl LabelStyle {
    /// The style beside `labels` (`<stem>.qml`, else `<stem>.clr`), or none.
    pub fn beside(labels: &Path) -> Result<LabelStyle, (PathBuf, StyleError)> {
        for ext in ["qml", "clr"] {
            let p = labels.with_extension(ext);
            if !p.is_file() {
                continue;
            }
            let parsed = std::fs::read_to_string(&p)
                .map_err(StyleError::from)
                .and_then(|text| match ext {
                    "qml" => parse_qml(&text),
                    _ => parse_clr(&text),
                });
            return match parsed {
                Ok(entries) => Ok(LabelStyle {
                    path: Some(p),
                    entries,
                }),
                Err(e) => Err((p, e)),
            };
        }
        Ok(LabelStyle::default())
    }

    /// The label the style gives the value `key`.
    pub fn label_of(&self, key: &ClassKey) -> Option<&str> {
        self.entries.get(key)?.label.as_deref()
    }

    /// The colour (`#rrggbb`) the style gives the value `key`.
    pub fn colour_of(&self, key: &ClassKey) -> Option<&str> {
        self.entries.get(key)?.colour.as_deref()
    }

    /// Number of classes the style describes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the style describes no class.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// `#rrggbb` (lower case) from `#rrggbb`, `rrggbb`, `#rrggbbaa` or `r,g,b[,a,...]`.
pub fn parse_colour(text: &str) -> Option<String> {
    let t = text.trim();
    if t.contains(',') {
        let parts: Vec<u8> = t
            .split(',')
            .take(3)
            .map(|p| p.trim().parse::<u8>())
            .collect::<Result<_, _>>()
            .ok()?;
        return (parts.len() == 3).then(|| hex(parts[0], parts[1], parts[2]));
    }
    let h = t.strip_prefix('#').unwrap_or(t);
    if (h.len() == 6 || h.len() == 8) && h.chars().all(|c| c.is_ascii_hexdigit()) {
        return Some(format!("#{}", h[..6].to_lowercase()));
    }
    None
}

fn hex(r: u8, g: u8, b: u8) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

fn label(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn parse_qml(text: &str) -> Result<BTreeMap<ClassKey, StyleEntry>, StyleError> {
    // QGIS writes its styles with a DOCTYPE.
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(text, opts)?;
    let mut out = BTreeMap::new();
    // Raster: paletted renderer entries.
    for e in doc.descendants().filter(|n| n.has_tag_name("paletteEntry")) {
        if let Some(v) = e.attribute("value") {
            out.insert(
                ClassKey::of(v),
                StyleEntry {
                    label: label(e.attribute("label")),
                    colour: e.attribute("color").and_then(parse_colour),
                },
            );
        }
    }
    // Vector: categorized renderer, colours from the categories' symbols.
    let symbol_colour = |name: &str| {
        let symbol = doc
            .descendants()
            .find(|n| n.has_tag_name("symbol") && n.attribute("name") == Some(name))?;
        symbol.descendants().find_map(|n| {
            let (k, v) = match n.tag_name().name() {
                "prop" => (n.attribute("k")?, n.attribute("v")?),
                "Option" => (n.attribute("name")?, n.attribute("value")?),
                _ => return None,
            };
            (k == "color").then(|| parse_colour(v)).flatten()
        })
    };
    for c in doc.descendants().filter(|n| n.has_tag_name("category")) {
        let Some(v) = c.attribute("value") else {
            continue;
        };
        out.insert(
            ClassKey::of(v),
            StyleEntry {
                label: label(c.attribute("label")),
                colour: c.attribute("symbol").and_then(symbol_colour),
            },
        );
    }
    Ok(out)
}

fn parse_clr(text: &str) -> Result<BTreeMap<ClassKey, StyleEntry>, StyleError> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let mut parts = t.split_whitespace();
        let value = parts.next().unwrap_or_default();
        let rgb: Option<Vec<u8>> = parts.by_ref().take(3).map(|p| p.parse().ok()).collect();
        let bad = || StyleError::ClrLine {
            line: i + 1,
            text: t.to_string(),
        };
        let rgb = rgb.filter(|c| c.len() == 3).ok_or_else(bad)?;
        let mut rest: Vec<&str> = parts.collect();
        // GDAL's colour text may carry an alpha after the RGB.
        if rest.first().is_some_and(|a| a.parse::<u8>().is_ok()) {
            rest.remove(0);
        }
        out.insert(
            ClassKey::of(value),
            StyleEntry {
                label: label(Some(&rest.join(" "))),
                colour: Some(hex(rgb[0], rgb[1], rgb[2])),
            },
        );
    }
    Ok(out)
}

/// Kelly's colours of maximum contrast, without white and black.
const KELLY: [&str; 20] = [
    "#f3c300", "#875692", "#f38400", "#a1caf1", "#be0032", "#c2b280", "#848482", "#008856",
    "#e68fac", "#0067a5", "#f99379", "#604e97", "#f6a600", "#b3446c", "#dcd300", "#882d17",
    "#8db600", "#654522", "#e25822", "#2b3d26",
];

/// The `i`-th colour of the default palette (`#rrggbb`).
pub fn palette_colour(i: usize) -> String {
    if let Some(c) = KELLY.get(i) {
        return c.to_string();
    }
    // Golden-angle hues at alternating lightness, in HSL with full saturation.
    let k = i - KELLY.len();
    let hue = (k as f64 * 137.507_764) % 360.0;
    let light = [0.45, 0.65, 0.30][k % 3];
    let c = (1.0 - (2.0 * light - 1.0f64).abs()) * 0.85;
    let x = c * (1.0 - ((hue / 60.0) % 2.0 - 1.0).abs());
    let (r, g, b) = match (hue / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = light - c / 2.0;
    let byte = |v: f64| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    hex(byte(r), byte(g), byte(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_in_the_forms_people_write_them() {
        assert_eq!(parse_colour("#33A02C").as_deref(), Some("#33a02c"));
        assert_eq!(parse_colour("33a02cff").as_deref(), Some("#33a02c"));
        assert_eq!(
            parse_colour("51,160,44,255,rgb:0.2,0.63,0.17,1").as_deref(),
            Some("#33a02c")
        );
        assert_eq!(parse_colour("green"), None);
        assert_eq!(parse_colour("300,0,0"), None);
    }

    #[test]
    fn a_vector_qml_gives_labels_and_symbol_colours() {
        let qml = r#"<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22.16"><renderer-v2 type="categorizedSymbol" attr="class">
          <categories>
            <category value="forest" symbol="0" label="Forest stands" render="true"/>
            <category value="3" symbol="1" label="Cleared" render="true"/>
          </categories>
          <symbols>
            <symbol name="0" type="fill"><layer class="SimpleFill">
              <Option type="Map"><Option name="color" value="0,100,0,255" type="QString"/></Option>
            </layer></symbol>
            <symbol name="1" type="fill"><layer class="SimpleFill"><prop k="color" v="200,150,50,255"/></layer></symbol>
          </symbols></renderer-v2></qgis>"#;
        let s = parse_qml(qml).unwrap();
        let forest = &s[&ClassKey::of("Forest")];
        assert_eq!(forest.label.as_deref(), Some("Forest stands"));
        assert_eq!(forest.colour.as_deref(), Some("#006400"));
        assert_eq!(s[&ClassKey::Id(3)].colour.as_deref(), Some("#c89632"));
    }

    #[test]
    fn a_clr_gives_colours_and_optional_labels_and_names_bad_lines() {
        let s = parse_clr("# classes\n1 255 0 0 oil palm\n2 0 0 255\n3 0 100 0 255\n").unwrap();
        assert_eq!(s[&ClassKey::Id(3)].label, None);
        assert_eq!(s[&ClassKey::Id(1)].label.as_deref(), Some("oil palm"));
        assert_eq!(s[&ClassKey::Id(2)].colour.as_deref(), Some("#0000ff"));
        assert_eq!(s[&ClassKey::Id(2)].label, None);
        let err = parse_clr("1 255 0\n").unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn palette_colours_are_distinct_and_valid() {
        let all: std::collections::BTreeSet<String> = (0..64).map(palette_colour).collect();
        assert_eq!(all.len(), 64);
        assert!(all.iter().all(|c| parse_colour(c).as_ref() == Some(c)));
    }
}
