//! A small hand-written SVG line chart: metric against shots, one line per model,
//! with the 95 % interval as a shaded band (the layout of figure 5 of Russwurm et
//! al. 2020). No plotting dependency; text uses the viewer's sans-serif font.

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

/// Line colours (colour-blind safe, Okabe-Ito).
const COLOURS: [&str; 8] = [
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#f0e442", "#000000",
];

const PANEL_W: f64 = 360.0;
const PANEL_H: f64 = 260.0;
const MARGIN_L: f64 = 56.0;
const MARGIN_R: f64 = 16.0;
const MARGIN_T: f64 = 36.0;
const MARGIN_B: f64 = 44.0;
const LEGEND_H: f64 = 28.0;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The round number (1, 2, 2.5 or 5 times a power of ten) nearest above `raw`.
fn nice_step(raw: f64) -> f64 {
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

/// Tick label: as few decimals as the step needs.
fn tick(v: f64, step: f64) -> String {
    let decimals = (0..4)
        .find(|&d| {
            let scaled = step * 10f64.powi(d as i32);
            (scaled - scaled.round()).abs() < 1e-6
        })
        .unwrap_or(4);
    format!("{:.decimals$}", if v.abs() < 1e-12 { 0.0 } else { v })
}

/// An SVG document with `panels` side by side, x axis labelled `x_label`, and one
/// legend below for all panels (series matched by position).
pub fn line_chart_svg(panels: &[Panel], x_label: &str) -> String {
    let width = PANEL_W * panels.len().max(1) as f64;
    let height = PANEL_H + LEGEND_H;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="{width}" height="{height}" fill="white"/>"#
    );
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
        let ox = pi as f64 * PANEL_W;
        let (y0, y1) = if panel.y_range.1 > panel.y_range.0 {
            panel.y_range
        } else {
            (0.0, 1.0)
        };
        let plot_w = PANEL_W - MARGIN_L - MARGIN_R;
        let plot_h = PANEL_H - MARGIN_T - MARGIN_B;
        let px = |x: f64| ox + MARGIN_L + (x - x_min) / (x_max - x_min) * plot_w;
        let py = |y: f64| MARGIN_T + (1.0 - (y.clamp(y0, y1) - y0) / (y1 - y0)) * plot_h;
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="22" text-anchor="middle" font-size="14" font-weight="bold">{}</text>"#,
            ox + MARGIN_L + plot_w / 2.0,
            escape(&panel.title)
        );
        // Horizontal grid and y ticks at multiples of a round step.
        let step = nice_step((y1 - y0) / 5.0);
        let first = (y0 / step - 1e-9).ceil() as i64;
        let last = (y1 / step + 1e-9).floor() as i64;
        for i in first..=last {
            let v = step * i as f64;
            let y = py(v);
            let _ = writeln!(
                s,
                r##"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#dddddd"/>"##,
                px(x_min),
                px(x_max)
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                px(x_min) - 6.0,
                y + 4.0,
                tick(v, step)
            );
        }
        // x ticks at the measured x values.
        for &x in &xs {
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                px(x),
                py(y0) + 16.0,
                tick(x, 1.0)
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            ox + MARGIN_L + plot_w / 2.0,
            PANEL_H - 8.0,
            escape(x_label)
        );
        let _ = writeln!(
            s,
            r##"<rect x="{:.1}" y="{:.1}" width="{plot_w:.1}" height="{plot_h:.1}" fill="none" stroke="#444444"/>"##,
            px(x_min),
            py(y1)
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
            (tick(0.25, 0.25), tick(0.4, 0.2), tick(5.0, 1.0)),
            ("0.25".into(), "0.4".into(), "5".into())
        );
    }
}
