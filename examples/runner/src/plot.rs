//! Scatter plots of 2D points, coloured by class, over the true modes.

use std::path::Path;

use plotters::prelude::*;

/// A distinct colour for class `i` of `k`.
fn colour(i: i64, k: usize) -> HSLColor {
    let hue = (i as f64 * 0.618_034).fract(); // golden-ratio steps keep neighbours apart
    HSLColor(hue, 0.75, if k == 1 { 0.35 } else { 0.45 })
}

/// Writes a square PNG of `points` coloured by `classes` (of `k`), with the mixture's `modes`
/// drawn as black rings, over `[-extent, extent]^2`.
pub fn scatter(
    path: &Path,
    points: &[[f32; 2]],
    classes: &[i64],
    k: usize,
    modes: &[[f32; 2]],
    extent: f32,
) -> Result<(), Box<dyn std::error::Error>> {
    draw(path, points, classes, k, modes, extent)
        .map_err(|e| format!("{}: {e}", path.display()).into())
}

fn draw(
    path: &Path,
    points: &[[f32; 2]],
    classes: &[i64],
    k: usize,
    modes: &[[f32; 2]],
    extent: f32,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::new(path, (800, 800)).into_drawing_area();
    root.fill(&WHITE)?;
    let e = extent as f64;
    let mut chart = ChartBuilder::on(&root)
        .margin(10)
        .build_cartesian_2d(-e..e, -e..e)?;
    chart.draw_series(points.iter().zip(classes).map(|(p, &c)| {
        Circle::new(
            (p[0] as f64, p[1] as f64),
            1,
            colour(c, k).mix(0.6).filled(),
        )
    }))?;
    chart.draw_series(
        modes
            .iter()
            .map(|m| Circle::new((m[0] as f64, m[1] as f64), 9, BLACK.stroke_width(2))),
    )?;
    root.present()?;
    Ok(())
}
