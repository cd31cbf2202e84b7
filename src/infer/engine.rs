//! The work on one block: windows through the network (per window, or through
//! shared feature maps), then classes, probabilities and nodata for its pixels.
//!
//! Validity comes from the pixel pipeline ([`crate::pixels`]): invalid pixels
//! enter the network as the raster's mean (the fill), never as zero. A classifier
//! cell is nodata when fewer than half of its own pixels are valid, or when its
//! window's valid fraction is below `min_valid` (its window is then not computed);
//! a segmentation window below `min_valid` (on an exact plan, over the pixels it
//! keeps and their receptive fields) is not computed, and a pixel is nodata when it
//! is invalid or no computed window gives it.

use super::blend;
use super::confidence::{percent, top_two};
use super::layout::PROBABILITY_NODATA;
use super::plan::{Block, MapKind, Plan};
use super::shared::SharedCnn;
use super::Predictor;
use crate::error::Result;
use crate::pixels::{PixelReader, Pixels};
use crate::raster::Window;
use ndarray::{s, Array2, Array3, Array4, Axis};

/// A block read through the pixel pipeline: `[bands, h, w]` over `block.read`,
/// and the valid mask.
pub(crate) struct Prepared {
    pub(crate) block: Block,
    pub(crate) pixels: Pixels,
}

impl Prepared {
    /// Reads `block` through `reader`.
    pub(crate) fn read(reader: &PixelReader, block: Block) -> Result<Prepared> {
        let pixels = reader.read(block.read)?;
        Ok(Prepared { block, pixels })
    }
}

/// A block's results, ready to write.
pub(crate) struct Finished {
    pub(crate) block: Block,
    pub(crate) classes: Vec<u8>,
    pub(crate) probabilities: Option<Vec<u8>>,
    /// Per-cell confidence in percent ([`margin`]), when asked for.
    pub(crate) confidence: Option<Vec<u8>>,
}

/// Everything block computations share: the model(s), the plan and the output coding.
pub(crate) struct Engine<'a> {
    pub(crate) predictor: Predictor,
    pub(crate) shared: Option<SharedCnn>,
    pub(crate) plan: &'a Plan,
    pub(crate) o: EngineOptions,
    pub(crate) weights: Array2<f32>,
}

/// How an engine runs and codes its output.
#[derive(Debug, Clone)]
pub(crate) struct EngineOptions {
    /// Windows per inference batch.
    pub(crate) batch_size: usize,
    /// Also compute per-class probabilities.
    pub(crate) probabilities: bool,
    /// Also compute the confidence band ([`margin`]).
    pub(crate) confidence: bool,
    /// Class id of each output index.
    pub(crate) ids: Vec<u8>,
    /// Nodata value of the class band.
    pub(crate) nodata: u8,
    /// Smallest valid fraction of a window for it to be computed.
    pub(crate) min_valid: f64,
    /// Smallest confidence, in percent as the confidence band holds it, for a
    /// cell to get a class.
    pub(crate) min_confidence: u8,
}

impl Engine<'_> {
    /// A new engine; blending weights follow the plan's tile (all 1 on an exact plan).
    pub(crate) fn new(
        predictor: Predictor,
        shared: Option<SharedCnn>,
        plan: &Plan,
        o: EngineOptions,
    ) -> Engine<'_> {
        // An exact plan's windows are clipped to the pixels they keep
        // (`Plan::kept`), each given by one window: all weights are 1.
        let weights = if plan.margin > 0 {
            Array2::ones((plan.tile, plan.tile))
        } else {
            blend::weights(plan.tile)
        };
        Engine {
            predictor,
            shared,
            plan,
            o,
            weights,
        }
    }

    /// Computes one block; returns the number of windows run and the results.
    pub(crate) fn run(&mut self, p: &Prepared) -> Result<(usize, Finished)> {
        match self.plan.kind {
            MapKind::Classify => self.classify(p),
            MapKind::Segment => self.segment(p),
        }
    }
}

