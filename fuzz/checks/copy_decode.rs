//! The binary COPY decoder on arbitrary bytes fed in arbitrary splits, then finished: never a
//! panic or a hang, and the same rows whatever the splits (the decoder's own promise).
//!
//! Input: `[columns, batch_rows, batch_bytes / 4, split_seed, stream…]`. The seeds in
//! `fuzz/seeds/copy_decode` are real `COPY … TO STDOUT (FORMAT binary)` output behind that prefix.
//!
//! Shared by the cargo-fuzz target `fuzz/fuzz_targets/copy_decode.rs` and the short mutation run
//! of the test suite (`tests/fuzz_smoke.rs`).

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use cutover_postgres::copy_decode::{CopyDecoder, CopyError};

type Rows = Vec<Vec<Option<Vec<u8>>>>;

/// Chunk sizes from a small xorshift generator: mostly tiny (0 = an empty feed), some large.
struct Splits(u32);

impl Splits {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        match self.0 % 16 {
            0 => 4096,
            n => (n as usize - 1) * 3 % 23,
        }
    }
}

fn rows_of(batches: &[RecordBatch], batch_rows: usize) -> Rows {
    let mut rows = Vec::new();
    for b in batches {
        assert!(b.num_rows() <= batch_rows, "batch over its row limit");
        for r in 0..b.num_rows() {
            rows.push(
                b.columns()
                    .iter()
                    .map(|c| {
                        let c = c.as_binary::<i32>();
                        (!c.is_null(r)).then(|| c.value(r).to_vec())
                    })
                    .collect(),
            );
        }
    }
    rows
}

/// Decodes `stream` fed in the given chunks, then finishes.
fn decode(
    names: &[String],
    batch_rows: usize,
    batch_bytes: usize,
    stream: &[u8],
    mut chunk: impl FnMut() -> usize,
) -> Result<(Rows, u64), CopyError> {
    let mut dec = CopyDecoder::new(names, batch_rows, batch_bytes);
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < stream.len() {
        let end = pos.saturating_add(chunk()).min(stream.len());
        dec.feed(&stream[pos..end], &mut out)?;
        pos = end;
    }
    let decoded = dec.rows();
    out.extend(dec.finish()?);
    Ok((rows_of(&out, batch_rows), decoded))
}

/// The target: one input, no panic, no hang.
pub fn check(data: &[u8]) {
    let Some((params, stream)) = data.split_first_chunk::<4>() else {
        return;
    };
    let names: Vec<String> = (0..params[0] % 17).map(|i| format!("c{i}")).collect();
    let batch_rows = 1 + usize::from(params[1] % 16);
    let batch_bytes = usize::from(params[2]) * 4;
    let mut splits = Splits(u32::from(params[3]) | 0x100);
    let split = decode(&names, batch_rows, batch_bytes, stream, || splits.next());
    let whole = decode(&names, batch_rows, batch_bytes, stream, || usize::MAX);
    match (&split, &whole) {
        (Ok((a, n)), Ok((b, _))) => {
            assert_eq!(a, b, "rows depend on how the stream was split");
            assert_eq!(a.len() as u64, *n, "rows() disagrees with the batches");
        }
        (Err(_), Err(_)) => {}
        _ => panic!(
            "split and whole streams disagree: {:?} vs {:?}",
            split.as_ref().err().map(ToString::to_string),
            whole.as_ref().err().map(ToString::to_string)
        ),
    }
}
