//! The tile machinery of the Winograd transforms: a plane inside its zero border with its columns
//! dealt into phases, tile rows as runs of values, and the two passes over them, written so that
//! the compiler vectorizes runs of tiles (one tile at a time, scalar, the transforms cost as much
//! as the GEMMs they save).

use super::{PATCH, TILE, Tiling, position_stride};

/// One plane inside a zero border (`border` rows and columns before it, and after it enough to
/// make whole tiles plus the border, so that no tile reads past it), with its columns dealt
/// into [`TILE`] phases by their index modulo `TILE`: a run of tiles then reads runs of
/// consecutive values, which the compiler vectorizes, where it would read every `TILE`-th value.
/// Reused plane after plane: only the inside is ever written.
struct Bordered {
    phases: [Vec<f32>; TILE],
    /// Values per row of each phase.
    per_phase: usize,
    border: usize,
}

impl Bordered {
    fn new(tiling: Tiling, border: usize) -> Self {
        let per_phase = tiling.across + border;
        let len = per_phase * (TILE * tiling.down + 2 * border);
        Bordered { phases: std::array::from_fn(|_| vec![0.0; len]), per_phase, border }
    }

    /// Copies a `plane_width`-wide plane inside the border, in one pass along each row.
    fn fill(&mut self, plane: &[f32], plane_width: usize) {
        // Plane column x lands in bordered column x + border: phase (x + border) % TILE.
        let [p0, p1, p2, p3] = &mut self.phases;
        for (y, row) in plane.chunks_exact(plane_width).enumerate() {
            let start = (y + self.border) * self.per_phase;
            for (x, value) in row.iter().enumerate() {
                let column = x + self.border;
                let phase = match column % TILE {
                    0 => &mut *p0,
                    1 => &mut *p1,
                    2 => &mut *p2,
                    _ => &mut *p3,
                };
                phase[start + column / TILE] = *value;
            }
        }
    }

    /// Bordered column `TILE·tx + j` of every row, at `y·per_phase + tx` for the `across` tiles
    /// `tx` of row `y` (the positions in between read the border: values no tile uses), up to
    /// the last row's last tile.
    fn columns(&self, j: usize) -> &[f32] {
        &self.phases[j % TILE][j / TILE..][..self.span()]
    }

    /// How far [`columns`](Self::columns) reach: every row but the last whole, then its tiles.
    fn span(&self) -> usize {
        (self.rows() - 1) * self.per_phase + self.per_phase - self.border
    }

    fn rows(&self) -> usize {
        self.phases[0].len() / self.per_phase
    }
}

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

/// `outputs[j][t] = f(inputs[..][t])[j]` for every `t`: four tiles at a time as arrays, which
/// the compiler turns into one 4-lane operation each (SSE natively, SIMD128 in the browser); its
/// loop vectorizer leaves runs this short (2 tiles across the 8×8 layer) scalar.
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

/// Tile rows as [`PATCH`] arrays: `values[k][y·stride + tx]`, the `k`-th of a row transform's
/// results for tile column `tx` of (bordered) plane row `y`, in [`Bordered`]'s layout (`stride`
/// its values per row and phase). Lets both passes of a transform run along runs of values,
/// which the compiler vectorizes (one tile at a time, scalar, the transforms cost as much as
/// the GEMMs they save).
struct TileRows {
    values: Vec<f32>,
    /// Values per result `k`.
    len: usize,
    stride: usize,
}

impl TileRows {
    fn new(bordered: &Bordered) -> Self {
        let len = bordered.rows() * bordered.per_phase;
        TileRows { values: vec![0.0; PATCH * len], len, stride: bordered.per_phase }
    }

    /// Result `k` for the `across` tiles of row `y`.
    fn row(&self, k: usize, y: usize, across: usize) -> &[f32] {
        &self.values[k * self.len + y * self.stride..][..across]
    }

    /// The results `k` = 0..PATCH of every row, `span` values each.
    fn all_mut(&mut self, span: usize) -> [&mut [f32]; PATCH] {
        runs(&mut self.values, 0, self.len, span)
    }
}

/// `out[PATCH·i + k][c][column] = (T·d·Tᵀ)[i][k]` for every channel `c` and tile of a group of
/// images (`planes`: `[images, channels, h, w]`), where `d` is the tile's `I`×`I` patch of the
/// plane inside a zero `border` (tile `(ty, tx)` starts at bordered row `TILE·ty`, column
/// `TILE·tx`) and `T` the `PATCH`×`I` matrix that `map` applies to one row or column. The two
/// passes of both [`super::transform_inputs`] and [`super::transform_output_gradients`].
pub(super) fn transform_tiles<const I: usize>(
    planes: &[f32],
    channels: usize,
    tiling: Tiling,
    border: usize,
    out: &mut [f32],
    map: impl Fn([f32; I]) -> [f32; PATCH] + Copy,
) {
    let images = planes.len() / (channels * tiling.plane());
    let (cols, across) = (images * tiling.per_image(), tiling.across);
    let stride = position_stride(channels, cols);
    let mut bordered = Bordered::new(tiling, border);
    let mut d_t = TileRows::new(&bordered);
    for (p, plane) in planes.chunks_exact(tiling.plane()).enumerate() {
        let (image, c) = (p / channels, p % channels);
        bordered.fill(plane, tiling.width);
        // d·Tᵀ along each row: tile tx reads bordered columns TILE·tx .. TILE·tx + I. All rows
        // in one run (what lies between two rows' tiles is computed and never read): a 16×16
        // plane has only 4 tiles a row, an 8×8 one 2, too few for 4-lane vectors.
        let mut columns: [&[f32]; I] = [&[]; I];
        for (j, column) in columns.iter_mut().enumerate() {
            *column = bordered.columns(j);
        }
        map_lanes(columns, d_t.all_mut(bordered.span()), map);
        // T·(d·Tᵀ) down each tile's I rows, a run of tiles at a time.
        for ty in 0..tiling.down {
            let first = c * cols + image * tiling.per_image() + ty * across;
            for k in 0..PATCH {
                let mut rows: [&[f32]; I] = [&[]; I];
                for (j, row) in rows.iter_mut().enumerate() {
                    *row = d_t.row(k, TILE * ty + j, across);
                }
                map_lanes(rows, runs(out, k * stride + first, PATCH * stride, across), map);
            }
        }
    }
}