/// Runs `windows` (top-left in source pixels) of a prepared block in batches; calls
/// `each(window index, probabilities view [classes, ...])`.
fn run_windows(
    predictor: &mut Predictor,
    p: &Prepared,
    windows: &[(usize, (isize, isize))],
    tile: usize,
    batch_size: usize,
    mut each: impl FnMut(usize, ndarray::ArrayViewD<'_, f32>),
) -> Result<()> {
    let data = &p.pixels.data;
    let bands = data.dim().0;
    for chunk in windows.chunks(batch_size) {
        let mut batch = Array4::<f32>::zeros((chunk.len(), bands, tile, tile));
        for (i, &(_, (wx, wy))) in chunk.iter().enumerate() {
            let (x0, y0) = (
                (wx - p.block.read.x) as usize,
                (wy - p.block.read.y) as usize,
            );
            batch.slice_mut(s![i, .., .., ..]).assign(&data.slice(s![
                ..,
                y0..y0 + tile,
                x0..x0 + tile
            ]));
        }
        let probs = predictor.predict(batch.view())?;
        for (i, &(idx, _)) in chunk.iter().enumerate() {
            each(idx, probs.index_axis(Axis(0), i));
        }
    }
    Ok(())
}

/// [`run_windows`] through shared feature maps: the trunk runs once over the
/// region spanned by the block's windows, each window's tail on its crop.
fn run_shared(
    sh: &mut SharedCnn,
    p: &Prepared,
    windows: &[(usize, (isize, isize))],
    plan: &Plan,
    batch_size: usize,
    mut each: impl FnMut(usize, ndarray::ArrayViewD<'_, f32>),
) -> Result<()> {
    let (bw, bh) = (p.block.out.width, p.block.out.height);
    let (t, s) = (plan.tile, plan.stride);
    // Windows are row-major, so the first one is the top-left of the region.
    let (wx0, wy0) = p.block.windows[0];
    let (x0, y0) = (
        (wx0 - p.block.read.x) as usize,
        (wy0 - p.block.read.y) as usize,
    );
    let region = p
        .pixels
        .data
        .slice(s![.., y0..y0 + (bh - 1) * s + t, x0..x0 + (bw - 1) * s + t]);
    let features = sh.features(region)?;
    let (scale, ft, channels) = (sh.scale as isize, t / sh.scale, features.dim().0);
    for chunk in windows.chunks(batch_size) {
        let mut crops = Array4::<f32>::zeros((chunk.len(), channels, ft, ft));
        for (k, &(_, (wx, wy))) in chunk.iter().enumerate() {
            let (fx, fy) = (((wx - wx0) / scale) as usize, ((wy - wy0) / scale) as usize);
            crops
                .slice_mut(s![k, .., .., ..])
                .assign(&features.slice(s![.., fy..fy + ft, fx..fx + ft]));
        }
        let probs = sh.tail(crops.view())?;
        for (k, &(idx, _)) in chunk.iter().enumerate() {
            each(idx, probs.index_axis(Axis(0), k).into_dyn());
        }
    }
    Ok(())
}

/// The windows of `block` that `keep` accepts, with their index: the ones worth
/// running through the network.
fn windows_where(
    block: &Block,
    keep: impl Fn(usize, &(isize, isize)) -> bool,
) -> Vec<(usize, (isize, isize))> {
    (block.windows.iter().copied().enumerate())
        .filter(|(i, w)| keep(*i, w))
        .collect()
}

/// A block's outputs being filled cell by cell from probability vectors, coded
/// as the map's files hold them (class ids, percentages, confidence).
struct BlockCoder<'a> {
    ids: &'a [u8],
    min_confidence: u8,
    cells: usize,
    classes: Vec<u8>,
    probabilities: Option<Vec<u8>>,
    confidence: Option<Vec<u8>>,
}

impl<'a> BlockCoder<'a> {
    /// A block of `cells` cells, all nodata.
    fn new(o: &'a EngineOptions, cells: usize) -> Self {
        let k = o.ids.len();
        BlockCoder {
            ids: &o.ids,
            min_confidence: o.min_confidence,
            cells,
            classes: vec![o.nodata; cells],
            probabilities: o.probabilities.then(|| vec![PROBABILITY_NODATA; k * cells]),
            confidence: o.confidence.then(|| vec![PROBABILITY_NODATA; cells]),
        }
    }

    /// Codes cell `i` from its class probabilities `p` (one per output); a cell
    /// whose confidence (as the band holds it) is below `min_confidence` keeps
    /// the class nodata.
    fn put(&mut self, i: usize, p: impl Iterator<Item = f32> + Clone) {
        // A cell the model gave no finite probability stays nodata everywhere.
        let Some((m, arg)) = top_two(p.clone()) else {
            return;
        };
        let confidence = percent(m);
        if confidence >= self.min_confidence {
            self.classes[i] = self.ids[arg];
        }
        if let Some(out) = self.confidence.as_mut() {
            out[i] = confidence;
        }
        if let Some(out) = self.probabilities.as_mut() {
            for (c, v) in p.enumerate() {
                out[c * self.cells + i] = percent(v);
            }
        }
    }

    fn finish(self, block: &Block) -> Finished {
        Finished {
            block: block.clone(),
            classes: self.classes,
            probabilities: self.probabilities,
            confidence: self.confidence,
        }
    }
}

impl Engine<'_> {
    fn classify(&mut self, p: &Prepared) -> Result<(usize, Finished)> {
        let (plan, batch_size) = (self.plan, self.o.batch_size);
        let (bw, bh) = (p.block.out.width, p.block.out.height);
        let (s, step) = (plan.stride, plan.cell_step() as isize);
        let (tile, min_valid) = (plan.tile, self.o.min_valid);
        // A cell counts when at least half its in-raster pixels are valid and its
        // window passes `min_valid`.
        let cell_valid = |i: usize| {
            let (cx, cy) = (
                (p.block.out.x + (i % bw) as isize) * step,
                (p.block.out.y + (i / bw) as isize) * step,
            );
            let (wx, wy) = p.block.windows[i];
            p.pixels.valid_fraction(Window::new(cx, cy, s, s)) >= 0.5
                && p.pixels.valid_fraction(Window::new(wx, wy, tile, tile)) >= min_valid
        };
        let todo = windows_where(&p.block, |i, _| cell_valid(i));
        let mut coder = BlockCoder::new(&self.o, bw * bh);
        let each = |i: usize, pr: ndarray::ArrayViewD<'_, f32>| coder.put(i, pr.iter().copied());
        match self.shared.as_mut() {
            // Shared features line windows up at the stride; decimated plans
            // (overviews) run every window on its own.
            Some(sh) if !todo.is_empty() && plan.decimation == 1 => {
                run_shared(sh, p, &todo, plan, batch_size, each)?
            }
            _ => run_windows(&mut self.predictor, p, &todo, plan.tile, batch_size, each)?,
        }
        Ok((todo.len(), coder.finish(&p.block)))
    }

    fn segment(&mut self, p: &Prepared) -> Result<(usize, Finished)> {
        let (plan, ids, batch_size) = (self.plan, &self.o.ids, self.o.batch_size);
        let weights = &self.weights;
        let (bw, bh) = (p.block.out.width, p.block.out.height);
        let (bx, by) = (p.block.out.x, p.block.out.y);
        let (rx, ry) = (p.block.read.x, p.block.read.y);
        let min_valid = self.o.min_valid;
        // What a window's pixels are computed from: the whole window when blended,
        // the kept pixels and their fields on an exact plan.
        let m = plan.margin as isize;
        let usable = |&(wx, wy): &(isize, isize)| {
            let ((kx, kw), (ky, kh)) = (plan.kept(wx), plan.kept(wy));
            let (fw, fh) = (kw + 2 * plan.margin, kh + 2 * plan.margin);
            p.pixels.valid_fraction(Window::new(kx - m, ky - m, fw, fh)) >= min_valid
        };
        let todo = windows_where(&p.block, |_, w| usable(w));
        let k = ids.len();
        let mut acc = Array3::<f32>::zeros((k, bh, bw));
        let mut wsum = Array2::<f32>::zeros((bh, bw));
        let windows = &p.block.windows;
        run_windows(
            &mut self.predictor,
            p,
            &todo,
            plan.tile,
            batch_size,
            |i, pr| {
                let (wx, wy) = windows[i];
                // Overlap of the pixels the window gives with the block.
                let ((kx, kw), (ky, kh)) = (plan.kept(wx), plan.kept(wy));
                let (x0, y0) = (kx.max(bx), ky.max(by));
                let (x1, y1) = (
                    (kx + kw as isize).min(bx + bw as isize),
                    (ky + kh as isize).min(by + bh as isize),
                );
                if x1 <= x0 || y1 <= y0 {
                    return;
                }
                let (u0, v0, u1, v1) = (
                    (x0 - wx) as usize,
                    (y0 - wy) as usize,
                    (x1 - wx) as usize,
                    (y1 - wy) as usize,
                );
                let (a0, b0, a1, b1) = (
                    (x0 - bx) as usize,
                    (y0 - by) as usize,
                    (x1 - bx) as usize,
                    (y1 - by) as usize,
                );
                let w = weights.slice(s![v0..v1, u0..u1]);
                let pr = pr
                    .into_dimensionality::<ndarray::Ix3>()
                    .expect("segmentation output is [classes, h, w]");
                // Summed in place: no temporary array per class and window.
                for c in 0..k {
                    ndarray::Zip::from(acc.slice_mut(s![c, b0..b1, a0..a1]))
                        .and(pr.slice(s![c, v0..v1, u0..u1]))
                        .and(&w)
                        .for_each(|d, &v, &wt| *d += v * wt);
                }
                wsum.slice_mut(s![b0..b1, a0..a1])
                    .zip_mut_with(&w, |d, v| *d += v);
            },
        )?;
        let mut coder = BlockCoder::new(&self.o, bw * bh);
        for r in 0..bh {
            for c in 0..bw {
                let valid = p.pixels.valid[[(by - ry) as usize + r, (bx - rx) as usize + c]];
                let ws = wsum[[r, c]];
                if !valid || ws <= 0.0 {
                    continue;
                }
                coder.put(r * bw + c, (0..k).map(|q| acc[[q, r, c]] / ws));
            }
        }
        Ok((todo.len(), coder.finish(&p.block)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(min_confidence: u8) -> EngineOptions {
        EngineOptions {
            batch_size: 1,
            probabilities: true,
            confidence: true,
            ids: vec![3, 5, 7],
            nodata: 0,
            min_valid: 0.25,
            min_confidence,
        }
    }

    #[test]
    fn cells_get_the_likeliest_class_unless_below_the_confidence_floor() {
        let o = options(25);
        let mut coder = BlockCoder::new(&o, 3);
        coder.put(0, [0.1, 0.7, 0.2].into_iter());
        coder.put(1, [0.4, 0.35, 0.25].into_iter());
        let block = Block {
            out: Window::new(0, 0, 3, 1),
            read: Window::new(0, 0, 3, 1),
            windows: Vec::new(),
        };
        let f = coder.finish(&block);
        // Cell 1's margin (5 %) is under 25 %: nodata, with its probabilities kept;
        // cell 2 was never put.
        assert_eq!(f.classes, vec![5, 0, 0]);
        assert_eq!(f.confidence, Some(vec![50, 5, PROBABILITY_NODATA]));
        let p = f.probabilities.unwrap();
        assert_eq!((p[0], p[3], p[6]), (10, 70, 20));
        assert_eq!((p[1], p[4], p[7]), (40, 35, 25));
        assert_eq!(p[2], PROBABILITY_NODATA);
    }
}
