//! Pictures of images: sample grids and the paper's Figure 1 layout (real images of a cluster
//! beside images generated for it), as PNG.

use std::path::Path;

use burn::prelude::*;
use image::{Rgb, RgbImage};

use crate::error::{Error, Result};
use crate::host;

const GAP: u32 = 2;
const BACKGROUND: Rgb<u8> = Rgb([255, 255, 255]);

/// Generated images `[n, c, h, w]` in [-1, 1] as bytes `(x + 1) * 127.5`, same layout.
pub fn to_bytes(images: Tensor<4>) -> Result<Vec<u8>> {
    Ok(host::floats(images)?
        .into_iter()
        .map(|x| ((x + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8)
        .collect())
}

/// The inverse of [`to_bytes`]: channel-major bytes `[n, channels, side, side]` as a tensor in
/// [-1, 1].
pub fn from_bytes(
    pixels: &[u8],
    channels: usize,
    side: usize,
    device: &Device,
) -> Result<Tensor<4>> {
    let per_image = channels * side * side;
    if per_image == 0 || !pixels.len().is_multiple_of(per_image) {
        return Err(Error::DimensionMismatch {
            what: "image bytes vs channels x side x side",
            expected: per_image,
            got: pixels.len(),
        });
    }
    let values: Vec<f32> = pixels.iter().map(|&p| p as f32 / 127.5 - 1.0).collect();
    let shape = [pixels.len() / per_image, channels, side, side];
    Ok(Tensor::from_data(
        burn::tensor::TensorData::new(values, shape),
        device,
    ))
}

/// Channel-major images, `[n, channels, side, side]` bytes with 1 or 3 channels.
#[derive(Debug, Clone, Copy)]
pub struct Tiles<'a> {
    /// The bytes.
    pub pixels: &'a [u8],
    /// Channels per image (1 or 3).
    pub channels: usize,
    /// Side of the square images.
    pub side: usize,
}

impl Tiles<'_> {
    fn bytes_per_image(&self) -> usize {
        self.channels * self.side * self.side
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len() / self.bytes_per_image().max(1)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn check(&self) -> Result<()> {
        if !matches!(self.channels, 1 | 3) || self.side == 0 {
            return Err(Error::config(
                "channels",
                "images must have 1 or 3 channels",
            ));
        }
        if !self.pixels.len().is_multiple_of(self.bytes_per_image()) {
            return Err(Error::DimensionMismatch {
                what: "image bytes vs channels x side x side",
                expected: self.bytes_per_image(),
                got: self.pixels.len() % self.bytes_per_image(),
            });
        }
        Ok(())
    }

    fn draw(&self, index: usize, canvas: &mut RgbImage, x0: u32, y0: u32) {
        let plane = self.side * self.side;
        let image = &self.pixels[index * self.bytes_per_image()..][..self.bytes_per_image()];
        for y in 0..self.side {
            for x in 0..self.side {
                let at = |c: usize| image[c.min(self.channels - 1) * plane + y * self.side + x];
                let pixel = Rgb([at(0), at(1), at(2)]);
                canvas.put_pixel(x0 + x as u32, y0 + y as u32, pixel);
            }
        }
    }
}

/// The images in a grid of `columns` columns, separated by thin white gaps.
pub fn grid(tiles: Tiles<'_>, columns: usize) -> Result<RgbImage> {
    tiles.check()?;
    let (n, columns) = (tiles.len(), columns.max(1));
    let rows = n.div_ceil(columns).max(1);
    let step = tiles.side as u32 + GAP;
    let mut canvas = RgbImage::from_pixel(
        columns as u32 * step + GAP,
        rows as u32 * step + GAP,
        BACKGROUND,
    );
    for i in 0..n {
        let (row, col) = ((i / columns) as u32, (i % columns) as u32);
        tiles.draw(i, &mut canvas, GAP + col * step, GAP + row * step);
    }
    Ok(canvas)
}

/// Figure 1 of the paper: one row per cluster, its real images on the left and images
/// generated for it on the right, `per_side` of each (missing ones stay blank).
pub fn cluster_rows(rows: &[(Tiles<'_>, Tiles<'_>)], per_side: usize) -> Result<RgbImage> {
    let side = rows.first().map_or(1, |(real, _)| real.side) as u32;
    let step = side + GAP;
    let middle = 4 * GAP;
    let width = 2 * per_side as u32 * step + middle + GAP;
    let mut canvas = RgbImage::from_pixel(width, rows.len().max(1) as u32 * step + GAP, BACKGROUND);
    for (r, (real, fake)) in rows.iter().enumerate() {
        for (tiles, x0) in [(real, GAP), (fake, GAP + per_side as u32 * step + middle)] {
            tiles.check()?;
            if tiles.side as u32 != side {
                return Err(Error::DimensionMismatch {
                    what: "image side",
                    expected: side as usize,
                    got: tiles.side,
                });
            }
            for i in 0..tiles.len().min(per_side) {
                tiles.draw(i, &mut canvas, x0 + i as u32 * step, GAP + r as u32 * step);
            }
        }
    }
    Ok(canvas)
}

/// Writes `image` as a PNG.
pub fn save_png(image: &RgbImage, path: &Path) -> Result<()> {
    image
        .save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| Error::io(path)(std::io::Error::other(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_place_tiles_and_reject_bad_shapes() {
        // Two 2x2 RGB images: all red, all blue.
        let mut pixels = vec![0u8; 2 * 12];
        pixels[..4].fill(255);
        pixels[12 + 8..].fill(255);
        let tiles = Tiles {
            pixels: &pixels,
            channels: 3,
            side: 2,
        };
        let image = grid(tiles, 2).unwrap();
        assert_eq!(image.dimensions(), (2 * 4 + 2, 4 + 2));
        assert_eq!(image.get_pixel(2, 2), &Rgb([255, 0, 0]));
        assert_eq!(image.get_pixel(6, 3), &Rgb([0, 0, 255]));
        assert_eq!(image.get_pixel(0, 0), &BACKGROUND);

        let figure = cluster_rows(&[(tiles, tiles), (tiles, tiles)], 3).unwrap();
        assert_eq!(figure.dimensions(), (2 * 3 * 4 + 8 + 2, 2 * 4 + 2));
        let bad = Tiles {
            pixels: &pixels[..5],
            ..tiles
        };
        assert!(grid(bad, 2).is_err());
        let grey = Tiles {
            pixels: &[7; 8],
            channels: 1,
            side: 2,
        };
        assert_eq!(grid(grey, 1).unwrap().get_pixel(2, 2), &Rgb([7, 7, 7]));
    }

    #[test]
    fn bytes_map_the_tanh_range() {
        let x = Tensor::<4>::from_data(
            burn::tensor::TensorData::new(vec![-1.0f32, 0.0, 1.0, 2.0], [1, 1, 2, 2]),
            &Device::default(),
        );
        assert_eq!(to_bytes(x).unwrap(), vec![0, 128, 255, 255]);
    }
}
