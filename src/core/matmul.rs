//! The crate's one matrix product on host slices: [`matmul`], a safe entry
//! over the `gemm` crate's kernels (AVX-512 or AVX2 chosen at run time), and
//! [`matmul_split_rows`], the same product split by rows across rayon's
//! threads.
//!
//! Every hand-written fast path (the fused dense layer and LSTM of
//! [`super::fused`], the synthetic-text generator's batched LSTM, the
//! pairwise distances of the sample metrics) multiplies through here, so
//! the one `unsafe` call to `gemm` and its one safety argument live in this
//! file: the views below check that every element a product touches lies
//! inside its slice before `gemm` sees a pointer.

use rayon::prelude::*;

/// The element types `gemm` multiplies and this module admits: `f32` and
/// `f64`. Sealed, so that `gemm::gemm`'s run-time type dispatch (which
/// panics on any other type) can never be reached with a type it rejects.
pub trait Element: Copy + Send + Sync + 'static + sealed::Sealed {
    const ZERO: Self;
    const ONE: Self;
}

impl Element for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

impl Element for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A read-only matrix view: element (i, j) is `data[i·row_stride +
/// j·col_stride]`. Row-major storage and its transpose (column-major) are
/// the two layouts the callers use; [`MatRef::strided`] takes any other.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a, T> MatRef<'a, T> {
    /// `rows × cols` stored row by row from the start of `data`.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols, 1)
    }

    /// `rows × cols` stored column by column: the transpose of a row-major
    /// `cols × rows` matrix, read in place.
    pub fn col_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, 1, rows)
    }

    /// Any layout with non-negative strides.
    ///
    /// # Panics
    ///
    /// If some element (i, j) with i < rows, j < cols lies outside `data`:
    /// a shape that does not match its buffer is a bug of the caller.
    pub fn strided(
        data: &'a [T],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        assert!(
            covers(data.len(), rows, cols, row_stride, col_stride),
            "matmul: a {rows}×{cols} matrix with strides ({row_stride}, {col_stride}) does not \
             fit in {} elements",
            data.len()
        );
        Self {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        }
    }

    /// The same elements read as the transposed matrix (no copy).
    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Rows `r0..r0 + n` (clamped to the matrix) as a view of their own.
    fn rows_from(self, r0: usize, n: usize) -> Self {
        let n = n.min(self.rows.saturating_sub(r0));
        if n == 0 || self.cols == 0 {
            return Self { rows: n, ..self };
        }
        Self {
            data: &self.data[r0 * self.row_stride..],
            rows: n,
            ..self
        }
    }
}

/// How the product lands in the destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// `dst = A·B`; `dst`'s old values are never read (NaN there is fine).
    Overwrite,
    /// `dst += A·B`.
    Accumulate,
}

/// Threads one product may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// The calling thread only: for callers that already run one task per
    /// core.
    One,
    /// gemm's own split over rayon's pool, with at most this many threads
    /// (0: as many as the pool has).
    Rayon(usize),
}

