//! Streaming decoder of `COPY … TO STDOUT (FORMAT binary)` into Arrow batches whose columns are
//! nullable `Binary`, each value the field's raw `typsend` bytes (see
//! [`cutover_core::batch::binary_schema`]).
//!
//! The decoder is a field-level state machine: chunks may split the header, a row, a length
//! word or a value anywhere, and value bytes go straight from the chunk into the column buffers
//! (only a split length word is staged, in four bytes). Nothing is allocated per field. Malformed
//! input is an error, never a panic; after an error the decoder refuses further input.
use std::sync::Arc;

use arrow_array::{ArrayRef, BinaryArray, RecordBatch};
use arrow_buffer::{Buffer, NullBufferBuilder, OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, SchemaRef};
use cutover_core::batch::binary_schema;

/// The 11-byte signature that opens every binary COPY stream.
pub const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// Signature, flags word and header-extension length.
const HEADER_LEN: usize = 19;
/// Flag bits 16–31 are critical: a reader must refuse any it does not know (bit 16 = OIDs).
const CRITICAL_FLAGS: u32 = 0xFFFF_0000;

/// Why a binary COPY stream could not be decoded. Offsets are bytes from the stream's start;
/// rows are numbered from 1.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(
        "not a binary COPY stream: signature mismatch at byte {offset} \
         (expected PGCOPY\\n\\377\\r\\n\\0; was the COPY run with FORMAT binary?)"
    )]
    BadSignature { offset: u64 },
    #[error("binary COPY header has unsupported critical flags {flags:#010x} (WITH OIDS is not supported)")]
    UnsupportedFlags { flags: u32 },
    #[error("binary COPY row {row} at byte {offset}: {actual} fields, expected {expected}")]
    FieldCount {
        row: u64,
        offset: u64,
        expected: usize,
        actual: i16,
    },
    #[error(
        "binary COPY row {row}, column `{column}` at byte {offset}: invalid field length {len}"
    )]
    FieldLength {
        row: u64,
        column: String,
        offset: u64,
        len: i32,
    },
    #[error(
        "binary COPY row {row}, column `{column}`: the batch's values for this column would \
         exceed 2 GiB; lower the batch byte limit"
    )]
    BatchTooLarge { row: u64, column: String },
    #[error("binary COPY stream has data after its trailer at byte {offset}")]
    AfterTrailer { offset: u64 },
    #[error("binary COPY stream ended at byte {offset} {at}, before its trailer (-1)")]
    Truncated { offset: u64, at: String },
    #[error("binary COPY decoder already failed; it takes no more input")]
    Poisoned,
    #[error("building an Arrow batch from binary COPY: {0}")]
    Arrow(#[from] ArrowError),
}

/// One column being filled: Arrow's offsets, values and validity, built directly.
struct Column {
    offsets: Vec<i32>,
    values: Vec<u8>,
    nulls: NullBufferBuilder,
}

impl Column {
    fn with_capacity(rows: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Column {
            offsets,
            values: Vec::with_capacity(bytes),
            nulls: NullBufferBuilder::new(rows),
        }
    }

    /// Closes the current value (its bytes are already in `values`).
    #[inline]
    fn end_value(&mut self) {
        // Lengths are checked against i32::MAX before any byte is accepted.
        self.offsets.push(self.values.len() as i32);
        self.nulls.append_non_null();
    }

    #[inline]
    fn push_null(&mut self) {
        self.offsets.push(self.values.len() as i32);
        self.nulls.append_null();
    }

