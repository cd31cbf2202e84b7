//! The default number of adaptation steps a trained model carries in its card,
//! chosen on meta-validation at the end of training.

use super::*;

/// Chooses the default adaptation step count of the model at `out` (the kept, best
/// meta-validated parameters): the most accurate of [`ADAPT_STEP_CANDIDATES`] at the
/// meta-training step size on the meta-validation tasks (fewer steps win ties), and
/// records it in the model's card. Meta-training takes one inner step for speed; an
/// analyst's adaptation needs more, and how many depends on the model.
pub(super) fn choose_adapt_steps(
    out: &Path,
    tasks: &[TaskTensors],
    inner: &InnerSettings,
    device: Device,
) -> Result<ChosenSteps> {
    let mut ckpt = Checkpoint::load(out)?;
    let params = Params::load(&ckpt.card.spec, &ckpt.tensors, device)?;
    let scores: Vec<(usize, f64)> = ADAPT_STEP_CANDIDATES
        .iter()
        .map(|&steps| {
            // Scored with the head start `adapt` will use by default.
            let s = InnerSettings {
                steps,
                prototype_head: ckpt.card.adapts_from_prototypes(),
                ..*inner
            };
            let v = evaluate_tasks(&params, tasks, &s);
            (
                steps,
                if v.query_acc.is_finite() {
                    v.query_acc
                } else {
                    -1.0
                },
            )
        })
        .collect();
    let best = scores
        .iter()
        .fold(scores[0], |b, &c| if c.1 > b.1 { c } else { b });
    ckpt.card.inner_loop.chosen_steps = Some(best.0);
    ckpt.save(out, true)?;
    Ok(ChosenSteps {
        chosen: best.0,
        scores,
        default: ckpt.card.adapt_steps(ckpt.card.adapts_from_prototypes()),
    })
}
