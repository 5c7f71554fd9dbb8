//! A short fuzz run inside the test suite: the cargo-fuzz targets' own checks (`fuzz/checks/`)
//! on their committed seeds and on a few thousand mutations of them (bit flips, byte edits,
//! cut, repeated and spliced ranges), from a fixed random seed so a failure reproduces. The
//! coverage-guided runs are `scripts/fuzz.sh` (locally, and nightly in CI); this one needs no
//! instrumented build, so every test run fuzzes the COPY decoder, the value codec and the mapping
//! parser a little.
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[path = "../fuzz/checks/copy_decode.rs"]
mod copy_decode;
#[path = "../fuzz/checks/mapping_parse.rs"]
mod mapping_parse;
#[path = "../fuzz/checks/value_decode.rs"]
mod value_decode;

/// Mutations per target (fewer if [`BUDGET`] runs out first).
const MUTATIONS: usize = 50_000;
/// Wall time per target.
const BUDGET: Duration = Duration::from_secs(5);

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

/// One mutation of a seed, sometimes spliced with another.
fn mutate(rng: &mut StdRng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.gen_range(0..seeds.len())].clone();
    for _ in 0..rng.gen_range(1..=4) {
        let len = data.len();
        match rng.gen_range(0..7) {
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                data[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.gen_range(0..len);
                // Boundary values make lengths and counts interesting.
                data[i] = [0x00, 0xff, 0x7f, 0x80, 0x01, rng.gen()][rng.gen_range(0..6)];
            }
            2 => {
                let i = rng.gen_range(0..=len);
                data.insert(i, rng.gen());
            }
            3 if len > 0 => {
                let i = rng.gen_range(0..len);
                let n = rng.gen_range(1..=(len - i).min(16));
                data.drain(i..i + n);
            }
            4 if len > 0 => {
                data.truncate(rng.gen_range(0..len));
            }
            5 if len > 0 => {
                let i = rng.gen_range(0..len);
                let n = rng.gen_range(1..=(len - i).min(32));
                let piece = data[i..i + n].to_vec();
                let at = rng.gen_range(0..=data.len());
                data.splice(at..at, piece);
            }
            _ => {
                let other = &seeds[rng.gen_range(0..seeds.len())];
                if !other.is_empty() {
                    let from = rng.gen_range(0..other.len());
                    let at = rng.gen_range(0..=data.len());
                    data.truncate(at);
                    data.extend_from_slice(&other[from..]);
                }
            }
        }
    }
    data
}

/// Runs `check` on every seed, then on mutations until [`MUTATIONS`] or [`BUDGET`]; a panic
/// fails the test with the input in hex and how to find it again.
fn fuzz(target: &str, seed: u64, check: fn(&[u8])) {
    let seeds = seeds(target);
    let run = |data: &[u8], what: &str| {
        if catch_unwind(AssertUnwindSafe(|| check(data))).is_err() {
            panic!(
                "fuzz target `{target}` panicked on {what} ({} bytes): {}",
                data.len(),
                data.iter().map(|b| format!("{b:02x}")).collect::<String>()
            );
        }
    };
    for (i, s) in seeds.iter().enumerate() {
        run(s, &format!("seed {i}"));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let start = Instant::now();
    let mut n = 0;
    while n < MUTATIONS && start.elapsed() < BUDGET {
        let data = mutate(&mut rng, &seeds);
        run(&data, &format!("mutation {n} of rng seed {seed}"));
        n += 1;
    }
    assert!(
        n >= 100,
        "only {n} mutations of `{target}` ran in {BUDGET:?}"
    );
    eprintln!(
        "fuzz {target}: {} seeds, {n} mutations, no panic",
        seeds.len()
    );
}

#[test]
fn copy_decoder_survives_mutated_copy_streams() {
    fuzz("copy_decode", 0xC0DE, copy_decode::check);
}

#[test]
fn value_codec_survives_mutated_values() {
    fuzz("value_decode", 0x7A1E, value_decode::check);
}

#[test]
fn mapping_parser_survives_mutated_mappings() {
    fuzz("mapping_parse", 0x3A9, mapping_parse::check);
}
