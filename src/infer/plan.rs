//! The geometry of a map: output grid, georeferencing, blocks and windows.
//!
//! Conventions (all in source pixel space, `x` = column, `y` = row):
//!
//! - **Classifier** (one class per window), tile `T`, stride `s`: the output has
//!   `ceil(W/s) x ceil(H/s)` pixels of `s x s` source pixels; output pixel `(i, j)`
//!   covers source columns `[j s, (j+1) s)` and rows `[i s, (i+1) s)`, so its
//!   geotransform is the source's scaled by `s` from the same origin (exact). Its
//!   class is that of the window of size `T` centred on the cell's centre: top-left
//!   `j s + floor((s - T) / 2)` (exactly centred when `T - s` is even, else half a
//!   pixel up-left). Source pixels outside the raster read as nodata.
//! - **Segmentation** (one class per pixel): the output grid is the source grid.
//!   Windows of size `T` sit at multiples of the stride, the last one reaching past
//!   the edge when needed, and overlapping predictions are blended (see `blend`).
//! - **Exact segmentation** (per-pixel models whose receptive field reaches `m`
//!   pixels, [`Plan::margin`]): window `k` sits at `k s - m` and keeps only the
//!   `s x s` pixels `[k s, k s + s)`, `m` px in from its edges, where the network
//!   sees every pixel of their receptive field; every pixel comes from exactly one
//!   window, so the map equals the network run at once on the whole scene (padded
//!   with the fill), and no window is computed for two blocks (blocks are
//!   multiples of the stride).
//! - Work is cut into **blocks** of output pixels so memory does not depend on the
//!   scene size; each block lists the windows it needs and the source region that
//!   covers them (and its own cells). Segmentation windows straddling two blocks are
//!   computed for both.
//! - A classifier plan can be **decimated** by a factor `f` ([`Plan::overview`]):
//!   output pixel `(i, j)` is then the full map's pixel `(i f, j f)`, the window of
//!   that cell, so an overview level evaluates one window in `f^2` and is exact
//!   for those cells (this is what GDAL's nearest-neighbour overviews pick).

use crate::raster::{GeoTransform, Georef, Window};

/// What the model predicts per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKind {
    /// One class per window: a coarser output grid.
    Classify,
    /// One class per pixel: the source grid, windows blended.
    Segment,
}

/// The output grid and how to walk it.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Classifier or segmentation.
    pub kind: MapKind,
    /// Window size in source pixels.
    pub tile: usize,
    /// Window step in source pixels.
    pub stride: usize,
    /// Source raster size `(width, height)`.
    pub source: (usize, usize),
    /// Output raster size `(width, height)`.
    pub output: (usize, usize),
    /// Block edge in output pixels.
    pub block: usize,
    /// Classifier overview factor: output pixel `(i, j)` is the full map's pixel
    /// `(i f, j f)` (1 = the map itself; always 1 for segmentation).
    pub decimation: usize,
    /// Segmentation only: the receptive margin `m` in pixels of an exact plan
    /// (windows at `k stride - m`, each keeping `stride` pixels from `m` on; see
    /// the module docs), or 0 for windows at `k stride` blended where they overlap.
    pub margin: usize,
}

/// One unit of work.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Position in the output grid.
    pub out: Window,
    /// Source region to read: covers every window and every cell of the block.
    pub read: Window,
    /// Top-left source pixel of each window (classifier: one per output pixel,
    /// row-major).
    pub windows: Vec<(isize, isize)>,
}

impl Plan {
    /// Plans a map of a `source` raster with windows of `tile` every `stride` pixels.
    /// `block_px` is the block edge in source pixels (rounded to the grid).
    pub fn new(
        kind: MapKind,
        source: (usize, usize),
        tile: usize,
        stride: usize,
        block_px: usize,
    ) -> Self {
        let stride = stride.max(1);
        let (w, h) = source;
        let (output, block) = match kind {
            MapKind::Classify => (
                (w.div_ceil(stride), h.div_ceil(stride)),
                (block_px / stride).max(1),
            ),
            MapKind::Segment => (source, block_px.div_ceil(stride).max(1) * stride),
        };
        Plan {
            kind,
            tile,
            stride,
            source,
            output,
            block,
            decimation: 1,
            margin: 0,
        }
    }

