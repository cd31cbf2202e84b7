use super::*;
use crate::synth::biome::Biome;

fn variety(region: u64) -> (Look, Variety) {
    let look = Look::new(4, region, Biome::Temperate, 47.0, 1);
    let v = Variety::new(4, region, 47.0, 1, &look);
    (look, v)
}

#[test]
fn appearances_parse_and_name_themselves() {
    assert_eq!(
        Appearance::parse(" Classic", "--appearance").unwrap(),
        Appearance::Classic
    );
    assert_eq!(Appearance::default().name(), "varied");
    let err = Appearance::parse("hard", "--appearance").unwrap_err();
    assert!(err.to_string().contains("--appearance"), "{err}");
}

#[test]
fn classes_have_subtypes_that_differ() {
    let (_, v) = variety(91);
    let crop = dfc::CROPLANDS as usize;
    assert_eq!(v.n_sub[crop], 4);
    let nir = |i: usize| v.sub[crop][i][7];
    // The barest stage is the region's soil, the others greener (higher NIR/red).
    assert!(v.sub[crop][0] != v.sub[crop][1]);
    assert!((0..4).all(|i| nir(i) > 0.0));
    let forest = dfc::FOREST as usize;
    assert!(
        v.sub[forest][1][7] < v.sub[forest][0][7],
        "conifers darker in NIR"
    );
}

#[test]
fn urban_pixels_mix_materials_and_vary_within_a_few_pixels() {
    let (_, v) = variety(57);
    let vals: Vec<f32> = (0..40)
        .map(|i| v.surface(dfc::URBAN, 3, false, i as f64, 0.0)[3])
        .collect();
    let (lo, hi) = vals
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    assert!(hi / lo > 1.5, "urban red band spans {lo}..{hi}");
}

#[test]
fn terrain_shades_some_slopes_and_haze_stays_bounded() {
    let mut seen = (f32::MAX, f32::MIN);
    for region in 0..20 {
        let (_, v) = variety(region);
        for i in 0..200 {
            let (light, db) = v.terrain(i as f64 * 13.0, i as f64 * 7.0);
            assert!(
                (0.0..4.0).contains(&light) && db.is_finite(),
                "{light} {db}"
            );
            seen = (seen.0.min(light), seen.1.max(light));
            let h = v.haze(i as f64 * 31.0, 5.0);
            assert!((0.0..=0.07).contains(&h));
        }
    }
    assert!(seen.0 < 0.9 && seen.1 > 1.1, "illumination {seen:?}");
}

#[test]
fn variety_is_deterministic() {
    let (_, a) = variety(12);
    let (_, b) = variety(12);
    assert_eq!(a.sub, b.sub);
    assert_eq!(a.relief_m, b.relief_m);
}
