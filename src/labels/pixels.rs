//! Labels on the scene's grid: geographic labels wrapped onto scenes across the
//! antimeridian, and every label turned into the scene pixels it covers.

use super::*;

impl LabelSet {
    /// Moves each label by a whole turn of longitude (+-360 degrees) where that puts
    /// it on the raster of size `size` placed by `at` and where it is not: a
    /// scene in longitude/latitude across the antimeridian runs past 180 (e.g.
    /// 179.9 to 180.1, or a geotransform in 0..360) while labels say -179.9995, the
    /// same place. Labels in a projected CRS, and labels already on the raster, are
    /// left as they are. A polygon that itself crosses the antimeridian (vertices
    /// on both sides of +-180) is not split.
    pub fn wrap_to(&mut self, at: &PixelLocator, size: (usize, usize)) {
        if !self.wrap_longitude {
            return;
        }
        let on = |x: f64, y: f64| {
            at.pixel(x, y).is_some_and(|(c, r)| {
                c >= 0.0 && r >= 0.0 && c < size.0 as f64 && r < size.1 as f64
            })
        };
        for l in &mut self.labels {
            use geo::{Centroid, Translate};
            let Some(c) = l.geometry.centroid() else {
                continue;
            };
            if on(c.x(), c.y()) {
                continue;
            }
            if let Some(dx) = [360.0, -360.0].into_iter().find(|dx| on(c.x() + dx, c.y())) {
                l.geometry.translate_mut(dx, 0.0);
            }
        }
    }

    /// Raster pixels of the labels placed by `at`: the pixel of each point, and pixel
    /// centres inside each polygon on a grid of `spacing` pixels (at least one per
    /// polygon: its interior point when the grid misses it).
    pub fn pixels(&self, at: &PixelLocator, spacing: usize) -> Vec<LabelPixel> {
        let spacing = spacing.max(1) as isize;
        let mut out = Vec::new();
        for l in &self.labels {
            // Non-finite positions are refused when read; never let one become
            // pixel (0, 0) (a NaN cast to an integer is 0).
            let push = |out: &mut Vec<LabelPixel>, x: f64, y: f64| {
                if let Some((c, r)) = at
                    .pixel(x, y)
                    .filter(|(c, r)| c.is_finite() && r.is_finite())
                {
                    out.push(LabelPixel {
                        class_id: l.class.id,
                        col: c.floor() as isize,
                        row: r.floor() as isize,
                        fid: l.fid,
                    });
                }
            };
            match &l.geometry {
                geo::Geometry::Point(p) => push(&mut out, p.x(), p.y()),
                geo::Geometry::MultiPoint(mp) => {
                    mp.iter().for_each(|p| push(&mut out, p.x(), p.y()))
                }
                g => {
                    let Some(rect) = g.bounding_rect() else {
                        continue;
                    };
                    let corners = [
                        (rect.min().x, rect.min().y),
                        (rect.max().x, rect.max().y),
                        (rect.min().x, rect.max().y),
                        (rect.max().x, rect.min().y),
                    ];
                    let pix: Vec<(f64, f64)> = corners
                        .iter()
                        .filter_map(|&(x, y)| at.pixel(x, y))
                        .collect();
                    if pix.is_empty() {
                        continue;
                    }
                    let (c0, c1) = pix
                        .iter()
                        .fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.0), a.1.max(p.0)));
                    let (r0, r1) = pix
                        .iter()
                        .fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.1), a.1.max(p.1)));
                    let before = out.len();
                    let mut r = r0.floor() as isize;
                    while r <= r1.ceil() as isize {
                        let mut c = c0.floor() as isize;
                        while c <= c1.ceil() as isize {
                            let centre = at.world(c as f64 + 0.5, r as f64 + 0.5);
                            if centre.is_some_and(|(x, y)| g.contains(&geo::Point::new(x, y))) {
                                out.push(LabelPixel {
                                    class_id: l.class.id,
                                    col: c,
                                    row: r,
                                    fid: l.fid,
                                });
                            }
                            c += spacing;
                        }
                        r += spacing;
                    }
                    if out.len() == before {
                        use geo::InteriorPoint;
                        if let Some(p) = g.interior_point() {
                            push(&mut out, p.x(), p.y());
                        }
                    }
                }
            }
        }
        out
    }

    /// Number of labels per class id.
    pub fn counts(&self) -> std::collections::BTreeMap<u16, usize> {
        let mut m = std::collections::BTreeMap::new();
        for l in &self.labels {
            *m.entry(l.class.id).or_insert(0) += 1;
        }
        m
    }
}