    /// The finished array; the column restarts empty with the same capacity.
    fn take(&mut self) -> Result<ArrayRef, ArrowError> {
        let rows = self.offsets.len() - 1;
        let fresh = Column::with_capacity(rows, self.values.len());
        let Column {
            offsets,
            values,
            mut nulls,
        } = std::mem::replace(self, fresh);
        let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
        let array = BinaryArray::try_new(offsets, Buffer::from_vec(values), nulls.finish())?;
        Ok(Arc::new(array))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading the 19-byte header (bytes staged in `header`).
    Header,
    /// Skipping this many header-extension bytes.
    Extension(u64),
    /// Expecting a row's i16 field count (or the -1 trailer).
    RowStart,
    /// Expecting the i32 length of field `.0` of the current row.
    FieldLen(usize),
    /// Copying the value of field `.0`; `.1` bytes are still to come.
    FieldData(usize, usize),
    /// The trailer was read.
    Done,
}

/// Streaming decoder of binary COPY output into Arrow batches of nullable Binary columns.
pub struct CopyDecoder {
    schema: SchemaRef,
    names: Vec<String>,
    cols: Vec<Column>,
    batch_rows: usize,
    batch_bytes: usize,
    state: State,
    header: Vec<u8>,
    /// A length word split across chunks: its first `word_len` bytes.
    word: [u8; 4],
    word_len: usize,
    rows_in_batch: usize,
    bytes_in_batch: usize,
    rows: u64,
    /// Stream bytes before the current chunk.
    offset: u64,
    failed: bool,
}

impl CopyDecoder {
    /// `names`: column names (batch schema); `batch_rows`: max rows per batch; a batch is also
    /// cut when its data exceed `batch_bytes`.
    pub fn new(names: &[String], batch_rows: usize, batch_bytes: usize) -> Self {
        let batch_rows = batch_rows.max(1);
        let cols = names
            .iter()
            .map(|_| Column::with_capacity(batch_rows.min(1 << 16), 0))
            .collect();
        CopyDecoder {
            schema: binary_schema(names),
            names: names.to_vec(),
            cols,
            batch_rows,
            batch_bytes,
            state: State::Header,
            header: Vec::with_capacity(HEADER_LEN),
            word: [0; 4],
            word_len: 0,
            rows_in_batch: 0,
            bytes_in_batch: 0,
            rows: 0,
            offset: 0,
            failed: false,
        }
    }

    /// Rows decoded so far (including rows in the batch not yet returned).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Feeds the next chunk of the COPY stream (chunks split rows and even the header
    /// anywhere); completed batches are pushed to `out`.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<RecordBatch>) -> Result<(), CopyError> {
        if self.failed {
            return Err(CopyError::Poisoned);
        }
        let result = self.feed_inner(data, out);
        self.offset += data.len() as u64;
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    /// End of stream: checks the trailer (-1) was seen and returns the last partial batch, if
    /// any.
    pub fn finish(mut self) -> Result<Option<RecordBatch>, CopyError> {
        if self.failed {
            return Err(CopyError::Poisoned);
        }
        let row = self.rows + 1;
        let at = match self.state {
            State::Done => {
                return if self.rows_in_batch > 0 {
                    self.flush().map(Some)
                } else {
                    Ok(None)
                }
            }
            State::Header | State::Extension(_) => "inside the header".to_string(),
            State::RowStart if self.word_len == 0 => format!("after row {}", self.rows),
            State::RowStart => format!("inside row {row}'s field count"),
            State::FieldLen(i) | State::FieldData(i, _) => {
                format!("inside row {row}, column `{}`", self.names[i])
            }
        };
        Err(CopyError::Truncated {
            offset: self.offset,
            at,
        })
    }

    fn flush(&mut self) -> Result<RecordBatch, CopyError> {
        let columns = self
            .cols
            .iter_mut()
            .map(Column::take)
            .collect::<Result<Vec<_>, _>>()?;
        let options =
            arrow_array::RecordBatchOptions::new().with_row_count(Some(self.rows_in_batch));
        let batch = RecordBatch::try_new_with_options(self.schema.clone(), columns, &options)?;
        self.rows_in_batch = 0;
        self.bytes_in_batch = 0;
        Ok(batch)
    }

