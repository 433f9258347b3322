//! A stride-1 2-D convolution and its gradients on plain `f32` slices in NCHW order, as one
//! im2col + GEMM per image, or for 3×3 "same" layers with enough channels as Winograd
//! F(4×4, 3×3) in the browser and for batches natively ([`winograd`]: 36 multiplications per
//! tile and channel where im2col takes 144).
//!
//! Why per image: every product is then a GEMM with the batch split across threads, one run of
//! images per thread, and each thread sums its own weight gradient. Burn's default weight
//! gradient convolves the transposed input with the transposed output gradient instead, which
//! leaves only `c_in` parallel tasks (3 in the first layer) and adds layout copies.

use crate::matmul::{Matrix, matmul};
use crate::parallel::{add_parts, filled_rows, split_batch, sum};
use gemm::Parallelism;
use std::ops::Range;

mod winograd;

/// Sizes of one stride-1, dilation-1, single-group convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    pub batch: usize,
    pub c_in: usize,
    pub c_out: usize,
    /// Input height and width.
    pub height: usize,
    pub width: usize,
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Zero padding `[top, bottom, left, right]`.
    pub padding: [usize; 4],
}

impl ConvShape {
    /// Output `[height, width]`; `None` when the kernel does not fit the padded input.
    pub fn output_size(&self) -> Option<[usize; 2]> {
        let [top, bottom, left, right] = self.padding;
        let height = (self.height + top + bottom + 1).checked_sub(self.kernel[0])?;
        let width = (self.width + left + right + 1).checked_sub(self.kernel[1])?;
        (height > 0 && width > 0).then_some([height, width])
    }

    /// Rows of the im2col matrix: `c_in · kernel height · kernel width`.
    fn taps(&self) -> usize {
        self.c_in * self.kernel[0] * self.kernel[1]
    }

    /// Columns of the im2col matrix: output pixels per channel.
    fn out_pixels(&self) -> usize {
        let [h, w] = self.output_size().expect("the kernel fits the padded input");
        h * w
    }

    fn image_len(&self) -> usize {
        self.c_in * self.height * self.width
    }
}

/// Forward pass.
///
/// - `x`: `[batch, c_in, height, width]`
/// - `weight`: `[c_out, c_in, kernel height, kernel width]`
/// - `bias`: `[c_out]`
/// - returns `[batch, c_out, out height, out width]`
pub fn forward(shape: &ConvShape, x: &[f32], weight: &[f32], bias: &[f32]) -> Vec<f32> {
    if winograd::suits(shape) {
        return winograd::forward(shape, x, weight, bias);
    }
    let pixels = shape.out_pixels();
    let out_image = shape.c_out * pixels;
    // Each output row starts as its bias; the GEMM adds onto it (no zeroing, no bias pass).
    let mut out = filled_rows(shape.batch * out_image, pixels, |row, out| {
        let b = bias[row % shape.c_out];
        out.iter_mut().for_each(|v| {
            v.write(b);
        });
    });
    split_batch(shape.batch, 1, &mut out, |images, out, parallelism| {
        if images.len() == 1 && shape.c_in >= 2 && !cfg!(target_arch = "wasm32") && !matches!(parallelism, Parallelism::None) {
            return add_one_image_by_channels(shape, &x[images.start * shape.image_len()..][..shape.image_len()], weight, out);
        }
        let mut col = Vec::new();
        for (b, out) in images.zip(out.chunks_exact_mut(out_image)) {
            add_channels(shape, &x[b * shape.image_len()..][..shape.image_len()], weight, 0, &mut col, out, parallelism);
        }
    });
    out
}

/// `out [c_out, pixels] +=` one image's `shape.c_in` channels convolved with their taps of
/// `weight` (`[c_out, every channel's taps]`, theirs from column `first_tap` on), through the
/// scratch columns `col` (sized, zeroed, on first use).
#[allow(clippy::too_many_arguments)]
fn add_channels(shape: &ConvShape, image: &[f32], weight: &[f32], first_tap: usize, col: &mut Vec<f32>, out: &mut [f32], parallelism: Parallelism) {
    let (taps, pixels) = (shape.taps(), shape.out_pixels());
    col.resize(taps * pixels, 0.0);
    im2col(shape, image, col);
    let row_stride = weight.len() / shape.c_out;
    let w = Matrix { data: &weight[first_tap..], row_stride, col_stride: 1 };
    let col = Matrix { data: col, row_stride: pixels, col_stride: 1 };
    matmul(out, true, shape.c_out, pixels, taps, w, col, parallelism);
}

