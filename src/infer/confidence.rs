//! How sure a prediction is: the margin between its two most likely classes,
//! for the confidence band, `--min-confidence` and `suggest`'s choice of cells.
//! The smallest margins are where labels help most ("margin sampling",
//! Scheffer, Decomain and Wrobel 2001, "Active hidden Markov models for
//! information extraction").

/// Top-two margin in `0..=1` and arg-max of a probability vector: the first
/// largest value wins ties; NaN entries are never chosen; a single class (or one
/// finite value) has margin 1; `None` when no entry is finite.
pub fn top_two(p: impl IntoIterator<Item = f32>) -> Option<(f32, usize)> {
    let (mut best, mut second, mut arg) = (f32::NEG_INFINITY, f32::NEG_INFINITY, 0);
    for (i, v) in p.into_iter().enumerate() {
        if v > best {
            (best, second, arg) = (v, best, i);
        } else if v > second {
            second = v;
        }
    }
    if best == f32::NEG_INFINITY {
        return None;
    }
    if second == f32::NEG_INFINITY {
        return Some((1.0, arg));
    }
    Some(((best - second).max(0.0), arg))
}

/// A probability (or margin) in percent, rounded, `0..=100`.
pub fn percent(p: f32) -> u8 {
    (p.clamp(0.0, 1.0) * 100.0).round() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_margin_is_the_top_two_difference_and_ties_go_to_the_first() {
        let (m, arg) = top_two([0.1, 0.6, 0.3]).unwrap();
        assert!((m - 0.3).abs() < 1e-6);
        assert_eq!(arg, 1);
        assert_eq!(top_two([0.5, 0.5]), Some((0.0, 0)));
        assert_eq!(top_two([1.0]), Some((1.0, 0)));
        assert_eq!(top_two([f32::NAN, 0.7, 0.3]).unwrap().1, 1);
        assert_eq!(top_two([f32::NAN, f32::NAN]), None);
        assert_eq!(percent(0.3), 30);
        assert_eq!(percent(1.5), 100);
    }
}
