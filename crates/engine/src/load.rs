//! The streaming pipeline of one chunk, in three stages joined by bounded channels so memory
//! stays flat whatever the table size:
//!
//! 1. read: `COPY … TO STDOUT (FORMAT binary)` on the source, raw buffers as they arrive;
//! 2. work (a blocking thread): decode into Arrow batches, transform, digest, encode;
//! 3. write: `COPY … FROM STDIN (FORMAT binary)` into the target, fed in large buffers.
//!
//! The write stage only completes its COPY after the work stage says it reached the end of the
//! stream; any failure anywhere drops the sink unfinished, which aborts the COPY on the server.
use std::sync::Arc;

use arrow_array::{ArrayRef, BinaryArray, RecordBatch};
use bytes::{Bytes, BytesMut};
use cutover_core::batch::binary_schema;
use cutover_core::digest::{bucket_at, put_value_as, Leaves, RowHasher, RowQueue, Shape, FINE_K};
use cutover_core::program::{PassNull, RowReject, TableProgram};
use cutover_postgres::copy_decode::CopyDecoder;
use cutover_postgres::copy_rows::{CopyRows, Row};
use cutover_postgres::{copy_encode, PgError};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_postgres::Client;

use crate::error::{EngineError, Result};
use crate::observer::{Event, SharedObserver};

/// Rows per Arrow batch.
pub const BATCH_ROWS: usize = 8192;
/// Bytes per Arrow batch before it is cut early (wide rows).
pub const BATCH_BYTES: usize = 8 << 20;
/// Source bytes gathered before they are handed to the work stage.
const READ_BUFFER: usize = 256 << 10;
/// Read buffers on their way to the work stage at most.
const IN_FLIGHT: usize = 16;
/// Encoded bytes gathered before they are handed to the target connection.
const WRITE_BUFFER: usize = 1 << 20;

/// The work stage of a chunk: decode, transform, digest and (optionally) encode.
pub struct ChunkWorker {
    decoder: CopyDecoder,
    /// Set when every target column is the source column of the same position, untouched:
    /// rows are then read in place and written to the target as they came (see
    /// [`ChunkWorker::feed_rows`]); `None` when the mapping computes anything.
    rows: Option<CopyRows>,
    /// For the row path: columns whose NULL is not simply kept (a default, or a reject).
    null_rules: Vec<usize>,
    /// For the row path: rows encoded, waiting to be digested a group at a time.
    queue: RowQueue,
    /// Rows of the current chunk digested but not yet added to the leaves.
    pending: Vec<(u32, [u8; 32])>,
    program: Arc<TableProgram>,
    hasher: RowHasher,
    /// For the row path: per column, where its values hold type OIDs (see `put_value_as`).
    shapes: Vec<Shape>,
    encode: bool,
    observer: SharedObserver,
    table: String,
    /// Bucket leaves of the rows accepted (at [`FINE_K`]).
    pub leaves: Leaves,
    /// Rows the mapping rejected, in stream order.
    pub rejects: Vec<RowReject>,
    /// Rows read from the source.
    pub rows_read: u64,
    /// Rows accepted (and, when encoding, written).
    pub rows_written: u64,
    /// Values set to NULL by `on_error = "null"`.
    pub nulled: u64,
}

impl ChunkWorker {
    /// A worker for one chunk of `program`'s table; `encode` false for dry runs and reconcile.
    pub fn new(program: Arc<TableProgram>, encode: bool, observer: SharedObserver) -> Self {
        let names = program.source_columns.clone();
        let in_place = program.passthrough().filter(|cols| {
            cols.len() == names.len() && cols.iter().enumerate().all(|(i, c)| c.input == i)
        });
        let null_rules = in_place
            .iter()
            .flatten()
            .filter(|c| c.null != PassNull::Keep)
            .map(|c| c.input)
            .collect();
        let hasher = program.hasher();
        let shapes = program.shapes();
        ChunkWorker {
            decoder: CopyDecoder::new(&names, BATCH_ROWS, BATCH_BYTES),
            rows: in_place.map(|_| CopyRows::new(&names)),
            null_rules,
            queue: RowQueue::default(),
            pending: Vec::new(),
            table: program.target.name.clone(),
            program,
            hasher,
            shapes,
            encode,
            observer,
            leaves: Leaves::new(FINE_K),
            rejects: Vec::new(),
            rows_read: 0,
            rows_written: 0,
            nulled: 0,
        }
    }

