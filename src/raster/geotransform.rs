//! The GDAL affine geotransform.

/// `[x0, dx, rx, y0, ry, dy]`: map x = x0 + col*dx + row*rx, map y = y0 + col*ry + row*dy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoTransform(pub [f64; 6]);

impl GeoTransform {
    /// A north-up transform with origin `(x0, y0)` and square pixels of `size`.
    pub fn north_up(x0: f64, y0: f64, size: f64) -> Self {
        GeoTransform([x0, size, 0.0, y0, 0.0, -size])
    }

    /// Map coordinates of pixel corner `(col, row)` (fractional allowed).
    pub fn apply(&self, col: f64, row: f64) -> (f64, f64) {
        let g = &self.0;
        (
            g[0] + col * g[1] + row * g[2],
            g[3] + col * g[4] + row * g[5],
        )
    }

    /// Pixel `(col, row)` (fractional) of map coordinates; `None` if not invertible.
    pub fn invert(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let g = &self.0;
        let det = g[1] * g[5] - g[2] * g[4];
        if det.abs() < 1e-15 {
            return None;
        }
        let (dx, dy) = (x - g[0], y - g[3]);
        Some(((dx * g[5] - dy * g[2]) / det, (dy * g[1] - dx * g[4]) / det))
    }

    /// The transform of a grid whose pixels are `factor` source pixels wide, starting
    /// at source pixel `(col, row)` (used for stride outputs and windows).
    pub fn subgrid(&self, col: f64, row: f64, factor: f64) -> Self {
        let (x0, y0) = self.apply(col, row);
        let g = &self.0;
        GeoTransform([
            x0,
            g[1] * factor,
            g[2] * factor,
            y0,
            g[4] * factor,
            g[5] * factor,
        ])
    }

    /// Pixel size along x (absolute).
    pub fn pixel_size(&self) -> f64 {
        (self.0[1].powi(2) + self.0[4].powi(2)).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_and_invert_round_trip() {
        let gt = GeoTransform::north_up(500_000.0, 4_000_000.0, 10.0);
        let (x, y) = gt.apply(12.5, 7.0);
        assert_eq!((x, y), (500_125.0, 3_999_930.0));
        let (c, r) = gt.invert(x, y).unwrap();
        assert!((c - 12.5).abs() < 1e-9 && (r - 7.0).abs() < 1e-9);
    }

    #[test]
    fn subgrids_scale_pixels_and_move_the_origin() {
        let gt = GeoTransform::north_up(0.0, 100.0, 10.0).subgrid(4.0, 2.0, 8.0);
        assert_eq!(gt.0, [40.0, 80.0, 0.0, 80.0, 0.0, -80.0]);
    }
}
