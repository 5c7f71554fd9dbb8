//! Streaming one side of a table for reconcile: decode, (source only) transform through the
//! mapping and apply the load-time ledger, digest every row into fine bucket leaves, and spill
//! the per-row records. Runs as the work stage of [`crate::load::run_chunk`], without a target.
use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use bytes::BytesMut;
use cutover_core::digest::{
    put_value, put_value_as, split_values, Leaves, RowDigest, RowHasher, RowQueue, Shape, FINE_K,
};
use cutover_core::program::{PassColumn, PassNull, TableProgram};
use cutover_postgres::copy_decode::CopyDecoder;
use cutover_postgres::copy_rows::{CopyRows, Row};

use crate::error::{EngineError, Result};
use crate::load::{Worker, BATCH_BYTES, BATCH_ROWS};
use crate::observer::{Event, SharedObserver};
use crate::reconcile::spill::{SpillFiles, SpillWriter};

/// What a load did to a row beyond the mapping, keyed by the row's bucket hash
/// (blake3 of its target key bytes); read from the state schema's `rejects` table.
#[derive(Clone, Debug)]
pub enum Adjust {
    /// The target refused the row at load (orphan reference, CHECK violation).
    Rejected,
    /// These target columns were set to NULL at load (orphan references).
    Nulled(Vec<usize>),
}

/// The ledger of one table.
pub type Ledger = HashMap<[u8; 32], Adjust>;

/// How the side's COPY stream is read.
enum Input {
    /// Decoded into batches, for the mapping to transform.
    Batches(CopyDecoder),
    /// Read row by row in place: every column passes through (the target side, and a source
    /// whose mapping computes nothing), so no batch is built.
    Rows {
        rows: CopyRows,
        columns: Vec<PassColumn>,
        /// Per column, where its values hold type OIDs (see `put_value_as`).
        shapes: Vec<Shape>,
        /// Rows encoded, waiting to be digested a group at a time.
        queue: RowQueue,
    },
}

/// The work stage of one side.
pub struct SideWorker {
    input: Input,
    program: Arc<TableProgram>,
    transform: bool,
    ledger: Arc<Ledger>,
    hasher: RowHasher,
    observer: SharedObserver,
    table: String,
    spill: Option<SpillWriter>,
    /// Fine leaves of the rows this side holds (expected rows, for the source).
    pub leaves: Leaves,
    /// Rows read from the database.
    pub rows_read: u64,
    /// Rows the mapping or the ledger rejected (source only).
    pub rejected: u64,
    error: Option<EngineError>,
}

impl SideWorker {
    /// `transform`: run the mapping (source side); the target side is read as it is.
    pub fn new(
        program: Arc<TableProgram>,
        transform: bool,
        ledger: Arc<Ledger>,
        spill: SpillWriter,
        observer: SharedObserver,
    ) -> Self {
        let names: Vec<String> = if transform {
            program.source_columns.clone()
        } else {
            program
                .target_columns
                .iter()
                .map(|c| c.name.clone())
                .collect()
        };
        let columns = if transform {
            program.passthrough()
        } else {
            Some(
                (0..names.len())
                    .map(|input| PassColumn {
                        input,
                        null: PassNull::Keep,
                    })
                    .collect(),
            )
        };
        let input = match columns {
            Some(columns) => Input::Rows {
                rows: CopyRows::new(&names),
                columns,
                shapes: program.shapes(),
                queue: RowQueue::default(),
            },
            None => Input::Batches(CopyDecoder::new(&names, BATCH_ROWS, BATCH_BYTES)),
        };
        let hasher = program.hasher();
        SideWorker {
            input,
            table: program.target.name.clone(),
            program,
            transform,
            ledger,
            hasher,
            observer,
            spill: Some(spill),
            leaves: Leaves::new(FINE_K),
            rows_read: 0,
            rejected: 0,
            error: None,
        }
    }

    /// The spilled records, once the stream is finished.
    pub fn into_spill(mut self) -> Result<SpillFiles> {
        self.spill
            .take()
            .ok_or_else(|| EngineError::runtime("internal: spill already taken"))?
            .finish()
    }

    fn process(&mut self, batch: RecordBatch) -> Result<()> {
        let n = batch.num_rows() as u64;
        self.rows_read += n;
        let batch = if self.transform {
            let t = self.program.run(&batch);
            self.rejected += t.rejects.len() as u64;
            t.batch
        } else {
            batch
        };
        let mut sink = Sink::new(&self.ledger, &mut self.leaves, &mut self.spill);
        self.hasher
            .digest_each(&batch, &self.program.key, |_, d, key, row| {
                sink.accept(d, key, row)
            });
        let (rejected, error) = sink.close();
        self.finish_chunk(n, rejected, error)
    }

