//! A Sen12MS region placed on the Earth: its landscape, its UTM frame and the
//! mapping from world pixels (10 m, origin at the region centre) to map coordinates.

use super::biome::Biome;
use super::landscape::Landscape;
use super::look::Look;
use super::rng::{key, tag};
use super::variety::{Appearance, Variety};
use crate::catalog::regions::{region, Region};
use crate::error::{Error, Result};
use crate::raster::GeoTransform;

/// Ground sampling distance of Sen12MS patches (metres).
pub const PIXEL_M: f64 = 10.0;

/// A region ready to be painted.
#[derive(Debug, Clone)]
pub struct Site {
    /// The catalog region (id, lon/lat, split).
    pub region: Region,
    /// Its biome.
    pub biome: Biome,
    /// Its land cover.
    pub land: Landscape,
    /// EPSG code of its UTM zone.
    pub epsg: u32,
    /// UTM easting/northing of world pixel (0, 0)'s top-left corner.
    pub origin: (f64, f64),
    /// How its classes look.
    pub appearance: Appearance,
    seed: u64,
}

impl Site {
    /// Builds region `id` under `seed` with an appearance model; fails for ids not in
    /// the region table.
    pub fn new(seed: u64, id: u32, appearance: Appearance) -> Result<Self> {
        let region = *region(id)
            .ok_or_else(|| Error::config("--regions", format!("no Sen12MS region with id {id}")))?;
        let biome = Biome::at(region.lat, id as u64);
        let land = Landscape::new(
            key(&[seed, tag::LAYOUT, id as u64]),
            biome,
            region.lat.abs() > 60.0,
            biome.town_density(),
        );
        let epsg = region.utm_epsg();
        let to_utm = proj::Proj::new_known_crs("EPSG:4326", &format!("EPSG:{epsg}"), None)
            .map_err(|e| {
                Error::runtime_source(format!("PROJ cannot build EPSG:4326 -> EPSG:{epsg}"), e)
            })?;
        let (e, n) = to_utm.convert((region.lon, region.lat)).map_err(|err| {
            Error::runtime_source(format!("PROJ cannot project region {id}"), err)
        })?;
        let origin = (
            (e / PIXEL_M).round() * PIXEL_M,
            (n / PIXEL_M).round() * PIXEL_M,
        );
        Ok(Site {
            region,
            biome,
            land,
            epsg,
            origin,
            appearance,
            seed,
        })
    }

    /// The look of this region in a season (index into [`super::look::SEASONS`]).
    pub fn look(&self, season: usize) -> Look {
        let (id, lat) = (self.region.id as u64, self.region.lat);
        let mut look = Look::new(self.seed, id, self.biome, lat, season);
        if self.appearance == Appearance::Varied {
            look.variety = Some(Variety::new(self.seed, id, lat, season, &look));
        }
        look
    }

    /// Geotransform of a raster whose top-left pixel is world pixel `(x0, y0)`.
    pub fn geo_transform(&self, (x0, y0): (i64, i64)) -> GeoTransform {
        GeoTransform::north_up(
            self.origin.0 + x0 as f64 * PIXEL_M,
            self.origin.1 - y0 as f64 * PIXEL_M,
            PIXEL_M,
        )
    }

    /// The CRS as WKT.
    pub fn crs_wkt(&self) -> Result<String> {
        crs_wkt(self.epsg)
    }
}

/// WKT of an EPSG code through GDAL's own PROJ.
pub fn crs_wkt(epsg: u32) -> Result<String> {
    gdal::spatial_ref::SpatialRef::from_epsg(epsg)
        .and_then(|s| s.to_wkt())
        .map_err(|e| Error::runtime_source(format!("EPSG:{epsg}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_sit_in_their_utm_zone_on_the_10m_grid() {
        let s = Site::new(1, 57, Appearance::Classic).unwrap();
        assert_eq!(s.epsg, 32637);
        assert!((100_000.0..900_000.0).contains(&s.origin.0));
        assert_eq!(s.origin.0 % 10.0, 0.0);
        // Southern hemisphere: false northing.
        assert!(Site::new(1, 17, Appearance::Classic).unwrap().origin.1 > 8_000_000.0);
        assert!(Site::new(1, 99_999, Appearance::Varied).is_err());
    }
}
