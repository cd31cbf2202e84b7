//! Whether a scene is what the model card expects: the checks `map` and `adapt`
//! run before they read windows, each problem one warning line.
//!
//! These are warnings, not errors: the per-pixel models normalise with the scene's
//! own batch-norm statistics and may map a scene in other units or at another
//! resolution well enough; but a map at 13 % with no word of why is worse than a
//! line that names the band and the fix.
//!
//! - **Band order**: bands without names (or with names the card does not know)
//!   taken by position. A reversed band order maps without any error, so the
//!   warning names the assumption, the model's band order and `--bands`.
//! - **Units**: the card's normalisation (`x * scale + offset`) brings the units
//!   the model was trained on to values of about 1 (S2 digital numbers x 1e-4, S1 dB
//!   x 1e-2, 8-bit RGB / 255). Values that normalise to less than [`TOO_SMALL`]
//!   over a whole group of bands sharing one normalisation (8-bit digital numbers
//!   or reflectance in 0..1 given to a Sentinel-2 model) or to more than
//!   [`TOO_LARGE`] in a band are in other units. The group rule keeps dark bands
//!   such as Sentinel-2's cirrus band B10 (a few tens of digital numbers) quiet.
//!   The values are the 1st and 99th percentiles of the decimated sample the
//!   reader already takes for its fill ([`super::fill`]), after GDAL's scale/offset.
//! - **Resolution**: the scene's pixel size against the card's `resolution_m`,
//!   outside a factor of [`RESOLUTION_TOLERANCE`]. Degrees are converted to metres
//!   at the scene's centre latitude; GCP-only scenes are not checked.

use super::PixelReader;
use crate::card::ModelCard;
use crate::raster::{GeoTransform, Georef};
use gdal::spatial_ref::SpatialRef;

/// Largest normalised magnitude (of the 99th percentile) below which a group of
/// bands is in smaller units than the model's.
pub const TOO_SMALL: f64 = 0.05;
/// Normalised magnitude above which a band is in larger units than the model's.
pub const TOO_LARGE: f64 = 20.0;
/// Ratio of scene pixel size to the card's resolution (either way) tolerated.
pub const RESOLUTION_TOLERANCE: f64 = 1.5;
/// Mean Earth radius (m), for degrees to metres.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Every warning about `reader`'s scene for `card` (see the module doc);
/// `by_position` says the bands were taken by position.
pub fn scene_warnings(
    reader: &PixelReader,
    georef: &Georef,
    card: &ModelCard,
    by_position: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    if by_position {
        out.push(position_warning(reader, card));
    }
    out.extend(unit_warnings(reader));
    out.extend(resolution_warning(reader, georef, card));
    out
}

fn position_warning(reader: &PixelReader, card: &ModelCard) -> String {
    let pairs: Vec<String> = reader
        .inputs()
        .iter()
        .map(|i| format!("{}={}", i.band, i.name))
        .collect();
    format!(
        "the bands of {} have no names the model knows, so they are taken by position as the \
         model's bands in its order ({}); if the scene's bands are in another order, pass \
         --bands with the scene band of each model band (e.g. --bands {}), or name them",
        reader.raster().path().display(),
        pairs.join(", "),
        (1..=card.bands.len())
            .rev()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join(",")
    )
}

/// A value with a few significant digits.
fn num(v: f64) -> String {
    if v == 0.0 || (v.abs() >= 0.01 && v.abs() < 1e6) {
        format!("{}", (v * 100.0).round() / 100.0)
    } else {
        format!("{v:.2e}")
    }
}

