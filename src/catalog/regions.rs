//! The Sen12MS regions and the paper author's meta-train/val/test split.
//!
//! A region is the scene id N of folders `s1_N/s2_N/lc_N`, pooled over the four
//! seasons; a task is one (season, region). 75 meta-train, 25 meta-val and 25
//! meta-test regions, each with the lon/lat of its scene centre (facts from
//! MarcCoru/meteor, MIT; regenerate with `scripts/gen_regions.py`).

use serde::{Deserialize, Serialize};

/// Which part of an experiment a region (or image) belongs to.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Meta-training.
    Train,
    /// Meta-validation (model selection, hyper-parameter search).
    Val,
    /// Meta-test (held-out regions).
    Test,
}

impl std::str::FromStr for Split {
    type Err = crate::error::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "train" | "meta-train" => Ok(Split::Train),
            "val" | "valid" | "validation" | "meta-val" => Ok(Split::Val),
            "test" | "holdout" | "meta-test" => Ok(Split::Test),
            other => Err(crate::error::UnknownName {
                what: "split",
                value: other.into(),
                expected: "train, val or test",
            }),
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        })
    }
}

/// One Sen12MS region.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Region {
    /// Scene id.
    pub id: u32,
    /// Longitude of the scene centre (degrees).
    pub lon: f64,
    /// Latitude of the scene centre (degrees).
    pub lat: f64,
    /// Split in the paper author's experiments.
    pub split: Split,
}

impl Region {
    /// EPSG code of the UTM zone holding the region centre.
    pub fn utm_epsg(&self) -> u32 {
        utm_epsg(self.lon, self.lat)
    }
}

/// EPSG code of the WGS 84 / UTM zone holding `(lon, lat)`.
pub fn utm_epsg(lon: f64, lat: f64) -> u32 {
    let zone = (((lon + 180.0) / 6.0).floor() as i64).rem_euclid(60) as u32 + 1;
    if lat >= 0.0 {
        32600 + zone
    } else {
        32700 + zone
    }
}

/// Looks a region up by scene id.
pub fn region(id: u32) -> Option<&'static Region> {
    REGIONS.iter().find(|r| r.id == id)
}

/// All regions of one split, in id order.
pub fn regions_in(split: Split) -> impl Iterator<Item = &'static Region> {
    REGIONS.iter().filter(move |r| r.split == split)
}