    fn process(&mut self, batch: RecordBatch, out: &mut BytesMut) {
        self.rows_read += batch.num_rows() as u64;
        let t = self.program.run(&batch);
        self.nulled += t.nulled;
        self.rejects.extend(t.rejects);
        let accepted = t.batch.num_rows() as u64;
        self.rows_written += accepted;
        self.hasher
            .digest_batch(&t.batch, &self.program.key, &mut self.leaves);
        if self.encode {
            copy_encode::encode_batch(&t.batch, out);
        }
        self.observer.event(Event::Rows {
            table: self.table.clone(),
            rows: batch.num_rows() as u64,
        });
    }

    /// The row path: each row is digested from its field bytes and its COPY bytes are copied
    /// to `out` unchanged. A row with a NULL that a rule replaces or rejects goes through the
    /// program as a one-row batch instead, so the outcome is the batch path's, in stream order.
    fn feed_rows(&mut self, rows: &mut CopyRows, data: &[u8], out: &mut BytesMut) -> Result<()> {
        let mut n = 0;
        let mut queue = std::mem::take(&mut self.queue);
        let mut pending = std::mem::take(&mut self.pending);
        pending.clear();
        let k = self.leaves.k;
        let mut digest = |queue: &mut RowQueue| {
            queue.drain(|_, d, _, _| pending.push((bucket_at(k, &d.bucket_hash), d.digest)));
        };
        let result = rows.feed(data, |row| {
            // A row with a NULL a rule handles, or with text that is not UTF-8 (a SQL_ASCII
            // source), takes the batch path, which applies the rule or rejects the row.
            if self.null_rules.iter().any(|&i| row.get(i).is_none())
                || !self.program.text_is_utf8(|i| row.get(i))
            {
                let batch = self.one_row_batch(row);
                self.process(batch, out);
                return;
            }
            n += 1;
            queue.push(
                |buf| {
                    for &k in &self.program.key {
                        put_value_as(buf, row.get(k), &self.shapes[k]);
                    }
                    true
                },
                |buf| {
                    for i in 0..row.len() {
                        put_value_as(buf, row.get(i), &self.shapes[i]);
                    }
                    true
                },
            );
            if queue.is_full() {
                digest(&mut queue);
            }
            if self.encode {
                out.extend_from_slice(row.raw());
            }
        });
        digest(&mut queue);
        self.leaves.add_all(&pending);
        self.queue = queue;
        self.pending = pending;
        result.map_err(|e| EngineError::runtime(format!("table `{}`: {e}", self.table)))?;
        self.rows_read += n;
        self.rows_written += n;
        self.observer.event(Event::Rows {
            table: self.table.clone(),
            rows: n,
        });
        Ok(())
    }

    fn one_row_batch(&self, row: &Row<'_>) -> RecordBatch {
        let columns: Vec<ArrayRef> = (0..row.len())
            .map(|i| Arc::new(BinaryArray::from(vec![row.get(i)])) as ArrayRef)
            .collect();
        RecordBatch::try_new(binary_schema(&self.program.source_columns), columns)
            .expect("one Binary column per source column")
    }

