//! Inputs the fuzzers (or their property tests) found crashing or hanging a
//! parser, replayed through the same entry points the fuzz targets call
//! (`ferry_worker::fuzzing`). Each lives in `tests/regressions/<target>/`,
//! named after what it broke; docs/SECURITY.md ("Parsers") lists them.

use std::{path::Path, sync::mpsc, thread, time::Duration};

/// Far beyond what any of these inputs takes; a parser that hangs fails
/// the test instead of stalling the suite.
const DEADLINE: Duration = Duration::from_secs(20);

type Entry = fn(&[u8]);

const TARGETS: [(&str, Entry); 6] = [
    ("ddl", ferry_worker::fuzzing::ddl),
    ("row_images", ferry_worker::fuzzing::row_images),
    ("kafka_wire", |input| {
        let _ = ferry_worker::fuzzing::kafka_wire(input);
    }),
    ("table_filter", ferry_worker::fuzzing::table_filter),
    ("dispatchers", ferry_worker::fuzzing::dispatchers),
    ("assignment", ferry_worker::fuzzing::assignment),
];

#[test]
fn saved_inputs_neither_panic_nor_hang() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let mut replayed = 0;
    for (target, entry) in TARGETS {
        let Ok(dir) = std::fs::read_dir(root.join(target)) else {
            continue;
        };
        for file in dir {
            let path = file.unwrap().path();
            let input = std::fs::read(&path).unwrap();
            let (done, finished) = mpsc::channel();
            let runner = thread::spawn(move || {
                entry(&input);
                let _ = done.send(());
            });
            match finished.recv_timeout(DEADLINE) {
                Ok(()) => runner.join().unwrap(),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("{} did not finish within {DEADLINE:?}", path.display())
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("{} panicked the {target} parser", path.display())
                }
            }
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no saved inputs under {}", root.display());
}
