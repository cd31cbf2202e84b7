//! The datasets' legends: the simplified DFC2020 classes of Sen12MS and the
//! DeepGlobe classes (the legend type itself is [`crate::legend`]).
//!
//! Class ids are the ones users see in maps and label files. For Sen12MS they are the
//! 1-based DFC2020 ids (0 = no data, never a class); for DeepGlobe 0..=5 with 6 as
//! "unknown". A model's output index i maps to `legend.classes[i]`.

pub use crate::legend::{find_class, ClassInfo};

/// IGBP value (0..=17) to simplified DFC2020 id (0 = no data).
pub const IGBP_TO_DFC: [u8; 18] = [0, 1, 1, 1, 1, 1, 2, 2, 3, 3, 4, 5, 6, 7, 6, 8, 9, 10];

/// Maps a raw IGBP value to its DFC2020 id; values outside 1..=17 are no data (0).
pub fn igbp_to_dfc(igbp: u16) -> u8 {
    IGBP_TO_DFC.get(igbp as usize).copied().unwrap_or(0)
}

/// The ten simplified DFC2020 classes, ids 1..=10.
pub fn dfc2020() -> Vec<ClassInfo> {
    vec![
        ClassInfo::new(1, "Forest", "#009900"),
        ClassInfo::new(2, "Shrubland", "#c6b044"),
        ClassInfo::new(3, "Savanna", "#fbff13"),
        ClassInfo::new(4, "Grassland", "#b6ff05"),
        ClassInfo::new(5, "Wetlands", "#27ff87"),
        ClassInfo::new(6, "Croplands", "#c24f44"),
        ClassInfo::new(7, "Urban/Built-up", "#a5a5a5"),
        ClassInfo::new(8, "Snow/Ice", "#69fff8"),
        ClassInfo::new(9, "Barren", "#f9ffa4"),
        ClassInfo::new(10, "Water", "#1c0dff"),
    ]
}

/// DeepGlobe mask value used for pixels whose colour matches no class.
pub const DEEPGLOBE_IGNORE: u8 = 255;

/// The DeepGlobe land-cover classes (ids 0..=6) with their mask colours.
pub fn deepglobe() -> Vec<ClassInfo> {
    vec![
        ClassInfo::new(0, "Urban", "#00ffff"),
        ClassInfo::new(1, "Agriculture", "#ffff00"),
        ClassInfo::new(2, "Rangeland", "#ff00ff"),
        ClassInfo::new(3, "Forest", "#00ff00"),
        ClassInfo::new(4, "Water", "#0000ff"),
        ClassInfo::new(5, "Barren", "#ffffff"),
        ClassInfo::new(6, "Unknown", "#000000"),
    ]
}

/// Decodes a DeepGlobe mask pixel: each channel thresholded at 128, then matched to
/// a class colour; unmatched colours give [`DEEPGLOBE_IGNORE`].
pub fn deepglobe_class_of(rgb: [u8; 3]) -> u8 {
    let bits = [rgb[0] >= 128, rgb[1] >= 128, rgb[2] >= 128];
    match bits {
        [false, true, true] => 0,
        [true, true, false] => 1,
        [true, false, true] => 2,
        [false, true, false] => 3,
        [false, false, true] => 4,
        [true, true, true] => 5,
        [false, false, false] => 6,
        _ => DEEPGLOBE_IGNORE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn igbp_lookup_matches_the_dfc2020_table() {
        assert_eq!(igbp_to_dfc(0), 0);
        assert_eq!(igbp_to_dfc(5), 1);
        assert_eq!(igbp_to_dfc(12), 6);
        assert_eq!(igbp_to_dfc(14), 6);
        assert_eq!(igbp_to_dfc(17), 10);
        assert_eq!(igbp_to_dfc(255), 0);
    }

    #[test]
    fn deepglobe_masks_are_thresholded_at_128() {
        assert_eq!(deepglobe_class_of([3, 250, 251]), 0);
        assert_eq!(deepglobe_class_of([200, 200, 10]), 1);
        assert_eq!(deepglobe_class_of([255, 0, 0]), DEEPGLOBE_IGNORE);
    }

    #[test]
    fn classes_are_found_by_name_or_id() {
        let l = dfc2020();
        assert_eq!(find_class(&l, "water").unwrap().id, 10);
        assert_eq!(find_class(&l, "6").unwrap().name, "Croplands");
        assert!(find_class(&l, "lava").is_none());
        assert_eq!(l[0].rgb(), [0, 0x99, 0]);
    }
}
