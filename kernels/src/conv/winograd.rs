//! The 3×3, padding-1 convolution as Winograd F(4×4, 3×3): each 4×4 block of outputs ("tile")
//! comes from its 6×6 input patch with 36 multiplications per input channel instead of 144.
//!
//! Why: a training step on this host is GEMM-bound, with gemm's microkernel near the core's peak
//! (BENCHMARKS.md, issue 35), so only fewer multiplications make it faster. In the transformed
//! domain the 36 positions ξ of a tile are independent, and each is one GEMM over channels:
//!
//! - forward: `M[ξ] [c_out, tiles] = U[ξ] [c_out, c_in] · V[ξ] [c_in, tiles]`, where `U = G·w·Gᵀ`
//!   (weights), `V = Bᵀ·d·B` (input patches), and the output is `Aᵀ·M·A`;
//! - weight gradient: `∂U[ξ] = ∂M[ξ] · V[ξ]ᵀ` with `∂M = A·∂y·Aᵀ`, then `∂w = Gᵀ·∂U·G`;
//! - input gradient: the forward pass of the output gradient with the weights turned 180° and
//!   their channels swapped (the adjoint of a stride-1 "same" convolution).
//!
//! Images are taken a few at a time, so that each GEMM has a few hundred tile columns.

use super::{ConvShape, add_up};
use crate::matmul::{Matrix, matmul};
use crate::parallel::{gemm_parallelism, split_batch, sum};
use gemm::Parallelism;
use tiles::{map_lanes, runs, runs_of, transform_tiles};

mod tiles;

/// Outputs along a tile's side, and the input patch a tile reads (a 3×3 kernel adds 2).
const TILE: usize = 4;
const PATCH: usize = TILE + 2;

/// Transformed positions per tile (6×6).
const POSITIONS: usize = PATCH * PATCH;

/// Tile columns per GEMM that the grouping of images aims for: wide enough for the GEMMs, small
/// enough that a group's transformed input and products stay near the core's L2 cache (36
/// positions a column: at 128 columns fine-tuning ran 0.98× as fast, same-run A/B).
const GROUP_COLUMNS: usize = 64;

/// Floats between one position's matrix and the next beyond the matrix itself. Each tile's
/// transform touches all 36 matrices; at the model's sizes a matrix is a multiple of 4 KiB, so
/// without the skew the streams share one L1 cache set, more than it has ways (the
/// transforms then took 42 % of a training step).
const SKEW: usize = 16;

/// Floats from one position's `rows × cols` matrix to the next.
fn position_stride(rows: usize, cols: usize) -> usize {
    rows * cols + SKEW
}

/// Fewer channels than this keep im2col: the transforms would cost more than they save (the
/// first layer's 3 input channels).
const MIN_CHANNELS: usize = 8;

/// Whether `shape` takes this path: where it [applies](applies), in the browser's modules always
/// (fine-tuning there F(2×2, 3×3) 1.31×, then F(4×4, 3×3) 1.18× more), natively for batches of
/// at least [`GROUP_COLUMNS`] tiles: with the transforms over runs of a group's tiles, training
/// ran 1.29× the images/s (same-run A/B, BENCHMARKS.md, issue 35, fifteenth session), where one
/// image took twice the time (16 tiles or 4: gemm's AVX-512 kernels then beat the transforms).
pub fn suits(shape: &ConvShape) -> bool {
    applies(shape) && (cfg!(target_arch = "wasm32") || shape.batch * Tiling::of(shape).per_image() >= GROUP_COLUMNS)
}

/// 3×3 kernels with "same" padding on enough channels.
pub fn applies(shape: &ConvShape) -> bool {
    shape.kernel == [3, 3] && shape.padding == [1; 4] && shape.c_in >= MIN_CHANNELS && shape.c_out >= MIN_CHANNELS
}

/// How one image's planes divide into [`TILE`]×[`TILE`] output tiles (the last row or column
/// may hang over).
#[derive(Clone, Copy)]
struct Tiling {
    height: usize,
    width: usize,
    down: usize,
    across: usize,
}

impl Tiling {
    fn of(shape: &ConvShape) -> Self {
        let (height, width) = (shape.height, shape.width);
        Tiling { height, width, down: height.div_ceil(TILE), across: width.div_ceil(TILE) }
    }

