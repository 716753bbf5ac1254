//! The five transforms of Winograd's F(2 x 2, 3 x 3), written out as adds and halvings, and
//! the loops that apply them to whole planes (`flex_winograd` multiplies in between).
//!
//! Each 2-D transform is one 1-D transform applied down the columns, then along the rows
//! (`M x X x M^T`). Tests check every 1-D transform against its matrix in Lavin and Gray's
//! paper.

/// Output tile side.
pub(super) const TILE: usize = 2;
/// Input window side: a tile plus the kernel's reach.
pub(super) const WINDOW: usize = TILE + 2;
/// Points of the transformed domain: one matrix product each.
pub(super) const POINTS: usize = WINDOW * WINDOW;

/// `B^T d`: an input window's column (or row) into the transformed domain.
#[inline(always)]
fn window_1d([d0, d1, d2, d3]: [f32; 4]) -> [f32; 4] {
    [d0 - d2, d1 + d2, d2 - d1, d1 - d3]
}

/// `G g`: a kernel's column (or row) into the transformed domain.
#[inline(always)]
fn kernel_1d([g0, g1, g2]: [f32; 3]) -> [f32; 4] {
    let outer = 0.5 * (g0 + g2);
    let middle = 0.5 * g1;
    [g0, outer + middle, outer - middle, g2]
}

/// `A^T m`: the transformed domain back to an output tile's column (or row).
#[inline(always)]
fn tile_1d([m0, m1, m2, m3]: [f32; 4]) -> [f32; 2] {
    [m0 + m1 + m2, m1 - m2 - m3]
}

/// `f` down every column of `x`, then along every row: `M x M^T` for `f(v) = M v`.
#[inline(always)]
fn separable<const I: usize, const O: usize>(
    f: impl Fn([f32; I]) -> [f32; O],
    x: [[f32; I]; I],
) -> [[f32; O]; O] {
    let columns: [[f32; O]; I] = std::array::from_fn(|c| f(std::array::from_fn(|r| x[r][c])));
    std::array::from_fn(|r| f(std::array::from_fn(|c| columns[c][r])))
}

/// `G g G^T` of a row-major 3 x 3 kernel, points in row-major order.
pub(super) fn kernel(g: &[f32]) -> [f32; POINTS] {
    let g: [[f32; 3]; 3] = std::array::from_fn(|r| std::array::from_fn(|c| g[r * 3 + c]));
    flatten(separable(kernel_1d, g))
}

fn flatten(x: [[f32; WINDOW]; WINDOW]) -> [f32; POINTS] {
    std::array::from_fn(|i| x[i / WINDOW][i % WINDOW])
}

/// Side lengths of a plane and the tiles that cover it (the last may hang over the edge).
#[derive(Debug, Clone, Copy)]
pub(super) struct Plane {
    pub height: usize,
    pub width: usize,
    pub rows: usize,
    pub columns: usize,
}

/// A plane with one row and column of zeros before it and enough after it for every window
/// (a scratch buffer reused from plane to plane: only its interior is ever rewritten).
pub(super) struct Padded {
    values: Vec<f32>,
    width: usize,
    /// Four rows transformed down the columns.
    transformed: [Vec<f32>; WINDOW],
}

impl Padded {
    pub fn new(plane: Plane) -> Self {
        let width = plane.columns * TILE + 2;
        Padded {
            values: vec![0.0; (plane.rows * TILE + 2) * width],
            width,
            transformed: std::array::from_fn(|_| vec![0.0; width]),
        }
    }

    fn fill(&mut self, source: &[f32], plane: Plane) {
        for (y, row) in source.chunks_exact(plane.width).enumerate() {
            self.values[(y + 1) * self.width + 1..][..plane.width].copy_from_slice(row);
        }
    }
}

/// `B^T d B` of every window of `source` (one plane), into `out` (one channel's values, point
/// `p` of tile `t` at `p * tiles + t`) from tile `first_tile` on.
pub(super) fn windows(
    source: &[f32],
    plane: Plane,
    padded: &mut Padded,
    out: &mut [f32],
    tiles: usize,
    first_tile: usize,
) {
    padded.fill(source, plane);
    let Padded {
        values,
        width,
        transformed,
    } = padded;
    for row in 0..plane.rows {
        // Down the columns, all at once: B^T over rows 2 * row .. 2 * row + 4.
        let lines = &values[row * TILE * *width..][..WINDOW * *width];
        let (top, rest) = lines.split_at(*width);
        let (second, rest) = rest.split_at(*width);
        let (third, fourth) = rest.split_at(*width);
        let [t0, t1, t2, t3] = transformed;
        for x in 0..*width {
            let column = window_1d([top[x], second[x], third[x], fourth[x]]);
            (t0[x], t1[x], t2[x], t3[x]) = (column[0], column[1], column[2], column[3]);
        }
        // Then along each transformed row, one window per tile.
        let tile = first_tile + row * plane.columns;
        for (r, line) in transformed.iter().enumerate() {
            for column in 0..plane.columns {
                let window = &line[column * TILE..][..WINDOW];
                let values = window_1d([window[0], window[1], window[2], window[3]]);
                for (s, value) in values.into_iter().enumerate() {
                    out[(r * WINDOW + s) * tiles + tile + column] = value;
                }
            }
        }
    }
}

