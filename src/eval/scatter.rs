//! Hand-written SVG charts on continuous axes for `evaluate --trajectories`:
//! scatter panels (points coloured by group, plus labelled reference marks) and
//! line panels with 95 % bands against a continuous x (ticks at round values, not
//! at every measured x as in [`crate::eval::plot`], which suits a few shot counts
//! but not 21 step sizes). No plotting dependency.

use crate::eval::svg::{
    axes, escape, span, svg_header, Frame, XTicks, COLOURS as COLOUR_PALETTE, MARGIN_L, PANEL_W,
};
use std::fmt::Write;

/// Group and line colours: the charts' palette without its black, which marks
/// reference points here.
const COLOURS: &[&str] = COLOUR_PALETTE.split_at(7).0;

const PANEL_H: f64 = 300.0;
const LEGEND_ROW: f64 = 22.0;

/// One panel of a scatter figure.
#[derive(Debug, Clone, PartialEq)]
pub struct ScatterPanel {
    /// Title above the chart.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// `(x, y, group)`: the group picks colour and marker and names the legend entry.
    pub points: Vec<(f64, f64, usize)>,
    /// Reference points drawn as black stars with a label next to them.
    pub marks: Vec<(f64, f64, String)>,
}

/// A marker of one of three shapes (so that more groups than colours stay apart).
fn marker(s: &mut String, shape: usize, x: f64, y: f64, colour: &str) {
    let _ = match shape % 3 {
        0 => writeln!(
            s,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="4" fill="{colour}" fill-opacity="0.8"/>"#
        ),
        1 => writeln!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="7" height="7" fill="{colour}" fill-opacity="0.8"/>"#,
            x - 3.5,
            y - 3.5
        ),
        _ => writeln!(
            s,
            r#"<polygon points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="{colour}" fill-opacity="0.8"/>"#,
            x,
            y - 4.5,
            x - 4.5,
            y + 3.5,
            x + 4.5,
            y + 3.5
        ),
    };
}

fn star(s: &mut String, x: f64, y: f64) {
    let pts: Vec<String> = (0..10)
        .map(|i| {
            let r = if i % 2 == 0 { 8.0 } else { 3.5 };
            let a = std::f64::consts::PI * (i as f64 / 5.0 - 0.5);
            format!("{:.1},{:.1}", x + r * a.cos(), y + r * a.sin())
        })
        .collect();
    let _ = writeln!(
        s,
        r#"<polygon points="{}" fill="black" stroke="white" stroke-width="0.8"/>"#,
        pts.join(" ")
    );
}

/// Legend entries laid out left to right, wrapping at `width`; returns the SVG and
/// its height. `draw` draws the key of entry i at (x, y).
fn legend(
    names: &[String],
    width: f64,
    top: f64,
    mut draw: impl FnMut(&mut String, usize, f64, f64),
) -> (String, f64) {
    let mut s = String::new();
    let (mut x, mut row) = (MARGIN_L, 0usize);
    for (i, name) in names.iter().enumerate() {
        let w = 34.0 + 7.0 * name.chars().count() as f64;
        if x + w > width && x > MARGIN_L {
            x = MARGIN_L;
            row += 1;
        }
        let y = top + LEGEND_ROW * (row as f64 + 0.5);
        draw(&mut s, i, x + 8.0, y);
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            x + 22.0,
            y + 4.0,
            escape(name)
        );
        x += w;
    }
    let rows = if names.is_empty() { 0 } else { row + 1 };
    (s, LEGEND_ROW * rows as f64 + 6.0)
}

/// Scatter panels side by side, each with its own axes, and one legend below:
/// `groups[g]` names group g, then one entry per distinct mark label.
pub fn scatter_svg(panels: &[ScatterPanel], groups: &[String]) -> String {
    let width = PANEL_W * panels.len().max(1) as f64;
    let mut mark_names: Vec<String> = Vec::new();
    for m in panels.iter().flat_map(|p| p.marks.iter()) {
        if !mark_names.contains(&m.2) {
            mark_names.push(m.2.clone());
        }
    }
    let names: Vec<String> = groups.iter().chain(&mark_names).cloned().collect();
    let (legend_svg, legend_h) = legend(&names, width, PANEL_H, |s, i, x, y| {
        if i < groups.len() {
            marker(s, i / COLOURS.len(), x, y, COLOURS[i % COLOURS.len()]);
        } else {
            star(s, x, y);
        }
    });
    let mut s = String::new();
    svg_header(&mut s, width, PANEL_H + legend_h);
    for (pi, panel) in panels.iter().enumerate() {
        let xs = panel.points.iter().map(|p| p.0);
        let ys = panel.points.iter().map(|p| p.1);
        let x_range = span(xs.chain(panel.marks.iter().map(|m| m.0)), 0.08);
        let y_range = span(ys.chain(panel.marks.iter().map(|m| m.1)), 0.08);
        let (px, py) = axes(
            &mut s,
            &Frame {
                ox: pi as f64 * PANEL_W,
                panel_h: PANEL_H,
                title: &panel.title,
                x_range,
                y_range,
                x_label: &panel.x_label,
                y_label: &panel.y_label,
                x_ticks: XTicks::Round,
            },
        );
        for &(x, y, g) in &panel.points {
            if x.is_finite() && y.is_finite() {
                marker(
                    &mut s,
                    g / COLOURS.len(),
                    px(x),
                    py(y),
                    COLOURS[g % COLOURS.len()],
                );
            }
        }
        for (x, y, _) in &panel.marks {
            if x.is_finite() && y.is_finite() {
                star(&mut s, px(*x), py(*y));
            }
        }
    }
    s.push_str(&legend_svg);
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scatter_draws_every_point_the_marks_and_a_legend_entry_per_group() {
        let panel = ScatterPanel {
            title: "maml".into(),
            x_label: "PC1 (60 %)".into(),
            y_label: "PC2 (20 %)".into(),
            points: vec![(0.0, 1.0, 0), (1.0, -1.0, 1), (2.0, 0.5, 8)],
            marks: vec![(-1.0, 0.0, "start".into())],
        };
        let groups: Vec<String> = (0..9).map(|g| format!("region {g}")).collect();
        let svg = scatter_svg(&[panel.clone(), panel], &groups);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        // Group 8 wraps to the second shape (square) in the first colour.
        assert_eq!(svg.matches("<circle").count(), 2 * 2 + 7);
        // Two frames, the group-8 point of each panel, legend keys of groups 7 and 8.
        assert_eq!(svg.matches(r##"<rect x"##).count(), 2 + 2 + 2);
        assert!(svg.contains(">region 8<") && svg.contains(">start<"));
        assert!(svg.contains("rotate(-90") && svg.contains("PC1 (60 %)"));
    }
}
