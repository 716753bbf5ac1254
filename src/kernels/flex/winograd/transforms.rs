//! The transforms of Winograd's minimal filtering F(2 x 2, 3 x 3), F(4 x 4, 3 x 3) and
//! F(2 x 2, 2 x 2), written out as adds and scalings, and the loops that apply them to whole
//! planes (`winograd` multiplies in between).
//!
//! Each 2-D transform is a 1-D transform applied down the columns, then along the rows
//! (`M x X x M^T`). Tests check every 1-D transform against its matrix.

/// A minimal filtering algorithm F(`T`, `K`): windows of `W = T + K - 1` values, output tiles
/// of `T`.
pub(super) trait Minimal<const W: usize, const K: usize, const T: usize> {
    /// `B^T d`: an input window's column (or row) into the transformed domain.
    fn window(d: [f32; W]) -> [f32; W];
    /// `G g`: a kernel's column (or row) into the transformed domain.
    fn kernel(g: [f32; K]) -> [f32; W];
    /// `A^T m`: the transformed domain back to an output tile's column (or row).
    fn tile(m: [f32; W]) -> [f32; T];
}

/// F(2, 3), Lavin and Gray's: 4 products for 2 outputs of a 3-tap kernel instead of 6.
pub(super) struct F23;

impl Minimal<4, 3, 2> for F23 {
    #[inline(always)]
    fn window([d0, d1, d2, d3]: [f32; 4]) -> [f32; 4] {
        [d0 - d2, d1 + d2, d2 - d1, d1 - d3]
    }

    #[inline(always)]
    fn kernel([g0, g1, g2]: [f32; 3]) -> [f32; 4] {
        let outer = 0.5 * (g0 + g2);
        let middle = 0.5 * g1;
        [g0, outer + middle, outer - middle, g2]
    }

    #[inline(always)]
    fn tile([m0, m1, m2, m3]: [f32; 4]) -> [f32; 2] {
        [m0 + m1 + m2, m1 - m2 - m3]
    }
}

/// F(2, 2): 3 products for 2 outputs of a 2-tap kernel instead of 4 (`y0 = m0 + m1`,
/// `y1 = m1 + m2` with `m0 = (d0 - d1) g0`, `m1 = d1 (g0 + g1)`, `m2 = (d2 - d1) g1`).
pub(super) struct F22;

impl Minimal<3, 2, 2> for F22 {
    #[inline(always)]
    fn window([d0, d1, d2]: [f32; 3]) -> [f32; 3] {
        [d0 - d1, d1, d2 - d1]
    }

    #[inline(always)]
    fn kernel([g0, g1]: [f32; 2]) -> [f32; 3] {
        [g0, g0 + g1, g1]
    }

    #[inline(always)]
    fn tile([m0, m1, m2]: [f32; 3]) -> [f32; 2] {
        [m0 + m1, m1 + m2]
    }
}

/// F(4, 3), Lavin and Gray's (points 0, 1, -1, 2, -2 and infinity): 6 products for 4 outputs
/// of a 3-tap kernel instead of 12.
pub(super) struct F43;

impl Minimal<6, 3, 4> for F43 {
    #[inline(always)]
    fn window([d0, d1, d2, d3, d4, d5]: [f32; 6]) -> [f32; 6] {
        let (sum, difference) = (d4 - 4.0 * d2, d3 - 4.0 * d1);
        let (near, far) = (d4 - d2, 2.0 * (d3 - d1));
        [
            4.0 * d0 - 5.0 * d2 + d4,
            sum + difference,
            sum - difference,
            near + far,
            near - far,
            4.0 * d1 - 5.0 * d3 + d5,
        ]
    }

    #[inline(always)]
    fn kernel([g0, g1, g2]: [f32; 3]) -> [f32; 6] {
        let (outer, middle) = (g0 + g2, g1);
        let (outer_near, middle_near) = (g0 / 24.0 + g2 / 6.0, g1 / 12.0);
        [
            g0 / 4.0,
            -(outer + middle) / 6.0,
            -(outer - middle) / 6.0,
            outer_near + middle_near,
            outer_near - middle_near,
            g2,
        ]
    }

