//! The training augmentation: a random crop of the image padded with black, then a coin-flip
//! mirror. A [`CropFlip`] names one such crop + flip, so a teacher's logits can be matched to the
//! exact view the student sees.

use super::image::Planes;
use rand::{Rng, RngCore};

/// Padding (black pixels on every side) of the training augmentation's random crop.
pub const CROP_PAD: i8 = 4;

/// One crop + flip of the training augmentation: the window of the image's size at offset `(dx, dy)` (each
/// in `-CROP_PAD..=CROP_PAD`) of the image padded with black, mirrored when `flip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropFlip {
    pub dx: i8,
    pub dy: i8,
    pub flip: bool,
}

impl CropFlip {
    /// A uniformly random view (offsets first, then a coin for the flip).
    pub fn random(rng: &mut impl RngCore) -> Self {
        let dx = rng.random_range(-CROP_PAD..=CROP_PAD);
        let dy = rng.random_range(-CROP_PAD..=CROP_PAD);
        let flip = rng.random_bool(0.5);
        Self { dx, dy, flip }
    }

    /// The view of `planes`: `out[y][x] = in[y + dy][x + dx]`, or `in[y + dy][side - 1 - (x + dx)]`
    /// when flipped; black outside the image.
    pub fn apply(self, planes: &Planes) -> Planes {
        let size = planes.side() as i32;
        let (dx, dy) = (self.dx as i32, self.dy as i32);
        let mut out = Planes::zeros(planes.side());
        let area = planes.area();
        for channel in 0..3 {
            for y in 0..size {
                let src_y = y + dy;
                if !(0..size).contains(&src_y) {
                    continue;
                }
                for x in 0..size {
                    let shifted = x + dx;
                    if !(0..size).contains(&shifted) {
                        continue;
                    }
                    let src_x = if self.flip { size - 1 - shifted } else { shifted };
                    out[channel * area + (y * size + x) as usize] =
                        planes[channel * area + (src_y * size + src_x) as usize];
                }
            }
        }
        out
    }
}

/// The training augmentation: a random [`CropFlip`] (crop out of the image padded by 4 black
/// pixels, then a horizontal flip with probability 1/2).
pub fn augment(planes: &Planes, rng: &mut impl RngCore) -> Planes {
    CropFlip::random(rng).apply(planes)
}
