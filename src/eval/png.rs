//! SVG charts rasterised to PNG with resvg, for places that cannot show SVG.

use crate::error::{Error, Result};
use resvg::usvg::fontdb;
use std::sync::{Arc, OnceLock};

/// Scale of [`svg_to_png`]: two pixels per SVG unit keeps lines and text crisp
/// on high-density screens and in slides.
pub const PNG_SCALE: f32 = 2.0;

/// Where Debian's `fonts-dejavu-core` puts the font the charts ask for first.
const DEJAVU_DIR: &str = "/usr/share/fonts/truetype/dejavu";

/// The system fonts, scanned once per process (a scan takes tens of milliseconds).
/// `sans-serif` resolves to DejaVu Sans when it is installed, so text looks the
/// same on every machine set up by `scripts/setup.sh`.
fn fonts() -> Arc<fontdb::Database> {
    static FONTS: OnceLock<Arc<fontdb::Database>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let mut db = fontdb::Database::new();
            db.load_system_fonts();
            let has_dejavu = |db: &fontdb::Database| {
                db.faces()
                    .any(|f| f.families.iter().any(|(name, _)| name == "DejaVu Sans"))
            };
            if !has_dejavu(&db) {
                // Font configuration that does not list the standard folder.
                db.load_fonts_dir(DEJAVU_DIR);
            }
            if has_dejavu(&db) {
                db.set_sans_serif_family("DejaVu Sans");
            }
            Arc::new(db)
        })
        .clone()
}

/// Renders an SVG document (such as [`line_chart_svg`]'s) to PNG bytes at
/// [`PNG_SCALE`] pixels per SVG unit. Text needs system fonts; without any it is
/// left out rather than failing, so a bare machine still gets the lines.
pub fn svg_to_png(svg: &str) -> Result<Vec<u8>> {
    render_png(svg, fonts())
}

fn render_png(svg: &str, fontdb: Arc<fontdb::Database>) -> Result<Vec<u8>> {
    use resvg::{tiny_skia, usvg};
    let opt = usvg::Options {
        font_family: "DejaVu Sans".into(),
        fontdb,
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &opt)
        .map_err(|e| Error::runtime_source("cannot render the plot: invalid SVG", e))?;
    let size = tree
        .size()
        .to_int_size()
        .scale_by(PNG_SCALE)
        .ok_or_else(|| Error::runtime("cannot render the plot: the SVG has an empty size"))?;
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).ok_or_else(|| {
        Error::runtime(format!(
            "cannot render the plot: no {}x{} pixel image can be allocated",
            size.width(),
            size.height()
        ))
    })?;
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(PNG_SCALE, PNG_SCALE),
        &mut pixmap.as_mut(),
    );
    if pixmap.pixels().iter().all(|p| p.alpha() == 0) {
        return Err(Error::runtime(
            "cannot render the plot: the SVG drew nothing (every pixel is transparent)",
        ));
    }
    pixmap
        .encode_png()
        .map_err(|e| Error::runtime_source("cannot encode the plot as PNG", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::plot::{line_chart_svg, Panel, Series};
    use crate::eval::svg::{LEGEND_H, MARGIN_T, PANEL_H, PANEL_W};

    #[test]
    fn png_has_the_svg_size_at_twice_the_scale_and_shows_the_titles() {
        let panel = |title: &str| Panel {
            title: title.into(),
            y_range: (0.0, 1.0),
            series: vec![Series {
                name: "maml".into(),
                points: vec![(0.0, 0.2, 0.05), (5.0, 0.8, 0.05)],
            }],
        };
        let svg = line_chart_svg(&[panel("accuracy"), panel("kappa")], "shots");
        let png = svg_to_png(&svg).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let img = resvg::tiny_skia::Pixmap::decode_png(&png).unwrap();
        let scale = PNG_SCALE as f64;
        assert_eq!(
            (img.width() as f64, img.height() as f64),
            (2.0 * PANEL_W * scale, (PANEL_H + LEGEND_H) * scale)
        );
        // Above the plot frame only the titles are drawn: dark pixels there are text.
        let dark_in = |x0: f64, x1: f64| {
            let (x0, x1) = ((x0 * scale) as u32, (x1 * scale) as u32);
            (0..(MARGIN_T * scale) as u32)
                .flat_map(|y| (x0..x1).map(move |x| (x, y)))
                .filter(|&(x, y)| {
                    let p = img.pixel(x, y).unwrap();
                    p.alpha() == 255 && p.red().max(p.green()).max(p.blue()) < 128
                })
                .count()
        };
        assert!(dark_in(0.0, PANEL_W) > 50, "no title text in panel 1");
        assert!(
            dark_in(PANEL_W, 2.0 * PANEL_W) > 50,
            "no title text in panel 2"
        );
        // The background is white and a line has the first series colour.
        assert_eq!(img.pixel(1, 1).unwrap().red(), 255);
        assert!(img
            .pixels()
            .iter()
            .any(|p| (p.red(), p.green(), p.blue()) == (0x00, 0x72, 0xb2)));
    }

    #[test]
    fn png_rendering_fails_clearly_on_bad_or_empty_svg() {
        let err = svg_to_png("<svg").unwrap_err().to_string();
        assert!(err.contains("invalid SVG"), "{err}");
        let empty = r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>"#;
        let err = svg_to_png(empty).unwrap_err().to_string();
        assert!(err.contains("drew nothing"), "{err}");
    }

    #[test]
    fn png_without_fonts_still_has_the_lines() {
        let svg = line_chart_svg(
            &[Panel {
                title: "accuracy".into(),
                y_range: (0.0, 1.0),
                series: vec![Series {
                    name: "maml".into(),
                    points: vec![(0.0, 0.2, 0.05), (5.0, 0.8, 0.05)],
                }],
            }],
            "shots",
        );
        let png = render_png(&svg, Arc::new(fontdb::Database::new())).unwrap();
        let img = resvg::tiny_skia::Pixmap::decode_png(&png).unwrap();
        assert_eq!(img.width(), (PANEL_W * PNG_SCALE as f64) as u32);
        assert!(img
            .pixels()
            .iter()
            .any(|p| (p.red(), p.green(), p.blue()) == (0x00, 0x72, 0xb2)));
    }
}