    /// This segmentation plan made exact for a network whose receptive field
    /// reaches `margin` pixels around each pixel: each window keeps `stride`
    /// pixels from `margin` on (central at the largest stride, `tile - 2 margin`).
    ///
    /// # Panics
    /// When the stride exceeds `tile - 2 margin` (pixels would get no exact
    /// window; `resolve_stride` refuses such strides for per-pixel models).
    pub fn with_margin(mut self, margin: usize) -> Plan {
        if self.kind == MapKind::Segment && margin > 0 {
            assert!(
                self.stride + 2 * margin <= self.tile,
                "stride {} with margin {margin} leaves pixels outside every window of {} px",
                self.stride,
                self.tile
            );
            self.margin = margin;
        }
        self
    }

    /// The pixels window `w` (its top-left, along one axis) gives the map:
    /// `[start, start + len)`.
    pub fn kept(&self, w: isize) -> (isize, usize) {
        if self.margin > 0 {
            (w + self.margin as isize, self.stride)
        } else {
            (w, self.tile)
        }
    }

    /// The classifier plan of overview factor `factor` (>= 1) with blocks of
    /// `block` output pixels: `ceil(output / factor)` pixels, pixel `(i, j)` being
    /// this plan's pixel `(i factor, j factor)` with the same window.
    ///
    /// # Panics
    /// On a segmentation plan (its overviews are computed from a full-resolution
    /// plan, see `WindowMapper::overview_outputs`).
    pub fn overview(&self, factor: usize, block: usize) -> Plan {
        assert_eq!(
            self.kind,
            MapKind::Classify,
            "only classifier plans decimate"
        );
        let f = factor.max(1) * self.decimation;
        let full = (
            self.source.0.div_ceil(self.stride),
            self.source.1.div_ceil(self.stride),
        );
        Plan {
            output: (full.0.div_ceil(f), full.1.div_ceil(f)),
            block: block.max(1),
            decimation: f,
            ..self.clone()
        }
    }

    /// Source pixels between the origins of neighbouring output cells.
    pub fn cell_step(&self) -> usize {
        match self.kind {
            MapKind::Classify => self.stride * self.decimation,
            MapKind::Segment => 1,
        }
    }

    /// The output geotransform given the source's.
    pub fn geo_transform(&self, source: &GeoTransform) -> GeoTransform {
        match self.kind {
            MapKind::Classify => source.subgrid(0.0, 0.0, self.cell_step() as f64),
            MapKind::Segment => *source,
        }
    }

    /// The output georeferencing given the source's (geotransform or GCPs).
    pub fn georef(&self, source: &Georef) -> Georef {
        match self.kind {
            MapKind::Classify => source.subgrid(self.cell_step() as f64),
            MapKind::Segment => source.clone(),
        }
    }

    /// Number of blocks `(across, down)`.
    pub fn grid(&self) -> (usize, usize) {
        (
            self.output.0.div_ceil(self.block),
            self.output.1.div_ceil(self.block),
        )
    }

    /// Number of blocks in all.
    pub fn len(&self) -> usize {
        let (a, d) = self.grid();
        a * d
    }

    /// Whether there is nothing to map.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Segmentation window positions along one axis of `n` pixels.
    fn seg_positions(&self, n: usize) -> usize {
        if self.margin > 0 {
            n.div_ceil(self.stride).max(1)
        } else if n <= self.tile {
            1
        } else {
            (n - self.tile).div_ceil(self.stride) + 1
        }
    }

    /// Window offset of classifier cells relative to the cell origin.
    fn cell_offset(&self) -> isize {
        (self.stride as isize - self.tile as isize).div_euclid(2)
    }

    /// Block number `k` (row-major over [`Plan::grid`]).
    pub fn block(&self, k: usize) -> Block {
        let (across, _) = self.grid();
        let (bx, by) = ((k % across) * self.block, (k / across) * self.block);
        let bw = self.block.min(self.output.0 - bx);
        let bh = self.block.min(self.output.1 - by);
        self.block_at(Window::new(bx as isize, by as isize, bw, bh))
    }

