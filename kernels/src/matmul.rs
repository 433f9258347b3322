//! The one GEMM call the kernels share: gemm's, on row-major or transposed views of slices.

use gemm::Parallelism;

/// A row-major or transposed view of a matrix in a slice.
#[derive(Clone, Copy)]
pub struct Matrix<'a> {
    pub data: &'a [f32],
    pub row_stride: usize,
    pub col_stride: usize,
}

/// `dst [m, n] = lhs [m, k] · rhs [k, n]`, or `+=` when `accumulate`; `dst` is row-major.
#[allow(clippy::too_many_arguments)]
pub fn matmul(dst: &mut [f32], accumulate: bool, m: usize, n: usize, k: usize, lhs: Matrix, rhs: Matrix, parallelism: Parallelism) {
    let last = |a: Matrix, rows: usize, cols: usize| (rows - 1) * a.row_stride + (cols - 1) * a.col_stride;
    assert!(dst.len() >= m * n && lhs.data.len() > last(lhs, m, k) && rhs.data.len() > last(rhs, k, n));
    // SAFETY: the assertion keeps every index gemm reads or writes inside the three slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}