/// The 125 regions, by id.
pub const REGIONS: [Region; 125] = [
    Region {
        id: 1,
        lon: -114.263318,
        lat: 41.914841,
        split: Split::Val,
    },
    Region {
        id: 3,
        lon: 0.600517,
        lat: 41.227169,
        split: Split::Train,
    },
    Region {
        id: 4,
        lon: -14.671666,
        lat: 19.847974,
        split: Split::Train,
    },
    Region {
        id: 6,
        lon: 17.655655,
        lat: 47.673381,
        split: Split::Train,
    },
    Region {
        id: 7,
        lon: -150.180464,
        lat: 61.609389,
        split: Split::Train,
    },
    Region {
        id: 8,
        lon: 0.906833,
        lat: 17.494730,
        split: Split::Test,
    },
    Region {
        id: 9,
        lon: 20.139958,
        lat: 3.844882,
        split: Split::Train,
    },
    Region {
        id: 11,
        lon: 48.035378,
        lat: -14.330934,
        split: Split::Train,
    },
    Region {
        id: 14,
        lon: -58.289197,
        lat: 48.073205,
        split: Split::Train,
    },
    Region {
        id: 15,
        lon: 60.590181,
        lat: 31.760494,
        split: Split::Train,
    },
    Region {
        id: 17,
        lon: -59.886099,
        lat: -14.516329,
        split: Split::Test,
    },
    Region {
        id: 19,
        lon: 16.416195,
        lat: -11.113001,
        split: Split::Train,
    },
    Region {
        id: 20,
        lon: 20.065085,
        lat: 43.650835,
        split: Split::Train,
    },
    Region {
        id: 21,
        lon: -2.202688,
        lat: 35.226639,
        split: Split::Test,
    },
    Region {
        id: 22,
        lon: -80.345998,
        lat: 32.972514,
        split: Split::Test,
    },
    Region {
        id: 24,
        lon: -116.480818,
        lat: 67.845980,
        split: Split::Train,
    },
    Region {
        id: 25,
        lon: -55.269646,
        lat: 46.935131,
        split: Split::Train,
    },
    Region {
        id: 26,
        lon: 44.596073,
        lat: 14.313171,
        split: Split::Val,
    },
    Region {
        id: 27,
        lon: -120.785994,
        lat: 52.412335,
        split: Split::Train,
    },
    Region {
        id: 28,
        lon: 21.891051,
        lat: -14.573126,
        split: Split::Train,
    },
    Region {
        id: 29,
        lon: 33.425236,
        lat: -0.102222,
        split: Split::Train,
    },
    Region {
        id: 30,
        lon: 135.115814,
        lat: 59.002736,
        split: Split::Val,
    },
    Region {
        id: 31,
        lon: 11.002944,
        lat: 10.643519,
        split: Split::Train,
    },
    Region {
        id: 32,
        lon: 25.306102,
        lat: -33.938692,
        split: Split::Test,
    },
    Region {
        id: 33,
        lon: -91.862746,
        lat: 32.760128,
        split: Split::Train,
    },
    Region {
        id: 35,
        lon: 23.344874,
        lat: 6.017552,
        split: Split::Train,
    },
    Region {
        id: 36,
        lon: 43.262893,
        lat: -22.552021,
        split: Split::Val,
    },
    Region {
        id: 37,
        lon: 27.662188,
        lat: 7.517227,
        split: Split::Train,
    },
    Region {
        id: 39,
        lon: -61.907004,
        lat: -12.016017,
        split: Split::Train,
    },
    Region {
        id: 40,
        lon: 32.276228,
        lat: -20.427234,
        split: Split::Val,
    },
    Region {
        id: 41,
        lon: -129.023073,
        lat: 52.683652,
        split: Split::Train,
    },
    Region {
        id: 42,
        lon: -42.545310,
        lat: -5.598049,
        split: Split::Val,
    },
    Region {
        id: 43,
        lon: -126.164558,
        lat: 67.032571,
        split: Split::Train,
    },
    Region {
        id: 44,
        lon: 137.022709,
        lat: 54.298482,
        split: Split::Train,
    },
    Region {
        id: 45,
        lon: 40.195008,
        lat: -11.091177,
        split: Split::Train,
    },
    Region {
        id: 47,
        lon: 142.919854,
        lat: -19.274481,
        split: Split::Train,
    },
    Region {
        id: 49,
        lon: -37.376609,
        lat: -7.865395,
        split: Split::Test,
    },
    Region {
        id: 52,
        lon: 159.955413,
        lat: 63.832843,
        split: Split::Train,
    },
    Region {
        id: 53,
        lon: 18.867300,
        lat: 45.936293,
        split: Split::Train,
    },
    Region {
        id: 55,
        lon: -70.361230,
        lat: -36.973874,
        split: Split::Val,
    },
    Region {
        id: 56,
        lon: 15.534460,
        lat: 51.287836,
        split: Split::Train,
    },
    Region {
        id: 57,
        lon: 38.749089,
        lat: 24.966662,
        split: Split::Train,
    },
    Region {
        id: 58,
        lon: 21.009682,
        lat: 8.392497,
        split: Split::Train,
    },
    Region {
        id: 59,
        lon: -78.947684,
        lat: 53.420636,
        split: Split::Train,
    },
    Region {
        id: 61,
        lon: 79.889236,
        lat: 23.581536,
        split: Split::Train,
    },
    Region {
        id: 62,
        lon: 1.276029,
        lat: 19.873192,
        split: Split::Train,
    },
    Region {
        id: 63,
        lon: 2.206612,
        lat: 43.817160,
        split: Split::Val,
    },
    Region {
        id: 64,
        lon: 29.295560,
        lat: -24.794009,
        split: Split::Val,
    },
    Region {
        id: 65,
        lon: -110.061856,
        lat: 33.127099,
        split: Split::Test,
    },
    Region {
        id: 66,
        lon: -15.725300,
        lat: 16.000824,
        split: Split::Train,
    },
    Region {
        id: 68,
        lon: -114.268866,
        lat: 29.589073,
        split: Split::Train,
    },
    Region {
        id: 69,
        lon: 2.965575,
        lat: 16.279032,
        split: Split::Train,
    },
    Region {
        id: 71,
        lon: -2.491459,
        lat: 42.927525,
        split: Split::Train,
    },
    Region {
        id: 72,
        lon: 135.265496,
        lat: -29.976198,
        split: Split::Val,
    },
    Region {
        id: 73,
        lon: 144.555012,
        lat: -18.446671,
        split: Split::Test,
    },
    Region {
        id: 75,
        lon: 1.718933,
        lat: 28.348973,
        split: Split::Train,
    },
    Region {
        id: 76,
        lon: -100.051613,
        lat: 53.096552,
        split: Split::Val,
    },
    Region {
        id: 77,
        lon: 54.684475,
        lat: 38.997146,
        split: Split::Train,
    },
    Region {
        id: 78,
        lon: -98.935782,
        lat: 60.764240,
        split: Split::Val,
    },
    Region {
        id: 79,
        lon: 26.889055,
        lat: 8.489843,
        split: Split::Train,
    },
    Region {
        id: 80,
        lon: 149.277287,
        lat: -34.211045,
        split: Split::Train,
    },
    Region {
        id: 81,
        lon: 19.792637,
        lat: 6.389179,
        split: Split::Test,
    },
    Region {
        id: 82,
        lon: -115.536118,
        lat: 42.724038,
        split: Split::Train,
    },
    Region {
        id: 83,
        lon: 43.564468,
        lat: 36.552600,
        split: Split::Val,
    },
    Region {
        id: 84,
        lon: 65.417564,
        lat: 34.013541,
        split: Split::Train,
    },
    Region {
        id: 85,
        lon: -70.357825,
        lat: 4.671588,
        split: Split::Val,
    },
    Region {
        id: 86,
        lon: -56.957783,
        lat: -9.029943,
        split: Split::Train,
    },
    Region {
        id: 87,
        lon: -123.345853,
        lat: 44.898476,
        split: Split::Train,
    },
    Region {
        id: 88,
        lon: 138.851639,
        lat: -34.672855,
        split: Split::Val,
    },
    Region {
        id: 89,
        lon: 14.300229,
        lat: 14.805048,
        split: Split::Val,
    },
    Region {
        id: 90,
        lon: -94.578908,
        lat: 46.929257,
        split: Split::Test,
    },
    Region {
        id: 91,
        lon: 19.305319,
        lat: 47.453714,
        split: Split::Test,
    },
    Region {
        id: 93,
        lon: 135.757512,
        lat: 44.621174,
        split: Split::Train,
    },
    Region {
        id: 94,
        lon: -80.315972,
        lat: 35.953939,
        split: Split::Train,
    },
    Region {
        id: 95,
        lon: 60.181801,
        lat: 61.854527,
        split: Split::Test,
    },
    Region {
        id: 97,
        lon: 23.932538,
        lat: -16.830297,
        split: Split::Train,
    },
    Region {
        id: 100,
        lon: 96.150141,
        lat: 16.819708,
        split: Split::Train,
    },
    Region {
        id: 101,
        lon: 130.619534,
        lat: 32.715186,
        split: Split::Test,
    },
    Region {
        id: 102,
        lon: 16.322366,
        lat: 59.807357,
        split: Split::Train,
    },
    Region {
        id: 103,
        lon: 17.148022,
        lat: 49.073589,
        split: Split::Test,
    },
    Region {
        id: 104,
        lon: 4.239109,
        lat: 51.046487,
        split: Split::Train,
    },
    Region {
        id: 105,
        lon: -80.095515,
        lat: 33.022441,
        split: Split::Train,
    },
    Region {
        id: 106,
        lon: -118.541393,
        lat: 34.654349,
        split: Split::Val,
    },
    Region {
        id: 107,
        lon: 2.839976,
        lat: 50.359350,
        split: Split::Val,
    },
    Region {
        id: 108,
        lon: 29.159700,
        lat: 40.928133,
        split: Split::Test,
    },
    Region {
        id: 109,
        lon: 120.839878,
        lat: 24.617433,
        split: Split::Val,
    },
    Region {
        id: 110,
        lon: -80.779048,
        lat: 41.067155,
        split: Split::Test,
    },
    Region {
        id: 112,
        lon: 35.668533,
        lat: 33.704895,
        split: Split::Train,
    },
    Region {
        id: 113,
        lon: -77.020045,
        lat: -11.964642,
        split: Split::Train,
    },
    Region {
        id: 114,
        lon: -83.891502,
        lat: 35.806431,
        split: Split::Train,
    },
    Region {
        id: 115,
        lon: 47.616488,
        lat: 37.381182,
        split: Split::Train,
    },
    Region {
        id: 116,
        lon: 139.190566,
        lat: 36.267045,
        split: Split::Train,
    },
    Region {
        id: 117,
        lon: 112.891527,
        lat: 35.871385,
        split: Split::Train,
    },
    Region {
        id: 118,
        lon: -47.213866,
        lat: -22.704855,
        split: Split::Test,
    },
    Region {
        id: 119,
        lon: 7.016582,
        lat: 43.514104,
        split: Split::Val,
    },
    Region {
        id: 120,
        lon: -73.972692,
        lat: 40.702924,
        split: Split::Train,
    },
    Region {
        id: 121,
        lon: 50.184626,
        lat: 36.300872,
        split: Split::Train,
    },
    Region {
        id: 122,
        lon: 151.298830,
        lat: -33.670697,
        split: Split::Test,
    },
    Region {
        id: 123,
        lon: 127.008520,
        lat: 37.805326,
        split: Split::Test,
    },
    Region {
        id: 124,
        lon: 109.019982,
        lat: 34.918725,
        split: Split::Train,
    },
    Region {
        id: 125,
        lon: -80.918512,
        lat: 34.886141,
        split: Split::Train,
    },
    Region {
        id: 126,
        lon: 126.844807,
        lat: 37.922615,
        split: Split::Test,
    },
    Region {
        id: 127,
        lon: 77.104904,
        lat: 11.086855,
        split: Split::Train,
    },
    Region {
        id: 128,
        lon: -3.785019,
        lat: 40.252329,
        split: Split::Val,
    },
    Region {
        id: 129,
        lon: 70.043428,
        lat: 23.017953,
        split: Split::Train,
    },
    Region {
        id: 130,
        lon: -76.814882,
        lat: 39.244868,
        split: Split::Test,
    },
    Region {
        id: 131,
        lon: -84.277196,
        lat: 33.630859,
        split: Split::Train,
    },
    Region {
        id: 132,
        lon: -58.898160,
        lat: -34.562882,
        split: Split::Train,
    },
    Region {
        id: 133,
        lon: 19.084911,
        lat: 50.097551,
        split: Split::Train,
    },
    Region {
        id: 134,
        lon: 140.881129,
        lat: 36.911509,
        split: Split::Test,
    },
    Region {
        id: 135,
        lon: 138.572605,
        lat: 35.816756,
        split: Split::Test,
    },
    Region {
        id: 136,
        lon: 52.328788,
        lat: 54.859279,
        split: Split::Train,
    },
    Region {
        id: 137,
        lon: 8.867639,
        lat: 45.950169,
        split: Split::Train,
    },
    Region {
        id: 138,
        lon: -73.355449,
        lat: 40.866666,
        split: Split::Val,
    },
    Region {
        id: 139,
        lon: 118.849598,
        lat: 33.828685,
        split: Split::Val,
    },
    Region {
        id: 140,
        lon: 134.728297,
        lat: 34.682073,
        split: Split::Val,
    },
    Region {
        id: 141,
        lon: 5.719661,
        lat: 52.242266,
        split: Split::Test,
    },
    Region {
        id: 142,
        lon: -93.117209,
        lat: 44.890031,
        split: Split::Train,
    },
    Region {
        id: 143,
        lon: 118.511673,
        lat: 34.959619,
        split: Split::Train,
    },
    Region {
        id: 144,
        lon: -8.349621,
        lat: 41.212013,
        split: Split::Train,
    },
    Region {
        id: 145,
        lon: -86.270436,
        lat: 39.946171,
        split: Split::Test,
    },
    Region {
        id: 146,
        lon: 119.511381,
        lat: 32.538671,
        split: Split::Train,
    },
    Region {
        id: 147,
        lon: 74.437282,
        lat: 32.473519,
        split: Split::Train,
    },
    Region {
        id: 148,
        lon: -73.458538,
        lat: 41.158183,
        split: Split::Val,
    },
    Region {
        id: 149,
        lon: 2.317645,
        lat: 44.063828,
        split: Split::Train,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_sizes_follow_the_paper() {
        assert_eq!(regions_in(Split::Train).count(), 75);
        assert_eq!(regions_in(Split::Val).count(), 25);
        assert_eq!(regions_in(Split::Test).count(), 25);
    }

    #[test]
    fn utm_zones_are_derived_from_lon_lat() {
        assert_eq!(utm_epsg(9.0, 48.0), 32632);
        assert_eq!(utm_epsg(-70.0, -33.0), 32719);
        assert_eq!(region(57).unwrap().split, Split::Train);
    }
}