    /// Takes an N-byte big-endian word at `*pos`, completing a word staged from an earlier
    /// chunk; `None` (with the bytes staged) when the chunk ends first.
    #[inline]
    fn take_word<const N: usize>(&mut self, data: &[u8], pos: &mut usize) -> Option<[u8; N]> {
        if self.word_len == 0 {
            if let Some(w) = data.get(*pos..*pos + N) {
                *pos += N;
                return w.try_into().ok();
            }
        }
        let need = N - self.word_len;
        let take = need.min(data.len() - *pos);
        self.word[self.word_len..self.word_len + take].copy_from_slice(&data[*pos..*pos + take]);
        self.word_len += take;
        *pos += take;
        if self.word_len < N {
            return None;
        }
        self.word_len = 0;
        self.word[..N].try_into().ok()
    }

    /// After field `i` of a row: the next field, or the end of the row (cutting a batch when
    /// full).
    #[inline]
    fn next_field(&mut self, i: usize, out: &mut Vec<RecordBatch>) -> Result<(), CopyError> {
        if i + 1 < self.cols.len() {
            self.state = State::FieldLen(i + 1);
            return Ok(());
        }
        self.end_row(out)
    }

    fn end_row(&mut self, out: &mut Vec<RecordBatch>) -> Result<(), CopyError> {
        self.state = State::RowStart;
        self.rows += 1;
        self.rows_in_batch += 1;
        if self.rows_in_batch >= self.batch_rows || self.bytes_in_batch > self.batch_bytes {
            let batch = self.flush()?;
            out.push(batch);
        }
        Ok(())
    }

    fn feed_inner(&mut self, data: &[u8], out: &mut Vec<RecordBatch>) -> Result<(), CopyError> {
        let mut pos = 0;
        while pos < data.len() {
            match self.state {
                State::Header => pos = self.read_header(data, pos)?,
                State::Extension(left) => {
                    let skip = left.min((data.len() - pos) as u64);
                    pos += skip as usize;
                    self.state = if skip == left {
                        State::RowStart
                    } else {
                        State::Extension(left - skip)
                    };
                }
                State::RowStart => {
                    let at = self.offset + pos as u64 - self.word_len as u64;
                    let Some(w) = self.take_word::<2>(data, &mut pos) else {
                        break;
                    };
                    let count = i16::from_be_bytes(w);
                    if count == -1 {
                        self.state = State::Done;
                    } else if usize::try_from(count).ok() != Some(self.cols.len()) {
                        return Err(CopyError::FieldCount {
                            row: self.rows + 1,
                            offset: at,
                            expected: self.cols.len(),
                            actual: count,
                        });
                    } else if self.cols.is_empty() {
                        self.end_row(out)?;
                    } else {
                        self.state = State::FieldLen(0);
                    }
                }
                State::FieldLen(i) => {
                    let at = self.offset + pos as u64 - self.word_len as u64;
                    let Some(w) = self.take_word::<4>(data, &mut pos) else {
                        break;
                    };
                    let len = i32::from_be_bytes(w);
                    let col = &mut self.cols[i];
                    if len == -1 {
                        col.push_null();
                        self.next_field(i, out)?;
                        continue;
                    }
                    let Ok(n) = usize::try_from(len) else {
                        return Err(CopyError::FieldLength {
                            row: self.rows + 1,
                            column: self.names[i].clone(),
                            offset: at,
                            len,
                        });
                    };
                    if col.values.len().saturating_add(n) > i32::MAX as usize {
                        return Err(CopyError::BatchTooLarge {
                            row: self.rows + 1,
                            column: self.names[i].clone(),
                        });
                    }
                    self.bytes_in_batch += n;
                    let avail = data.len() - pos;
                    if n <= avail {
                        col.values.extend_from_slice(&data[pos..pos + n]);
                        col.end_value();
                        pos += n;
                        self.next_field(i, out)?;
                    } else {
                        col.values.extend_from_slice(&data[pos..]);
                        pos = data.len();
                        self.state = State::FieldData(i, n - avail);
                    }
                }
                State::FieldData(i, left) => {
                    let take = left.min(data.len() - pos);
                    let col = &mut self.cols[i];
                    col.values.extend_from_slice(&data[pos..pos + take]);
                    pos += take;
                    if take == left {
                        col.end_value();
                        self.next_field(i, out)?;
                    } else {
                        self.state = State::FieldData(i, left - take);
                    }
                }
                State::Done => {
                    return Err(CopyError::AfterTrailer {
                        offset: self.offset + pos as u64,
                    })
                }
            }
        }
        Ok(())
    }