fn unit_warnings(reader: &PixelReader) -> Vec<String> {
    let path = reader.raster().path().display().to_string();
    let inputs = reader.inputs();
    let mut out = Vec::new();
    // Bands sharing one normalisation, in model order.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        match groups.iter_mut().find(|g| inputs[g[0]].norm == input.norm) {
            Some(g) => g.push(i),
            None => groups.push(vec![i]),
        }
    }
    let normalised = |i: usize| {
        reader.samples()[i].map(|s| {
            let n = inputs[i].norm;
            let (a, b) = (
                s.low * n.scale as f64 + n.offset as f64,
                s.high * n.scale as f64 + n.offset as f64,
            );
            (s, a.abs().max(b.abs()))
        })
    };
    for group in groups {
        let n = inputs[group[0]].norm;
        if n.scale == 0.0 {
            continue;
        }
        let expected = format!(
            "values of about {} (the card's normalisation x {} brings them to about 1)",
            num((1.0 - n.offset as f64) / n.scale as f64),
            n.scale
        );
        let seen: Vec<(usize, f64, f64, f64)> = group
            .iter()
            .filter_map(|&i| normalised(i).map(|(s, m)| (i, s.low, s.high, m)))
            .collect();
        let Some(largest) = seen.iter().map(|s| s.3).reduce(f64::max) else {
            continue;
        };
        if largest < TOO_SMALL {
            let high = seen.iter().map(|s| s.2).fold(f64::MIN, f64::max);
            let hint = if high <= 1.5 {
                format!(
                    "reflectance in 0..1? set the bands' scale to {} (gdal_edit.py -scale {} SCENE)",
                    num(1.0 / n.scale as f64),
                    num(1.0 / n.scale as f64)
                )
            } else {
                "digital numbers of another sensor or bit depth (8-bit 0..255?) are not what the \
                 model learnt: convert the scene to its units, or use a model trained on such data"
                    .to_string()
            };
            let bands: Vec<String> = seen
                .iter()
                .map(|&(i, lo, hi, _)| {
                    format!(
                        "band {} ({}) {}..{}",
                        inputs[i].band,
                        inputs[i].name,
                        num(lo),
                        num(hi)
                    )
                })
                .collect();
            out.push(format!(
                "{path}: values far smaller than the model's units: {} (1st..99th percentile of a \
                 sample); the model expects {expected}; {hint}",
                bands.join(", ")
            ));
            continue;
        }
        for &(i, lo, hi, m) in &seen {
            if m > TOO_LARGE {
                out.push(format!(
                    "{path}: band {} ({}) has values {}..{} (1st..99th percentile of a sample), far \
                     larger than the model's units: it expects {expected}; set the band's scale \
                     (gdal_edit.py -scale) or convert the scene",
                    inputs[i].band,
                    inputs[i].name,
                    num(lo),
                    num(hi)
                ));
            }
        }
    }
    out
}

/// The scene's pixel size in metres (the geometric mean of its two sides) and
/// how it was found; `None` for GCPs, a CRS without units, or a degenerate
/// geotransform.
pub fn pixel_size_m(georef: &Georef, size: (usize, usize)) -> Option<(f64, &'static str)> {
    let Georef::Affine { gt, crs } = georef else {
        return None;
    };
    let GeoTransform(g) = gt;
    let (sx, sy) = (g[1].hypot(g[4]), g[2].hypot(g[5]));
    let srs = SpatialRef::from_wkt(crs).ok()?;
    let (mx, my, how) = if srs.is_geographic() {
        let to_rad = srs.angular_units();
        let (_, lat) = gt.apply(size.0 as f64 / 2.0, size.1 as f64 / 2.0);
        let m = to_rad * EARTH_RADIUS_M;
        (
            sx * m * (lat * to_rad).cos().abs(),
            sy * m,
            " (from degrees at the scene's centre latitude)",
        )
    } else {
        let m = srs.linear_units();
        (sx * m, sy * m, "")
    };
    let s = (mx * my).sqrt();
    (s.is_finite() && s > 0.0).then_some((s, how))
}

fn resolution_warning(reader: &PixelReader, georef: &Georef, card: &ModelCard) -> Option<String> {
    let want = card.resolution_m;
    if !(want.is_finite() && want > 0.0) {
        return None;
    }
    let (have, how) = pixel_size_m(georef, reader.raster().size())?;
    let ratio = have / want;
    if (1.0 / RESOLUTION_TOLERANCE..=RESOLUTION_TOLERANCE).contains(&ratio) {
        return None;
    }
    let w = num(want);
    let resample = if ratio > 1.0 { "bilinear" } else { "average" };
    let warp = if how.is_empty() {
        format!("gdalwarp -tr {w} {w} -r {resample}")
    } else {
        format!("gdalwarp -t_srs <its UTM zone> -tr {w} {w} -r {resample}")
    };
    Some(format!(
        "{}: pixels of {} m{how}, but the model was trained at {w} m (its card's resolution): \
         objects cover {} times {} pixels than the model learnt; resample the scene ({warp}) or \
         expect a poorer map",
        reader.raster().path().display(),
        num(have),
        num(if ratio > 1.0 { ratio } else { 1.0 / ratio }),
        if ratio > 1.0 { "fewer" } else { "more" },
    ))
}