/// One image (natively): its input channels split in two, each half's im2col and product on a
/// thread of its own, where each half's columns stay in that core's cache ([`add_parts`]). One
/// GEMM shared by gemm's own split moved the columns between the cores and gained nothing
/// (BENCHMARKS.md, issue 35, eleventh session).
fn add_one_image_by_channels(shape: &ConvShape, image: &[f32], weight: &[f32], out: &mut [f32]) {
    let half = shape.c_in.div_ceil(2);
    let plane = shape.height * shape.width;
    add_parts(out, 2, |part, out| {
        let channels = if part == 0 { 0..half } else { half..shape.c_in };
        let part_shape = ConvShape { batch: 1, c_in: channels.len(), ..*shape };
        let first_tap = ConvShape { c_in: channels.start, ..part_shape }.taps();
        let image = &image[channels.start * plane..channels.end * plane];
        add_channels(&part_shape, image, weight, first_tap, &mut Vec::new(), out, Parallelism::None);
    });
}

/// Gradients of [`forward`] with respect to its three inputs.
pub struct Gradients {
    /// `[batch, c_in, height, width]`; `None` when not asked for.
    pub x: Option<Vec<f32>>,
    /// `[c_out, c_in, kernel height, kernel width]`
    pub weight: Vec<f32>,
    /// `[c_out]`
    pub bias: Vec<f32>,
}

/// Backward pass from the output gradient `grad` (`[batch, c_out, out height, out width]`).
/// The input gradient is computed only when `want_x` (the first layer's images need none).
pub fn backward(shape: &ConvShape, x: &[f32], weight: &[f32], grad: &[f32], want_x: bool) -> Gradients {
    if winograd::suits(shape) {
        let (weight_grad, bias) = winograd::parameter_gradients(shape, x, grad);
        let x = want_x.then(|| winograd::input_gradient(shape, weight, grad));
        return Gradients { x, weight: weight_grad, bias };
    }
    let (taps, pixels) = (shape.taps(), shape.out_pixels());
    let out_image = shape.c_out * pixels;
    let mut grad_x = if want_x { vec![0.0; shape.batch * shape.image_len()] } else { Vec::new() };
    let weight_gradient = WeightGradient { c_out: shape.c_out, taps, pixels };
    let partial = split_batch(shape.batch, 1, &mut grad_x, |images, grad_x, parallelism| {
        let mut col = vec![0.0; taps * pixels];
        let mut grad_col = if want_x { vec![0.0; taps * pixels] } else { Vec::new() };
        let mut grad_weight = vec![0.0; taps * shape.c_out];
        let mut grad_bias = vec![0.0; shape.c_out];
        for (i, b) in images.enumerate() {
            let g = &grad[b * out_image..][..out_image];
            im2col(shape, &x[b * shape.image_len()..][..shape.image_len()], &mut col);
            weight_gradient.add(&mut grad_weight, i > 0, g, &col, parallelism);
            for (total, row) in grad_bias.iter_mut().zip(g.chunks_exact(pixels)) {
                *total += sum(row);
            }
            if want_x {
                // grad_col [taps, pixels] = weightᵀ [taps, c_out] · g [c_out, pixels]
                let g_matrix = Matrix { data: g, row_stride: pixels, col_stride: 1 };
                let w_t = Matrix { data: weight, row_stride: 1, col_stride: taps };
                matmul(&mut grad_col, false, taps, pixels, shape.c_out, w_t, g_matrix, parallelism);
                let image = i * shape.image_len();
                col2im_add(shape, &mut grad_col, &mut grad_x[image..][..shape.image_len()]);
            }
        }
        (grad_weight, grad_bias)
    });
    let (weights, biases): (Vec<_>, Vec<_>) = partial.into_iter().unzip();
    Gradients {
        x: want_x.then_some(grad_x),
        weight: weight_gradient.finish(add_up(weights, taps * shape.c_out)),
        bias: add_up(biases, shape.c_out),
    }
}