/// `A^T m A` of image `image`'s tiles of the `POINTS` products (each row-major `[channels,
/// tiles]`, tiles in image, then raster order), plus each channel's `bias`, into `out` (that
/// image, `[channels, height, width]`).
pub(super) fn output_tiles(
    products: &[Vec<f32>],
    tiles: usize,
    image: usize,
    plane: Plane,
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    let per_image = plane.rows * plane.columns;
    let plane_size = plane.height * plane.width;
    for (channel, target) in out.chunks_exact_mut(plane_size).enumerate() {
        let shift = bias.map_or(0.0, |bias| bias[channel]);
        let first = channel * tiles + image * per_image;
        let points: [&[f32]; POINTS] =
            std::array::from_fn(|point| &products[point][first..][..per_image]);
        // The tile indexes all sixteen point slices at once.
        #[allow(clippy::needless_range_loop)]
        for tile in 0..per_image {
            let (row, column) = (tile / plane.columns, tile % plane.columns);
            let m: [[f32; WINDOW]; WINDOW] =
                std::array::from_fn(|r| std::array::from_fn(|s| points[r * WINDOW + s][tile]));
            let y = separable(tile_1d, m);
            for (r, values) in y.iter().enumerate() {
                let oy = row * TILE + r;
                for (s, value) in values.iter().enumerate() {
                    let ox = column * TILE + s;
                    if oy < plane.height && ox < plane.width {
                        target[oy * plane.width + ox] = value + shift;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The matrices of Lavin and Gray's F(2, 3).
    const BT: [[f32; 4]; 4] = [
        [1.0, 0.0, -1.0, 0.0],
        [0.0, 1.0, 1.0, 0.0],
        [0.0, -1.0, 1.0, 0.0],
        [0.0, 1.0, 0.0, -1.0],
    ];
    const G: [[f32; 3]; 4] = [
        [1.0, 0.0, 0.0],
        [0.5, 0.5, 0.5],
        [0.5, -0.5, 0.5],
        [0.0, 0.0, 1.0],
    ];
    const AT: [[f32; 4]; 2] = [[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]];

    fn times<const R: usize, const C: usize>(m: [[f32; C]; R], v: [f32; C]) -> [f32; R] {
        std::array::from_fn(|r| (0..C).map(|c| m[r][c] * v[c]).sum())
    }

    #[test]
    fn one_dimensional_transforms_are_the_papers_matrices() {
        let v4 = [0.3, -1.7, 2.5, 0.9];
        let v3 = [1.1, -0.4, 2.2];
        let close = |ours: &[f32], matrix: &[f32]| {
            for (a, b) in ours.iter().zip(matrix) {
                assert!((a - b).abs() < 1e-6, "{ours:?} against {matrix:?}");
            }
        };
        close(&window_1d(v4), &times(BT, v4));
        close(&kernel_1d(v3), &times(G, v3));
        close(&tile_1d(v4), &times(AT, v4));
    }

    /// The minimal-filtering identity itself: a tile of a 3 x 3 correlation over a 4 x 4
    /// window is `A^T [(G g G^T) . (B^T d B)] A`.
    #[test]
    fn transforms_compose_to_a_correlation() {
        let d: [[f32; 4]; 4] =
            std::array::from_fn(|r| std::array::from_fn(|c| (r * 5 + c * 3) as f32 % 7.0 - 3.0));
        let g: Vec<f32> = (0..9).map(|i| (i * 4 % 9) as f32 * 0.25 - 1.0).collect();
        let u = kernel(&g);
        let v = flatten(separable(window_1d, d));
        let m: [[f32; 4]; 4] =
            std::array::from_fn(|r| std::array::from_fn(|c| u[r * 4 + c] * v[r * 4 + c]));
        let y = separable(tile_1d, m);
        for (oy, row) in y.iter().enumerate() {
            for (ox, value) in row.iter().enumerate() {
                let direct: f32 = (0..9).map(|t| g[t] * d[oy + t / 3][ox + t % 3]).sum();
                assert!((value - direct).abs() < 1e-5, "{value} against {direct}");
            }
        }
    }
}
