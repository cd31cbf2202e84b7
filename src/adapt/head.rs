//! The output layer for the analyst's classes: which row of a model's head each class
//! starts from, and new rows for classes the head has none for.
//!
//! - **MAML** models were meta-trained with task-local labels (each task shuffles its
//!   classes over outputs `0..way`), so output i is simply the i-th class. Classes
//!   beyond the `way` rows meta-training used (rows past it were only ever pushed
//!   down, as no task's class) start from the mean of those rows: the rows are
//!   exchangeable by construction, so their mean is the one initialisation that
//!   favours no class (the argument of Ye & Chao, "How to train your MAML to excel
//!   in few-shot classification", ICLR 2022, which meta-learns a single row for all
//!   classes for the same reason).
//! - **Pretrained** (and random) models have one row per class of their legend: a
//!   class with the id and name of a legend class keeps its row; any other class gets
//!   a new row, started from the mean of the legend's rows, and the report names it.

use super::AdaptOptions;
use crate::card::{AdaptationRecord, ModelCard};
use crate::checkpoint::{Checkpoint, HostTensor};
use crate::error::{Error, Result};
use crate::legend::{find_class, ClassInfo};
use crate::model::arch::{HEAD_BIAS, HEAD_WEIGHT};
use crate::model::params::Params;
use std::collections::BTreeMap;

/// Where each class's output comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadPlan {
    /// Output index of each class (in the grown head), in class order.
    pub outputs: Vec<usize>,
    /// Classes (names) whose rows are new.
    pub new_rows: Vec<String>,
}

/// Plans the head rows of `classes` on a model of `card`.
pub fn plan(card: &ModelCard, classes: &[ClassInfo]) -> HeadPlan {
    let rows = card.spec.num_classes;
    if card.provenance.method == "maml" {
        let way = trained_rows(card);
        return HeadPlan {
            outputs: (0..classes.len())
                .map(|i| if i < way { i } else { rows + i - way })
                .collect(),
            new_rows: classes.iter().skip(way).map(|c| c.name.clone()).collect(),
        };
    }
    let mut next = rows;
    let mut new_rows = Vec::new();
    let outputs = classes
        .iter()
        .map(|c| {
            let same = |k: &ClassInfo| k.id == c.id && k.name.eq_ignore_ascii_case(c.name.trim());
            card.classes.iter().position(same).unwrap_or_else(|| {
                new_rows.push(c.name.clone());
                next += 1;
                next - 1
            })
        })
        .collect();
    HeadPlan { outputs, new_rows }
}

/// Rows of the head that meta-training or pretraining gave meaning to: a MAML
/// model's first `way` rows (from its training config), every row otherwise.
fn trained_rows(card: &ModelCard) -> usize {
    let rows = card.spec.num_classes;
    if card.provenance.method != "maml" {
        return rows;
    }
    card.provenance
        .config
        .get("way")
        .and_then(|w| w.as_u64())
        .map_or(rows, |w| (w as usize).clamp(1, rows))
}

/// `ckpt` with `extra` head rows appended (each the mean of the trained rows), the
/// spec and legend grown to match (`extra_classes` are listed for the new rows).
pub fn grow(ckpt: &Checkpoint, extra_classes: &[ClassInfo]) -> Checkpoint {
    let mut out = ckpt.clone();
    if extra_classes.is_empty() {
        return out;
    }
    let used = trained_rows(&ckpt.card);
    for name in [HEAD_WEIGHT, HEAD_BIAS] {
        let t = &ckpt.tensors[name];
        let row: usize = t.shape[1..].iter().product();
        let mut mean = vec![0f32; row];
        for r in 0..used {
            for (m, v) in mean.iter_mut().zip(&t.data[r * row..(r + 1) * row]) {
                *m += v / used as f32;
            }
        }
        let mut data = t.data.clone();
        for _ in extra_classes {
            data.extend_from_slice(&mean);
        }
        let mut shape = t.shape.clone();
        shape[0] += extra_classes.len();
        out.tensors.insert(name.into(), HostTensor { shape, data });
    }
    out.card.spec.num_classes += extra_classes.len();
    // Placeholder legend entries for the new rows; ids only need to be distinct here
    // (the adapted card lists the analyst's classes).
    let top = ckpt.card.classes.iter().map(|c| c.id).max().unwrap_or(0);
    out.card
        .classes
        .extend(extra_classes.iter().enumerate().map(|(i, c)| ClassInfo {
            id: top + 1 + i as u16,
            ..c.clone()
        }));
    out
}

