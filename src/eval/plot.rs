//! A small hand-written SVG line chart: metric against shots, one line per model,
//! with the 95 % interval as a shaded band (the layout of figure 5 of Russwurm et
//! al. 2020); text uses the viewer's sans-serif font. [`svg_to_png`] rasterises it
//! with resvg for places that cannot show SVG.

use crate::error::{Error, Result};
use resvg::usvg::fontdb;
use std::fmt::Write;
use std::sync::{Arc, OnceLock};

/// One line of a panel: `(x, mean, half-width of the interval)` points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// Points in x order.
    pub points: Vec<(f64, f64, f64)>,
}

/// One chart of a figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Title above the chart (also the y-axis quantity).
    pub title: String,
    /// Lower and upper end of the y axis.
    pub y_range: (f64, f64),
    /// The lines.
    pub series: Vec<Series>,
}

/// Line colours (colour-blind safe, Okabe-Ito), black last.
pub(crate) const COLOURS: [&str; 8] = [
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#f0e442", "#000000",
];

pub(crate) const PANEL_W: f64 = 360.0;
const PANEL_H: f64 = 260.0;
pub(crate) const MARGIN_L: f64 = 60.0;
const MARGIN_R: f64 = 16.0;
const MARGIN_T: f64 = 36.0;
const MARGIN_B: f64 = 44.0;
const LEGEND_H: f64 = 28.0;
/// Up to this many distinct x values each get a label; more get round ticks.
const MAX_LABELLED_XS: usize = 12;

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The round number (1, 2, 2.5 or 5 times a power of ten) nearest above `raw`.
pub(crate) fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|&s| s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * p)
}

/// Tick label with as few decimals as the step needs (`-0` and rounding noise
/// below the step print as `0`).
pub(crate) fn tick_label(v: f64, step: f64) -> String {
    let decimals = (0..6)
        .find(|&d| {
            let scaled = step * 10f64.powi(d as i32);
            (scaled - scaled.round()).abs() < 1e-6
        })
        .unwrap_or(6);
    format!("{:.decimals$}", if v.abs() < step * 1e-9 { 0.0 } else { v })
}

/// Multiples of a round step within `[lo, hi]`, with that step.
pub(crate) fn ticks(lo: f64, hi: f64, count: f64) -> (Vec<f64>, f64) {
    let step = nice_step((hi - lo) / count);
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    ((first..=last).map(|i| i as f64 * step).collect(), step)
}

/// `[lo, hi]` of finite `values` widened by `pad` of the span on both sides (a unit
/// interval around a single value, `[0, 1]` for none).
pub(crate) fn span(values: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        (0.0, 1.0)
    } else if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        (lo - 0.5, hi + 0.5)
    } else {
        let p = (hi - lo) * pad;
        (lo - p, hi + p)
    }
}

/// The opening `<svg>` element and a white background.
pub(crate) fn svg_header(s: &mut String, width: f64, height: f64) {
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="{width}" height="{height}" fill="white"/>"#
    );
}

/// Where the x axis of a [`Frame`] is labelled.
pub(crate) enum XTicks<'a> {
    /// At multiples of a round step.
    Round,
    /// At these values (the measured shot counts), labelled as integers.
    At(&'a [f64]),
}

/// One panel's axes: where it sits, its data ranges and its labels.
pub(crate) struct Frame<'a> {
    /// Left edge of the panel in the figure.
    pub ox: f64,
    /// Panel height, title and axis labels included.
    pub panel_h: f64,
    pub title: &'a str,
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
    pub x_label: &'a str,
    /// Rotated along the y axis; empty for none.
    pub y_label: &'a str,
    pub x_ticks: XTicks<'a>,
}

