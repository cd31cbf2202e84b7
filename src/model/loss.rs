//! Losses and accuracy for both architectures, skipping unlabelled pixels.
//!
//! Labels are integer class indices: `[n, 1]` per tile for the classifier or
//! `[n, h*w]` per pixel for the U-Net (the [`TaskBatch`](crate::tasks::TaskBatch)
//! layout), with [`IGNORE_INDEX`](crate::tasks::IGNORE_INDEX) for pixels without a class.

use crate::tasks::IGNORE_INDEX;
use tch::{Kind, Reduction, Tensor};

fn labels_for(logits: &Tensor, y: &Tensor) -> Tensor {
    let size = logits.size();
    if size.len() == 2 {
        y.view([-1])
    } else {
        y.view([size[0], size[2], size[3]])
    }
}

/// Mean cross-entropy of `logits` (`[n, c]` or `[n, c, h, w]`) against labels,
/// ignoring [`IGNORE_INDEX`].
///
/// A batch with nothing labelled (a segmentation query whose pixels are all of
/// classes outside the task) has loss 0 and no gradient, where PyTorch's mean
/// reduction would give 0/0 = NaN and end training.
pub fn cross_entropy(logits: &Tensor, y: &Tensor) -> Tensor {
    let labels = labels_for(logits, y);
    let counted = labels.ne(IGNORE_INDEX).sum(logits.kind()).clamp_min(1.0);
    logits.cross_entropy_loss(&labels, None::<Tensor>, Reduction::Sum, IGNORE_INDEX, 0.0) / counted
}

/// Fraction of labelled tiles or pixels whose arg-max class is right (NaN when
/// nothing is labelled).
pub fn accuracy(logits: &Tensor, y: &Tensor) -> f64 {
    let y = labels_for(logits, y);
    let pred = logits.detach().argmax(1, false);
    let labelled = y.ne(IGNORE_INDEX);
    let correct = pred
        .eq_tensor(&y)
        .logical_and(&labelled)
        .sum(Kind::Int64)
        .int64_value(&[]);
    let total = labelled.sum(Kind::Int64).int64_value(&[]);
    correct as f64 / total as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn ignored_pixels_count_for_nothing() {
        // Channel 0 wins at pixels 0 and 3, channel 1 at pixels 1 and 2.
        let logits =
            Tensor::from_slice(&[9.0f32, 0.0, 0.0, 9.0, 0.0, 9.0, 9.0, 0.0]).view([1, 2, 2, 2]);
        let pred = logits.argmax(1, false).view([-1]);
        let mut y: Vec<i64> = Vec::<i64>::try_from(&pred).unwrap();
        assert_eq!(y, vec![0, 1, 1, 0]);
        y[3] = IGNORE_INDEX;
        let y = Tensor::from_slice(&y).view([1, 4]);
        assert_eq!(accuracy(&logits, &y), 1.0);
        let l = f64::try_from(cross_entropy(&logits, &y)).unwrap();
        assert!(l < 0.01, "{l}");
        let tiles = Tensor::from_slice(&[2.0f32, 0.0, 0.0, 2.0]).view([2, 2]);
        let yt = Tensor::from_slice(&[0i64, 0])
            .view([2, 1])
            .to_device(Device::Cpu);
        assert_eq!(accuracy(&tiles, &yt), 0.5);
    }

    #[test]
    fn nothing_labelled_is_zero_loss_without_gradient() {
        let logits = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0])
            .view([1, 2, 1, 2])
            .set_requires_grad(true);
        let y = Tensor::from_slice(&[IGNORE_INDEX, IGNORE_INDEX]).view([1, 2]);
        let loss = cross_entropy(&logits, &y);
        assert_eq!(f64::try_from(&loss).unwrap(), 0.0);
        loss.backward();
        let g = Vec::<f32>::try_from(logits.grad().view([-1])).unwrap();
        assert!(g.iter().all(|v| *v == 0.0), "{g:?}");
    }
}
