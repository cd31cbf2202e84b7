//! A small hand-written SVG line chart: metric against shots, one line per model,
//! with the 95 % interval as a shaded band (the layout of figure 5 of Russwurm et
//! al. 2020); text uses the viewer's sans-serif font. [`svg_to_png`](crate::eval::png::svg_to_png) rasterises it
//! with resvg for places that cannot show SVG.

use crate::eval::svg::{
    axes, escape, span, svg_header, Frame, XTicks, COLOURS, LEGEND_H, MARGIN_L, PANEL_H, PANEL_W,
};
use std::fmt::Write;

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
/// Up to this many distinct x values each get a label; more get round ticks.
const MAX_LABELLED_XS: usize = 12;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::svg::{nice_step, tick_label, ticks};

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