/// One image's weight gradient `g [c_out, pixels] · colᵀ [pixels, taps]`, added up image by
/// image. gemm packs the operand that its product reads across rows, gathering its values
/// `pixels` apart (11.9 % of a native training step when that was always col); so the product is
/// taken transposed, `[taps, c_out]`, when g has fewer rows than col (every layer past the first).
#[derive(Clone, Copy)]
struct WeightGradient {
    c_out: usize,
    taps: usize,
    pixels: usize,
}

impl WeightGradient {
    fn transposed(&self) -> bool {
        self.c_out < self.taps
    }

    /// `dst` (`[c_out, taps]`, or `[taps, c_out]` when transposed) `=` or `+=` this image's part.
    fn add(&self, dst: &mut [f32], accumulate: bool, g: &[f32], col: &[f32], parallelism: Parallelism) {
        let (c_out, taps, pixels) = (self.c_out, self.taps, self.pixels);
        let rows = |data| Matrix { data, row_stride: pixels, col_stride: 1 };
        let columns = |data| Matrix { data, row_stride: 1, col_stride: pixels };
        if self.transposed() {
            matmul(dst, accumulate, taps, c_out, pixels, rows(col), columns(g), parallelism);
        } else {
            matmul(dst, accumulate, c_out, taps, pixels, rows(g), columns(col), parallelism);
        }
    }

    /// The `[c_out, taps]` gradient from the sum of what [`add`](Self::add) wrote.
    fn finish(&self, sum: Vec<f32>) -> Vec<f32> {
        if !self.transposed() {
            return sum;
        }
        (0..self.c_out * self.taps).map(|i| sum[(i % self.taps) * self.c_out + i / self.taps]).collect()
    }
}

/// The sum of the threads' partial gradients, each `len` long (zeros when there are none).
fn add_up(parts: Vec<Vec<f32>>, len: usize) -> Vec<f32> {
    parts
        .into_iter()
        .reduce(|mut a, b| {
            a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
            a
        })
        .unwrap_or_else(|| vec![0.0; len])
}

/// For each output pixel of one image, the input values under each kernel tap:
/// `image` `[c_in, height, width]` → `col` `[c_in · kh · kw, out height · out width]`, zero where
/// the kernel reads padding.
fn im2col(shape: &ConvShape, image: &[f32], col: &mut [f32]) {
    let plane_len = shape.height * shape.width;
    for_each_tap_row(shape, |row, source, taps| {
        let col_row = &mut col[row * taps.len()..][..taps.len()];
        if let Some(block) = taps.block() {
            // One copy for the whole tap, then zeros where it read padding (or wrapped round).
            let plane = &image[source..][..plane_len];
            col_row[..block.rows.start * taps.row_len].fill(0.0);
            col_row[block.rows.end * taps.row_len..].fill(0.0);
            let (out, input) = block.span(plane_len);
            col_row[out].copy_from_slice(&plane[input]);
            block.for_each_padded_run(taps, col_row, |run| run.fill(0.0));
            return;
        }
        for (out, span) in col_row.chunks_exact_mut(taps.row_len).zip(taps.spans()) {
            match span {
                Some((input, valid)) => {
                    out[..valid.start].fill(0.0);
                    out[valid.clone()].copy_from_slice(&image[source + input..][..valid.len()]);
                    out[valid.end..].fill(0.0);
                }
                None => out.fill(0.0),
            }
        }
    });
}

/// The adjoint of [`im2col`]: adds each column entry back onto the input value it was read
/// from. Entries that read padding are dropped (and zeroed in `col`, a scratch buffer).
fn col2im_add(shape: &ConvShape, col: &mut [f32], image: &mut [f32]) {
    let plane_len = shape.height * shape.width;
    for_each_tap_row(shape, |row, source, taps| {
        let col_row = &mut col[row * taps.len()..][..taps.len()];
        if let Some(block) = taps.block() {
            block.for_each_padded_run(taps, col_row, |run| run.fill(0.0));
            let (values, target) = block.span(plane_len);
            let target = &mut image[source..][..plane_len][target];
            target.iter_mut().zip(&col_row[values]).for_each(|(t, v)| *t += v);
            return;
        }
        for (values, span) in col_row.chunks_exact(taps.row_len).zip(taps.spans()) {
            if let Some((input, valid)) = span {
                let target = &mut image[source + input..][..valid.len()];
                target.iter_mut().zip(&values[valid]).for_each(|(t, v)| *t += v);
            }
        }
    });
}