/// Draws the frame, grid, ticks and labels of one panel; returns the maps from data
/// to SVG coordinates (y clamped to the range).
pub(crate) fn axes(s: &mut String, f: &Frame<'_>) -> (impl Fn(f64) -> f64, impl Fn(f64) -> f64) {
    let ((x0, x1), (y0, y1), ox) = (f.x_range, f.y_range, f.ox);
    let plot_w = PANEL_W - MARGIN_L - MARGIN_R;
    let plot_h = f.panel_h - MARGIN_T - MARGIN_B;
    let px = move |x: f64| ox + MARGIN_L + (x - x0) / (x1 - x0) * plot_w;
    let py = move |y: f64| MARGIN_T + (1.0 - (y.clamp(y0, y1) - y0) / (y1 - y0)) * plot_h;
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="22" text-anchor="middle" font-size="14" font-weight="bold">{}</text>"#,
        ox + MARGIN_L + plot_w / 2.0,
        escape(f.title)
    );
    let (yt, ystep) = ticks(y0, y1, 5.0);
    for v in yt {
        let y = py(v);
        let _ = writeln!(
            s,
            r##"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#dddddd"/>"##,
            px(x0),
            px(x1)
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            px(x0) - 6.0,
            y + 4.0,
            tick_label(v, ystep)
        );
    }
    let (xt, xstep) = match f.x_ticks {
        XTicks::Round => ticks(x0, x1, 5.0),
        XTicks::At(xs) => (xs.to_vec(), 1.0),
    };
    for v in xt {
        let x = px(v);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#eeeeee"/>"##,
            py(y1),
            py(y0)
        );
        let _ = writeln!(
            s,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            py(y0) + 16.0,
            tick_label(v, xstep)
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        ox + MARGIN_L + plot_w / 2.0,
        f.panel_h - 8.0,
        escape(f.x_label)
    );
    if !f.y_label.is_empty() {
        let (lx, ly) = (ox + 14.0, MARGIN_T + plot_h / 2.0);
        let _ = writeln!(
            s,
            r#"<text x="{lx:.1}" y="{ly:.1}" text-anchor="middle" transform="rotate(-90 {lx:.1} {ly:.1})">{}</text>"#,
            escape(f.y_label)
        );
    }
    let _ = writeln!(
        s,
        r##"<rect x="{:.1}" y="{:.1}" width="{plot_w:.1}" height="{plot_h:.1}" fill="none" stroke="#444444"/>"##,
        px(x0),
        py(y1)
    );
    (px, py)
}

