//! Streaming one side of a table for reconcile: decode, (source only) transform through the
//! mapping and apply the load-time ledger, digest every row into fine bucket leaves, and spill
//! the per-row records. Runs as the work stage of [`crate::load::run_chunk`], without a target.
use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use bytes::BytesMut;
use cutover_core::digest::{put_value, split_values, Leaves, RowHasher, FINE_K};
use cutover_core::program::TableProgram;
use cutover_postgres::copy_decode::CopyDecoder;

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

/// The work stage of one side.
pub struct SideWorker {
    decoder: CopyDecoder,
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
        SideWorker {
            decoder: CopyDecoder::new(&names, BATCH_ROWS, BATCH_BYTES),
            table: program.target.name.clone(),
            program,
            transform,
            ledger,
            hasher: RowHasher::default(),
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
        let leaves = &mut self.leaves;
        let spill = self.spill.as_mut().expect("spill open while streaming");
        let ledger = &self.ledger;
        let mut rejected = 0;
        let mut error = None;
        let mut scratch = Vec::new();
        self.hasher
            .digest_each(&batch, &self.program.key, |_, d, key, row| {
                if error.is_some() {
                    return;
                }
                let mut digest = d.digest;
                let mut row = row;
                if let Some(adj) = (!ledger.is_empty())
                    .then(|| ledger.get(&d.bucket_hash))
                    .flatten()
                {
                    match adj {
                        Adjust::Rejected => {
                            rejected += 1;
                            return;
                        }
                        Adjust::Nulled(cols) => {
                            scratch = null_columns(key, row, cols);
                            digest = *blake3::hash(&scratch).as_bytes();
                            row = &scratch[key.len()..];
                        }
                    }
                }
                leaves.add(&d.bucket_hash, &digest);
                let bucket = leaves.bucket(&d.bucket_hash);
                if let Err(e) = spill.add(bucket, &digest, key, row) {
                    error = Some(e);
                }
            });
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
        let mut batches = Vec::new();
        self.decoder
            .feed(data, &mut batches)
            .map_err(|e| EngineError::runtime(format!("table `{}`: {e}", self.table)))?;
        for b in batches {
            self.process(b)?;
        }
        Ok(())
    }

    fn finish(&mut self, _out: &mut BytesMut) -> Result<()> {
        let decoder = std::mem::replace(&mut self.decoder, CopyDecoder::new(&[], 1, 1));
        let last = decoder
            .finish()
            .map_err(|e| EngineError::runtime(format!("table `{}`: {e}", self.table)))?;
        if let Some(b) = last {
            self.process(b)?;
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