    fn per_image(&self) -> usize {
        self.down * self.across
    }

    fn plane(&self) -> usize {
        self.height * self.width
    }

    /// Images per group: about [`GROUP_COLUMNS`] tile columns.
    fn group(&self) -> usize {
        (GROUP_COLUMNS / self.per_image()).max(1)
    }
}

/// Forward pass, as [`super::forward`], for shapes this path [applies](applies) to.
pub fn forward(shape: &ConvShape, x: &[f32], weight: &[f32], bias: &[f32]) -> Vec<f32> {
    let u = transform_weights(weight, shape.c_out, shape.c_in);
    convolve(shape, x, &u, bias)
}

/// The input gradient: [`forward`] of `grad` with the weights turned 180° and transposed.
pub fn input_gradient(shape: &ConvShape, weight: &[f32], grad: &[f32]) -> Vec<f32> {
    let (c_in, c_out) = (shape.c_in, shape.c_out);
    let mut flipped = vec![0.0; weight.len()];
    for o in 0..c_out {
        for c in 0..c_in {
            let source = &weight[(o * c_in + c) * 9..][..9];
            let target = &mut flipped[(c * c_out + o) * 9..][..9];
            target.iter_mut().zip(source.iter().rev()).for_each(|(t, s)| *t = *s);
        }
    }
    let adjoint = ConvShape { c_in: c_out, c_out: c_in, ..*shape };
    convolve(&adjoint, grad, &transform_weights(&flipped, c_in, c_out), &vec![0.0; c_in])
}

/// The weight and bias gradients from the output gradient `grad` (`[batch, c_out, h, w]`).
pub fn parameter_gradients(shape: &ConvShape, x: &[f32], grad: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let tiling = Tiling::of(shape);
    let (image_in, image_out) = (shape.c_in * tiling.plane(), shape.c_out * tiling.plane());
    let partial = split_batch(shape.batch, tiling.group(), &mut [], |images, _, parallelism| {
        let mut grad_u = vec![0.0; POSITIONS * shape.c_out * shape.c_in];
        let mut grad_bias = vec![0.0; shape.c_out];
        let mut scratch = Scratch::new(shape, tiling);
        for (i, first) in images.clone().step_by(tiling.group()).enumerate() {
            let count = tiling.group().min(images.end - first);
            let cols = count * tiling.per_image();
            transform_inputs(&x[first * image_in..][..count * image_in], shape.c_in, tiling, &mut scratch.v);
            let grad = &grad[first * image_out..][..count * image_out];
            transform_output_gradients(grad, shape.c_out, tiling, &mut scratch.m);
            for position in 0..POSITIONS {
                let m = Matrix { data: &scratch.m[position * position_stride(shape.c_out, cols)..], row_stride: cols, col_stride: 1 };
                let v_t = Matrix { data: &scratch.v[position * position_stride(shape.c_in, cols)..], row_stride: 1, col_stride: cols };
                let target = &mut grad_u[position * shape.c_out * shape.c_in..];
                let parallelism = per_gemm(parallelism, shape.c_out * shape.c_in * cols);
                matmul(target, i > 0, shape.c_out, shape.c_in, cols, m, v_t, parallelism);
            }
            for (o, row) in grad.chunks_exact(tiling.plane()).enumerate() {
                grad_bias[o % shape.c_out] += sum(row);
            }
        }
        (grad_u, grad_bias)
    });
    let (grad_u, grad_bias): (Vec<_>, Vec<_>) = partial.into_iter().unzip();
    let grad_u = add_up(grad_u, POSITIONS * shape.c_out * shape.c_in);
    (untransform_weight_gradient(&grad_u, shape.c_out, shape.c_in), add_up(grad_bias, shape.c_out))
}

/// Per-thread buffers for one group of images' transformed inputs (`v`) and products (`m`).
struct Scratch {
    v: Vec<f32>,
    m: Vec<f32>,
}

impl Scratch {
    fn new(shape: &ConvShape, tiling: Tiling) -> Self {
        let cols = tiling.group() * tiling.per_image();
        let len = |rows| POSITIONS * position_stride(rows, cols);
        Scratch { v: vec![0.0; len(shape.c_in)], m: vec![0.0; len(shape.c_out)] }
    }
}

