//! An image folder, `<root>/<class>/*.png|jpg|jpeg`, as the CIFAR-10 JPEG copy is laid out:
//! classes are the sub-folders in sorted order, images within a class in sorted file order.
//! Images are decoded with the `image` crate, converted to RGB and resized bilinearly to the
//! model's size when they differ from it.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;

use crate::data::cifar::CifarImages;
use crate::error::{Error, Result};

/// Images of a folder tree, channel-major `[n, 3, side, side]`, with class names.
#[derive(Debug, Clone)]
pub struct ImageFolder {
    /// Pixels and class indices.
    pub images: CifarImages,
    /// Class folder names, index = label.
    pub classes: Vec<String>,
    /// Side of every image.
    pub side: usize,
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(Error::io(dir))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .map_err(Error::io(dir))?;
    entries.sort();
    Ok(entries)
}

/// One RGB image file (PNG or JPEG) of exactly `side` x `side` pixels, channel-major
/// `[3, side, side]` bytes. No resizing or colour conversion: an image of another size or
/// channel count is [`Error::InputShape`], so a model is never fed something it was not
/// trained on without the caller knowing.
pub fn read_rgb_image(path: &Path, side: usize) -> Result<Vec<u8>> {
    let image = image::open(path).map_err(|e| match e {
        image::ImageError::IoError(io) => Error::io(path)(io),
        other => Error::BadDataFile {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    })?;
    let channels = image.color().channel_count() as usize;
    let (w, h) = (image.width() as usize, image.height() as usize);
    if channels != 3 || w != side || h != side {
        return Err(Error::InputShape {
            what: "image file",
            expected: vec![3, side, side],
            got: vec![channels, h, w],
        });
    }
    let rgb = image.to_rgb8();
    let plane = side * side;
    let mut pixels = vec![0u8; 3 * plane];
    for (i, pixel) in rgb.pixels().enumerate() {
        for c in 0..3 {
            pixels[c * plane + i] = pixel.0[c];
        }
    }
    Ok(pixels)
}

/// Reads every image under `root` (at most `limit` per class when given), at `side` pixels.
pub fn read_image_folder(root: &Path, side: usize, limit: Option<usize>) -> Result<ImageFolder> {
    if side == 0 {
        return Err(Error::config("side", "must be at least 1"));
    }
    if !root.is_dir() {
        return Err(Error::MissingData {
            path: root.to_path_buf(),
            hint: "expected a folder of class folders of images (CIFAR-10 also reads the official \
                   binary batches, cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html)"
                .into(),
        });
    }
    let class_dirs: Vec<PathBuf> = sorted_entries(root)?
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    if class_dirs.is_empty() {
        return Err(Error::Empty {
            what: "image folder (no class sub-folders)",
        });
    }
    let mut images = CifarImages::default();
    let mut classes = Vec::new();
    for (label, dir) in class_dirs.iter().enumerate() {
        classes.push(
            dir.file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into()),
        );
        let files = sorted_entries(dir)?.into_iter().filter(|p| is_image(p));
        for path in files.take(limit.unwrap_or(usize::MAX)) {
            let decoded = image::open(&path).map_err(|e| Error::BadDataFile {
                path: path.clone(),
                reason: format!("cannot decode: {e}"),
            })?;
            let mut rgb = decoded.to_rgb8();
            if rgb.dimensions() != (side as u32, side as u32) {
                rgb = image::imageops::resize(&rgb, side as u32, side as u32, FilterType::Triangle);
            }
            for channel in 0..3 {
                images.pixels.extend(rgb.pixels().map(|p| p.0[channel]));
            }
            images.labels.push(label.min(u8::MAX as usize) as u8);
        }
    }
    if images.is_empty() {
        return Err(Error::Empty {
            what: "image folder (no .png or .jpg files)",
        });
    }
    Ok(ImageFolder {
        images,
        classes,
        side,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    #[test]
    fn reads_classes_in_order_resizes_and_reports_bad_files() {
        let root = std::env::temp_dir().join(format!("selfcond-folder-{}", std::process::id()));
        std::fs::remove_dir_all(&root).ok();
        for (class, colour) in [("cat", [200u8, 10, 10]), ("airplane", [10, 10, 200])] {
            std::fs::create_dir_all(root.join(class)).unwrap();
            for i in 0..2 {
                RgbImage::from_pixel(32, 32, Rgb(colour))
                    .save(root.join(class).join(format!("{i:04}.png")))
                    .unwrap();
            }
        }
        // A larger image is resized to the model's size.
        RgbImage::from_pixel(64, 48, Rgb([200, 10, 10]))
            .save(root.join("cat/0002.png"))
            .unwrap();
        std::fs::write(root.join("cat/notes.txt"), "ignored").unwrap();

        let folder = read_image_folder(&root, 32, None).unwrap();
        assert_eq!(folder.classes, vec!["airplane", "cat"]);
        assert_eq!(folder.images.labels, vec![0, 0, 1, 1, 1]);
        let plane = 32 * 32;
        // First image (airplane): blue plane full of 200.
        assert_eq!(folder.images.pixels[2 * plane], 200);
        assert_eq!(folder.images.pixels.len(), 5 * 3 * plane);
        assert_eq!(
            read_image_folder(&root, 32, Some(1)).unwrap().images.len(),
            2
        );

        std::fs::write(root.join("cat/0003.jpg"), b"not a jpeg").unwrap();
        assert!(matches!(
            read_image_folder(&root, 32, None),
            Err(Error::BadDataFile { .. })
        ));
        assert!(matches!(
            read_image_folder(&root.join("missing"), 32, None),
            Err(Error::MissingData { .. })
        ));
        std::fs::remove_dir_all(&root).ok();
    }

    #[test]
    fn single_images_must_have_the_models_size_and_channels() {
        let dir = std::env::temp_dir().join(format!("selfcond-image-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut picture = RgbImage::from_pixel(32, 32, Rgb([1, 2, 3]));
        picture.put_pixel(5, 0, Rgb([9, 8, 7]));
        picture.save(dir.join("ok.png")).unwrap();
        let pixels = read_rgb_image(&dir.join("ok.png"), 32).unwrap();
        let plane = 32 * 32;
        assert_eq!((pixels[0], pixels[plane], pixels[2 * plane]), (1, 2, 3));
        assert_eq!(
            (pixels[5], pixels[plane + 5], pixels[2 * plane + 5]),
            (9, 8, 7)
        );

        RgbImage::from_pixel(28, 32, Rgb([0, 0, 0]))
            .save(dir.join("narrow.png"))
            .unwrap();
        image::GrayImage::from_pixel(32, 32, image::Luma([7]))
            .save(dir.join("grey.png"))
            .unwrap();
        for (name, got) in [
            ("narrow.png", vec![3, 32, 28]),
            ("grey.png", vec![1, 32, 32]),
        ] {
            match read_rgb_image(&dir.join(name), 32) {
                Err(Error::InputShape { got: found, .. }) => assert_eq!(found, got),
                other => panic!("{name}: {other:?}"),
            }
        }
        std::fs::write(dir.join("bad.png"), b"not a png").unwrap();
        assert!(matches!(
            read_rgb_image(&dir.join("bad.png"), 32),
            Err(Error::BadDataFile { .. })
        ));
        assert!(matches!(
            read_rgb_image(&dir.join("missing.png"), 32),
            Err(Error::Io { .. })
        ));
        std::fs::remove_dir_all(&dir).ok();
    }
}
