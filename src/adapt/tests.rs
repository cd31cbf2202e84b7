use super::loss_rose;

#[test]
fn a_loss_counts_as_risen_only_when_it_ends_clearly_above_its_start() {
    assert!(loss_rose(&[1.98, 4.0, 15.7]));
    assert!(loss_rose(&[1.0, 0.5, 1.02]));
    // Wandering but ending lower, at the start, or within rounding: not risen.
    assert!(!loss_rose(&[1.6, 5.6, 0.75]));
    assert!(!loss_rose(&[1.0, 1.005]));
    assert!(!loss_rose(&[0.0, 0.0]));
    assert!(!loss_rose(&[2.0]));
}
