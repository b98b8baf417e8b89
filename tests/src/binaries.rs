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
/// The command-line client.
pub const CLI: &str = "ferry";

/// The directory holding the ferry binaries.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FERRY_TEST_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let dir = profile_dir();
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

/// The cargo profile directory (`<target>/<profile>/`, e.g. `target/release/`)
/// of the running executable, where cargo also puts the workspace's binaries
/// of that profile: a test binary lives in `<target>/<profile>/deps/`, any
/// other binary (such as the bench) in `<target>/<profile>/` itself.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the running binary knows its own path");
    let mut dir = exe
        .parent()
        .expect("the running binary is inside a directory")
        .to_path_buf();
    if dir.file_name().is_some_and(|name| name == "deps") {
        dir.pop();
    }
    dir
}

/// The path of binary `name` in `dir`, or why it cannot be used.
pub fn find_in(dir: &Path, name: &str) -> Result<PathBuf, String> {
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("{name} not found at {}", path.display()))
    }
}

/// The path of one ferry binary in [`bin_dir`], or what to do when it is
/// missing.
pub fn try_binary(name: &str) -> Result<PathBuf, String> {
    find_in(&bin_dir(), name).map_err(|missing| {
        format!(
            "{missing}: run `cargo build --workspace --bins` first \
             (or point FERRY_TEST_BIN_DIR at the directory that holds it)"
        )
    })
}

/// The path of one ferry binary; panics with what to do when it is missing.
pub fn binary(name: &str) -> PathBuf {
    try_binary(name).unwrap_or_else(|e| panic!("{e}"))
}
