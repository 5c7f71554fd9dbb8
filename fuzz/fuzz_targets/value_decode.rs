//! cargo-fuzz target: see `fuzz/checks/value_decode.rs`.
#![no_main]

#[path = "../checks/value_decode.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
