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
