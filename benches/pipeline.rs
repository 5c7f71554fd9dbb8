//! Criterion micro-benchmarks of the in-process hot path on the `contacts` table's shape
//! (11 columns, `contacts.sql`): binary COPY decode into Arrow, each transform kind of the CRM
//! mapping and all of them together, row and bucket digests, the Merkle root at k = 16, binary
//! COPY encode, and decode + transform + digest as the engine chains them.
//!
//! Every group reports elements = rows, on one thread: criterion's `elem/s` is rows/s per core.
//! Target (`../shared/BENCHMARKS.md`): decode + transform + digest ≥ 2M rows/s per core.
//!
//!     cargo bench --bench pipeline                 # everything (~3 min)
//!     cargo bench --bench pipeline -- transform/   # one group
use std::hint::black_box;
use std::time::Duration;

use arrow_array::RecordBatch;
use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use cutover_core::digest::{lanes, Leaves, RowHasher, FINE_K};
use cutover_core::program::TableProgram;
use cutover_postgres::copy_decode::CopyDecoder;
use cutover_postgres::copy_encode;

mod support;
use support::{contacts, programs};

/// Rows per measured iteration: 8 batches of 8192.
const ROWS: usize = 65_536;
/// Bytes per decoder feed: tokio-postgres hands COPY data over in chunks of about this size.
const CHUNK: usize = 64 << 10;
/// Batch limits of the engine (`cutover_engine::load`).
const BATCH_BYTES: usize = 8 << 20;

/// Decodes the whole stream, calling `f` on every batch.
fn decode(stream: &[u8], mut f: impl FnMut(RecordBatch)) {
    let mut dec = CopyDecoder::new(&contacts::names(), contacts::BATCH_ROWS, BATCH_BYTES);
    let mut out = Vec::new();
    for chunk in stream.chunks(CHUNK) {
        dec.feed(chunk, &mut out).expect("valid stream");
        out.drain(..).for_each(&mut f);
    }
    if let Some(last) = dec.finish().expect("valid trailer") {
        f(last);
    }
}

/// `batch` with the columns the program reads, in its order.
fn project(program: &TableProgram, batch: &RecordBatch) -> RecordBatch {
    let schema = batch.schema();
    let idx: Vec<usize> = program
        .source_columns
        .iter()
        .map(|n| schema.index_of(n).expect("program reads contacts columns"))
        .collect();
    batch.project(&idx).expect("projection")
}

fn bench_codec(c: &mut Criterion) {
    let batches = contacts::batches(ROWS);
    let stream = contacts::copy_stream(&batches);
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.bench_function("copy_decode", |b| {
        b.iter(|| decode(black_box(&stream), |batch| drop(black_box(batch))))
    });
    g.bench_function("copy_encode", |b| {
        let mut buf = BytesMut::with_capacity(stream.len());
        b.iter(|| {
            buf.clear();
            copy_encode::write_header(&mut buf);
            for batch in &batches {
                copy_encode::encode_batch(black_box(batch), &mut buf);
            }
            copy_encode::write_trailer(&mut buf);
            black_box(buf.len())
        })
    });
    g.finish();
}

fn bench_transform(c: &mut Criterion) {
    let batches = contacts::batches(ROWS);
    let mut g = c.benchmark_group("transform");
    g.throughput(Throughput::Elements(ROWS as u64));
    let mut all = vec![
        ("identity", programs::identity()),
        ("crm_contacts", programs::crm_contacts()),
    ];
    all.extend(programs::each_transform());
    // `contacts.sql`'s phones are all invalid (555): also time the accepting path.
    let valid: Vec<RecordBatch> = batches.iter().map(contacts::with_valid_phones).collect();
    let phone = programs::each_transform()
        .into_iter()
        .find(|(n, _)| *n == "phone")
        .expect("phone case")
        .1;
    let crm = programs::crm_contacts();
    let mut cases: Vec<(&str, &TableProgram, &[RecordBatch])> = all
        .iter()
        .map(|(n, p)| (*n, p, batches.as_slice()))
        .collect();
    let nulled: u64 = valid
        .iter()
        .map(|b| phone.run(&project(&phone, b)).nulled)
        .sum();
    assert_eq!(nulled, 0, "valid_phone made numbers libphonenumber refuses");
    cases.push(("phone_valid", &phone, &valid));
    cases.push(("crm_contacts_valid_phones", &crm, &valid));
    for (name, program, input) in cases {
        let inputs: Vec<RecordBatch> = input.iter().map(|b| project(program, b)).collect();
        g.bench_function(name, |b| {
            b.iter(|| {
                for batch in &inputs {
                    black_box(program.run(black_box(batch)));
                }
            })
        });
    }
    g.finish();
}

