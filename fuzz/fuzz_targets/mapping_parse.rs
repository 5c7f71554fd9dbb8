//! cargo-fuzz target: see `fuzz/checks/mapping_parse.rs`.
#![no_main]

#[path = "../checks/mapping_parse.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
