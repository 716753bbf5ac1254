//! Matrix products written straight into memory this crate owns, for the batched convolutions.
//!
//! Flex's `float_matmul` zero-fills a fresh byte buffer for its output and then copies it once
//! more to align it for f32, two passes that show up in a `perf` profile of the deep DCGAN
//! step (`docs/performance.md`, "What runs on the CPU, and why"). A convolution's products
//! are used once (copied to batch-major order, scattered, or summed), so here gemm (the crate
//! flex itself calls) writes each product into a fresh vector without reading it first.

/// A matrix over a slice: element `(row, column)` is `values[row * row_stride + column *
/// column_stride]`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Strided<'a> {
    values: &'a [f32],
    rows: usize,
    columns: usize,
    row_stride: usize,
    column_stride: usize,
}

impl<'a> Strided<'a> {
    /// The row-major `[rows, columns]` matrix at the start of `values`.
    pub fn row_major(values: &'a [f32], [rows, columns]: [usize; 2]) -> Self {
        let matrix = Strided {
            values,
            rows,
            columns,
            row_stride: columns,
            column_stride: 1,
        };
        matrix.check();
        matrix
    }

    /// The `[rows, columns]` matrix at the start of `values` whose rows lie `row_stride` values
    /// apart (row-major when `row_stride == columns`).
    pub fn spaced_rows(values: &'a [f32], [rows, columns]: [usize; 2], row_stride: usize) -> Self {
        let matrix = Strided {
            values,
            rows,
            columns,
            row_stride,
            column_stride: 1,
        };
        matrix.check();
        matrix
    }

    /// The transpose, as a view of the same values.
    pub fn transposed(self) -> Self {
        Strided {
            rows: self.columns,
            columns: self.rows,
            row_stride: self.column_stride,
            column_stride: self.row_stride,
            ..self
        }
    }

    /// Every element lies inside `values`: what makes the raw-pointer product below sound.
    fn check(&self) {
        if self.rows > 0 && self.columns > 0 {
            let last = (self.rows - 1) * self.row_stride + (self.columns - 1) * self.column_stride;
            assert!(
                last < self.values.len(),
                "a strided matrix outside its values"
            );
        }
    }
}

/// Products of at least this many multiply-adds let gemm split the work over rayon's threads
/// (flex's own threshold).
const PARALLEL_MULTIPLY_ADDS: usize = 192 * 192 * 192;

/// `lhs x rhs` as a row-major `[lhs.rows, rhs.columns]` vector.
pub(super) fn product(lhs: Strided<'_>, rhs: Strided<'_>) -> Vec<f32> {
    let [m, n, k] = dimensions(&lhs, &rhs);
    let mut out = Vec::<f32>::with_capacity(m * n);
    if m * n == 0 {
        return out;
    }
    if k == 0 {
        out.resize(m * n, 0.0);
        return out;
    }
    // SAFETY: `out` has room for the `m x n` result, and without `add` gemm writes every
    // element of it without reading it, so `set_len` exposes only initialised values.
    unsafe {
        multiply_into(out.as_mut_ptr(), lhs, rhs, false);
        out.set_len(m * n);
    }
    out
}

/// `out += lhs x rhs`, `out` the row-major `[lhs.rows, rhs.columns]` result so far.
pub(super) fn add_product(out: &mut [f32], lhs: Strided<'_>, rhs: Strided<'_>) {
    let [m, n, k] = dimensions(&lhs, &rhs);
    assert_eq!(out.len(), m * n, "the result of a matrix product");
    if m * n == 0 || k == 0 {
        return;
    }
    // SAFETY: `out` holds the initialised `m x n` result.
    unsafe { multiply_into(out.as_mut_ptr(), lhs, rhs, true) }
}

/// `[m, n, k]` of `lhs x rhs`, whose inner dimensions must agree.
fn dimensions(lhs: &Strided<'_>, rhs: &Strided<'_>) -> [usize; 3] {
    assert_eq!(
        lhs.columns, rhs.rows,
        "inner dimensions of a matrix product"
    );
    [lhs.rows, rhs.columns, lhs.columns]
}

/// gemm's `out = lhs x rhs`, or `out += lhs x rhs` when `add`, on the row-major result at
/// `out`. Both operands lie inside their slices (`Strided::check`).
///
/// # Safety
///
/// `out` must be valid for writes of `lhs.rows * rhs.columns` floats, and hold initialised
/// values when `add`.
unsafe fn multiply_into(out: *mut f32, lhs: Strided<'_>, rhs: Strided<'_>, add: bool) {
    let [m, n, k] = dimensions(&lhs, &rhs);
    let parallelism = match m * n * k >= PARALLEL_MULTIPLY_ADDS {
        true => gemm::Parallelism::Rayon(0),
        false => gemm::Parallelism::None,
    };
    // SAFETY: the caller's promise about `out`; the operands were checked on construction.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out,
            1,
            n as isize,
            add,
            lhs.values.as_ptr(),
            lhs.column_stride as isize,
            lhs.row_stride as isize,
            rhs.values.as_ptr(),
            rhs.column_stride as isize,
            rhs.row_stride as isize,
            if add { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the definition, with plain and transposed operands, an empty inner dimension
    /// and a product added in place.
    #[test]
    fn products_follow_the_definition() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i % 11) as f32 - 5.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32 * 0.5).collect();
        let expected: Vec<f32> = (0..m * n)
            .map(|i| (0..k).map(|j| a[i / n * k + j] * b[j * n + i % n]).sum())
            .collect();
        let plain = product(
            Strided::row_major(&a, [m, k]),
            Strided::row_major(&b, [k, n]),
        );
        assert_eq!(plain, expected);
        // (b^T a^T)^T = a b
        let swapped = product(
            Strided::row_major(&b, [k, n]).transposed(),
            Strided::row_major(&a, [m, k]).transposed(),
        );
        let back: Vec<f32> = (0..m * n).map(|i| swapped[i % n * m + i / n]).collect();
        assert_eq!(back, expected);
        let empty = product(
            Strided::row_major(&[], [2, 0]),
            Strided::row_major(&[], [0, 3]),
        );
        assert_eq!(empty, vec![0.0; 6]);
        // Added in place onto what is there: 1 + a b.
        let mut sum = vec![1.0; m * n];
        add_product(
            &mut sum,
            Strided::row_major(&a, [m, k]),
            Strided::row_major(&b, [k, n]),
        );
        let one_more: Vec<f32> = expected.iter().map(|v| v + 1.0).collect();
        assert_eq!(sum, one_more);
    }

    #[test]
    #[should_panic(expected = "outside its values")]
    fn a_matrix_larger_than_its_values_is_refused() {
        Strided::row_major(&[1.0, 2.0, 3.0], [2, 2]);
    }
}
