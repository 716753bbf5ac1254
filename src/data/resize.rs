//! Bilinear resizing of `uint8` images on the host, as PyTorch's
//! `interpolate(mode="bilinear", align_corners=False)` and PIL's enlarging `resize` compute it:
//! MNIST digits to Stacked-MNIST's 32 pixels, and images to the FID Inception's 299.
//!
//! The FID input could be resized on the device with Burn's `interpolate`, but on wgpu its tiled
//! kernel (cubek-interpolate 0.3.1) asks for more workgroup memory than a Vulkan device with
//! 32 KiB offers when it upscales 32 -> 299, and the panic in the device thread hangs the
//! program. The resize costs a few MFLOP per image against the network's 5.7 GFLOP, so it runs
//! here, the same on every backend.

/// One output coordinate of a bilinear resize: the two source indices it blends and the weight
/// of the second.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tap {
    low: usize,
    high: usize,
    weight: f32,
}

/// The taps of PyTorch's `interpolate(mode="bilinear", align_corners=False)` along one axis:
/// half-pixel centres, sources left of the first pixel clamped to it, the last pixel repeated.
fn taps(input: usize, output: usize) -> Vec<Tap> {
    let scale = input as f32 / output as f32;
    (0..output)
        .map(|o| {
            let source = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
            // Truncation is the floor here: `source` is never negative.
            let low = (source as usize).min(input - 1);
            Tap {
                low,
                high: (low + 1).min(input - 1),
                weight: source - low as f32,
            }
        })
        .collect()
}

/// Resizes channel-major planes of `[height, width]` bytes to `[out_height, out_width]`, as
/// f32 pixel values. Each output pixel blends along the width first, then the height, in the
/// order PyTorch's CPU kernel does. Bytes past the last whole plane are ignored; a zero size
/// gives no planes.
pub(crate) fn resize_planes(
    pixels: &[u8],
    [height, width]: [usize; 2],
    [out_height, out_width]: [usize; 2],
) -> Vec<f32> {
    if height * width * out_height * out_width == 0 {
        return Vec::new();
    }
    let columns = taps(width, out_width);
    let rows = taps(height, out_height);
    let planes = pixels.len() / (height * width);
    let mut out = Vec::with_capacity(planes * out_height * out_width);
    // Every source row resized along the width once, then blended row by row.
    let mut wide = vec![0.0f32; height * out_width];
    for plane in pixels.chunks_exact(height * width) {
        for (source, target) in plane
            .chunks_exact(width)
            .zip(wide.chunks_exact_mut(out_width))
        {
            for (value, tap) in target.iter_mut().zip(&columns) {
                *value = (1.0 - tap.weight) * f32::from(source[tap.low])
                    + tap.weight * f32::from(source[tap.high]);
            }
        }
        for tap in &rows {
            let low = &wide[tap.low * out_width..][..out_width];
            let high = &wide[tap.high * out_width..][..out_width];
            out.extend(
                low.iter()
                    .zip(high)
                    .map(|(&a, &b)| (1.0 - tap.weight) * a + tap.weight * b),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upscaling_matches_pytorchs_half_pixel_rule() {
        // torch.nn.functional.interpolate([[0, 10], [20, 30]], size=4, mode="bilinear",
        // align_corners=False): each axis gives weights 0, 0.25, 0.75, 1 towards the second pixel.
        let out = resize_planes(&[0, 10, 20, 30], [2, 2], [4, 4]);
        let row = |base: f32| [base, base + 2.5, base + 7.5, base + 10.0];
        let expected: Vec<f32> = [0.0, 5.0, 15.0, 20.0].into_iter().flat_map(row).collect();
        assert_eq!(out, expected);
    }

    #[test]
    fn downscaling_averages_neighbours_and_planes_stay_apart() {
        // 4 -> 2 samples at 0.5 and 2.5: the mean of each pair. A second plane is independent.
        let first = [0u8, 2, 4, 6];
        let second = [100u8, 100, 100, 100];
        let pixels: Vec<u8> = first.into_iter().chain(second).collect();
        let out = resize_planes(&pixels, [1, 4], [1, 2]);
        assert_eq!(out, vec![1.0, 5.0, 100.0, 100.0]);
    }

    #[test]
    fn taps_stay_inside_the_image_at_the_fid_sizes() {
        for (input, output) in [(32, 299), (28, 299), (299, 32), (1, 299)] {
            let taps = taps(input, output);
            assert!(taps.iter().all(|t| t.high < input && t.low <= t.high));
            assert!(taps.iter().all(|t| (0.0..1.0).contains(&t.weight)));
            // Monotone: a resize never folds the image back on itself.
            assert!(taps.windows(2).all(|w| w[0].low <= w[1].low));
        }
    }

    #[test]
    fn a_constant_image_stays_constant() {
        let out = resize_planes(&[77u8; 3 * 32 * 32], [32, 32], [299, 299]);
        assert_eq!(out.len(), 3 * 299 * 299);
        assert!(out.iter().all(|&v| (v - 77.0).abs() < 1e-4));
    }
}
