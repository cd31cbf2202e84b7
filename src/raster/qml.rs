//! The QGIS style written beside a map (`<stem>.qml`), so that QGIS lists exactly
//! the map's classes.
//!
//! Why a style file: GDAL colour tables are contiguous from 0 (and a GeoTIFF palette
//! always has 256 entries), and QGIS 3.22 makes one legend entry per colour-table
//! entry, so a map of classes 1, 10, 11 and 12 would list 256 entries, unused ids
//! among them. QGIS loads `<basename>.qml` beside a raster as the layer's default
//! style, and this one is a paletted renderer of the classes only (the layout QGIS
//! 3.22 itself saves), with nearest-neighbour resampling so zooming never blends ids.

use crate::legend::ClassInfo;
use std::path::{Path, PathBuf};

/// A comment in every style geomaml writes: a `.qml` carrying it may be replaced
/// when its map is written again; any other `.qml` is the user's and is kept.
pub const STYLE_MARKER: &str = "<!-- geomaml: classes of the map beside this style -->";

/// `<stem>.qml` beside the raster at `path` (QGIS's default-style name).
pub fn style_path(path: &Path) -> PathBuf {
    path.with_extension("qml")
}

/// Whether `path` holds a style geomaml wrote (see [`STYLE_MARKER`]).
pub fn is_geomaml_style(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|s| s.contains(STYLE_MARKER))
}

/// The QML of a paletted renderer of band 1 listing `classes` (value, colour, name).
pub fn paletted_style(classes: &[ClassInfo]) -> String {
    let entries: String = classes
        .iter()
        .map(|c| {
            let [r, g, b] = c.rgb();
            format!(
                "        <paletteEntry value=\"{}\" color=\"#{r:02x}{g:02x}{b:02x}\" alpha=\"255\" label=\"{}\"/>\n",
                c.id,
                escape(&c.name)
            )
        })
        .collect();
    format!(
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n\
         <qgis version=\"3.22.0\" styleCategories=\"Symbology\">\n\
         \x20 {STYLE_MARKER}\n\
         \x20 <pipe>\n\
         \x20   <provider>\n\
         \x20     <resampling enabled=\"false\" zoomedInResamplingMethod=\"nearestNeighbour\" zoomedOutResamplingMethod=\"nearestNeighbour\" maxOversampling=\"2\"/>\n\
         \x20   </provider>\n\
         \x20   <rasterrenderer type=\"paletted\" band=\"1\" opacity=\"1\" alphaBand=\"-1\" nodataColor=\"\">\n\
         \x20     <colorPalette>\n\
         {entries}\
         \x20     </colorPalette>\n\
         \x20   </rasterrenderer>\n\
         \x20   <brightnesscontrast brightness=\"0\" contrast=\"0\" gamma=\"1\"/>\n\
         \x20   <rasterresampler maxOversampling=\"2\"/>\n\
         \x20 </pipe>\n\
         \x20 <blendMode>0</blendMode>\n\
         </qgis>\n"
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_style_is_xml_listing_exactly_the_classes() {
        let classes = [
            ClassInfo::new(1, "forest & <co>", "#009900"),
            ClassInfo::new(12, "village \"old\"", "#F3C300"),
        ];
        let qml = paletted_style(&classes);
        let doc = roxmltree::Document::parse_with_options(
            &qml,
            roxmltree::ParsingOptions {
                allow_dtd: true,
                ..Default::default()
            },
        )
        .unwrap();
        let entries: Vec<(&str, &str, &str)> = doc
            .descendants()
            .filter(|n| n.has_tag_name("paletteEntry"))
            .map(|n| {
                (
                    n.attribute("value").unwrap(),
                    n.attribute("label").unwrap(),
                    n.attribute("color").unwrap(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            vec![
                ("1", "forest & <co>", "#009900"),
                ("12", "village \"old\"", "#f3c300")
            ]
        );
        assert_eq!(style_path(Path::new("/d/map.tif")), Path::new("/d/map.qml"));
    }
}
