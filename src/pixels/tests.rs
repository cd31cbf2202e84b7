//! The pixel pipeline on rasters as GIS tools write them: masks, alpha, float32
//! nodata through a VRT, scale/offset, complex bands, windows past the edge.

use super::*;
use gdal::raster::{Buffer, GdalType, RasterCreationOptions};
use gdal::{Dataset, DriverManager, Metadata};
use std::path::PathBuf;

const W: usize = 8;
const H: usize = 6;

fn norm(scale: f32) -> Normalisation {
    Normalisation { scale, offset: 0.0 }
}

/// A `W x H` GeoTIFF of `bands` bands of type `T` with values `value(b, x, y)`.
fn tiff<T: GdalType + Copy>(
    path: &Path,
    bands: usize,
    value: impl Fn(usize, usize, usize) -> T,
) -> Dataset {
    let drv = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = drv
        .create_with_band_type_with_options::<T, _>(
            path,
            W,
            H,
            bands,
            &RasterCreationOptions::new(),
        )
        .unwrap();
    ds.set_geo_transform(&[500_000.0, 10.0, 0.0, 4_600_000.0, 0.0, -10.0])
        .unwrap();
    for b in 0..bands {
        let data: Vec<T> = (0..W * H).map(|i| value(b, i % W, i / W)).collect();
        ds.rasterband(b + 1)
            .unwrap()
            .write((0, 0), (W, H), &mut Buffer::new((W, H), data))
            .unwrap();
    }
    ds
}

fn inputs(n: usize, scale: f32) -> Vec<BandInput> {
    (0..n)
        .map(|b| BandInput {
            band: b + 1,
            name: format!("X{b}"),
            norm: norm(scale),
        })
        .collect()
}

fn whole() -> Window {
    Window::new(0, 0, W, H)
}

#[test]
fn an_internal_mask_band_marks_pixels_invalid_and_they_get_the_mean() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("masked.tif");
    {
        let ds = tiff::<f32>(
            &path,
            2,
            |b, x, _| if x < 4 { 0.0 } else { 10.0 * (b + 1) as f32 },
        );
        let mut band = ds.rasterband(1).unwrap();
        band.create_mask_band(true).unwrap();
        let mask: Vec<u8> = (0..W * H)
            .map(|i| if i % W < 4 { 0 } else { 255 })
            .collect();
        band.open_mask_band()
            .unwrap()
            .write((0, 0), (W, H), &mut Buffer::new((W, H), mask))
            .unwrap();
    }
    let r = PixelReader::open(&path, inputs(2, 0.5)).unwrap();
    let px = r.read(whole()).unwrap();
    assert!(!px.valid[[0, 0]] && px.valid[[0, 4]]);
    assert_eq!(px.valid_fraction(whole()), 0.5);
    // Masked zeros are replaced by the mean of the valid pixels, normalised.
    assert_eq!(r.fill(), &[5.0, 10.0]);
    assert_eq!((px.data[[0, 0, 0]], px.data[[1, 0, 0]]), (5.0, 10.0));
    assert_eq!((px.data[[0, 0, 5]], px.data[[1, 0, 5]]), (5.0, 10.0));
}

#[test]
fn an_alpha_band_masks_like_gdal_says() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rgba.tif");
    {
        let ds = tiff::<u8>(&path, 4, |b, x, _| match b {
            3 => {
                if x == 0 {
                    0
                } else {
                    255
                }
            }
            _ => 100,
        });
        let mut alpha = ds.rasterband(4).unwrap();
        alpha
            .set_color_interpretation(gdal::raster::ColorInterpretation::AlphaBand)
            .unwrap();
    }
    let r = PixelReader::open(&path, inputs(3, 1.0)).unwrap();
    let px = r.read(whole()).unwrap();
    assert!((0..H).all(|y| !px.valid[[y, 0]] && px.valid[[y, 1]]));
}