    /// Feeds raw COPY bytes from the source; encoded bytes for the target are appended to `out`.
    pub fn feed(&mut self, data: &[u8], out: &mut BytesMut) -> Result<()> {
        if let Some(mut rows) = self.rows.take() {
            let result = self.feed_rows(&mut rows, data, out);
            self.rows = Some(rows);
            return result;
        }
        let mut batches = Vec::new();
        self.decoder
            .feed(data, &mut batches)
            .map_err(|e| EngineError::runtime(format!("table `{}`: {e}", self.table)))?;
        for b in batches {
            self.process(b, out);
        }
        Ok(())
    }

    /// End of the source stream: the last partial batch.
    pub fn finish(&mut self, out: &mut BytesMut) -> Result<()> {
        if let Some(rows) = self.rows.take() {
            return rows
                .finish()
                .map(|_| ())
                .map_err(|e| EngineError::runtime(format!("table `{}`: {e}", self.table)));
        }
        let decoder = std::mem::replace(
            &mut self.decoder,
            CopyDecoder::new(&self.program.source_columns, 1, 1),
        );
        let last = decoder
            .finish()
            .map_err(|e| EngineError::runtime(format!("table `{}`: {e}", self.table)))?;
        if let Some(b) = last {
            self.process(b, out);
        }
        Ok(())
    }
}

/// The work stage of a chunk, run on a blocking thread: turns raw COPY bytes from the source
/// into COPY bytes for the target (or into digests only). Called in stream order, never
/// concurrently; `finish` once after the last `feed`.
pub trait Worker: Send + 'static {
    /// Feeds raw COPY bytes; encoded output (if any) is appended to `out`.
    fn feed(&mut self, data: &[u8], out: &mut BytesMut) -> Result<()>;
    /// End of the input stream.
    fn finish(&mut self, out: &mut BytesMut) -> Result<()>;
    /// Whether the worker produces COPY bytes for a target.
    fn encodes(&self) -> bool;
    /// Rows handed to the target (checked against the count the target reports).
    fn rows_out(&self) -> u64;
    /// Table name for messages.
    fn table(&self) -> &str;
}

impl Worker for ChunkWorker {
    fn feed(&mut self, data: &[u8], out: &mut BytesMut) -> Result<()> {
        ChunkWorker::feed(self, data, out)
    }
    fn finish(&mut self, out: &mut BytesMut) -> Result<()> {
        ChunkWorker::finish(self, out)
    }
    fn encodes(&self) -> bool {
        self.encode
    }
    fn rows_out(&self) -> u64 {
        self.rows_written
    }
    fn table(&self) -> &str {
        &self.table
    }
}

enum Out {
    Data(Bytes),
    Done,
}