/// A GEMM inside a thread's run of images stays on that thread; one image's GEMMs share the
/// threads where they are big enough.
fn per_gemm(parallelism: Parallelism, macs: usize) -> Parallelism {
    if matches!(parallelism, Parallelism::None) { Parallelism::None } else { gemm_parallelism(macs) }
}

/// The forward pass with weights already transformed (`u`: `[36, c_out, c_in]`).
fn convolve(shape: &ConvShape, x: &[f32], u: &[f32], bias: &[f32]) -> Vec<f32> {
    let tiling = Tiling::of(shape);
    let (image_in, image_out) = (shape.c_in * tiling.plane(), shape.c_out * tiling.plane());
    let mut out = vec![0.0; shape.batch * image_out];
    split_batch(shape.batch, tiling.group(), &mut out, |images, out, parallelism| {
        let mut scratch = Scratch::new(shape, tiling);
        for (first, out) in images.clone().step_by(tiling.group()).zip(out.chunks_mut(tiling.group() * image_out)) {
            let count = out.len() / image_out;
            let cols = count * tiling.per_image();
            transform_inputs(&x[first * image_in..][..count * image_in], shape.c_in, tiling, &mut scratch.v);
            for position in 0..POSITIONS {
                let u = Matrix { data: &u[position * shape.c_out * shape.c_in..], row_stride: shape.c_in, col_stride: 1 };
                let v = Matrix { data: &scratch.v[position * position_stride(shape.c_in, cols)..], row_stride: cols, col_stride: 1 };
                let target = &mut scratch.m[position * position_stride(shape.c_out, cols)..];
                let parallelism = per_gemm(parallelism, shape.c_out * shape.c_in * cols);
                matmul(target, false, shape.c_out, cols, shape.c_in, u, v, parallelism);
            }
            transform_outputs(&scratch.m, shape.c_out, tiling, bias, out);
        }
    });
    out
}