/// The adapted checkpoint: head rows of the analyst's classes only, in `classes`
/// order, their legend, batch-norm statistics frozen.
pub(super) fn head_for(
    params: &Params,
    card: &ModelCard,
    classes: &[ClassInfo],
    outputs: &[usize],
    record: AdaptationRecord,
) -> Checkpoint {
    let mut tensors = params.to_named();
    for name in [HEAD_WEIGHT, HEAD_BIAS] {
        let t = &tensors[name];
        let row: usize = t.shape[1..].iter().product();
        let data: Vec<f32> = outputs
            .iter()
            .flat_map(|&o| t.data[o * row..(o + 1) * row].iter().copied())
            .collect();
        let mut shape = t.shape.clone();
        shape[0] = outputs.len();
        tensors.insert(name.into(), HostTensor { shape, data });
    }
    let mut card = card.clone();
    card.spec.num_classes = classes.len();
    // The pixel network is fully convolutional: maps read larger windows than the
    // tiles it learnt from.
    if card.spec.arch == crate::model::spec::Arch::Pixel {
        card.spec.tile_size = card.spec.tile_size.max(crate::model::arch::pixel::TILE);
    }
    card.classes = classes.to_vec();
    card.bn_frozen = true;
    card.inner_loop.lr = record.inner_lr;
    card.inner_loop.steps = record.inner_steps;
    card.inner_loop.chosen_steps = None;
    card.adaptation = Some(record);
    Checkpoint {
        card,
        tensors,
        extra: BTreeMap::new(),
    }
}

/// The map's classes: those labelled (each with at least one shot), by id, or the
/// `--classes` list in its order, which must then name every labelled class.
pub(super) fn map_classes(
    opts: &AdaptOptions,
    legend: &[ClassInfo],
    shot_ids: &[u16],
) -> Result<Vec<ClassInfo>> {
    let labelled: Vec<ClassInfo> = legend
        .iter()
        .filter(|c| shot_ids.contains(&c.id))
        .cloned()
        .collect();
    let list = |cs: &[ClassInfo]| {
        cs.iter()
            .map(|c| c.name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let classes = match &opts.classes {
        None => labelled,
        Some(wanted) => {
            let mut out: Vec<ClassInfo> = Vec::new();
            for w in wanted {
                let c = find_class(&labelled, w).ok_or_else(|| {
                    Error::config(
                        "--classes",
                        format!(
                            "`{w}` has no label in {} (its labelled classes: {})",
                            opts.labels.display(),
                            list(&labelled)
                        ),
                    )
                })?;
                if out.iter().any(|o| o.id == c.id) {
                    return Err(Error::config("--classes", format!("`{w}` is listed twice")));
                }
                out.push(c.clone());
            }
            let missing: Vec<ClassInfo> = labelled
                .iter()
                .filter(|c| !out.iter().any(|o| o.id == c.id))
                .cloned()
                .collect();
            if !missing.is_empty() {
                return Err(Error::config(
                    "--classes",
                    format!(
                        "does not list {}, labelled in {}; list every class, or remove its labels",
                        list(&missing),
                        opts.labels.display()
                    ),
                ));
            }
            out
        }
    };
    if classes.len() < 2 {
        return Err(Error::labels(
            &opts.labels,
            "labels name fewer than two classes; a map needs at least two",
        ));
    }
    Ok(classes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::classes::dfc2020;
    use crate::model::spec::ModelSpec;

    fn card(method: &str) -> ModelCard {
        let mut c = ModelCard::untrained(ModelSpec::paper_cnn(2, 10), &["B02", "B03"], dfc2020());
        c.provenance.method = method.into();
        c.provenance.config = serde_json::json!({"way": 4});
        c
    }

    fn class(id: u16, name: &str) -> ClassInfo {
        ClassInfo::new(id, name, "#000000")
    }

    #[test]
    fn pretrained_rows_are_kept_for_legend_classes_and_new_ones_appended() {
        let classes = [
            class(1, "forest"),
            class(11, "oil palm"),
            class(10, "Water"),
            class(12, "burnt"),
        ];
        let p = plan(&card("pretrain"), &classes);
        assert_eq!(p.outputs, vec![0, 10, 9, 11]);
        assert_eq!(p.new_rows, vec!["oil palm", "burnt"]);
        // An id of the legend under another name is not that legend class.
        let p = plan(
            &card("pretrain"),
            &[class(6, "oil palm"), class(1, "Forest")],
        );
        assert_eq!(p.outputs, vec![10, 0]);
    }

    #[test]
    fn maml_outputs_are_task_local_and_new_past_the_trained_way() {
        let classes: Vec<ClassInfo> = (0..12).map(|i| class(20 + i, &format!("c{i}"))).collect();
        let p = plan(&card("maml"), &classes);
        // Rows 0..4 (4-way meta-training) are kept; classes 4.. get rows after the
        // head's 10.
        let want: Vec<usize> = (0..4).chain(10..18).collect();
        assert_eq!(p.outputs, want);
        assert_eq!(p.new_rows.len(), 8);
        assert_eq!(p.new_rows[0], "c4");
        let c = card("maml");
        let grown = grow(
            &Checkpoint {
                card: c.clone(),
                tensors: crate::export::random_checkpoint(c, 1).tensors,
                extra: Default::default(),
            },
            &classes[4..],
        );
        assert_eq!(grown.card.spec.num_classes, 18);
        let w = &grown.tensors["head.bias"];
        let mean = w.data[..4].iter().sum::<f32>() / 4.0;
        assert!((w.data[10] - mean).abs() < 1e-6 && (w.data[17] - mean).abs() < 1e-6);
        grown.validate().unwrap();
    }
}
