//! Where the images an evaluation compares come from: an image folder, a `.npy` of uint8 images
//! (the training examples' `samples.npy`), a run directory holding one, a `.npz` of FID
//! statistics, or a data set by name (`cifar10-train`, `cifar10-test`, `stacked-mnist`).

use std::path::{Path, PathBuf};

use selfcond_gan::data::cifar::{CifarSplit, read_cifar10};
use selfcond_gan::data::{MnistSplit, StackedMnist, read_image_folder, read_mnist};
use selfcond_gan::npy::{self, NpyData};
use selfcond_gan::rng::stream;

/// Images, channel-major `[n, 3, side, side]` bytes.
pub struct ImageSet {
    pub pixels: Vec<u8>,
    pub side: usize,
    /// A file name for cached features or statistics of this set; `None` for sets that
    /// change between calls (a run's samples).
    pub cache_key: Option<String>,
}

impl ImageSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len() / (3 * self.side * self.side)
    }

    /// True when the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }
}

/// What a `--real` or `--fake` argument names.
pub enum Source {
    /// Precomputed FID statistics.
    Statistics(PathBuf),
    Images(ImageSet),
}

/// How named sets and folders are read.
pub struct SourceOptions {
    /// Where the named data sets live (default `data/cifar10` or `data/mnist`).
    pub data_dir: Option<PathBuf>,
    /// Side folders are resized to.
    pub size: usize,
    /// At most this many images of a set (spread over a folder's classes).
    pub limit: Option<usize>,
    /// Triples drawn for `stacked-mnist`.
    pub real_count: usize,
}

/// Opens `spec`: a data set name, a `.npz` of statistics, a `.npy` of images, a run directory
/// with a `samples.npy`, or an image folder (`<root>/<class>/*.png|jpg`).
pub fn open(spec: &str, options: &SourceOptions) -> Result<Source, Box<dyn std::error::Error>> {
    let path = Path::new(spec);
    let root = match spec {
        "cifar10-train" => return Ok(Source::Images(cifar10(CifarSplit::Train, options)?)),
        "cifar10-test" => return Ok(Source::Images(cifar10(CifarSplit::Test, options)?)),
        "stacked-mnist" => return Ok(Source::Images(stacked_mnist(options)?)),
        _ if path.extension().is_some_and(|e| e == "npz") => {
            return Ok(Source::Statistics(path.to_path_buf()));
        }
        _ if path.extension().is_some_and(|e| e == "npy") => {
            return Ok(Source::Images(read_samples(path, options.limit)?));
        }
        _ if path.join("samples.npy").is_file() => {
            return Ok(Source::Images(read_samples(
                &path.join("samples.npy"),
                options.limit,
            )?));
        }
        _ => path.to_path_buf(),
    };
    let images = read_image_folder(&root, options.size, None)?;
    Ok(Source::Images(limited(
        images.images.pixels,
        options.size,
        options.limit,
        &root,
    )))
}

/// A CIFAR-10 split under `--data-dir` (default `data/cifar10`): the official binary batches
/// when the folder holds them, else the image folders `train/` and `test/`.
fn cifar10(
    split: CifarSplit,
    options: &SourceOptions,
) -> Result<ImageSet, Box<dyn std::error::Error>> {
    let dir = options
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("data/cifar10"));
    let (pixels, root) = if dir.join("data_batch_1.bin").is_file() {
        let name = match split {
            CifarSplit::Train => "binary-train",
            CifarSplit::Test => "binary-test",
        };
        // Named after the real folder, so that two copies in different places never share
        // a cache entry.
        let dir = dir.canonicalize().map_err(|source| crate::PathError {
            path: dir.clone(),
            source,
        })?;
        (read_cifar10(&dir, split)?.pixels, dir.join(name))
    } else {
        let root = dir.join(match split {
            CifarSplit::Train => "train",
            CifarSplit::Test => "test",
        });
        (read_image_folder(&root, 32, None)?.images.pixels, root)
    };
    Ok(limited(pixels, 32, options.limit, &root))
}

/// At most `limit` of the images, spread over the set, whose classes come one after another.
fn limited(pixels: Vec<u8>, side: usize, limit: Option<usize>, root: &Path) -> ImageSet {
    let per_image = 3 * side * side;
    let count = pixels.len() / per_image;
    let pixels = match limit {
        Some(limit) if limit < count => (0..limit)
            .flat_map(|i| {
                let j = i * count / limit;
                pixels[j * per_image..(j + 1) * per_image].to_vec()
            })
            .collect(),
        _ => pixels,
    };
    let count = pixels.len() / per_image;
    ImageSet {
        pixels,
        side,
        cache_key: Some(cache_key(root, count, side)),
    }
}

/// Opens `spec` and refuses statistics: for metrics that need the images' features.
pub fn open_images(
    spec: &str,
    options: &SourceOptions,
) -> Result<ImageSet, Box<dyn std::error::Error>> {
    match open(spec, options)? {
        Source::Images(set) => Ok(set),
        Source::Statistics(path) => Err(format!(
            "{}: statistics hold no features; KID, precision and recall need images",
            path.display()
        )
        .into()),
    }
}

/// The examples' `samples.npy`: uint8 `[n, h, w, 3]`, turned channel-major; at most `limit`.
pub fn read_samples(
    path: &Path,
    limit: Option<usize>,
) -> Result<ImageSet, Box<dyn std::error::Error>> {
    let array = npy::read(path)?;
    let (NpyData::U8(values), [n, h, w, 3]) = (&array.data, array.shape.as_slice()) else {
        return Err(format!(
            "{}: expected uint8 images [n, h, w, 3], got shape {:?}",
            path.display(),
            array.shape
        )
        .into());
    };
    if h != w || *h == 0 {
        return Err(format!(
            "{}: images must be square and not empty, got {h} x {w}",
            path.display()
        )
        .into());
    }
    let n = limit.map_or(*n, |l| l.min(*n));
    let plane = h * w;
    let mut pixels = vec![0u8; n * 3 * plane];
    for (i, image) in values.chunks_exact(3 * plane).take(n).enumerate() {
        for (p, rgb) in image.chunks_exact(3).enumerate() {
            for c in 0..3 {
                pixels[(i * 3 + c) * plane + p] = rgb[c];
            }
        }
    }
    Ok(ImageSet {
        pixels,
        side: *h,
        cache_key: None,
    })
}

/// Seeded triples of MNIST training digits, `real_count` (or `limit`) of them.
fn stacked_mnist(options: &SourceOptions) -> Result<ImageSet, Box<dyn std::error::Error>> {
    let dir = options
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("data/mnist"));
    let mnist = read_mnist(&dir, MnistSplit::Train)?;
    let count = options
        .limit
        .map_or(options.real_count, |l| l.min(options.real_count));
    let set = StackedMnist::new(&mnist, count, 1, &mut stream(0, 0), stream(0, 1))?;
    let pixels = (0..set.len()).flat_map(|i| set.image(i)).collect();
    Ok(ImageSet {
        pixels,
        side: 32,
        cache_key: Some(format!("stacked-mnist-seed0-{count}")),
    })
}

/// A cache file name for a folder: its canonical path, image count and side.
fn cache_key(root: &Path, count: usize, side: usize) -> String {
    let canonical = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let name: String = canonical
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{}-{count}-{side}", name.trim_matches('-'))
}
