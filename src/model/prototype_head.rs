//! The last layer started from class prototypes before the inner loop's steps.
//!
//! Each labelled output's row of the head becomes the mean of its labelled
//! examples' head inputs (the class prototype `c_k`, J. Snell, K. Swersky, R. Zemel,
//! "Prototypical Networks for Few-shot Learning", NeurIPS 2017), so adaptation
//! starts from a nearest-prototype classifier on the meta-learnt features and the
//! gradient steps refine it: Proto-MAML (E. Triantafillou et al., "Meta-Dataset: A
//! Dataset of Datasets for Learning to Learn from Few Examples", ICLR 2020), which
//! there did better than MAML's learnt head on most of its datasets. Weight `2 c_k / C` and bias
//! `-|c_k|^2 / C`, with `C` the head's input channels, give logits
//! `(|f|^2 - |f - c_k|^2) / C`: minus the mean squared difference per channel from
//! the prototype, plus a term the same for every class. The division by `C` keeps
//! the start's logits near unit scale, so the softmax is not saturated and the steps
//! that follow still move the head.
//!
//! Outputs without a labelled example keep their rows.

use crate::model::arch::{HEAD_BIAS, HEAD_WEIGHT};
use crate::model::functional::head_input;
use crate::model::layers::BnMode;
use crate::model::params::Params;
use crate::tasks::IGNORE_INDEX;
use tch::Tensor;

/// `params` with the head rows of every output labelled in `y` set from the
/// prototypes of the head inputs of `x` (batch-norm on `x`'s batch statistics, as
/// the inner loop's steps compute them).
///
/// `x`: `[n, bands, h, w]`; `y`: `[n, 1]` (a classifier's targets) or `[n, h * w]`
/// (a segmentation network's, [`IGNORE_INDEX`] where unlabelled), output indices.
/// With `differentiable` (second-order meta-training) the prototypes stay
/// functions of `params`, so the meta-gradient also flows through them; otherwise
/// they are constants. Either way the rows come out of a selection over the
/// model's own head, so every head tensor stays in the graph (its labelled rows
/// with a zero gradient).
pub fn with_prototype_head(
    params: &Params,
    x: &Tensor,
    y: &Tensor,
    differentiable: bool,
) -> Params {
    let (weight, bias) = (params.get(HEAD_WEIGHT), params.get(HEAD_BIAS));
    let features = if differentiable {
        head_input(params, x, BnMode::Batch)
    } else {
        tch::no_grad(|| head_input(params, x, BnMode::Batch))
    };
    let (w, b) = prototype_rows(&features, y, weight, bias);
    let mut head = [Some(w), Some(b)];
    let weights = params
        .trainable()
        .into_iter()
        .zip(params.trainable_names())
        .map(|(t, name)| match name {
            HEAD_WEIGHT => head[0].take().expect("one head weight"),
            HEAD_BIAS => head[1].take().expect("one head bias"),
            _ => t,
        })
        .collect();
    params.with_trainable(weights)
}

/// The head's weight and bias with every output labelled in `y` set from its
/// prototype in `features` (`[n, C]` or `[n, C, h, w]`, the head's input); other
/// rows copied from `weight` (`[k, C]` or `[k, C, 1, 1]`) and `bias` (`[k]`).
pub fn prototype_rows(
    features: &Tensor,
    y: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
) -> (Tensor, Tensor) {
    let channels = features.size()[1];
    let flat = if features.dim() == 4 {
        features.permute([0, 2, 3, 1]).reshape([-1, channels])
    } else {
        features.shallow_clone()
    };
    let labels = y.reshape([-1]);
    let outputs = weight.size()[0];
    let labelled = labels.ne(IGNORE_INDEX);
    // One-hot over the labelled examples: [N, k]; class sums and counts by matmul.
    let one_hot = labels
        .clamp(0, outputs - 1)
        .one_hot(outputs)
        .to_kind(flat.kind())
        * labelled.unsqueeze(1).to_kind(flat.kind());
    let counts = one_hot.sum_dim_intlist(0, false, flat.kind());
    let prototypes = one_hot.tr().matmul(&flat) / counts.clamp_min(1.0).unsqueeze(1);
    let scale = 1.0 / channels as f64;
    let new_w = (&prototypes * (2.0 * scale)).reshape(weight.size());
    let new_b = -prototypes.square().sum_dim_intlist(1, false, flat.kind()) * scale;
    let has = counts.gt(0.0);
    let w_has = has.reshape(
        std::iter::once(outputs)
            .chain(std::iter::repeat_n(1, weight.dim() - 1))
            .collect::<Vec<_>>(),
    );
    (
        new_w.where_self(&w_has, weight),
        new_b.where_self(&has, bias),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn labelled_rows_become_scaled_prototypes_and_others_stay() {
        let opts = (Kind::Double, Device::Cpu);
        // Four pixels of two channels in one 2x2 image: [1, 2, 2, 2].
        let features = Tensor::from_slice(&[1.0, 3.0, 0.0, 5.0, 2.0, 2.0, 1.0, 7.0])
            .view([1, 2, 2, 2])
            .to_kind(Kind::Double);
        // Pixels 0 and 1 are output 0, pixel 3 output 2, pixel 2 unlabelled.
        let y = Tensor::from_slice(&[0i64, 0, IGNORE_INDEX, 2]).view([1, 4]);
        let weight = Tensor::full([3, 2, 1, 1], 9.0, opts);
        let bias = Tensor::full([3], -5.0, opts);
        let (w, b) = prototype_rows(&features, &y, &weight, &bias);
        // Output 0: mean of (1, 2) and (3, 2) = (2, 2); output 2: (5, 7).
        let w = Vec::<f64>::try_from(w.reshape([-1])).unwrap();
        let b = Vec::<f64>::try_from(b).unwrap();
        assert_eq!(w, vec![2.0, 2.0, 9.0, 9.0, 5.0, 7.0]);
        assert_eq!(b, vec![-4.0, -5.0, -37.0]);
    }

    #[test]
    fn the_start_is_the_nearest_prototype_by_mean_squared_difference() {
        // A classifier's [n, C] features: each example's logits rank the classes by
        // the distance to their prototypes.
        let features =
            Tensor::from_slice(&[0.0f32, 0.0, 0.2, 0.0, 4.0, 4.0, 4.0, 3.8]).view([4, 2]);
        let y = Tensor::from_slice(&[1i64, 1, 0, 0]).view([4, 1]);
        let (w, b) = prototype_rows(
            &features,
            &y,
            &Tensor::zeros([2, 2], (Kind::Float, Device::Cpu)),
            &Tensor::zeros([2], (Kind::Float, Device::Cpu)),
        );
        let logits = features.matmul(&w.tr()) + b;
        let pred = Vec::<i64>::try_from(logits.argmax(1, false)).unwrap();
        assert_eq!(pred, vec![1, 1, 0, 0]);
        // (|f|^2 - |f - c|^2) / C at f = (0, 0), c_0 = (4, 3.9): -(16 + 15.21) / 2.
        let l = f64::try_from(logits.get(0).get(0)).unwrap();
        assert!((l + 31.21 / 2.0).abs() < 1e-4, "{l}");
    }
}