#[test]
fn float32_nodata_through_a_vrt_is_compared_in_the_band_type() {
    let dir = tempfile::tempdir().unwrap();
    let tif = dir.path().join("part.tif");
    let nd = -3.4e38f32;
    {
        let ds = tiff::<f32>(&tif, 1, |_, x, y| if x < 2 && y < 2 { nd } else { 1000.0 });
        ds.rasterband(1)
            .unwrap()
            .set_no_data_value(Some(nd as f64))
            .unwrap();
    }
    // gdalbuildvrt writes the nodata with 16 significant digits: not the double of
    // the float32 pixels.
    let vrt = dir.path().join("scene.vrt");
    std::fs::write(
        &vrt,
        format!(
            r#"<VRTDataset rasterXSize="{W}" rasterYSize="{H}">
  <GeoTransform>500000, 10, 0, 4600000, 0, -10</GeoTransform>
  <VRTRasterBand dataType="Float32" band="1">
    <NoDataValue>-3.399999952144364e+38</NoDataValue>
    <SimpleSource><SourceFilename relativeToVRT="1">part.tif</SourceFilename><SourceBand>1</SourceBand></SimpleSource>
  </VRTRasterBand>
</VRTDataset>"#
        ),
    )
    .unwrap();
    assert_ne!(-3.399999952144364e+38f64, nd as f64);
    let r = PixelReader::open(&vrt, inputs(1, 1e-4)).unwrap();
    let px = r.read(whole()).unwrap();
    assert!(!px.valid[[0, 0]] && !px.valid[[1, 1]] && px.valid[[2, 2]]);
    assert!(
        px.data.iter().all(|v| (*v - 0.1).abs() < 1e-6),
        "{:?}",
        px.data
    );
}

#[test]
fn scale_and_offset_are_applied_before_the_card_normalisation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("packed.tif");
    {
        let ds = tiff::<i16>(&path, 1, |_, _, _| -1523);
        let mut band = ds.rasterband(1).unwrap();
        band.set_scale(0.01).unwrap();
        band.set_offset(0.0).unwrap();
        band.set_description("VV").unwrap();
    }
    let r = PixelReader::open(
        &path,
        vec![BandInput {
            band: 1,
            name: "VV".into(),
            norm: norm(1e-2),
        }],
    )
    .unwrap();
    let px = r.read(whole()).unwrap();
    // -15.23 dB, times the paper's 1e-2.
    assert!(
        (px.data[[0, 0, 0]] + 0.1523).abs() < 1e-6,
        "{}",
        px.data[[0, 0, 0]]
    );
}

#[test]
#[allow(unsafe_code)]
fn complex_bands_are_refused_naming_band_and_type() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slc.tif");
    {
        let drv = DriverManager::get_driver_by_name("GTiff").unwrap();
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a plain create through GDAL's C API (the gdal crate has no
        // complex types); the handle is closed right after.
        unsafe {
            let ds = gdal_sys::GDALCreate(
                drv.c_driver(),
                c.as_ptr(),
                W as i32,
                H as i32,
                1,
                gdal_sys::GDALDataType::GDT_CFloat32,
                std::ptr::null_mut(),
            );
            assert!(!ds.is_null());
            gdal_sys::GDALClose(ds);
        }
    }
    let err = PixelReader::open(
        &path,
        vec![BandInput {
            band: 1,
            name: "VV".into(),
            norm: norm(1e-2),
        }],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("slc.tif") && err.contains("band 1 (VV)") && err.contains("CFloat32"),
        "{err}"
    );
}

#[test]
fn pixels_past_the_edge_are_invalid_and_filled_and_nan_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nan.tif");
    tiff::<f32>(
        &path,
        1,
        |_, x, y| if (x, y) == (7, 5) { f32::NAN } else { 4.0 },
    );
    let r = PixelReader::open(&path, inputs(1, 1.0)).unwrap();
    let win = Window::new(-2, -2, 4, 4);
    let px = r.read(win).unwrap();
    // Only the in-raster quarter counts, and it is all valid.
    assert_eq!(px.valid_fraction(win), 1.0);
    assert_eq!(px.valid.iter().filter(|v| **v).count(), 4);
    assert!(px.data.iter().all(|v| *v == 4.0));
    let corner = r.read(Window::new(7, 5, 1, 1)).unwrap();
    assert!(!corner.valid[[0, 0]] && corner.data[[0, 0, 0]] == 4.0);
}

#[test]
fn a_missing_band_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("one.tif");
    tiff::<u16>(&path, 1, |_, _, _| 1);
    let err = PixelReader::open(&path, inputs(2, 1.0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("has no band 2 (for X1"), "{err}");
}

#[test]
fn min_valid_must_be_a_fraction() {
    assert!(check_min_valid(0.5).is_ok() && check_min_valid(1.0).is_ok());
    for bad in [0.0, -0.1, 1.5, f64::NAN] {
        assert!(check_min_valid(bad).is_err(), "{bad}");
    }
}
