//! Finding the ferry binaries under test.
//!
//! The tests run the binaries that `cargo build --workspace --bins` left in
//! the same target directory as the test binary itself, rather than building
//! them: a test must never start a nested cargo build.

use std::path::{Path, PathBuf};

/// The HTTP API (with `--with-worker`, also a worker).
pub const API: &str = "ferry-api";
/// The standalone worker.
pub const WORKER: &str = "ferry-worker";

/// The directory holding the ferry binaries.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FERRY_TEST_BIN_DIR") {
        return PathBuf::from(dir);
    }
    // A test binary lives in `<target>/<profile>/deps/`; the workspace's
    // binaries are one level up, in `<target>/<profile>/`.
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    let mut dir = exe
        .parent()
        .expect("the test binary is inside a directory")
        .to_path_buf();
    if dir.file_name().is_some_and(|name| name == "deps") {
        dir.pop();
    }
    if dir.join(API).exists() {
        return dir;
    }
    // Fall back to CARGO_TARGET_DIR when the test binary was copied elsewhere.
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        let candidate = Path::new(&target).join("debug");
        if candidate.join(API).exists() {
            return candidate;
        }
    }
    dir
}

/// The path of one ferry binary; panics with what to do when it is missing.
pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "{name} not found at {}: run `cargo build --workspace --bins` first \
         (or point FERRY_TEST_BIN_DIR at the directory that holds it)",
        path.display()
    );
    path
}
