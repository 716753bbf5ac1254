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
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    entries.sort();
    Ok(entries)
}

/// Reads every image under `root` (at most `limit` per class when given), at `side` pixels.
pub fn read_image_folder(root: &Path, side: usize, limit: Option<usize>) -> Result<ImageFolder> {
    if side == 0 {
        return Err(Error::config("side", "must be at least 1"));
    }
    if !root.is_dir() {
        return Err(Error::MissingData {
            path: root.to_path_buf(),
            hint: "expected a folder of class folders of images (for CIFAR-10: mkdir -p data/cifar10 && \
                   tar xzf ../shared/data/cifar10-jpeg.tar.gz -C data/cifar10, then use data/cifar10/train)"
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
}