/// `dst = A·B` or `dst += A·B` ([`Store`]), `dst` row-major `[a.rows(),
/// b.cols()]` in the first `a.rows()·b.cols()` elements of `dst`.
///
/// # Panics
///
/// If the inner dimensions differ or `dst` is too short (the views check
/// their own slices when they are made).
pub fn matmul<T: Element>(
    dst: &mut [T],
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    store: Store,
    threads: Threads,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(
        b.rows, k,
        "matmul: inner dimensions differ ({m}×{k} times {}×{n})",
        b.rows
    );
    let len = m.checked_mul(n).expect("matmul: output size overflows");
    assert!(
        dst.len() >= len,
        "matmul: a {m}×{n} output does not fit in {} elements",
        dst.len()
    );
    if len == 0 {
        return;
    }
    if k == 0 {
        // An empty sum: the product adds nothing.
        if store == Store::Overwrite {
            dst[..len].fill(T::ZERO);
        }
        return;
    }
    let accumulate = store == Store::Accumulate;
    let parallelism = match threads {
        Threads::One => gemm::Parallelism::None,
        Threads::Rayon(n) => gemm::Parallelism::Rayon(n),
    };
    // SAFETY: `gemm::gemm` reads element (i, j) of an operand at
    // `ptr + i·row_stride + j·col_stride` for i < rows, j < cols, and writes
    // dst (row-major, row stride n, column stride 1) the same way. Every
    // dimension here is ≥ 1, `MatRef::strided` checked (with overflow
    // checks) that a view's farthest element lies inside its slice, and the
    // assert above that dst's m·n elements do; so no access leaves the
    // three slices, and each offset fits an isize because it is below a
    // slice length. `dst` is a `&mut` borrow, so it aliases neither operand.
    // T is f32 or f64 (`Element` is sealed), the types gemm accepts; dst is
    // read only when accumulating, and then holds initialised values.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            if accumulate { T::ONE } else { T::ZERO },
            T::ONE,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Below this many multiply-adds a product runs on one thread (as burn's
/// own matmul decides).
const PARALLEL_MADDS: usize = 192 * 192 * 192;

/// [`matmul`] with the rows of `dst` (and of A) split into one contiguous
/// part per rayon thread, each part a single-threaded product; small
/// products (under 192³ multiply-adds) stay on the calling thread. gemm's
/// own threading splits the other way and, for the dense layer's weight
/// gradient with its transposed operand, ran about a fifth slower on two
/// cores.
pub fn matmul_split_rows<T: Element>(
    dst: &mut [T],
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    store: Store,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if m == 0 || n == 0 {
        // Nothing to write (and a zero-sized chunk would panic in rayon).
        return matmul(dst, a, b, store, Threads::One);
    }
    let parts = if m.saturating_mul(n).saturating_mul(k) >= PARALLEL_MADDS {
        rayon::current_num_threads().clamp(1, m)
    } else {
        1
    };
    let rows = m.div_ceil(parts);
    assert!(
        dst.len() >= m * n,
        "matmul: a {m}×{n} output does not fit in {} elements",
        dst.len()
    );
    dst[..m * n]
        .par_chunks_mut(rows * n)
        .enumerate()
        .for_each(|(i, d)| {
            let a = a.rows_from(i * rows, d.len() / n);
            matmul(d, a, b, store, Threads::One);
        });
}

/// Whether a `rows × cols` view with these strides fits in `len` elements:
/// its farthest element, at (rows−1)·row_stride + (cols−1)·col_stride,
/// is inside (an empty view always fits).
fn covers(len: usize, rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> bool {
    if rows == 0 || cols == 0 {
        return true;
    }
    let far = (rows - 1)
        .checked_mul(row_stride)
        .zip((cols - 1).checked_mul(col_stride))
        .and_then(|(r, c)| r.checked_add(c));
    matches!(far, Some(f) if f < len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `A·B` by the textbook triple loop, in f64.
    fn naive<T: Element + Into<f64>>(a: MatRef<'_, T>, b: MatRef<'_, T>) -> Vec<f64> {
        let at = |m: &MatRef<'_, T>, i: usize, j: usize| -> f64 {
            m.data[i * m.row_stride + j * m.col_stride].into()
        };
        let mut out = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                out[i * b.cols + j] = (0..a.cols).map(|l| at(&a, i, l) * at(&b, l, j)).sum();
            }
        }
        out
    }

    fn values(n: usize, seed: u32) -> Vec<f64> {
        (0..n)
            .map(|i| ((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000)
            .map(|v| v as f64 / 500.0 - 1.0)
            .collect()
    }

    /// Every layout pair, both stores, for f64 and f32 (via a closure that
    /// runs the product in the element type under test).
    fn check_all(
        shapes: &[(usize, usize, usize)],
        run: impl Fn(&mut [f64], MatRef<'_, f64>, MatRef<'_, f64>, Store, bool),
        tol: f64,
    ) {
        for &(m, k, n) in shapes {
            let (av, bv) = (values(m * k, 7), values(k * n, 11));
            let layouts_a = [MatRef::row_major(&av, m, k), MatRef::col_major(&av, m, k)];
            let layouts_b = [MatRef::row_major(&bv, k, n), MatRef::col_major(&bv, k, n)];
            for a in layouts_a {
                for b in layouts_b {
                    let want = naive(a, b);
                    for split in [false, true] {
                        let mut dst = vec![f64::NAN; m * n];
                        run(&mut dst, a, b, Store::Overwrite, split);
                        for (g, w) in dst.iter().zip(&want) {
                            assert!((g - w).abs() <= tol, "{m}×{k}×{n}: {g} vs {w}");
                        }
                        let start = values(m * n, 3);
                        let mut dst = start.clone();
                        run(&mut dst, a, b, Store::Accumulate, split);
                        for ((g, w), s) in dst.iter().zip(&want).zip(&start) {
                            assert!((g - (w + s)).abs() <= tol, "{m}×{k}×{n}: {g} vs {w} + {s}");
                        }
                    }
                }
            }
        }
    }

    const SHAPES: [(usize, usize, usize); 8] = [
        (1, 1, 1),
        (3, 5, 4),
        (17, 33, 9),
        (64, 100, 130),
        (200, 200, 200),
        (0, 4, 3),
        (4, 0, 3),
        (4, 3, 0),
    ];

    #[test]
    fn matches_a_triple_loop_in_f64() {
        check_all(
            &SHAPES,
            |d, a, b, s, split| {
                if split {
                    matmul_split_rows(d, a, b, s)
                } else {
                    matmul(d, a, b, s, Threads::One)
                }
            },
            1e-11,
        );
    }

    #[test]
    fn matches_a_triple_loop_in_f32() {
        check_all(
            &SHAPES,
            |d, a, b, s, split| {
                let cast =
                    |m: MatRef<'_, f64>| -> Vec<f32> { m.data.iter().map(|&v| v as f32).collect() };
                let (av, bv) = (cast(a), cast(b));
                let a32 = MatRef::strided(&av, a.rows, a.cols, a.row_stride, a.col_stride);
                let b32 = MatRef::strided(&bv, b.rows, b.cols, b.row_stride, b.col_stride);
                let mut d32: Vec<f32> = d.iter().map(|&v| v as f32).collect();
                if split {
                    matmul_split_rows(&mut d32, a32, b32, s)
                } else {
                    matmul(&mut d32, a32, b32, s, Threads::Rayon(0))
                }
                d.iter_mut().zip(&d32).for_each(|(d, &v)| *d = v as f64);
            },
            1e-4,
        );
    }

    #[test]
    fn transposed_view_reads_the_transpose() {
        let v = values(6, 1);
        let a = MatRef::row_major(&v, 2, 3);
        let at = a.t();
        assert_eq!((at.rows(), at.cols()), (3, 2));
        let id = [1.0, 0.0, 0.0, 1.0];
        let mut out = [0.0; 6];
        matmul(
            &mut out,
            at,
            MatRef::row_major(&id, 2, 2),
            Store::Overwrite,
            Threads::One,
        );
        assert_eq!(out, [v[0], v[3], v[1], v[4], v[2], v[5]]);
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn a_view_larger_than_its_slice_panics() {
        let v = [0.0f32; 5];
        let _ = MatRef::row_major(&v, 2, 3);
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn a_short_output_panics() {
        let v = [1.0f32; 6];
        let mut out = [0.0f32; 3];
        let a = MatRef::row_major(&v, 2, 3);
        matmul(&mut out, a, a.t(), Store::Overwrite, Threads::One);
    }

    #[test]
    #[should_panic(expected = "inner dimensions")]
    fn mismatched_inner_dimensions_panic() {
        let v = [1.0f64; 6];
        let mut out = [0.0f64; 4];
        let a = MatRef::row_major(&v, 2, 3);
        matmul(&mut out, a, a, Store::Overwrite, Threads::One);
    }
}
