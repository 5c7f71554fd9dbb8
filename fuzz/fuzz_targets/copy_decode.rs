//! cargo-fuzz target: see `fuzz/checks/copy_decode.rs`.
#![no_main]

#[path = "../checks/copy_decode.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
