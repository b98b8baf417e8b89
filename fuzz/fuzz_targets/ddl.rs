//! The DDL lexer and classifier under both quoting modes, with the plan's
//! rewrite oracle (`ferry_worker::fuzzing::ddl`).
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| ferry_worker::fuzzing::ddl(input));