/// A tap whose output rows are as wide as the input's (the usual "same" padding): every output
/// row inside the image reads its input at one fixed offset, so the rows form one block.
struct Block {
    /// Output rows whose input row lies inside the image.
    rows: Range<usize>,
    /// Input index minus output index.
    shift: isize,
    row_len: usize,
}

impl Block {
    /// The block's output range and the input range it reads, clipped to the channel's plane;
    /// what clipping drops lies in padded columns.
    fn span(&self, plane_len: usize) -> (Range<usize>, Range<usize>) {
        let out = (self.rows.start * self.row_len) as isize..(self.rows.end * self.row_len) as isize;
        let input = (out.start + self.shift).max(0)..(out.end + self.shift).min(plane_len as isize);
        if input.is_empty() {
            return (0..0, 0..0);
        }
        let out = (input.start - self.shift) as usize..(input.end - self.shift) as usize;
        (out, input.start as usize..input.end as usize)
    }

    /// Calls `visit` on each run of a row's padded columns (inside the block's rows).
    fn for_each_padded_run(&self, taps: &TapRows, col_row: &mut [f32], mut visit: impl FnMut(&mut [f32])) {
        if taps.valid.len() == taps.row_len {
            return;
        }
        for y in self.rows.clone() {
            let row = &mut col_row[y * self.row_len..][..self.row_len];
            visit(&mut row[..taps.valid.start]);
            visit(&mut row[taps.valid.end..]);
        }
    }
}

/// Where one kernel tap reads, output row by output row.
struct TapRows {
    /// Output width.
    row_len: usize,
    rows: usize,
    /// Input row read by output row 0 (may be negative: padding).
    first_input_row: isize,
    height: usize,
    width: usize,
    /// Output columns whose input column lies inside the image.
    valid: Range<usize>,
    /// Input column read by output column `valid.start`.
    first_input_col: usize,
}

impl TapRows {
    fn len(&self) -> usize {
        self.rows * self.row_len
    }

    /// The rows as one [`Block`], when output rows are as wide as input rows.
    fn block(&self) -> Option<Block> {
        if self.row_len != self.width || self.valid.is_empty() {
            return None;
        }
        // Output row y reads input row y + first_input_row.
        let end = (self.height as isize - self.first_input_row).clamp(0, self.rows as isize) as usize;
        let start = ((-self.first_input_row).max(0) as usize).min(end);
        let column_shift = self.first_input_col as isize - self.valid.start as isize;
        let shift = self.first_input_row * self.width as isize + column_shift;
        Some(Block { rows: start..end, shift, row_len: self.row_len })
    }

    /// Per output row: the offset of its first valid input within the channel and the valid
    /// output columns, or `None` when the whole row reads padding.
    fn spans(&self) -> impl Iterator<Item = Option<(usize, Range<usize>)>> + '_ {
        (0..self.rows).map(move |y| {
            let input_row = self.first_input_row + y as isize;
            let inside = (0..self.height as isize).contains(&input_row) && !self.valid.is_empty();
            inside.then(|| (input_row as usize * self.width + self.first_input_col, self.valid.clone()))
        })
    }
}

/// Calls `visit(im2col row, channel offset in the image, where the tap reads)` for every tap.
fn for_each_tap_row(shape: &ConvShape, mut visit: impl FnMut(usize, usize, &TapRows)) {
    let [out_h, out_w] = shape.output_size().expect("the kernel fits the padded input");
    let [kh, kw] = shape.kernel;
    let [top, _, left, _] = shape.padding;
    for c in 0..shape.c_in {
        for ky in 0..kh {
            for kx in 0..kw {
                // Output column x reads input column x + kx - left.
                let start = left.saturating_sub(kx).min(out_w);
                let end = (shape.width + left).saturating_sub(kx).clamp(start, out_w);
                let taps = TapRows {
                    row_len: out_w,
                    rows: out_h,
                    first_input_row: ky as isize - top as isize,
                    height: shape.height,
                    width: shape.width,
                    valid: start..end,
                    first_input_col: (start + kx).saturating_sub(left),
                };
                let row = (c * kh + ky) * kw + kx;
                visit(row, c * shape.height * shape.width, &taps);
            }
        }
    }
}

#[cfg(test)]
mod tests;
