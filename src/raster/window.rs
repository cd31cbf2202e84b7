//! Pixel windows.

/// A rectangle in pixel space of one raster; may reach outside it (negative or
/// past the edge) when a read needs padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Window {
    /// Column of the top-left pixel.
    pub x: isize,
    /// Row of the top-left pixel.
    pub y: isize,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

impl Window {
    /// A window at `(x, y)` of `width` x `height`.
    pub fn new(x: isize, y: isize, width: usize, height: usize) -> Self {
        Window {
            x,
            y,
            width,
            height,
        }
    }

    /// A square window of `size` centred on pixel `(cx, cy)`.
    pub fn centred(cx: isize, cy: isize, size: usize) -> Self {
        let half = (size / 2) as isize;
        Window::new(cx - half, cy - half, size, size)
    }

    /// The part inside a raster of `w` x `h`, or `None` when they do not overlap.
    pub fn clip(&self, w: usize, h: usize) -> Option<Window> {
        let x0 = self.x.max(0);
        let y0 = self.y.max(0);
        let x1 = (self.x + self.width as isize).min(w as isize);
        let y1 = (self.y + self.height as isize).min(h as isize);
        (x1 > x0 && y1 > y0).then(|| Window::new(x0, y0, (x1 - x0) as usize, (y1 - y0) as usize))
    }

    /// Whether the window lies wholly inside a raster of `w` x `h`.
    pub fn is_inside(&self, w: usize, h: usize) -> bool {
        self.x >= 0
            && self.y >= 0
            && self.x as usize + self.width <= w
            && self.y as usize + self.height <= h
    }

    /// Whether two windows share at least one pixel.
    pub fn overlaps(&self, other: &Window) -> bool {
        self.x < other.x + other.width as isize
            && other.x < self.x + self.width as isize
            && self.y < other.y + other.height as isize
            && other.y < self.y + self.height as isize
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}+{}+{}", self.width, self.height, self.x, self.y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_keeps_the_inside() {
        assert_eq!(
            Window::new(-2, 3, 10, 10).clip(5, 8),
            Some(Window::new(0, 3, 5, 5))
        );
        assert_eq!(Window::new(9, 9, 2, 2).clip(5, 5), None);
        assert!(Window::new(0, 0, 5, 5).is_inside(5, 5));
        assert!(!Window::centred(1, 1, 4).is_inside(5, 5));
    }

    #[test]
    fn overlap_is_symmetric_and_excludes_touching() {
        let a = Window::new(0, 0, 4, 4);
        assert!(a.overlaps(&Window::new(3, 3, 4, 4)));
        assert!(!a.overlaps(&Window::new(4, 0, 4, 4)));
    }
}
