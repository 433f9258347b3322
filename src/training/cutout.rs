//! Cutout (DeVries & Taylor 2017, "Improved Regularization of Convolutional Neural Networks with
//! Cutout"): after the crop + flip, a square of the training image is set to the dataset's mean
//! colour, so the model cannot lean on any one part of an object. The square is centred on a
//! uniformly random pixel and may hang over the edge (then less of it is cut), as in the paper.
//!
//! Here rather than in `data` with the crop + flip: it is an option of a run
//! ([`super::TrainingConfig::cutout`]) applied on top of the views `data` and a teacher give.

use crate::data::{MEAN, Planes};
use rand::{Rng, RngCore};

/// The colour a cut square gets, per channel in bytes: the dataset mean ([`MEAN`]) scaled to
/// bytes and rounded, `[125, 123, 114]`. After normalisation it is 0 to within half a grey level
/// (under 0.01).
pub const CUTOUT_FILL: [u8; 3] = [
    (MEAN[0] * 255.0 + 0.5) as u8,
    (MEAN[1] * 255.0 + 0.5) as u8,
    (MEAN[2] * 255.0 + 0.5) as u8,
];

/// One cut: the square of side `size` centred on pixel `(x, y)` of the image, that is rows
/// `y − size/2 .. y − size/2 + size` and the same columns around `x` (integer division; for an
/// even side the centre is the lower-right of the middle four), clipped to the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutout {
    pub x: usize,
    pub y: usize,
    pub size: usize,
}

impl Cutout {
    /// A square of side `size` at a uniformly random centre of an image of `side` pixels (`x`
    /// drawn first, then `y`).
    pub fn random(size: usize, side: usize, rng: &mut impl RngCore) -> Self {
        let x = rng.random_range(0..side);
        let y = rng.random_range(0..side);
        Self { x, y, size }
    }

    /// The rows (or columns) the square covers around `centre`, within `0..side`.
    fn span(self, centre: usize, side: usize) -> std::ops::Range<usize> {
        let start = centre as isize - (self.size / 2) as isize;
        let end = start + self.size as isize;
        (start.max(0) as usize)..(end.clamp(0, side as isize) as usize)
    }

    /// Whether pixel `(x, y)` (of the image) is cut.
    pub fn covers(self, x: usize, y: usize) -> bool {
        self.span(self.x, usize::MAX >> 1).contains(&x) && self.span(self.y, usize::MAX >> 1).contains(&y)
    }

    /// Sets the square's pixels of `planes` (`[3, side, side]` bytes) to [`CUTOUT_FILL`].
    pub fn apply(self, planes: &mut Planes) {
        let (side, area) = (planes.side(), planes.area());
        let columns = self.span(self.x, side);
        for (channel, fill) in CUTOUT_FILL.into_iter().enumerate() {
            for y in self.span(self.y, side) {
                let row = channel * area + y * side;
                planes[row + columns.start..row + columns.end].fill(fill);
            }
        }
    }
}

/// A training image's cut, drawn from `rng` after its crop + flip: none when `size` is 0 (and
/// nothing drawn, so a run without cutout draws the same numbers as before it existed).
pub fn cut(planes: &mut Planes, size: usize, rng: &mut impl RngCore) {
    if size > 0 {
        Cutout::random(size, planes.side(), rng).apply(planes);
    }
}
