//! The tile machinery of the Winograd transforms: each tile's patch gathered into runs over a
//! group's tiles (one run per patch element), and the transforms' two passes over those runs,
//! which the compiler vectorizes. Runs over the whole group (64 tiles and more), not over one
//! plane's row of tiles (2 in the 8×8 layer, 4 in the 16×16 one): with runs that short the
//! transforms took more time than the GEMMs they spare (natively 56 % of the layers' time).

use super::{PATCH, TILE, Tiling, position_stride};

/// `N` runs of `values`, each `len` long, `stride` apart from `first` on.
#[inline(always)]
pub(super) fn runs<const N: usize>(values: &mut [f32], first: usize, stride: usize, len: usize) -> [&mut [f32]; N] {
    let mut out: [&mut [f32]; N] = std::array::from_fn(|_| <&mut [f32]>::default());
    let mut rest = &mut values[first..];
    for run in out.iter_mut() {
        let values = std::mem::take(&mut rest);
        let (head, tail) = values.split_at_mut(stride.min(values.len()));
        (*run, rest) = (&mut head[..len], tail);
    }
    out
}

/// [`runs`] to read: `N` runs of `values`, each `len` long, `stride` apart from `first` on.
#[inline(always)]
pub(super) fn runs_of<const N: usize>(values: &[f32], first: usize, stride: usize, len: usize) -> [&[f32]; N] {
    let mut out: [&[f32]; N] = [&[]; N];
    for (k, run) in out.iter_mut().enumerate() {
        *run = &values[first + k * stride..][..len];
    }
    out
}

/// `outputs[j][t] = f(inputs[..][t])[j]` for every `t`: four tiles at a time as arrays, which
/// the compiler turns into one 4-lane operation each (SSE natively, SIMD128 in the browser).
/// Natively, 16-lane arrays compiled for AVX-512 where the CPU has it made the Winograd layers
/// at most 3 % faster (same-run A/Bs): not worth a second compiled copy of the transforms.
#[inline(always)]
pub(super) fn map_lanes<const I: usize, const O: usize>(inputs: [&[f32]; I], mut outputs: [&mut [f32]; O], f: impl Fn([f32; I]) -> [f32; O]) {
    let len = outputs[0].len();
    let four = len / 4 * 4;
    for t in (0..four).step_by(4) {
        let mut chunks = [[0.0f32; 4]; I];
        for (chunk, input) in chunks.iter_mut().zip(&inputs) {
            chunk.copy_from_slice(&input[t..t + 4]);
        }
        let mut results = [[0.0f32; O]; 4];
        for (lane, result) in results.iter_mut().enumerate() {
            let mut args = [0.0f32; I];
            for (arg, chunk) in args.iter_mut().zip(&chunks) {
                *arg = chunk[lane];
            }
            *result = f(args);
        }
        for (j, output) in outputs.iter_mut().enumerate() {
            for (lane, value) in output[t..t + 4].iter_mut().enumerate() {
                *value = results[lane][j];
            }
        }
    }
    for t in four..len {
        let mut args = [0.0f32; I];
        for (arg, input) in args.iter_mut().zip(&inputs) {
            *arg = input[t];
        }
        let result = f(args);
        for (output, value) in outputs.iter_mut().zip(result) {
            output[t] = value;
        }
    }
}

/// The `I`×`I` input patches of a group's tiles as runs: `values[I·i + j][column]` is element
/// `(i, j)` of the patch of tile `column` (images after each other, a plane's tiles row by row),
/// read from the plane inside a zero `border` (tile `(ty, tx)`'s patch starts at bordered row
/// `TILE·ty`, column `TILE·tx`); zero where a patch reaches past the plane.
struct Patches<const I: usize> {
    values: Vec<f32>,
    cols: usize,
    tiling: Tiling,
    border: usize,
}

impl<const I: usize> Patches<I> {
    #[inline(always)]
    fn new(tiling: Tiling, border: usize, cols: usize) -> Self {
        Patches { values: vec![0.0; I * I * cols], cols, tiling, border }
    }

    /// Gathers `plane`'s tiles' patches into columns `first..` (one plane's tiles): each tile's
    /// patch row is `I` consecutive values of a plane row, one to each of `I` runs. Read from
    /// the plane itself, zeros written where a patch reaches past it (copying the plane into a
    /// zero border first took more time than the gathering: `memcpy` calls row by row).
    #[inline(always)]
    fn gather(&mut self, plane: &[f32], first: usize) {
        let Tiling { width, height, across, .. } = self.tiling;
        for ty in 0..self.tiling.down {
            for i in 0..I {
                let mut targets: [&mut [f32]; I] = runs(&mut self.values, I * i * self.cols + first + ty * across, self.cols, across);
                let Some(y) = (TILE * ty + i).checked_sub(self.border).filter(|y| *y < height) else {
                    targets.iter_mut().for_each(|target| target.fill(0.0));
                    continue;
                };
                let row = &plane[y * width..][..width];
                for tx in 0..across {
                    // Plane columns TILE·tx - border .. + I, where they are all inside.
                    match (TILE * tx).checked_sub(self.border).filter(|x| x + I <= width) {
                        Some(x) => {
                            for (target, value) in targets.iter_mut().zip(&row[x..x + I]) {
                                target[tx] = *value;
                            }
                        }
                        None => {
                            for (j, target) in targets.iter_mut().enumerate() {
                                let x = (TILE * tx + j).wrapping_sub(self.border);
                                target[tx] = row.get(x).copied().unwrap_or(0.0);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `out[PATCH·a + b][c][column] = (T·d·Tᵀ)[a][b]` for every channel `c` and tile of a group of
/// images (`planes`: `[images, channels, h, w]`), where `d` is the tile's `I`×`I` patch (see
/// [`Patches`]) and `T` the `PATCH`×`I` matrix that `map` applies to one row or column. The two
/// passes of both [`super::transform_inputs`] and [`super::transform_output_gradients`].
#[inline(always)]
pub(super) fn transform_tiles<const I: usize>(
    planes: &[f32],
    channels: usize,
    tiling: Tiling,
    border: usize,
    out: &mut [f32],
    map: impl Fn([f32; I]) -> [f32; PATCH] + Copy,
) {
    let images = planes.len() / (channels * tiling.plane());
    let cols = images * tiling.per_image();
    let stride = position_stride(channels, cols);
    let mut patches = Patches::<I>::new(tiling, border, cols);
    // d_t[PATCH·i + b]: (d·Tᵀ)[i][b] of every column.
    let mut d_t = vec![0.0; I * PATCH * cols];
    for c in 0..channels {
        for image in 0..images {
            patches.gather(&planes[(image * channels + c) * tiling.plane()..][..tiling.plane()], image * tiling.per_image());
        }
        for i in 0..I {
            let row = runs_of(&patches.values, I * i * cols, cols, cols);
            map_lanes(row, runs(&mut d_t, PATCH * i * cols, cols, cols), map);
        }
        for b in 0..PATCH {
            let column = runs_of(&d_t, b * cols, PATCH * cols, cols);
            map_lanes(column, runs(out, b * stride + c * cols, PATCH * stride, cols), map);
        }
    }
}