    /// Reads the rows of one chunk in place (see [`Input::Rows`]).
    fn process_rows(&mut self, data: &[u8]) -> Result<()> {
        let Input::Rows {
            rows,
            columns,
            shapes,
            queue,
        } = &mut self.input
        else {
            return Err(EngineError::runtime("internal: not a row-by-row side"));
        };
        let (program, transform) = (&self.program, self.transform);
        let key = &program.key;
        let mut sink = Sink::new(&self.ledger, &mut self.leaves, &mut self.spill);
        let mut n = 0;
        let mut refused = 0;
        let result = rows.feed(data, |row| {
            n += 1;
            // Text the load rejected as not UTF-8 (a SQL_ASCII source): rejected here too.
            if transform && !program.text_is_utf8(|i| row.get(i)) {
                refused += 1;
                return;
            }
            let queued = queue.push(
                |buf| {
                    key.iter()
                        .all(|&k| put_pass(buf, row, &columns[k], &shapes[k]))
                },
                |buf| {
                    columns
                        .iter()
                        .zip(shapes.iter())
                        .all(|(c, shape)| put_pass(buf, row, c, shape))
                },
            );
            if !queued {
                refused += 1;
            }
            if queue.is_full() {
                queue.drain(|_, d, key, values| sink.accept(d, key, values));
            }
        });
        queue.drain(|_, d, key, values| sink.accept(d, key, values));
        result.map_err(|e| EngineError::runtime(format!("table `{}`: {e}", self.table)))?;
        self.rows_read += n;
        let (rejected, error) = sink.close();
        let rejected = rejected + refused;
        self.finish_chunk(n, rejected, error)
    }

    fn finish_chunk(&mut self, n: u64, rejected: u64, error: Option<EngineError>) -> Result<()> {
        self.rejected += rejected;
        if let Some(e) = error {
            return Err(e);
        }
        self.observer.event(Event::Rows {
            table: self.table.clone(),
            rows: n,
        });
        Ok(())
    }
}

/// Appends a passed-through column's value as [`put_value_as`] does; false when the row is
/// rejected (a NULL the NOT NULL target column refuses).
#[inline]
fn put_pass(buf: &mut Vec<u8>, row: &Row<'_>, c: &PassColumn, shape: &Shape) -> bool {
    match (row.get(c.input), &c.null) {
        (Some(v), _) => put_value_as(buf, Some(v), shape),
        (None, PassNull::Keep) => put_value(buf, None),
        (None, PassNull::Default(bytes)) => put_value_as(buf, Some(bytes), shape),
        (None, PassNull::Reject) => return false,
    }
    true
}

/// Where a digested row goes: the load ledger's adjustments, the leaves, the spill.
struct Sink<'a> {
    ledger: &'a Ledger,
    leaves: &'a mut Leaves,
    spill: &'a mut SpillWriter,
    /// Rows of the chunk not yet added to the leaves (see [`Leaves::add_all`]).
    pending: Vec<(u32, [u8; 32])>,
    rejected: u64,
    error: Option<EngineError>,
}

impl<'a> Sink<'a> {
    fn new(ledger: &'a Ledger, leaves: &'a mut Leaves, spill: &'a mut Option<SpillWriter>) -> Self {
        Sink {
            ledger,
            leaves,
            spill: spill.as_mut().expect("spill open while streaming"),
            pending: Vec::new(),
            rejected: 0,
            error: None,
        }
    }

    /// Adds the chunk's rows to the leaves; the rows the ledger rejected, and the first error.
    fn close(self) -> (u64, Option<EngineError>) {
        self.leaves.add_all(&self.pending);
        (self.rejected, self.error)
    }

    #[inline]
    fn accept(&mut self, d: &RowDigest, key: &[u8], row: &[u8]) {
        if self.error.is_some() {
            return;
        }
        let mut digest = d.digest;
        let mut row = row;
        let scratch;
        if let Some(adj) = (!self.ledger.is_empty())
            .then(|| self.ledger.get(&d.bucket_hash))
            .flatten()
        {
            match adj {
                Adjust::Rejected => {
                    self.rejected += 1;
                    return;
                }
                Adjust::Nulled(cols) => {
                    scratch = null_columns(key, row, cols);
                    digest = *blake3::hash(&scratch).as_bytes();
                    row = &scratch[key.len()..];
                }
            }
        }
        let bucket = self.leaves.bucket(&d.bucket_hash);
        self.pending.push((bucket, digest));
        if let Err(e) = self.spill.add(bucket, &digest, key, row) {
            self.error = Some(e);
        }
    }
}