/// Runs one chunk: `copy_out` on `source`, the worker on a blocking thread, and, when `target`
/// is given, `copy_in` on it. Returns the worker with its counts, leaves and rejects.
pub async fn run_chunk<W: Worker>(
    source: &Client,
    copy_out: &str,
    target: Option<(&Client, &str)>,
    mut worker: W,
) -> Result<W> {
    let (in_tx, mut in_rx) = mpsc::channel::<Bytes>(IN_FLIGHT);
    let (out_tx, mut out_rx) = mpsc::channel::<Out>(16);
    // Read buffers the work stage is done with, for the reader to fill again: fresh ones
    // would cost a page fault every 4 KB of the stream.
    let (spare_tx, spare_rx) = std::sync::mpsc::sync_channel::<BytesMut>(IN_FLIGHT + 2);
    let encode = worker.encodes();
    let work = tokio::task::spawn_blocking(move || -> Result<W> {
        let mut buf = BytesMut::with_capacity(if encode { WRITE_BUFFER * 2 } else { 0 });
        if encode {
            copy_encode::write_header(&mut buf);
        }
        while let Some(data) = in_rx.blocking_recv() {
            worker.feed(&data, &mut buf)?;
            if let Ok(mut spare) = data.try_into_mut() {
                spare.clear();
                let _ = spare_tx.try_send(spare);
            }
            if encode
                && buf.len() >= WRITE_BUFFER
                && out_tx
                    .blocking_send(Out::Data(buf.split().freeze()))
                    .is_err()
            {
                return Err(EngineError::runtime("the target stopped accepting rows"));
            }
        }
        worker.finish(&mut buf)?;
        if encode {
            copy_encode::write_trailer(&mut buf);
            let _ = out_tx.blocking_send(Out::Data(buf.split().freeze()));
        }
        let _ = out_tx.blocking_send(Out::Done);
        Ok(worker)
    });

    let read = async {
        let stream = source
            .copy_out(copy_out)
            .await
            .map_err(|e| PgError::db("cannot start reading the source table", e))?;
        futures_util::pin_mut!(stream);
        // The server sends one CopyData message per row (runs of them that arrive together
        // come merged, see cutover_postgres's `wire`): gather them into large buffers so the
        // work stage is woken per buffer. A buffer goes when the next message would not fit
        // (growing it would copy it).
        let spare = || {
            spare_rx
                .try_recv()
                .unwrap_or_else(|_| BytesMut::with_capacity(READ_BUFFER))
        };
        let mut buf = spare();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| PgError::db("reading the source table failed", e))?;
            if !buf.is_empty() && buf.len() + chunk.len() > buf.capacity() {
                let full = std::mem::replace(&mut buf, spare());
                if in_tx.send(full.freeze()).await.is_err() {
                    // The work stage stopped: its own error is reported below.
                    return Ok(());
                }
            }
            buf.extend_from_slice(&chunk);
        }
        if !buf.is_empty() {
            let _ = in_tx.send(buf.freeze()).await;
        }
        drop(in_tx);
        Ok::<(), EngineError>(())
    };

    let write = async {
        match target {
            None => {
                while let Some(m) = out_rx.recv().await {
                    if matches!(m, Out::Done) {
                        break;
                    }
                }
                Ok::<Option<u64>, EngineError>(Some(0))
            }
            Some((client, copy_in)) => {
                let sink = client
                    .copy_in::<_, Bytes>(copy_in)
                    .await
                    .map_err(|e| PgError::db("cannot start writing the target table", e))?;
                futures_util::pin_mut!(sink);
                loop {
                    match out_rx.recv().await {
                        Some(Out::Data(b)) => sink
                            .feed(b)
                            .await
                            .map_err(|e| PgError::db("writing the target table failed", e))?,
                        Some(Out::Done) => break,
                        // The work stage stopped early: its error (or the reader's) says why,
                        // and dropping the sink aborts the COPY.
                        None => return Ok(None),
                    }
                }
                let n = sink
                    .finish()
                    .await
                    .map_err(|e| PgError::db("writing the target table failed", e))?;
                Ok(Some(n))
            }
        }
    };

    let (read_res, write_res) = tokio::join!(read, write);
    let worker_res = work
        .await
        .map_err(|e| EngineError::runtime(format!("a worker thread failed: {e}")))?;
    // Report the cause, not its consequences: a failed read cuts the stream the worker sees;
    // a failed write makes the worker stop (and the reader with it, without an error).
    let (worker, written) = match (worker_res, read_res, write_res) {
        (_, Err(e), _) => return Err(e),
        (Ok(w), Ok(()), Ok(Some(n))) => (w, n),
        (Err(_), Ok(()), Err(e)) | (Err(e), Ok(()), Ok(_)) | (Ok(_), Ok(()), Err(e)) => {
            return Err(e)
        }
        (Ok(_), Ok(()), Ok(None)) => {
            return Err(EngineError::runtime(
                "internal: the chunk stopped before its end; the COPY was aborted",
            ))
        }
    };
    if target.is_some() && written != worker.rows_out() {
        return Err(EngineError::runtime(format!(
            "table `{}`: the target accepted {written} rows but {} were sent",
            worker.table(),
            worker.rows_out()
        )));
    }
    Ok(worker)
}