/// An SVG document with `panels` side by side, x axis labelled `x_label`, and one
/// legend below for all panels (series matched by position). A panel whose
/// `y_range` is empty gets the range of its data and bands.
pub fn line_chart_svg(panels: &[Panel], x_label: &str) -> String {
    let width = PANEL_W * panels.len().max(1) as f64;
    let height = PANEL_H + LEGEND_H;
    let mut s = String::new();
    svg_header(&mut s, width, height);
    let (x_min, x_max) = panels
        .iter()
        .flat_map(|p| p.series.iter())
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
    let (x_min, x_max) = if x_min.is_finite() && x_max > x_min {
        (x_min, x_max)
    } else if x_min.is_finite() {
        (x_min - 1.0, x_min + 1.0)
    } else {
        (0.0, 1.0)
    };
    let xs: Vec<f64> = {
        let mut v: Vec<f64> = panels
            .iter()
            .flat_map(|p| p.series.iter())
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .collect();
        v.sort_by(f64::total_cmp);
        v.dedup();
        v
    };
    for (pi, panel) in panels.iter().enumerate() {
        let (y0, y1) = if panel.y_range.1 > panel.y_range.0 {
            panel.y_range
        } else {
            span(
                panel
                    .series
                    .iter()
                    .flat_map(|s| s.points.iter())
                    .flat_map(|&(_, m, c)| [m - c, m + c]),
                0.05,
            )
        };
        // x ticks at the measured x values (shots), or at round steps when the x
        // values are dense (a continuous axis).
        let x_ticks = if xs.len() <= MAX_LABELLED_XS {
            XTicks::At(&xs)
        } else {
            XTicks::Round
        };
        let (px, py) = axes(
            &mut s,
            &Frame {
                ox: pi as f64 * PANEL_W,
                panel_h: PANEL_H,
                title: &panel.title,
                x_range: (x_min, x_max),
                y_range: (y0, y1),
                x_label,
                y_label: "",
                x_ticks,
            },
        );
        for (si, series) in panel.series.iter().enumerate() {
            let colour = COLOURS[si % COLOURS.len()];
            if series.points.is_empty() {
                continue;
            }
            // Interval band: upper edge forwards, lower edge backwards.
            let mut band: Vec<String> = series
                .points
                .iter()
                .map(|&(x, m, c)| format!("{:.1},{:.1}", px(x), py(m + c)))
                .collect();
            band.extend(
                series
                    .points
                    .iter()
                    .rev()
                    .map(|&(x, m, c)| format!("{:.1},{:.1}", px(x), py(m - c))),
            );
            let _ = writeln!(
                s,
                r#"<polygon points="{}" fill="{colour}" fill-opacity="0.15" stroke="none"/>"#,
                band.join(" ")
            );
            let line: Vec<String> = series
                .points
                .iter()
                .map(|&(x, m, _)| format!("{:.1},{:.1}", px(x), py(m)))
                .collect();
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
                line.join(" ")
            );
            for &(x, m, _) in &series.points {
                let _ = writeln!(
                    s,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
                    px(x),
                    py(m)
                );
            }
        }
    }
    // One legend for all panels.
    let names: Vec<&str> = panels
        .first()
        .map(|p| p.series.iter().map(|s| s.name.as_str()).collect())
        .unwrap_or_default();
    let mut x = MARGIN_L;
    let y = PANEL_H + LEGEND_H / 2.0;
    for (i, name) in names.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let _ = writeln!(
            s,
            r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{colour}" stroke-width="3"/>"#,
            x + 20.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            x + 26.0,
            y + 4.0,
            escape(name)
        );
        x += 40.0 + 7.5 * name.chars().count() as f64;
    }
    s.push_str("</svg>\n");
    s
}

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
        .map_err(|e| Error::Other(format!("cannot render the plot: invalid SVG: {e}")))?;
    let size = tree
        .size()
        .to_int_size()
        .scale_by(PNG_SCALE)
        .ok_or_else(|| Error::Other("cannot render the plot: the SVG has an empty size".into()))?;
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).ok_or_else(|| {
        Error::Other(format!(
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
        return Err(Error::Other(
            "cannot render the plot: the SVG drew nothing (every pixel is transparent)".into(),
        ));
    }
    pixmap
        .encode_png()
        .map_err(|e| Error::Other(format!("cannot encode the plot as PNG: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_has_one_line_per_series_and_escapes_names() {
        let panel = |title: &str| Panel {
            title: title.into(),
            y_range: (0.0, 1.0),
            series: vec![
                Series {
                    name: "maml".into(),
                    points: vec![(0.0, 0.25, 0.05), (1.0, 0.6, 0.1), (5.0, 0.8, 0.05)],
                },
                Series {
                    name: "a<b".into(),
                    points: vec![(0.0, 0.5, 0.0), (1.0, 0.55, 0.1), (5.0, 0.7, 0.05)],
                },
            ],
        };
        let svg = line_chart_svg(&[panel("accuracy"), panel("kappa")], "shots");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 4);
        assert_eq!(svg.matches("<polygon").count(), 4);
        assert!(svg.contains("a&lt;b") && !svg.contains("a<b"));
        assert!(svg.contains(">accuracy<") && svg.contains(">kappa<"));
        assert_eq!(
            (nice_step(0.24), nice_step(0.2), nice_step(0.03)),
            (0.25, 0.2, 0.05)
        );
        assert_eq!(
            (
                tick_label(0.25, 0.25),
                tick_label(0.4, 0.2),
                tick_label(5.0, 1.0)
            ),
            ("0.25".into(), "0.4".into(), "5".into())
        );
    }

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

    #[test]
    fn line_chart_has_round_ticks_and_fits_its_data() {
        let series = |name: &str, f: fn(f64) -> f64| Series {
            name: name.into(),
            points: (0..21)
                .map(|i| {
                    let a = i as f64 / 20.0;
                    (a, f(a), 0.1)
                })
                .collect(),
        };
        let panel = Panel {
            title: "query loss".into(),
            y_range: (0.0, 0.0),
            series: vec![series("maml", |a| 1.4 - a), series("a<b", |a| 1.4 + a)],
        };
        let svg = line_chart_svg(&[panel], "alpha");
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains(">0.2<") && svg.contains(">1.0<") && !svg.contains(">0.05<"));
        // The data span 0.3 .. 2.5 with the bands: ticks at 0.5 .. 2.5.
        assert!(svg.contains(">0.5<") && svg.contains(">2.5<"));
        assert!(svg.contains("a&lt;b"));
        assert_eq!(ticks(0.0, 1.0, 5.0).0.len(), 6);
        assert_eq!(tick_label(0.30000000000000004, 0.1), "0.3");
        assert_eq!(span([2.0].into_iter(), 0.1), (1.5, 2.5));
    }
}
