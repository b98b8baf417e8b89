//! The binlog row-image decoder over a table the input describes
//! (`ferry_worker::fuzzing::row_images`).
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| ferry_worker::fuzzing::row_images(input));
