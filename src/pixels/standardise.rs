//! A model meta-trained on standardised bands (`standardise_bands` in its card)
//! meets its scene: each band's mean and standard deviation over the scene's valid
//! pixels (full-resolution patches across the scene) are folded into the card's
//! normalisation. `adapt` does it once, so that the
//! adapted model reads fixed values like any other and maps (ONNX, GDAL plugin,
//! QGIS) with no notion of scene statistics; the map engine does it for a model
//! never adapted (`suggest` on a meta-trained checkpoint) with the scene it maps.
//!
//! Why: a per-pixel network's first layers see reflectances whose spread differs by
//! band and sensor (on the Chiapas Landsat 7 scene the blue band varies by 0.014,
//! near-infrared by 0.046), and the few inner-loop steps move its weights mostly
//! along the loud bands. Standardised bands give every band the same say, as the
//! scaled inputs of a per-pixel SVM or kNN do (docs/maps_from_points.md).

use crate::bands::Normalisation;
use crate::card::ModelCard;
use crate::error::{Error, Result};
use crate::pixels::PixelReader;
use crate::raster::Window;
use std::path::Path;

/// Side of the grid of full-resolution patches the scene's statistics come from,
/// and of each patch, in pixels: 65,536 pixels at most, every pixel of a scene of
/// up to 256 px. Read at full resolution (no overviews, whose averaging would shrink
/// the spread a network trained on full-resolution tiles expects).
const GRID: usize = 16;
const PATCH: usize = 16;

/// The card and reader a scene is read with: unchanged for a model of fixed
/// normalisation; for one of standardised bands, each band's normalisation `n`
/// followed by `(n - mean) / std` of its valid values over the scene (a grid of
/// full-resolution patches, read through the reader, so masks, nodata and
/// scale/offset count as everywhere), folded into one `x * scale + offset`, and
/// `standardise_bands` cleared, with the reader reading that way.
///
/// # Errors
/// A band with no valid pixel in the patches, or constant over them: the model
/// cannot read it standardised; the error names the scene and the band. GDAL's
/// read errors.
pub fn scene_input(
    card: &ModelCard,
    reader: PixelReader,
    scene: &Path,
) -> Result<(ModelCard, PixelReader)> {
    let mut card = card.clone();
    if !card.standardise_bands {
        return Ok((card, reader));
    }
    let stats = scene_statistics(&reader)?;
    let mut norms = Vec::with_capacity(stats.len());
    for ((input, (n, mean, std)), old) in reader.inputs().iter().zip(stats).zip(&card.normalisation)
    {
        let what = |why: String| {
            Error::raster(
                scene,
                format!(
                    "band {} ({}) {why}: the model reads each band standardised over the scene",
                    input.band, input.name
                ),
            )
        };
        if n == 0 {
            return Err(what("has no valid pixel".into()));
        }
        if !(std.is_finite() && std > 1e-9 * mean.abs()) {
            return Err(what("is constant over the scene".into()));
        }
        norms.push(Normalisation {
            scale: (old.scale as f64 / std) as f32,
            offset: ((old.offset as f64 - mean) / std) as f32,
        });
    }
    card.normalisation = norms.clone();
    card.standardise_bands = false;
    Ok((card, reader.with_normalisation(&norms)))
}

/// Count, mean and population standard deviation of each band's valid normalised
/// values over a grid of full-resolution patches ([`patches`]) across the scene.
fn scene_statistics(reader: &PixelReader) -> Result<Vec<(usize, f64, f64)>> {
    let (w, h) = reader.raster().size();
    let mut sums = vec![(0usize, 0f64, 0f64); reader.inputs().len()];
    for &(y, ph) in &patches(h) {
        for &(x, pw) in &patches(w) {
            let window = Window::new(x as isize, y as isize, pw, ph);
            let px = reader.read(window)?;
            for (b, sum) in sums.iter_mut().enumerate() {
                for ((r, c), &ok) in px.valid.indexed_iter() {
                    if ok {
                        let v = px.data[[b, r, c]] as f64;
                        *sum = (sum.0 + 1, sum.1 + v, sum.2 + v * v);
                    }
                }
            }
        }
    }
    Ok(sums
        .into_iter()
        .map(|(n, s, sq)| {
            let mean = s / n.max(1) as f64;
            (
                n,
                mean,
                (sq / n.max(1) as f64 - mean * mean).max(0.0).sqrt(),
            )
        })
        .collect())
}

