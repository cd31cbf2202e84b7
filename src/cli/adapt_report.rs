//! The adaptation's report on stderr, as `adapt`, `map --labels` and `suggest`
//! print it.

#[cfg(feature = "train")]
use crate::adapt::{AdaptReport, Adapted};
use crate::error::Result;
use crate::map_model::{Adaptation, MapModel, Unadapted};
use std::path::Path;

/// Prints what adaptation did (classes, shots, inner loop, warnings) and its time.
#[cfg(feature = "train")]
pub(crate) fn print_adaptation(r: &AdaptReport, seconds: f64) {
    eprintln!(
        "classes       {}",
        r.classes
            .iter()
            .map(|c| format!("{}={} {}", c.id, c.name, c.color))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for n in &r.legend_notes {
        eprintln!("note: {n}");
    }
    if !r.new_head_rows.is_empty() {
        eprintln!(
            "new output rows (not in the model's head, started from the mean of its rows): {}",
            r.new_head_rows.join(", ")
        );
    }
    let shots: Vec<String> = r
        .shots_per_class
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    eprintln!(
        "adapted on {} shots ({})",
        r.shots_per_class.values().sum::<usize>(),
        shots.join(", ")
    );
    let kept = if r.support_loss_rose {
        format!(
            " (support loss rose: weights after step {} kept)",
            r.steps_kept
        )
    } else {
        String::new()
    };
    eprintln!(
        "inner loop    lr {} x {} steps from {}; support loss {:.3} -> {:.3}{kept}, support accuracy {:.1}%",
        r.inner_lr,
        r.inner_steps,
        crate::card::head_start(r.prototype_head),
        r.support_loss.0,
        r.support_loss.1,
        100.0 * r.support_accuracy
    );
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    eprintln!("adaptation took {seconds:.1} s");
}

/// Computes the cross-validated accuracy of an adaptation (when asked for) and
/// prints it with its time on stderr.
#[cfg(feature = "train")]
pub(crate) fn report_accuracy(adapted: &mut Adapted) -> Result<()> {
    let t0 = std::time::Instant::now();
    let warned = adapted.report.warnings.len();
    if let Some((acc, folds)) = adapted.estimate_accuracy()? {
        let what = adapted.report.estimate.describe();
        eprintln!(
            "held-out accuracy over the labels ({folds} spatial folds, {what}): {:.1}% ({:.1} s)",
            100.0 * acc,
            t0.elapsed().as_secs_f64()
        );
        if let Some(b) = adapted.report.baseline_accuracy {
            eprintln!(
                "  per-pixel nearest neighbour on the same folds:       {:.1}%",
                100.0 * b
            );
        }
        for w in &adapted.report.warnings[warned..] {
            eprintln!("warning: {w}");
        }
    }
    Ok(())
}

/// Resolves the model a map is made with ([`MapModel::resolve`]) and prints the
/// adaptation made on the way.
pub(crate) fn resolve_model(
    model: &Path,
    adaptation: Option<Adaptation>,
    unadapted: Unadapted,
    output: &Path,
) -> Result<MapModel> {
    let t0 = std::time::Instant::now();
    let resolved = MapModel::resolve(model, adaptation, unadapted, output)?;
    #[cfg(feature = "train")]
    if let Some(a) = &resolved.adapted {
        print_adaptation(&a.report, t0.elapsed().as_secs_f64());
    }
    #[cfg(not(feature = "train"))]
    let _ = t0;
    Ok(resolved)
}

/// [`report_accuracy`] of the adaptation `model` was made with, if any.
pub(crate) fn report_model_accuracy(
    #[cfg_attr(not(feature = "train"), allow(unused_variables))] model: &mut MapModel,
) -> Result<()> {
    #[cfg(feature = "train")]
    if let Some(a) = model.adapted.as_mut() {
        report_accuracy(a)?;
    }
    Ok(())
}
