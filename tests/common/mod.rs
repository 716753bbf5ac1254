//! Helpers shared by the integration tests that run the examples.

use std::path::PathBuf;

/// `target/<profile>/examples/<name>`, next to the test's own binary in `deps/`; `cargo test`
/// builds the examples before running the tests.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    profile_dir.join("examples").join(name)
}

/// Writes `per_class` small 32 x 32 PNGs for each `(class, tint)` into `root/<class>/`, an
/// image folder laid out like the CIFAR-10 JPEG copy.
#[allow(dead_code)] // not every test file that includes this module writes images
pub fn write_image_folder(root: &std::path::Path, classes: &[(&str, u8)], per_class: u8) {
    for &(class, tint) in classes {
        std::fs::create_dir_all(root.join(class)).unwrap();
        for i in 0..per_class {
            image::RgbImage::from_fn(32, 32, |x, y| {
                image::Rgb([tint, (x * 8) as u8 ^ i, (y * 8) as u8])
            })
            .save(root.join(class).join(format!("{i:04}.png")))
            .unwrap();
        }
    }
}