    #[inline(always)]
    fn tile([m0, m1, m2, m3, m4, m5]: [f32; 6]) -> [f32; 4] {
        let (even1, odd1) = (m1 + m2, m1 - m2);
        let (even2, odd2) = (m3 + m4, m3 - m4);
        [
            m0 + even1 + even2,
            odd1 + 2.0 * odd2,
            even1 + 4.0 * even2,
            odd1 + 8.0 * odd2 + m5,
        ]
    }
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

/// `G g G^T` of the `K x K` kernel whose tap `(ky, kx)` is `tap(ky, kx)`: `W * W` points in
/// row-major order, written to `out[point * stride]`.
#[inline(always)]
pub(super) fn kernel<M: Minimal<W, K, T>, const W: usize, const K: usize, const T: usize>(
    tap: impl Fn(usize, usize) -> f32,
    out: &mut [f32],
    stride: usize,
) {
    let g: [[f32; K]; K] = std::array::from_fn(|r| std::array::from_fn(|c| tap(r, c)));
    for (point, value) in separable(M::kernel, g).iter().flatten().enumerate() {
        out[point * stride] = *value;
    }
}

/// Where a pass reads its windows: for tile `(ty, tx)` of side `T`, value `(a, b)` of the
/// window sits at pixel `(step * (T * ty + a) + origin[0] - 1, step * (T * tx + b) + origin[1]
/// - 1)` of the source plane (zero outside it).
#[derive(Debug, Clone, Copy)]
pub(super) struct Sampling {
    pub step: usize,
    pub origin: [usize; 2],
}

impl Sampling {
    /// Every pixel, windows starting one pixel before their tile (padding 1).
    pub const DENSE: Sampling = Sampling {
        step: 1,
        origin: [0, 0],
    };
}

/// Where a pass writes its tiles: grid pixel `(y, x)` of the pass (`grid` in all) goes to
/// pixel `(step * y + phase[0], step * x + phase[1])` of the output plane (`plane` in all).
#[derive(Debug, Clone, Copy)]
pub(super) struct Placement {
    pub grid: [usize; 2],
    pub step: usize,
    pub phase: [usize; 2],
    pub plane: [usize; 2],
}

impl Placement {
    /// Tiles covering the whole output `plane`, pixel for pixel.
    pub fn whole(plane: [usize; 2]) -> Self {
        Placement {
            grid: plane,
            step: 1,
            phase: [0, 0],
            plane,
        }
    }

    /// Tiles of side `tile` down and across.
    pub fn tiles(&self, tile: usize) -> [usize; 2] {
        [self.grid[0].div_ceil(tile), self.grid[1].div_ceil(tile)]
    }

    pub fn tiles_per_image(&self, tile: usize) -> usize {
        let [rows, columns] = self.tiles(tile);
        rows * columns
    }
}

/// A source plane with a row and column of zeros before it and enough after it for every
/// window, and room for `W` rows transformed down the columns (scratch reused from plane to
/// plane: only the interior is ever rewritten).
pub(super) struct Padded {
    values: Vec<f32>,
    width: usize,
    transformed: Vec<f32>,
}

impl Padded {
    /// For planes of `[height, width]` read by `W`-wide windows of tiles of side `T` every
    /// `step` pixels from an origin of at most 1, over `tiles` (down and across).
    pub fn new<const W: usize, const T: usize>(
        [height, width]: [usize; 2],
        step: usize,
        tiles: [usize; 2],
    ) -> Self {
        // The last window's last value sits at `step * (T * (tiles - 1) + W - 1) + 1`.
        let side = |data: usize, tiles: usize| (data + 2).max(step * (T * tiles + W) + 2);
        let rows = side(height, tiles[0]);
        let width = side(width, tiles[1]);
        Padded {
            values: vec![0.0; rows * width],
            width,
            transformed: vec![0.0; W * width],
        }
    }

