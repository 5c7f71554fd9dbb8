//! Encoder of Arrow batches of nullable `Binary` columns (each value a field's raw `typsend`
//! bytes) into `COPY … FROM STDIN (FORMAT binary)` data: header, rows, trailer.
use arrow_array::{Array, BinaryArray, RecordBatch};
use bytes::{BufMut, BytesMut};

use crate::copy_decode::SIGNATURE;

/// Writes the stream header: signature, flags 0, no header extension.
pub fn write_header(buf: &mut BytesMut) {
    buf.reserve(SIGNATURE.len() + 8);
    buf.put_slice(SIGNATURE);
    buf.put_u32(0);
    buf.put_u32(0);
}

/// Appends every row of `batch`: an i16 field count, then per field an i32 length (-1 for
/// NULL) and the bytes. Capacity is reserved once for the whole batch.
///
/// # Panics
/// If a column is not `Binary` (batches are built with
/// [`cutover_core::batch::binary_schema`]), or the batch has more than 32767 columns (more than
/// PostgreSQL allows in a table).
pub fn encode_batch(batch: &RecordBatch, buf: &mut BytesMut) {
    let cols: Vec<&BinaryArray> = batch
        .columns()
        .iter()
        .map(|c| {
            c.as_any()
                .downcast_ref::<BinaryArray>()
                .expect("binary COPY batches have Binary columns only")
        })
        .collect();
    let field_count = i16::try_from(cols.len()).expect("at most 32767 columns");
    let rows = batch.num_rows();
    let data: usize = cols
        .iter()
        .map(|c| {
            let offsets = c.value_offsets();
            (offsets[rows] - offsets[0]) as usize
        })
        .sum();
    buf.reserve(rows * (2 + 4 * cols.len()) + data);
    for row in 0..rows {
        buf.put_i16(field_count);
        for col in &cols {
            if col.is_null(row) {
                buf.put_i32(-1);
            } else {
                let value = col.value(row);
                // A Binary array's values are at most i32::MAX bytes long.
                buf.put_i32(value.len() as i32);
                buf.put_slice(value);
            }
        }
    }
}

/// Writes the stream trailer (field count -1).
pub fn write_trailer(buf: &mut BytesMut) {
    buf.put_i16(-1);
}