fn bench_digest(c: &mut Criterion) {
    let batches = contacts::batches(ROWS);
    let crm = programs::crm_contacts();
    let transformed: Vec<RecordBatch> = batches.iter().map(|b| crm.run(b).batch).collect();
    let mut g = c.benchmark_group("digest");
    g.throughput(Throughput::Elements(ROWS as u64));
    // Row digests + bucket leaves at FINE_K, as `migrate full` and `reconcile` compute them.
    for (name, input, key) in [
        ("contacts_identity", &batches, vec![0usize]),
        ("contacts_crm_shape", &transformed, crm.key.clone()),
    ] {
        g.bench_function(name, |b| {
            let mut hasher = RowHasher::new();
            b.iter_batched_ref(
                || Leaves::new(FINE_K),
                |leaves| {
                    for batch in input {
                        hasher.digest_batch(black_box(batch), &key, leaves);
                    }
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();

    // BLAKE3 of a row's key bytes (12) and of its key and row bytes (~200), one input at a time
    // (`blake3::hash`) and side by side in vector lanes (`lanes::hash_many`, what the row digests
    // use): elements = inputs.
    let mut g = c.benchmark_group("blake3");
    for len in [12usize, 200] {
        let inputs: Vec<Vec<u8>> = (0..4096)
            .map(|i| (0..len).map(|j| (i * 7 + j) as u8).collect())
            .collect();
        let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
        let mut out = vec![[0u8; 32]; refs.len()];
        g.throughput(Throughput::Elements(refs.len() as u64));
        g.bench_function(format!("one_at_a_time_{len}_bytes"), |b| {
            b.iter(|| {
                for (input, o) in refs.iter().zip(out.iter_mut()) {
                    *o = *blake3::hash(black_box(input)).as_bytes();
                }
            })
        });
        g.bench_function(format!("lanes_{len}_bytes"), |b| {
            b.iter(|| {
                for (inputs, o) in refs.chunks(64).zip(out.chunks_mut(64)) {
                    lanes::hash_many(black_box(inputs), o);
                }
            })
        });
    }
    g.finish();

    let mut leaves = Leaves::new(FINE_K);
    let mut hasher = RowHasher::new();
    for batch in &batches {
        hasher.digest_batch(batch, &[0], &mut leaves);
    }
    let mut g = c.benchmark_group("merkle");
    g.throughput(Throughput::Elements(1 << FINE_K));
    g.bench_function("leaves_root_k16", |b| {
        b.iter(|| black_box(black_box(&leaves).root()))
    });
    g.finish();
}

/// Decode + transform + digest (+ encode), one thread: the work stage of a `migrate full`
/// chunk (`cutover_engine::load::ChunkWorker`).
fn bench_pipeline(c: &mut Criterion) {
    let stream = contacts::copy_stream(&contacts::batches(ROWS));
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(ROWS as u64));
    for (name, program, encode) in [
        ("identity_decode_digest", programs::identity(), false),
        (
            "crm_decode_transform_digest",
            programs::crm_contacts(),
            false,
        ),
        (
            "crm_decode_transform_digest_encode",
            programs::crm_contacts(),
            true,
        ),
    ] {
        g.bench_function(name, |b| {
            let mut hasher = RowHasher::new();
            let mut out = BytesMut::new();
            b.iter_batched_ref(
                || Leaves::new(FINE_K),
                |leaves| {
                    out.clear();
                    decode(&stream, |batch| {
                        let t = program.run(&batch);
                        hasher.digest_batch(&t.batch, &program.key, leaves);
                        if encode {
                            copy_encode::encode_batch(&t.batch, &mut out);
                        }
                    });
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = bench_codec, bench_transform, bench_digest, bench_pipeline
}
criterion_main!(benches);