    /// Consumes header bytes from `data[pos..]`, validating the signature as it arrives.
    fn read_header(&mut self, data: &[u8], pos: usize) -> Result<usize, CopyError> {
        let (end, ext) = stage_header(&mut self.header, data, pos)?;
        self.state = match ext {
            None => State::Header,
            Some(0) => State::RowStart,
            Some(ext) => State::Extension(u64::from(ext)),
        };
        Ok(end)
    }
}

/// Moves header bytes from `data[pos..]` into `staged` (the header so far), checking the
/// signature as it arrives. Returns where the header's bytes in `data` end, and, once all 19
/// are staged and their flags checked, the length of the header extension that follows.
pub(crate) fn stage_header(
    staged: &mut Vec<u8>,
    data: &[u8],
    pos: usize,
) -> Result<(usize, Option<u32>), CopyError> {
    let take = (HEADER_LEN - staged.len()).min(data.len() - pos);
    let start = staged.len();
    staged.extend_from_slice(&data[pos..pos + take]);
    let sig_end = staged.len().min(SIGNATURE.len());
    if let Some(k) = (start..sig_end).find(|&k| staged[k] != SIGNATURE[k]) {
        return Err(CopyError::BadSignature { offset: k as u64 });
    }
    if staged.len() < HEADER_LEN {
        return Ok((pos + take, None));
    }
    let h = &staged;
    let flags = u32::from_be_bytes([h[11], h[12], h[13], h[14]]);
    if flags & CRITICAL_FLAGS != 0 {
        return Err(CopyError::UnsupportedFlags { flags });
    }
    Ok((
        pos + take,
        Some(u32::from_be_bytes([h[15], h[16], h[17], h[18]])),
    ))
}

/// A binary COPY stream of `rows` (each field `None` for NULL), written by hand for tests.
#[cfg(test)]
pub(crate) fn test_stream(rows: &[Vec<Option<Vec<u8>>>]) -> Vec<u8> {
    let mut s = SIGNATURE.to_vec();
    s.extend_from_slice(&[0; 8]);
    for row in rows {
        s.extend_from_slice(&(row.len() as i16).to_be_bytes());
        for field in row {
            match field {
                None => s.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(v) => {
                    s.extend_from_slice(&(v.len() as i32).to_be_bytes());
                    s.extend_from_slice(v);
                }
            }
        }
    }
    s.extend_from_slice(&(-1i16).to_be_bytes());
    s
}

#[cfg(test)]
mod tests {
    use arrow_array::{Array, BinaryArray};
    use bytes::BytesMut;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::copy_encode::{encode_batch, write_header, write_trailer};