/// Key bytes ‖ row bytes with the given columns replaced by NULL.
fn null_columns(key: &[u8], row: &[u8], cols: &[usize]) -> Vec<u8> {
    let mut out = key.to_vec();
    match split_values(row) {
        Some(values) => {
            for (i, v) in values.into_iter().enumerate() {
                put_value(&mut out, if cols.contains(&i) { None } else { v });
            }
        }
        None => out.extend_from_slice(row),
    }
    out
}

impl Worker for SideWorker {
    fn feed(&mut self, data: &[u8], _out: &mut BytesMut) -> Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let Input::Batches(decoder) = &mut self.input else {
            return self.process_rows(data);
        };
        let mut batches = Vec::new();
        decoder
            .feed(data, &mut batches)
            .map_err(|e| EngineError::runtime(format!("table `{}`: {e}", self.table)))?;
        for b in batches {
            self.process(b)?;
        }
        Ok(())
    }

    fn finish(&mut self, _out: &mut BytesMut) -> Result<()> {
        let input = std::mem::replace(&mut self.input, Input::Batches(CopyDecoder::new(&[], 1, 1)));
        let fail = |e| EngineError::runtime(format!("table `{}`: {e}", self.table));
        match input {
            Input::Rows { rows, .. } => {
                rows.finish().map_err(fail)?;
            }
            Input::Batches(decoder) => {
                if let Some(b) = decoder.finish().map_err(fail)? {
                    self.process(b)?;
                }
            }
        }
        Ok(())
    }

    fn encodes(&self) -> bool {
        false
    }

    fn rows_out(&self) -> u64 {
        0
    }

    fn table(&self) -> &str {
        &self.table
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, BinaryArray};
    use cutover_core::batch::binary_schema;
    use cutover_postgres::copy_encode::{encode_batch, write_header, write_trailer};

    /// One binary COPY row of two fields, `a` and `b`, by the project's encoder.
    fn stream(a: Option<&[u8]>, b: Option<&[u8]>) -> Vec<u8> {
        let columns: Vec<ArrayRef> = [a, b]
            .into_iter()
            .map(|v| Arc::new(BinaryArray::from(vec![v])) as ArrayRef)
            .collect();
        let batch = RecordBatch::try_new(binary_schema(&["a", "b"]), columns).unwrap();
        let mut s = BytesMut::new();
        write_header(&mut s);
        encode_batch(&batch, &mut s);
        write_trailer(&mut s);
        s.to_vec()
    }

    /// What `put_pass` writes for the row's columns (swapped: output 0 takes input 1), or
    /// `None` when it rejects the row.
    fn encoded(a: Option<&[u8]>, b: Option<&[u8]>, null: PassNull) -> Option<Vec<u8>> {
        let columns = [
            PassColumn { input: 1, null },
            PassColumn {
                input: 0,
                null: PassNull::Keep,
            },
        ];
        let mut rows = CopyRows::new(&["a".into(), "b".into()]);
        let mut out = None;
        rows.feed(&stream(a, b), |row| {
            let mut buf = Vec::new();
            let ok = columns
                .iter()
                .all(|c| put_pass(&mut buf, row, c, &Shape::Plain));
            out = ok.then_some(buf);
        })
        .unwrap();
        assert_eq!(rows.finish().unwrap(), 1);
        out
    }

    fn canonical(values: &[Option<&[u8]>]) -> Vec<u8> {
        let mut buf = Vec::new();
        for v in values {
            put_value(&mut buf, *v);
        }
        buf
    }

    #[test]
    fn passed_columns_encode_as_put_value_and_apply_the_null_rule() {
        let (x, y): (&[u8], &[u8]) = (b"x", b"yy");
        assert_eq!(
            encoded(Some(x), Some(y), PassNull::Reject),
            Some(canonical(&[Some(y), Some(x)]))
        );
        assert_eq!(
            encoded(None, None, PassNull::Keep),
            Some(canonical(&[None, None]))
        );
        assert_eq!(
            encoded(Some(x), None, PassNull::Default(b"d".to_vec())),
            Some(canonical(&[Some(b"d"), Some(x)]))
        );
        assert_eq!(encoded(Some(x), None, PassNull::Reject), None);
        assert_eq!(
            encoded(Some(x), Some(b""), PassNull::Reject),
            Some(canonical(&[Some(b""), Some(x)]))
        );
    }
}