    /// The unit of work for any window `out` of the output grid (inside it).
    pub fn block_at(&self, out: Window) -> Block {
        let (bx, by, bw, bh) = (out.x as usize, out.y as usize, out.width, out.height);
        let (s, t) = (self.stride as isize, self.tile as isize);
        let mut windows = Vec::new();
        match self.kind {
            MapKind::Classify => {
                let (off, step) = (self.cell_offset(), self.cell_step() as isize);
                for i in by..by + bh {
                    for j in bx..bx + bw {
                        windows.push((j as isize * step + off, i as isize * step + off));
                    }
                }
            }
            MapKind::Segment => {
                let m = self.margin as isize;
                let range = |b: usize, len: usize, n: usize| {
                    let last = self.seg_positions(n) - 1;
                    let end = ((b + len - 1) / self.stride).min(last);
                    // Exact: the windows whose kept [k s, k s + s) meets the block.
                    if m > 0 {
                        return b / self.stride..=end;
                    }
                    // Windows k with k s < b + len and k s + t > b.
                    let first = if b as isize >= t {
                        ((b as isize - t) / s + 1) as usize
                    } else {
                        0
                    };
                    first..=end
                };
                for ky in range(by, bh, self.source.1) {
                    for kx in range(bx, bw, self.source.0) {
                        windows.push((kx as isize * s - m, ky as isize * s - m));
                    }
                }
            }
        }
        // The read region: union of the windows and of the block's cells.
        let step = self.cell_step() as isize;
        let (cx0, cy0) = match self.kind {
            MapKind::Classify => (bx as isize * step, by as isize * step),
            MapKind::Segment => (bx as isize, by as isize),
        };
        let (cx1, cy1) = match self.kind {
            MapKind::Classify => (
                (bx + bw - 1) as isize * step + s,
                (by + bh - 1) as isize * step + s,
            ),
            MapKind::Segment => ((bx + bw) as isize, (by + bh) as isize),
        };
        let x0 = windows.iter().map(|w| w.0).min().unwrap_or(cx0).min(cx0);
        let y0 = windows.iter().map(|w| w.1).min().unwrap_or(cy0).min(cy0);
        let x1 = windows
            .iter()
            .map(|w| w.0 + t)
            .max()
            .unwrap_or(cx1)
            .max(cx1);
        let y1 = windows
            .iter()
            .map(|w| w.1 + t)
            .max()
            .unwrap_or(cy1)
            .max(cy1);
        let read = Window::new(x0, y0, (x1 - x0) as usize, (y1 - y0) as usize);
        Block { out, read, windows }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifier_windows_are_centred_on_their_cells() {
        let plan = Plan::new(MapKind::Classify, (100, 70), 16, 8, 32);
        assert_eq!(plan.output, (13, 9));
        assert_eq!(plan.block, 4);
        let b = plan.block(0);
        // Cell (0, 0) spans [0, 8); its centre 4 is the centre of window [-4, 12).
        assert_eq!(b.windows[0], (-4, -4));
        assert_eq!(b.windows.len(), 16);
        assert_eq!(b.read, Window::new(-4, -4, 16 + 3 * 8, 16 + 3 * 8));
        let gt = plan.geo_transform(&GeoTransform::north_up(1000.0, 2000.0, 30.0));
        assert_eq!(gt.0, [1000.0, 240.0, 0.0, 2000.0, 0.0, -240.0]);
    }

    #[test]
    fn an_overview_keeps_every_fth_cell_and_its_window() {
        let plan = Plan::new(MapKind::Classify, (100, 70), 16, 8, 32);
        let ov = plan.overview(4, 2);
        // 13 x 9 cells -> ceil(13/4) x ceil(9/4).
        assert_eq!(ov.output, (4, 3));
        assert_eq!(ov.cell_step(), 32);
        let full: Vec<(isize, isize)> = (0..plan.len())
            .flat_map(|k| {
                let b = plan.block(k);
                let (bw, x0, y0) = (b.out.width, b.out.x, b.out.y);
                b.windows
                    .into_iter()
                    .enumerate()
                    .map(move |(i, w)| ((x0 + (i % bw) as isize, y0 + (i / bw) as isize), w))
            })
            .filter(|((x, y), _)| x % 4 == 0 && y % 4 == 0)
            .map(|(_, w)| w)
            .collect();
        let mut decimated = Vec::new();
        for i in 0..3 {
            for j in 0..4 {
                let k = (i / 2) * 2 + j / 2;
                let b = ov.block(k);
                let (li, lj) = (i - b.out.y as usize, j - b.out.x as usize);
                decimated.push(((i, j), b.windows[li * b.out.width + lj]));
            }
        }
        let mut full_sorted = full.clone();
        full_sorted.sort_by_key(|&(x, y)| (y, x));
        let dec: Vec<_> = decimated.iter().map(|(_, w)| *w).collect();
        assert_eq!(dec, full_sorted);
        // The read region covers the last cell of the block.
        let b = ov.block(ov.len() - 1);
        assert!(b.read.x + b.read.width as isize >= 3 * 32 + 8);
        let gt = ov.geo_transform(&GeoTransform::north_up(1000.0, 2000.0, 30.0));
        assert_eq!(gt.0[1], 960.0);
    }

    #[test]
    fn segmentation_blocks_cover_every_pixel_with_windows() {
        let plan = Plan::new(MapKind::Segment, (50, 37), 16, 8, 20);
        assert_eq!(plan.block, 24);
        for k in 0..plan.len() {
            let b = plan.block(k);
            for y in b.out.y..b.out.y + b.out.height as isize {
                for x in b.out.x..b.out.x + b.out.width as isize {
                    let covered = b
                        .windows
                        .iter()
                        .any(|&(wx, wy)| (wx..wx + 16).contains(&x) && (wy..wy + 16).contains(&y));
                    assert!(covered, "pixel ({x}, {y}) of block {k}");
                }
            }
            assert!(b
                .windows
                .iter()
                .all(|&(wx, wy)| wx <= 50 - 8 && wy <= 37 - 8));
        }
    }

    #[test]
    fn an_exact_plan_gives_every_pixel_from_one_window_seeing_its_whole_field() {
        // (scene, tile, stride, margin, block): the largest stride, a smaller one,
        // a scene smaller than a window, sizes that are no multiple of the stride.
        let cases = [
            ((50, 37), 16, 12, 2, 20),
            ((50, 37), 16, 5, 2, 20),
            ((9, 11), 16, 12, 2, 20),
            ((61, 40), 16, 10, 3, 7),
        ];
        for (source, tile, stride, m, block) in cases {
            let plan = Plan::new(MapKind::Segment, source, tile, stride, block).with_margin(m);
            assert_eq!(plan.block % stride, 0);
            let (t, m) = (tile as isize, m as isize);
            // Every block of the plan, and blocks not aligned to the stride (as an
            // overview's may be).
            let mut outs: Vec<Window> = (0..plan.len()).map(|k| plan.block(k).out).collect();
            outs.push(Window::new(3, 4, source.0 - 3, source.1 - 4));
            outs.push(Window::new(1, 0, 6, 5));
            for out in outs {
                let b = plan.block_at(out);
                for y in out.y..out.y + out.height as isize {
                    for x in out.x..out.x + out.width as isize {
                        let givers: Vec<_> = b
                            .windows
                            .iter()
                            .filter(|&&(wx, wy)| {
                                let ((kx, kw), (ky, kh)) = (plan.kept(wx), plan.kept(wy));
                                (kx..kx + kw as isize).contains(&x)
                                    && (ky..ky + kh as isize).contains(&y)
                            })
                            .collect();
                        assert_eq!(givers.len(), 1, "pixel ({x}, {y}) of {out:?}, {source:?}");
                        // That window holds the pixel's whole field.
                        let (wx, wy) = *givers[0];
                        assert!(wx <= x - m && x + m < wx + t, "({x}, {y}) in {wx}");
                        assert!(wy <= y - m && y + m < wy + t, "({x}, {y}) in {wy}");
                    }
                }
                // No window without a pixel of the block; all inside the read region.
                for &(wx, wy) in &b.windows {
                    let ((kx, kw), (ky, kh)) = (plan.kept(wx), plan.kept(wy));
                    assert!(kx < out.x + out.width as isize && kx + kw as isize > out.x);
                    assert!(ky < out.y + out.height as isize && ky + kh as isize > out.y);
                    let r = b.read;
                    assert!(r.x <= wx && wx + t <= r.x + r.width as isize);
                    assert!(r.y <= wy && wy + t <= r.y + r.height as isize);
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "leaves pixels outside every window")]
    fn an_exact_plan_refuses_a_stride_its_windows_cannot_keep() {
        let _ = Plan::new(MapKind::Segment, (50, 37), 16, 13, 20).with_margin(2);
    }
}
