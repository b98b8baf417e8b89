//! The Python interpreter of the tests' real clients (pydo, schemathesis,
//! confluent-kafka), a virtualenv that `scripts/test` builds from
//! `tests/python/requirements.txt`.

use std::path::PathBuf;

/// The virtualenv's interpreter: `FERRY_TEST_PYTHON`, else
/// `<target>/test-python/bin/python` next to the running test binary's
/// profile directory. Panics with the command that makes it when it is
/// missing, so that a test never silently skips its client.
pub fn interpreter() -> PathBuf {
    if let Some(path) = std::env::var_os("FERRY_TEST_PYTHON") {
        return PathBuf::from(path);
    }
    let profile = crate::binaries::profile_dir();
    let target = profile
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| profile.clone());
    let python = target.join("test-python").join("bin").join("python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/test (it builds the tests' Python virtualenv from \
         tests/python/requirements.txt), or set FERRY_TEST_PYTHON",
        python.display()
    );
    python
}