    type Row = Vec<Option<Vec<u8>>>;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("c{i}")).collect()
    }

    /// A stream of `rows`, written by hand (not by the encoder under test).
    fn stream(rows: &[Row]) -> Vec<u8> {
        test_stream(rows)
    }

    fn sample_rows(n: usize, cols: usize, rng: &mut impl Rng) -> Vec<Row> {
        (0..n)
            .map(|_| {
                (0..cols)
                    .map(|_| {
                        (!rng.gen_bool(0.2)).then(|| {
                            let len = rng.gen_range(0..20);
                            (0..len).map(|_| rng.gen()).collect()
                        })
                    })
                    .collect()
            })
            .collect()
    }

    fn rows_of(batches: &[RecordBatch]) -> Vec<Row> {
        let mut out = Vec::new();
        for b in batches {
            for r in 0..b.num_rows() {
                out.push(
                    b.columns()
                        .iter()
                        .map(|c| {
                            let c = c.as_any().downcast_ref::<BinaryArray>().unwrap();
                            (!c.is_null(r)).then(|| c.value(r).to_vec())
                        })
                        .collect(),
                );
            }
        }
        out
    }

    /// Decodes `data` fed in chunks of the given sizes (cycled).
    fn decode(
        cols: usize,
        data: &[u8],
        chunks: &[usize],
        batch_rows: usize,
        batch_bytes: usize,
    ) -> Result<Vec<RecordBatch>, CopyError> {
        let mut dec = CopyDecoder::new(&names(cols), batch_rows, batch_bytes);
        let mut out = Vec::new();
        let mut pos = 0;
        for &size in chunks.iter().cycle() {
            if pos >= data.len() {
                break;
            }
            let end = (pos + size.max(1)).min(data.len());
            dec.feed(&data[pos..end], &mut out)?;
            pos = end;
        }
        out.extend(dec.finish()?);
        Ok(out)
    }

    #[test]
    fn any_chunking_gives_the_same_rows() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let rows = sample_rows(500, 5, &mut rng);
        let data = stream(&rows);
        for chunks in [
            vec![1],
            vec![2],
            vec![3, 7],
            vec![19],
            vec![4096],
            vec![data.len()],
        ] {
            let batches = decode(5, &data, &chunks, 64, usize::MAX).unwrap();
            assert_eq!(rows_of(&batches), rows, "chunks {chunks:?}");
            assert!(batches.iter().all(|b| b.num_rows() <= 64));
            assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 500);
        }
        for _ in 0..50 {
            let chunks: Vec<usize> = (0..10).map(|_| rng.gen_range(1..40)).collect();
            let batches = decode(5, &data, &chunks, 100, 1000).unwrap();
            assert_eq!(rows_of(&batches), rows, "chunks {chunks:?}");
        }
    }

    #[test]
    fn batches_are_cut_by_rows_and_by_bytes() {
        let rows: Vec<Row> = (0..10).map(|_| vec![Some(vec![0; 100]), None]).collect();
        let data = stream(&rows);
        let sizes = |b: &[RecordBatch]| b.iter().map(|b| b.num_rows()).collect::<Vec<_>>();
        assert_eq!(
            sizes(&decode(2, &data, &[7], 4, usize::MAX).unwrap()),
            [4, 4, 2]
        );
        // Cut once the data exceed 250 bytes: after the third 100-byte row.
        assert_eq!(
            sizes(&decode(2, &data, &[7], 100, 250).unwrap()),
            [3, 3, 3, 1]
        );
        let batches = decode(2, &data, &[7], 100, 250).unwrap();
        assert_eq!(batches[0].schema().field(1).name(), "c1");
        assert!(batches[0].schema().field(0).is_nullable());
    }

    #[test]
    fn empty_table_and_zero_columns() {
        assert!(decode(3, &stream(&[]), &[5], 10, 100).unwrap().is_empty());
        let batches = decode(0, &stream(&[vec![], vec![]]), &[1], 10, 100).unwrap();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
    }

    #[test]
    fn non_critical_header_flags_are_ignored() {
        let mut data = stream(&[vec![None]]);
        data[14] = 0xff; // bits 0-7: not critical, a reader must ignore them
        assert_eq!(
            rows_of(&decode(1, &data, &[4], 10, 100).unwrap()),
            vec![vec![None]]
        );
    }

    #[test]
    fn header_extension_is_skipped() {
        let mut data = SIGNATURE.to_vec();
        data.extend_from_slice(&0u32.to_be_bytes());
        data.extend_from_slice(&5u32.to_be_bytes());
        data.extend_from_slice(b"hello");
        data.extend_from_slice(&stream(&[vec![Some(b"x".to_vec())]])[HEADER_LEN..]);
        let batches = decode(1, &data, &[3], 10, 100).unwrap();
        assert_eq!(rows_of(&batches), vec![vec![Some(b"x".to_vec())]]);
    }

    #[test]
    fn malformed_streams_are_errors_with_context() {
        let good = stream(&[vec![Some(b"ab".to_vec()), None]]);
        let err = |data: &[u8]| decode(2, data, &[3], 10, 100).unwrap_err().to_string();

        let mut bad_sig = good.clone();
        bad_sig[7] = 0xfe;
        assert!(
            err(&bad_sig).contains("signature mismatch at byte 7"),
            "{}",
            err(&bad_sig)
        );
        assert!(err(b"a,b\n1,2\n").contains("signature"));

        let mut oids = good.clone();
        oids[12] = 1;
        assert!(err(&oids).contains("critical flags 0x00010000"));

        let three = stream(&[vec![None, None, None]]);
        assert_eq!(
            err(&three),
            "binary COPY row 1 at byte 19: 3 fields, expected 2"
        );

        let mut neg = good.clone();
        neg[21..25].copy_from_slice(&(-2i32).to_be_bytes());
        assert_eq!(
            err(&neg),
            "binary COPY row 1, column `c0` at byte 21: invalid field length -2"
        );

        let truncated = &good[..good.len() - 2];
        assert!(
            err(truncated).contains("before its trailer"),
            "{}",
            err(truncated)
        );
        assert!(
            err(&good[..24]).contains("inside row 1, column `c0`"),
            "{}",
            err(&good[..24])
        );
        assert!(err(&good[..10]).contains("inside the header"));
        assert!(err(&[]).contains("inside the header"));

        let mut extra = good.clone();
        extra.push(0);
        assert!(err(&extra).contains("data after its trailer"));
    }

    #[test]
    fn a_failed_decoder_refuses_more_input() {
        let mut dec = CopyDecoder::new(&names(1), 10, 100);
        let mut out = Vec::new();
        assert!(dec.feed(b"garbage", &mut out).is_err());
        assert!(matches!(
            dec.feed(SIGNATURE, &mut out),
            Err(CopyError::Poisoned)
        ));
    }

    #[test]
    fn random_corruption_never_panics() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let rows = sample_rows(30, 4, &mut rng);
        let data = stream(&rows);
        for _ in 0..3000 {
            let mut d = data.clone();
            for _ in 0..rng.gen_range(1..4) {
                let i = rng.gen_range(0..d.len());
                d[i] = rng.gen();
            }
            if rng.gen_bool(0.3) {
                d.truncate(rng.gen_range(0..d.len()));
            }
            let chunks: Vec<usize> = (0..4).map(|_| rng.gen_range(1..64)).collect();
            let _ = decode(4, &d, &chunks, rng.gen_range(1..8), rng.gen_range(0..200));
        }
    }

    #[test]
    fn encoder_output_decodes_to_the_same_batches() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let rows = sample_rows(300, 6, &mut rng);
        let batches = decode(6, &stream(&rows), &[1000], 128, usize::MAX).unwrap();
        let mut buf = BytesMut::new();
        write_header(&mut buf);
        for b in &batches {
            encode_batch(b, &mut buf);
        }
        write_trailer(&mut buf);
        assert_eq!(
            &buf[..],
            &stream(&rows)[..],
            "encoder writes the canonical stream"
        );
        // Sliced batches encode only their own rows.
        let mut sliced = BytesMut::new();
        write_header(&mut sliced);
        encode_batch(&batches[0].slice(10, 5), &mut sliced);
        write_trailer(&mut sliced);
        assert_eq!(
            rows_of(&decode(6, &sliced, &[9], 100, 1000).unwrap()),
            rows[10..15]
        );
    }
}