    /// Copies one source plane `width` wide into the interior.
    pub fn fill(&mut self, source: &[f32], width: usize) {
        for (y, row) in source.chunks_exact(width).enumerate() {
            self.values[(y + 1) * self.width + 1..][..width].copy_from_slice(row);
        }
    }
}

/// `B^T d B` of the window of every tile (`tiles` down and across) of the plane last filled
/// into `padded`, read as `sampling` says, into `out` (one channel's values: point `p` of tile
/// `t` at `p * tiles_in_out + t`) from tile `first_tile` on.
pub(super) fn windows<M: Minimal<W, K, T>, const W: usize, const K: usize, const T: usize>(
    padded: &mut Padded,
    sampling: Sampling,
    tiles: [usize; 2],
    out: &mut [f32],
    tiles_in_out: usize,
    first_tile: usize,
) {
    let Padded {
        values,
        width: padded_width,
        transformed,
    } = padded;
    let padded_width = *padded_width;
    let Sampling { step, origin } = sampling;
    // The windows read every `step`-th column from `origin[1]`: only those are transformed
    // (a 4 x 4 stride-2 gather reads 9 of a padded row's 24 columns).
    let columns = T * tiles[1] + W - T;
    for row in 0..tiles[0] {
        // Down the read columns, all at once: B^T over the window's W rows.
        let line = |a: usize| {
            let y = step * (T * row + a) + origin[0];
            &values[y * padded_width..][..padded_width]
        };
        let lines: [&[f32]; W] = std::array::from_fn(line);
        for column in 0..columns {
            let x = step * column + origin[1];
            let values = M::window(std::array::from_fn(|a| lines[a][x]));
            for (a, value) in values.into_iter().enumerate() {
                transformed[a * columns + column] = value;
            }
        }
        // Then along each transformed row, one window per tile: row `a` of the window gives
        // points `a * W .. a * W + W` of this tile row's tiles.
        let tile = first_tile + row * tiles[1];
        for a in 0..W {
            let line = &transformed[a * columns..][..columns];
            for column in 0..tiles[1] {
                let values = M::window(std::array::from_fn(|b| line[T * column + b]));
                for (b, value) in values.into_iter().enumerate() {
                    out[(a * W + b) * tiles_in_out + tile + column] = value;
                }
            }
        }
    }
}

/// `A^T m A` of image `image`'s tiles of the `W * W` products (each row-major `[channels,
/// tiles]`, tiles in image, then raster order), plus each channel's `bias`, into `out` (that
/// image, `[channels, plane]`) where `placement` says.
pub(super) fn output_tiles<M: Minimal<W, K, T>, const W: usize, const K: usize, const T: usize>(
    products: &[Vec<f32>],
    tiles: usize,
    image: usize,
    placement: Placement,
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    let [rows, columns] = placement.tiles(T);
    let per_image = rows * columns;
    let [height, width] = placement.plane;
    let Placement {
        grid, step, phase, ..
    } = placement;
    for (channel, target) in out.chunks_exact_mut(height * width).enumerate() {
        let shift = bias.map_or(0.0, |bias| bias[channel]);
        let first = channel * tiles + image * per_image;
        // 36 is the most points of any algorithm (`W * W` is not a stable array length).
        let points: [&[f32]; 36] = std::array::from_fn(|point| match point < W * W {
            true => &products[point][first..][..per_image],
            false => &[],
        });
        for row in 0..rows {
            // The output rows this tile row writes, when they lie inside the grid and plane.
            let inside = |r: usize| {
                let gy = row * T + r;
                let oy = step * gy + phase[0];
                (gy < grid[0] && oy < height).then_some(oy * width)
            };
            let starts: [Option<usize>; T] = std::array::from_fn(inside);
            for column in 0..columns {
                let tile = row * columns + column;
                let m: [[f32; W]; W] =
                    std::array::from_fn(|a| std::array::from_fn(|b| points[a * W + b][tile]));
                let y = separable(M::tile, m);
                for (start, values) in starts.iter().zip(y) {
                    let Some(start) = start else { continue };
                    for (s, value) in values.into_iter().enumerate() {
                        let gx = column * T + s;
                        let ox = step * gx + phase[1];
                        if gx < grid[1] && ox < width {
                            target[start + ox] = value + shift;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lavin and Gray's matrices for F(2, 3) and F(4, 3), and F(2, 2)'s.
    const BT3: [[f32; 4]; 4] = [
        [1.0, 0.0, -1.0, 0.0],
        [0.0, 1.0, 1.0, 0.0],
        [0.0, -1.0, 1.0, 0.0],
        [0.0, 1.0, 0.0, -1.0],
    ];
    const G3: [[f32; 3]; 4] = [
        [1.0, 0.0, 0.0],
        [0.5, 0.5, 0.5],
        [0.5, -0.5, 0.5],
        [0.0, 0.0, 1.0],
    ];
    const AT3: [[f32; 4]; 2] = [[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]];
    const BT2: [[f32; 3]; 3] = [[1.0, -1.0, 0.0], [0.0, 1.0, 0.0], [0.0, -1.0, 1.0]];
    const G2: [[f32; 2]; 3] = [[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
    const AT2: [[f32; 3]; 2] = [[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]];
    const BT43: [[f32; 6]; 6] = [
        [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
        [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
        [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
        [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
        [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
        [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
    ];
    const G43: [[f32; 3]; 6] = [
        [1.0 / 4.0, 0.0, 0.0],
        [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
        [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
        [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
        [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
        [0.0, 0.0, 1.0],
    ];
    const AT43: [[f32; 6]; 4] = [
        [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
        [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
        [0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
        [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
    ];

    fn times<const R: usize, const C: usize>(m: [[f32; C]; R], v: [f32; C]) -> [f32; R] {
        std::array::from_fn(|r| (0..C).map(|c| m[r][c] * v[c]).sum())
    }

    fn close(ours: &[f32], matrix: &[f32]) {
        for (a, b) in ours.iter().zip(matrix) {
            assert!((a - b).abs() < 1e-6, "{ours:?} against {matrix:?}");
        }
    }

    #[test]
    fn one_dimensional_transforms_are_the_matrices() {
        let (v4, v3, v2) = ([0.3, -1.7, 2.5, 0.9], [1.1, -0.4, 2.2], [-0.6, 1.3]);
        close(&F23::window(v4), &times(BT3, v4));
        close(&F23::kernel(v3), &times(G3, v3));
        close(&F23::tile(v4), &times(AT3, v4));
        close(&F22::window(v3), &times(BT2, v3));
        close(&F22::kernel(v2), &times(G2, v2));
        close(&F22::tile(v3), &times(AT2, v3));
        let v6 = [0.3, -1.7, 2.5, 0.9, -0.2, 1.4];
        close(&F43::window(v6), &times(BT43, v6));
        close(&F43::kernel(v3), &times(G43, v3));
        close(&F43::tile(v6), &times(AT43, v6));
    }

    /// The minimal-filtering identity: a `T x T` tile of a `K x K` correlation over a window is
    /// `A^T [(G g G^T) . (B^T d B)] A`.
    fn composes_to_a_correlation<
        M: Minimal<W, K, T>,
        const W: usize,
        const K: usize,
        const T: usize,
    >() {
        let d: [[f32; W]; W] =
            std::array::from_fn(|r| std::array::from_fn(|c| (r * 5 + c * 3) as f32 % 7.0 - 3.0));
        let g = |r: usize, c: usize| ((r * K + c) * 4 % 9) as f32 * 0.25 - 1.0;
        let mut u = [0f32; 36];
        kernel::<M, W, K, T>(g, &mut u, 1);
        let v = separable(M::window, d);
        let m: [[f32; W]; W] =
            std::array::from_fn(|r| std::array::from_fn(|c| u[r * W + c] * v[r][c]));
        let y = separable(M::tile, m);
        for (oy, row) in y.iter().enumerate() {
            for (ox, value) in row.iter().enumerate() {
                let direct: f32 = (0..K * K)
                    .map(|t| g(t / K, t % K) * d[oy + t / K][ox + t % K])
                    .sum();
                assert!((value - direct).abs() < 1e-5, "{value} against {direct}");
            }
        }
    }

    #[test]
    fn transforms_compose_to_a_correlation() {
        composes_to_a_correlation::<F23, 4, 3, 2>();
        composes_to_a_correlation::<F22, 3, 2, 2>();
        composes_to_a_correlation::<F43, 6, 3, 4>();
    }
}