/// Offset and size of the patches along a side of `len` pixels: every pixel once
/// when [`GRID`] patches cover it, else [`GRID`] patches of [`PATCH`] px spread
/// evenly, the last at the far edge.
fn patches(len: usize) -> Vec<(usize, usize)> {
    if len <= PATCH * GRID {
        return (0..len)
            .step_by(PATCH)
            .map(|s| (s, PATCH.min(len - s)))
            .collect();
    }
    (0..GRID)
        .map(|i| (i * (len - PATCH) / (GRID - 1), PATCH))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::tests::sample_card;
    use crate::pixels::BandInput;
    use gdal::raster::{Buffer, RasterCreationOptions};
    use gdal::DriverManager;
    use std::path::PathBuf;

    /// A 4x2 two-band GeoTIFF, band 1 `0..8` (mean 3.5, std sqrt 5.25) and band 2
    /// `second`; a nodata pixel of 99 in band 1 that must not count.
    fn scene(dir: &Path, second: [f32; 8]) -> (PathBuf, ModelCard) {
        let path = dir.join("s.tif");
        let drv = DriverManager::get_driver_by_name("GTiff").unwrap();
        let mut ds = drv
            .create_with_band_type_with_options::<f32, _>(
                &path,
                5,
                2,
                2,
                &RasterCreationOptions::new(),
            )
            .unwrap();
        ds.set_geo_transform(&[500_000.0, 10.0, 0.0, 4_600_000.0, 0.0, -10.0])
            .unwrap();
        let first = [0., 1., 2., 3., 99., 4., 5., 6., 7., 99.];
        let second = [
            second[0], second[1], second[2], second[3], 0., second[4], second[5], second[6],
            second[7], 0.,
        ];
        for (b, data) in [first, second].into_iter().enumerate() {
            let mut band = ds.rasterband(b + 1).unwrap();
            band.set_no_data_value(Some(99.0)).unwrap();
            band.write((0, 0), (5, 2), &mut Buffer::new((5, 2), data.to_vec()))
                .unwrap();
        }
        drop(ds);
        let mut card = sample_card();
        card.bands = vec!["B02".into(), "B03".into()];
        card.normalisation = vec![
            Normalisation {
                scale: 1e-4,
                offset: 0.0
            };
            2
        ];
        card.standardise_bands = true;
        (path, card)
    }

    fn open(path: &Path, card: &ModelCard) -> PixelReader {
        PixelReader::open(
            path,
            BandInput::list(&[1, 2], &card.bands, &card.normalisation),
        )
        .unwrap()
    }

    #[test]
    fn the_scene_statistics_are_folded_into_the_card_and_the_reader() {
        let dir = tempfile::tempdir().unwrap();
        let (path, card) = scene(dir.path(), [10., 20., 10., 20., 10., 20., 10., 20.]);
        let (folded, reader) = scene_input(&card, open(&path, &card), &path).unwrap();
        assert!(
            !folded.standardise_bands,
            "an adapted card reads fixed values"
        );
        let std = 5.25f32.sqrt();
        let n = folded.normalisation[0];
        assert!((n.scale - 1.0 / std).abs() < 1e-5 && (n.offset + 3.5 / std).abs() < 1e-5);
        let n = folded.normalisation[1];
        assert!((n.scale - 0.2).abs() < 1e-6 && (n.offset + 3.0).abs() < 1e-5);
        // What the network reads is the standardised value, and the fill is 0.
        let px = reader.read(crate::raster::Window::new(0, 0, 5, 2)).unwrap();
        assert!((px.data[[0, 0, 0]] + 3.5 / std).abs() < 1e-5);
        assert!((px.data[[1, 0, 1]] - 1.0).abs() < 1e-5);
        assert!(reader.fill().iter().all(|f| f.abs() < 1e-5));
        // A card of fixed normalisation passes as it is.
        let fixed = ModelCard {
            standardise_bands: false,
            ..card.clone()
        };
        let (same, _) = scene_input(&fixed, open(&path, &fixed), &path).unwrap();
        assert_eq!(same, fixed);
    }

    #[test]
    fn patches_cover_a_small_side_once_and_spread_over_a_large_one() {
        assert_eq!(patches(5), vec![(0, 5)]);
        assert_eq!(patches(40), vec![(0, 16), (16, 16), (32, 8)]);
        let large = patches(10_980);
        assert_eq!(large.len(), GRID);
        assert_eq!((large[0], large[GRID - 1]), ((0, 16), (10_964, 16)));
    }

    #[test]
    fn a_constant_band_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let (path, card) = scene(dir.path(), [5.; 8]);
        let err = scene_input(&card, open(&path, &card), &path)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("band 2 (B03)") && err.contains("constant"),
            "{err}"
        );
        assert!(err.contains("s.tif"), "{err}");
    }
}
