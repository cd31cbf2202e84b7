//! The yardstick beside the network: a per-pixel classifier on the labels alone.
//!
//! What an analyst would otherwise fit in a few lines (dzetsaka, the Semi-Automatic
//! Classification Plugin, Earth Engine): here the nearest labelled neighbour in the
//! space of the labelled pixels' own band values, each band standardised (the 1-NN of
//! the map benchmark's peers). It never makes a map; `adapt` cross-validates it on the
//! same spatial folds as the network and warns when it does better.

/// Accuracy of 1-NN over held-out shots, fold by fold: `values[i]` are shot i's band
/// values (its centre pixel, as the model reads it), `labels[i]` its class, `folds[i]`
/// its fold. `None` without any prediction (every fold empty or alone).
pub fn nearest_neighbour_accuracy(
    values: &[Vec<f32>],
    labels: &[u16],
    folds: &[usize],
) -> Option<f64> {
    let bands = values.first()?.len();
    let n = values.len() as f64;
    // Standardise each band over the labelled pixels (as a StandardScaler would).
    let mean: Vec<f64> = (0..bands)
        .map(|b| values.iter().map(|v| v[b] as f64).sum::<f64>() / n)
        .collect();
    let std: Vec<f64> = (0..bands)
        .map(|b| {
            let var = values
                .iter()
                .map(|v| (v[b] as f64 - mean[b]).powi(2))
                .sum::<f64>()
                / n;
            var.sqrt().max(1e-12)
        })
        .collect();
    let z: Vec<Vec<f64>> = values
        .iter()
        .map(|v| {
            (0..bands)
                .map(|b| (v[b] as f64 - mean[b]) / std[b])
                .collect()
        })
        .collect();
    let (mut right, mut total) = (0usize, 0usize);
    for i in 0..z.len() {
        let nearest = (0..z.len())
            .filter(|&j| folds[j] != folds[i])
            .min_by(|&a, &b| {
                crate::tasks::kmeans::dist2(&z[i], &z[a])
                    .total_cmp(&crate::tasks::kmeans::dist2(&z[i], &z[b]))
            });
        if let Some(j) = nearest {
            total += 1;
            right += usize::from(labels[j] == labels[i]);
        }
    }
    (total > 0).then(|| right as f64 / total as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_classes_are_found_and_noise_is_not() {
        // Class by the sign of band 0; band 1 is noise on a larger scale.
        let values: Vec<Vec<f32>> = (0..20)
            .map(|i| {
                vec![
                    if i % 2 == 0 { 1.0 } else { -1.0 } + 0.01 * i as f32,
                    100.0 * ((i * 7) % 5) as f32 / 5.0,
                ]
            })
            .collect();
        let labels: Vec<u16> = (0..20).map(|i| 1 + (i % 2) as u16).collect();
        let folds: Vec<usize> = (0..20).map(|i| i % 5).collect();
        let acc = nearest_neighbour_accuracy(&values, &labels, &folds).unwrap();
        assert!(acc >= 0.5, "{acc}");
        let clean: Vec<Vec<f32>> = values.iter().map(|v| vec![v[0]]).collect();
        assert_eq!(
            nearest_neighbour_accuracy(&clean, &labels, &folds),
            Some(1.0)
        );
        // One fold only: nothing to hold out against.
        assert_eq!(nearest_neighbour_accuracy(&clean, &labels, &[0; 20]), None);
    }
}
