//! The trajectories' figures as SVG: the PCA scatter per model and the losses along the support gradient.

use super::{PathReport, TrajectoryReport};
use crate::eval::few_shot::Interval;
use crate::eval::plot::{line_chart_svg, Panel, Series};
use crate::eval::scatter::{scatter_svg, ScatterPanel};
use crate::tasks::TaskKind;

/// One PCA panel per model, points coloured by region, the start weights as a star.
pub fn pca_svg(report: &TrajectoryReport) -> String {
    let mut regions: Vec<u32> = report
        .models
        .iter()
        .flat_map(|m| m.pca.tasks.iter().map(|t| t.region))
        .collect();
    regions.sort_unstable();
    regions.dedup();
    let place = match report.kind {
        TaskKind::Classification => "region",
        TaskKind::Segmentation => "image",
    };
    let groups: Vec<String> = regions.iter().map(|r| format!("{place} {r}")).collect();
    let panels: Vec<ScatterPanel> = report
        .models
        .iter()
        .map(|m| {
            let pct = |k: usize| m.pca.explained_variance_ratio[k] * 100.0;
            ScatterPanel {
                title: match (m.pca.region_r2, m.pca.region_r2_chance) {
                    (Some(r2), Some(chance)) => {
                        format!("{}: {place} R² {r2:.2} (chance {chance:.2})", m.name)
                    }
                    _ if m.pca.explained_variance_ratio[0] == 0.0 => {
                        format!("{}: weights unchanged", m.name)
                    }
                    _ => format!("{}: one {place}", m.name),
                },
                x_label: format!("PC1 ({:.0} %)", pct(0)),
                y_label: format!("PC2 ({:.0} %)", pct(1)),
                points: m
                    .pca
                    .tasks
                    .iter()
                    .map(|t| {
                        let g = regions.binary_search(&t.region).unwrap_or(0);
                        (t.pc[0], t.pc[1], g)
                    })
                    .collect(),
                marks: vec![(m.pca.start[0], m.pca.start[1], "start (unadapted)".into())],
            }
        })
        .collect();
    scatter_svg(&panels, &groups)
}

/// Query loss, query accuracy and support loss against the step size along the
/// support gradient, one line per model, 95 % bands over tasks.
pub fn loss_svg(report: &TrajectoryReport) -> String {
    let series = |f: fn(&PathReport) -> &Vec<Interval>| -> Vec<Series> {
        report
            .models
            .iter()
            .map(|m| Series {
                name: m.name.clone(),
                points: report
                    .alphas
                    .iter()
                    .zip(f(&m.path))
                    .map(|(&a, i)| (a, i.mean, if i.ci95.is_finite() { i.ci95 } else { 0.0 }))
                    .collect(),
            })
            .collect()
    };
    let what = match report.kind {
        TaskKind::Classification => "query accuracy",
        TaskKind::Segmentation => "query pixel accuracy",
    };
    line_chart_svg(
        &[
            Panel {
                title: format!("query loss ({} tasks)", report.tasks),
                y_range: (0.0, 0.0),
                series: series(|p| &p.query_loss),
            },
            Panel {
                title: what.into(),
                y_range: (0.0, 1.0),
                series: series(|p| &p.query_accuracy),
            },
            Panel {
                title: "support loss".into(),
                y_range: (0.0, 0.0),
                series: series(|p| &p.support_loss),
            },
        ],
        "step size alpha along the support gradient",
    )
}

/// One line per model: region R² of the adapted weights and where along the
/// support gradient the mean query loss is lowest.
pub fn summary(report: &TrajectoryReport) -> String {
    let mut s = String::new();
    for m in &report.models {
        let r2 = match (m.pca.region_r2, m.pca.region_r2_chance) {
            (Some(r2), Some(chance)) => format!("region R² {r2:.2} (chance {chance:.2})"),
            _ => "region R² -".into(),
        };
        let loss: Vec<f64> = m.path.query_loss.iter().map(|i| i.mean).collect();
        let best = loss
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .min_by(|a, b| a.1.total_cmp(b.1));
        let path = match (loss.first(), best) {
            (Some(first), Some((i, low))) => format!(
                "query loss {first:.3} at alpha 0, lowest {low:.3} at alpha {}",
                report.alphas[i]
            ),
            _ => "no query loss".into(),
        };
        s.push_str(&format!("{} trajectories: {r2}; {path}\n", m.name));
    }
    s
}