/// G of F(4×4, 3×3): takes a kernel's row (or column) of 3 to the transformed domain's 6.
const G: [[f32; 3]; PATCH] = [
    [0.25, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// `G ⊗ G` `[36, 9]`: `G·w·Gᵀ` of a 3×3 kernel `w` as one product with its 9 values.
fn kernel_transform() -> [f32; POSITIONS * 9] {
    let mut product = [0.0; POSITIONS * 9];
    for (index, value) in product.iter_mut().enumerate() {
        let ([i, j], [r, c]) = ([index / 9 / PATCH, index / 9 % PATCH], [index % 9 / 3, index % 3]);
        *value = G[i][r] * G[j][c];
    }
    product
}

/// `U[ξ][o][c] = (G·w[o][c]·Gᵀ)[ξ]` for `weight` `[c_out, c_in, 3, 3]`: one GEMM,
/// `U [36, kernels] = (G ⊗ G) [36, 9] · weightᵀ [9, kernels]` (compact code, and run once a call).
fn transform_weights(weight: &[f32], c_out: usize, c_in: usize) -> Vec<f32> {
    let kernels = c_out * c_in;
    let mut u = vec![0.0; POSITIONS * kernels];
    let transform = kernel_transform();
    let lhs = Matrix { data: &transform, row_stride: 9, col_stride: 1 };
    let weight_t = Matrix { data: weight, row_stride: 1, col_stride: 9 };
    matmul(&mut u, false, POSITIONS, kernels, 9, lhs, weight_t, gemm_parallelism(POSITIONS * kernels * 9));
    u
}

/// The adjoint of [`transform_weights`], `∂w[o][c] = Gᵀ·∂U[o][c]·G`:
/// `∂w [kernels, 9] = ∂Uᵀ [kernels, 36] · (G ⊗ G) [36, 9]`.
fn untransform_weight_gradient(grad_u: &[f32], c_out: usize, c_in: usize) -> Vec<f32> {
    let kernels = c_out * c_in;
    let mut grad = vec![0.0; kernels * 9];
    let transform = kernel_transform();
    let grad_u_t = Matrix { data: grad_u, row_stride: 1, col_stride: kernels };
    let rhs = Matrix { data: &transform, row_stride: 9, col_stride: 1 };
    matmul(&mut grad, false, kernels, 9, POSITIONS, grad_u_t, rhs, gemm_parallelism(POSITIONS * kernels * 9));
    grad
}

/// `V[ξ][c][column]` for every channel and tile of a group of images (`x`: `[images, channels,
/// h, w]`), one column per tile, images after each other: `Bᵀ·d·B` of each tile's 6×6 input
/// patch `d`, with `Bᵀ` of F(4×4, 3×3) (interpolation points 0, ±1, ±2, ∞). Tile `(top, left)`
/// reads from `(top - 1, left - 1)`: with a border of 1, from `(top, left)`.
fn transform_inputs(x: &[f32], channels: usize, tiling: Tiling, v: &mut [f32]) {
    transform_tiles(x, channels, tiling, 1, v, |[d0, d1, d2, d3, d4, d5]| {
        let (a, b) = (d4 - 4.0 * d2, d3 - 4.0 * d1);
        let (c, e) = (d4 - d2, 2.0 * (d3 - d1));
        [4.0 * d0 - 5.0 * d2 + d4, a + b, a - b, c + e, c - e, 4.0 * d1 - 5.0 * d3 + d5]
    });
}

/// `Aᵀ` of F(4×4, 3×3) on one row or column of 6: the tile's 4 outputs.
#[inline(always)]
fn output_map([m0, m1, m2, m3, m4, m5]: [f32; PATCH]) -> [f32; TILE] {
    let (a, b) = (m1 + m2, m1 - m2);
    let (c, d) = (m3 + m4, m3 - m4);
    [m0 + a + c, b + 2.0 * d, a + 4.0 * c, b + 8.0 * d + m5]
}

/// `y = Aᵀ·M·A + bias` for every tile of a group of images, written into `out`
/// (`[images, channels, h, w]`), dropping the outputs of tiles that hang over the plane.
fn transform_outputs(m: &[f32], channels: usize, tiling: Tiling, bias: &[f32], out: &mut [f32]) {
    let images = out.len() / (channels * tiling.plane());
    let (cols, n) = (images * tiling.per_image(), tiling.per_image());
    let stride = position_stride(channels, cols);
    // a_m[TILE·k + r][column]: (Aᵀ·M)[r][k]; then y[TILE·r + c][column] = (Aᵀ·M·A)[r][c]; runs
    // over the whole group's tiles (see `tiles`).
    let mut a_m = vec![0.0; PATCH * TILE * cols];
    let mut y = vec![0.0; TILE * TILE * cols];
    let mut row = vec![0.0; TILE * tiling.across];
    for o in 0..channels {
        for k in 0..PATCH {
            let column = runs_of(m, k * stride + o * cols, PATCH * stride, cols);
            map_lanes(column, runs(&mut a_m, TILE * k * cols, cols, cols), output_map);
        }
        for r in 0..TILE {
            let row_of_a_m = runs_of(&a_m, r * cols, TILE * cols, cols);
            map_lanes(row_of_a_m, runs(&mut y, TILE * r * cols, cols, cols), output_map);
        }
        for image in 0..images {
            let plane = &mut out[(image * channels + o) * tiling.plane()..][..tiling.plane()];
            for (out_y, out_row) in plane.chunks_exact_mut(tiling.width).enumerate() {
                let (ty, r) = (out_y / TILE, out_y % TILE);
                let tiles = image * n + ty * tiling.across..image * n + (ty + 1) * tiling.across;
                for c in 0..TILE {
                    let values = &y[(TILE * r + c) * cols..][tiles.clone()];
                    row.iter_mut().skip(c).step_by(TILE).zip(values).for_each(|(t, v)| *t = *v);
                }
                out_row.iter_mut().zip(&row).for_each(|(out, value)| *out = value + bias[o]);
            }
        }
    }
}

/// `∂M = A·∂y·Aᵀ` for every tile of a group of images' output gradient (`grad`: `[images,
/// channels, h, w]`), zero where a tile hangs over the plane: the adjoint of [`transform_outputs`].
/// `A` maps a tile's 4 values on a row or column to the transformed domain's 6.
fn transform_output_gradients(grad: &[f32], channels: usize, tiling: Tiling, m: &mut [f32]) {
    transform_tiles(grad, channels, tiling, 0, m, |[a, b, c, d]| {
        let (even, odd) = (a + c, b + d);
        let (even4, odd2) = (a + 4.0 * c, 2.0 * b + 8.0 * d);
        [a, even + odd, even - odd, even4 + odd2, even4 - odd2, d]
    });
}
