//! SVG chart primitives shared by the line chart (`plot`) and the scatter plot
//! (`scatter`): palette, panel geometry, ticks, axes, escaping.

use std::fmt::Write;

/// Line colours (colour-blind safe, Okabe-Ito), black last.
pub(crate) const COLOURS: [&str; 8] = [
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#f0e442", "#000000",
];

pub(crate) const PANEL_W: f64 = 360.0;
pub(crate) const PANEL_H: f64 = 260.0;
pub(crate) const MARGIN_L: f64 = 60.0;
const MARGIN_R: f64 = 16.0;
pub(crate) const MARGIN_T: f64 = 36.0;
const MARGIN_B: f64 = 44.0;
pub(crate) const LEGEND_H: f64 = 28.0;

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
