//! Fuzzes every reader of user files that needs neither libtorch nor ONNX Runtime:
//! model cards, ONNX model files (card and graph), catalogs, label files (GeoJSON
//! through OGR) and scene rasters (GeoTIFF through GDAL and the pixel pipeline).
//! The first byte picks the reader; the rest is the file. Every input must give
//! `Ok` or `Err`: a panic or an abort is a bug.
#![no_main]

use geomaml::catalog::classes::dfc2020;
use geomaml::labels::{read_labels, ClassSource, LabelOptions};
use geomaml::pixels::{BandInput, PixelReader};
use geomaml::raster::Window;
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;

/// A file of this process for the readers that take a path.
fn scratch(ext: &str, bytes: &[u8]) -> PathBuf {
    let p = std::env::temp_dir().join(format!("geomaml-fuzz-{}.{ext}", std::process::id()));
    std::fs::write(&p, bytes).expect("temp dir writable");
    p
}

fn utm_wkt() -> String {
    gdal::spatial_ref::SpatialRef::from_epsg(32633)
        .and_then(|s| s.to_wkt())
        .unwrap_or_default()
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 5 {
        0 => {
            if let Ok(text) = std::str::from_utf8(body) {
                let _ = geomaml::card::ModelCard::from_json(text);
            }
        }
        1 => {
            let path = std::path::Path::new("fuzz.onnx");
            if let Ok(model) = geomaml::export::metadata::decode_model(body, path) {
                let _ = geomaml::export::metadata::card_of(&model, path);
            }
        }
        2 => {
            let p = scratch("json", body);
            let _ = geomaml::catalog::Catalog::load(&p);
        }
        3 => {
            let p = scratch("geojson", body);
            if let Ok(set) = read_labels(&p, &LabelOptions::default(), ClassSource::Own { known: &dfc2020() }, &utm_wkt()) {
                let gt = geomaml::raster::GeoTransform::north_up(500_000.0, 4_600_000.0, 10.0);
                let _ = set.pixels(&geomaml::raster::PixelLocator::Affine(gt), 4);
            }
        }
        _ => {
            let p = scratch("tif", body);
            let Ok(raster) = geomaml::raster::Raster::open(&p) else {
                return;
            };
            let (w, h) = raster.size();
            if w * h > 4096 * 4096 {
                return;
            }
            let _ = raster.georef();
            let bands = raster.band_count().min(4);
            let inputs = (1..=bands)
                .map(|b| BandInput {
                    band: b,
                    name: format!("B0{b}"),
                    norm: geomaml::bands::default_normalisation("B02"),
                })
                .collect();
            if let Ok(reader) = PixelReader::new(raster, inputs) {
                let _ = reader.read(Window::new(-3, -3, 16, 16));
                let _ = reader.read(Window::new(w as isize - 5, h as isize - 5, 16, 16));
            }
        }
    }
});
