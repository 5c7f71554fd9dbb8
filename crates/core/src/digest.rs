//! Row digests and additive bucket leaves, hash_version 1 (see DESIGN.md).
//!
//! Canonical encoding of one value: NULL is the single byte `0x00`; a value is `0x01`, its length
//! as u32 big-endian, then its PostgreSQL binary bytes. `key bytes` are the canonical encodings of
//! the key columns in key order; `row bytes` those of every digest column in the recorded column
//! order (keys included). `row_digest = blake3(key bytes ‖ row bytes)`; the bucket of a row is the
//! leading `k` bits of `blake3(key bytes)`.
use arrow_array::{Array, BinaryArray, RecordBatch};
use arrow_buffer::NullBuffer;
use base64::Engine as _;

pub use crate::catalog::Shape;

pub mod lanes;

/// Version of the digest scheme, recorded in manifests and reports.
pub const HASH_VERSION: u32 = 1;
/// The finest bucket level computed during a pass; coarser levels are folded from it.
pub const FINE_K: u8 = 16;

/// Target average number of rows per bucket used by [`choose_k`].
const ROWS_PER_BUCKET: u64 = 512;
/// Domain prefix of [`Leaf::hash`].
const LEAF_DOMAIN: &[u8] = b"cutover-leaf-v1";
/// Bytes of one leaf in the [`Leaves::to_base64`] packing: count + 4 lanes, all u64 LE.
const PACKED_LEAF: usize = 40;

/// Appends the canonical encoding of one value (`None` = NULL).
///
/// # Panics
/// If the value is longer than `u32::MAX` bytes (PostgreSQL caps a field at 1 GiB).
#[inline]
pub fn put_value(out: &mut Vec<u8>, v: Option<&[u8]>) {
    match v {
        None => out.push(0x00),
        Some(bytes) => {
            let len = u32::try_from(bytes.len()).expect("value longer than u32::MAX bytes");
            let [a, b, c, d] = len.to_be_bytes();
            out.reserve(5 + bytes.len());
            out.extend_from_slice(&[0x01, a, b, c, d]);
            out.extend_from_slice(bytes);
        }
    }
}

/// Appends the canonical encoding of one value of a column, as [`put_value`] does, except that
/// the type OIDs inside it (an array's element type, a composite value's field types; where,
/// `shape` says) are written as 0: they name types of one database, not the value (an enum's
/// or a domain's OID differs between the source and the target, and a domain array reads back
/// with the domain's where the source sent its base type's), so the same value digests the
/// same on both sides.
#[inline]
pub fn put_value_as(out: &mut Vec<u8>, v: Option<&[u8]>, shape: &Shape) {
    put_value(out, v);
    if let (false, Some(bytes)) = (matches!(shape, Shape::Plain), v) {
        let start = out.len() - bytes.len();
        zero_type_oids(&mut out[start..], shape);
    }
}

/// Zeroes the type OIDs of a binary value of `shape`, in place. Malformed bytes are left as
/// they are from the first inconsistency on (they digest as they came).
fn zero_type_oids(bytes: &mut [u8], shape: &Shape) {
    match shape {
        Shape::Plain => {}
        Shape::Array(elem) => {
            if bytes.len() < 12 {
                return;
            }
            bytes[8..12].fill(0);
            if **elem == Shape::Plain {
                return;
            }
            for r in crate::value::array_elements(bytes)
                .into_iter()
                .flatten()
                .flatten()
            {
                zero_type_oids(&mut bytes[r], elem);
            }
        }
        Shape::Record(fields) => {
            // The number of fields, then each field as its type's OID, its length (-1:
            // NULL) and its bytes.
            let Some(Ok(n)) = int_at(bytes, 0).map(usize::try_from) else {
                return;
            };
            let mut at = 4;
            for i in 0..n {
                let Some(oid) = bytes.get_mut(at..at + 4) else {
                    return;
                };
                oid.fill(0);
                let Some(len) = int_at(bytes, at + 4) else {
                    return;
                };
                at += 8;
                let Ok(len) = usize::try_from(len) else {
                    continue;
                };
                let Some(value) = bytes.get_mut(at..at + len) else {
                    return;
                };
                zero_type_oids(value, fields.get(i).unwrap_or(&PLAIN));
                at += len;
            }
        }
    }
}

/// The big-endian i32 at `at`, if there.
fn int_at(bytes: &[u8], at: usize) -> Option<i32> {
    bytes
        .get(at..at + 4)
        .map(|x| i32::from_be_bytes(x.try_into().expect("4 bytes")))
}

/// One bucket's order-independent summary: row count and the wrapping sum of row digests as
/// four little-endian u64 lanes. Adding then subtracting a digest restores the leaf exactly.
///
/// All arithmetic wraps (count included), so the leaves form a group: a delta-sync may subtract
/// a row's old digest before or after adding anything else and the result is the same.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Leaf {
    pub count: u64,
    pub sum: [u64; 4],
}

impl Leaf {
    /// Adds one row digest.
    #[inline]
    pub fn add(&mut self, digest: &[u8; 32]) {
        self.count = self.count.wrapping_add(1);
        for (lane, v) in self.sum.iter_mut().zip(lanes(digest)) {
            *lane = lane.wrapping_add(v);
        }
    }

    /// Removes one row digest (the inverse of [`Leaf::add`]).
    #[inline]
    pub fn sub(&mut self, digest: &[u8; 32]) {
        self.count = self.count.wrapping_sub(1);
        for (lane, v) in self.sum.iter_mut().zip(lanes(digest)) {
            *lane = lane.wrapping_sub(v);
        }
    }

    /// Adds every row of `other` (leaves of disjoint row sets combine into their union).
    #[inline]
    pub fn merge(&mut self, other: &Leaf) {
        self.count = self.count.wrapping_add(other.count);
        for (lane, v) in self.sum.iter_mut().zip(other.sum) {
            *lane = lane.wrapping_add(v);
        }
    }

    /// `blake3("cutover-leaf-v1" ‖ count LE ‖ 4 lanes LE)`: the Merkle leaf of this bucket.
    pub fn hash(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        h.update(LEAF_DOMAIN);
        h.update(&self.count.to_le_bytes());
        for lane in self.sum {
            h.update(&lane.to_le_bytes());
        }
        *h.finalize().as_bytes()
    }
}

/// A digest read as four little-endian u64 lanes.
#[inline]
fn lanes(d: &[u8; 32]) -> [u64; 4] {
    std::array::from_fn(|i| u64::from_le_bytes(d[i * 8..i * 8 + 8].try_into().unwrap()))
}

/// The leaves of one table at level `k` (2^k buckets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leaves {
    pub k: u8,
    pub leaves: Vec<Leaf>,
}

/// Why packed leaves could not be read back.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LeavesError {
    #[error("leaves: k = {0} is above the finest level {FINE_K}")]
    LevelTooFine(u8),
    #[error("leaves: not valid base64: {0}")]
    Base64(String),
    #[error("leaves: {got} bytes packed, expected {expected} for k = {k} (manifest truncated or k wrong)")]
    Length { k: u8, got: usize, expected: usize },
}

impl Leaves {
    /// 2^k empty leaves.
    ///
    /// # Panics
    /// If `k > FINE_K`.
    pub fn new(k: u8) -> Leaves {
        assert!(k <= FINE_K, "bucket level k = {k} above FINE_K = {FINE_K}");
        Leaves {
            k,
            leaves: vec![Leaf::default(); 1 << k],
        }
    }

    /// The bucket of a row at this level: the leading `k` bits of its key hash, big-endian.
    #[inline]
    pub fn bucket(&self, bucket_hash: &[u8; 32]) -> u32 {
        bucket_at(self.k, bucket_hash)
    }

    /// Adds a row to its bucket.
    #[inline]
    pub fn add(&mut self, bucket_hash: &[u8; 32], row_digest: &[u8; 32]) {
        let b = self.bucket(bucket_hash) as usize;
        self.leaves[b].add(row_digest);
    }

    /// Adds rows already assigned to their buckets ([`Leaves::bucket`]). Adding a block at a
    /// time, after the rows were digested, lets the cache misses of the adds overlap (see
    /// [`RowHasher::digest_batch`]).
    #[inline]
    pub fn add_all(&mut self, rows: &[(u32, [u8; 32])]) {
        for (bucket, digest) in rows {
            self.leaves[*bucket as usize].add(digest);
        }
    }

    /// Removes a row from its bucket (the inverse of [`Leaves::add`]).
    #[inline]
    pub fn sub(&mut self, bucket_hash: &[u8; 32], row_digest: &[u8; 32]) {
        let b = self.bucket(bucket_hash) as usize;
        self.leaves[b].sub(row_digest);
    }

    /// Adds every row of `other`, computed at the same level (chunks, threads).
    ///
    /// # Panics
    /// If the levels differ: fold the finer one first.
    pub fn merge(&mut self, other: &Leaves) {
        assert_eq!(self.k, other.k, "merging leaves of different levels");
        for (a, b) in self.leaves.iter_mut().zip(&other.leaves) {
            a.merge(b);
        }
    }

    /// The same rows at the coarser level `k`: fine bucket `b` lands in `b >> (self.k - k)`.
    /// Exactly what computing at level `k` directly gives, since buckets are hash prefixes.
    ///
    /// # Panics
    /// If `k > self.k`.
    pub fn fold(&self, k: u8) -> Leaves {
        assert!(
            k <= self.k,
            "cannot fold level {} into finer level {k}",
            self.k
        );
        let shift = self.k - k;
        let mut out = Leaves::new(k);
        for (b, leaf) in self.leaves.iter().enumerate() {
            out.leaves[b >> shift].merge(leaf);
        }
        out
    }

    /// Number of rows in all buckets.
    pub fn rows(&self) -> u64 {
        self.leaves.iter().fold(0, |n, l| n.wrapping_add(l.count))
    }

    /// The Merkle leaf hashes, in bucket order.
    pub fn leaf_hashes(&self) -> Vec<[u8; 32]> {
        self.leaves.iter().map(Leaf::hash).collect()
    }

    /// The table root: a Merkle tree over the leaf hashes in bucket order.
    pub fn root(&self) -> [u8; 32] {
        crate::merkle::root(&self.leaf_hashes())
    }

    /// [`Leaves::root`] as hex.
    pub fn root_hex(&self) -> String {
        hex::encode(self.root())
    }

    /// Packs the leaves for a manifest: per bucket, count then 4 lanes, each u64 LE; standard
    /// base64 (padded). `k` is recorded beside it, not inside it.
    pub fn to_base64(&self) -> String {
        let mut buf = Vec::with_capacity(self.leaves.len() * PACKED_LEAF);
        for leaf in &self.leaves {
            buf.extend_from_slice(&leaf.count.to_le_bytes());
            for lane in leaf.sum {
                buf.extend_from_slice(&lane.to_le_bytes());
            }
        }
        base64::engine::general_purpose::STANDARD.encode(buf)
    }

    /// Reads back [`Leaves::to_base64`] at level `k`.
    pub fn from_base64(k: u8, s: &str) -> Result<Leaves, LeavesError> {
        if k > FINE_K {
            return Err(LeavesError::LevelTooFine(k));
        }
        let buf = base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(|e| LeavesError::Base64(e.to_string()))?;
        let expected = PACKED_LEAF << k;
        if buf.len() != expected {
            return Err(LeavesError::Length {
                k,
                got: buf.len(),
                expected,
            });
        }
        let u64_at =
            |c: &[u8], i: usize| u64::from_le_bytes(c[i * 8..i * 8 + 8].try_into().unwrap());
        let leaves = buf
            .chunks_exact(PACKED_LEAF)
            .map(|c| Leaf {
                count: u64_at(c, 0),
                sum: std::array::from_fn(|i| u64_at(c, i + 1)),
            })
            .collect();
        Ok(Leaves { k, leaves })
    }

    /// Indices of the buckets whose leaves differ, ascending: where reconcile descends.
    ///
    /// # Panics
    /// If the levels differ: fold the finer one first.
    pub fn differing(&self, other: &Leaves) -> Vec<u32> {
        assert_eq!(self.k, other.k, "comparing leaves of different levels");
        let pairs = self.leaves.iter().zip(&other.leaves);
        (0u32..)
            .zip(pairs)
            .filter(|(_, (a, b))| a != b)
            .map(|(i, _)| i)
            .collect()
    }
}

/// The leading `k` bits of `bucket_hash`, read as a big-endian u32 (k = 0: bucket 0): the
/// bucket of a row at level `k` (as [`Leaves::bucket`]).
#[inline]
pub fn bucket_at(k: u8, bucket_hash: &[u8; 32]) -> u32 {
    let prefix = u32::from_be_bytes(bucket_hash[..4].try_into().unwrap());
    prefix.checked_shr(32 - u32::from(k)).unwrap_or(0)
}

/// The bucket level of a table with `rows` rows: the smallest `k` with `rows / 2^k ≤ 512`
/// (exact division, so at most 512 rows per bucket on average), clamped to `[0, FINE_K]`.
///
/// It takes the exact row count after a pass, never a catalog estimate: `reltuples` drifts
/// between ANALYZE runs, and two runs over the same data must pick the same `k` to produce the
/// same root. Rows are digested at [`FINE_K`] during the pass, and the fine leaves fold exactly
/// into level `k` once the count is known ([`Leaves::fold`]).
pub fn choose_k(rows: u64) -> u8 {
    (0..FINE_K)
        .find(|&k| rows <= ROWS_PER_BUCKET << k)
        .unwrap_or(FINE_K)
}

/// The two hashes of one row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowDigest {
    /// `blake3(key bytes)`: picks the bucket.
    pub bucket_hash: [u8; 32],
    /// `blake3(key bytes ‖ row bytes)`: what the bucket's leaf sums.
    pub digest: [u8; 32],
}

impl RowDigest {
    /// The digests of a row encoded as key bytes ‖ row bytes (each value as [`put_value`]
    /// writes it), the key being the first `key_len` bytes.
    #[inline]
    pub fn of_encoded(encoded: &[u8], key_len: usize) -> Self {
        RowDigest {
            bucket_hash: *blake3::hash(&encoded[..key_len]).as_bytes(),
            digest: *blake3::hash(encoded).as_bytes(),
        }
    }
}

/// Rows encoded one after another (key bytes ‖ row bytes each) and digested a group at a time:
/// the [`lanes`] hash many rows' keys, then many rows' bytes, side by side. Same digests as
/// [`RowDigest::of_encoded`] row by row, a third of the time.
#[derive(Clone, Debug, Default)]
pub struct RowQueue {
    /// The queued rows' encodings, back to back.
    buf: Vec<u8>,
    /// Start of each queued row in `buf`, and its key length.
    rows: Vec<(usize, usize)>,
}

impl RowQueue {
    /// Rows digested together: a multiple of the widest lane count (16).
    pub const ROWS: usize = 64;

    /// Queues one row: `key` appends its key bytes to the buffer it is given, then `row` its
    /// row bytes; either may return false to drop the row (what was appended is taken back).
    /// True when the row was queued.
    #[inline]
    pub fn push(
        &mut self,
        key: impl FnOnce(&mut Vec<u8>) -> bool,
        row: impl FnOnce(&mut Vec<u8>) -> bool,
    ) -> bool {
        let start = self.buf.len();
        if key(&mut self.buf) {
            let key_len = self.buf.len() - start;
            if row(&mut self.buf) {
                self.rows.push((start, key_len));
                return true;
            }
        }
        self.buf.truncate(start);
        false
    }

    /// True when [`RowQueue::ROWS`] rows wait: time to [`RowQueue::drain`].
    #[inline]
    pub fn is_full(&self) -> bool {
        self.rows.len() >= Self::ROWS
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Digests the queued rows and calls `f(i, digest, key bytes, row bytes)` for each, `i`
    /// counting from 0 in the order they were queued; the queue is then empty.
    pub fn drain(&mut self, mut f: impl FnMut(usize, &RowDigest, &[u8], &[u8])) {
        let n = self.rows.len();
        let span = |i: usize| {
            let (start, key_len) = self.rows[i];
            let end = self.rows.get(i + 1).map_or(self.buf.len(), |r| r.0);
            (start, start + key_len, end)
        };
        let mut keys: [&[u8]; Self::ROWS] = [&[]; Self::ROWS];
        let mut rows: [&[u8]; Self::ROWS] = [&[]; Self::ROWS];
        let mut key_hashes = [[0u8; 32]; Self::ROWS];
        let mut digests = [[0u8; 32]; Self::ROWS];
        for first in (0..n).step_by(Self::ROWS) {
            let group = first..n.min(first + Self::ROWS);
            for (j, i) in group.clone().enumerate() {
                let (start, key_end, end) = span(i);
                keys[j] = &self.buf[start..key_end];
                rows[j] = &self.buf[start..end];
            }
            let m = group.len();
            lanes::hash_many(&keys[..m], &mut key_hashes);
            lanes::hash_many(&rows[..m], &mut digests);
            for (j, i) in group.enumerate() {
                let d = RowDigest {
                    bucket_hash: key_hashes[j],
                    digest: digests[j],
                };
                let key_len = keys[j].len();
                f(i, &d, &rows[j][..key_len], &rows[j][key_len..]);
            }
        }
        self.buf.clear();
        self.rows.clear();
    }
}

/// Digests rows of a batch (see [`crate::batch`]: every column nullable `Binary`), reusing one
/// scratch buffer so the hot path does not allocate. One per thread.
#[derive(Clone, Debug, Default)]
pub struct RowHasher {
    /// Key bytes ‖ row bytes of the row last digested.
    buf: Vec<u8>,
    /// Rows encoded, waiting for their digests.
    queue: RowQueue,
    /// Bucket and digest of rows digested but not yet added (see [`RowHasher::digest_batch`]).
    pending: Vec<(u32, [u8; 32])>,
    /// Per column (by batch position), where its values hold type OIDs: see [`put_value_as`].
    shapes: Vec<Shape>,
}

impl RowHasher {
    pub fn new() -> RowHasher {
        RowHasher::default()
    }

    /// A hasher of batches whose columns hold type OIDs where `shapes` says (a column past
    /// its end: [`Shape::Plain`]).
    pub fn with_shapes(shapes: Vec<Shape>) -> RowHasher {
        RowHasher {
            shapes,
            ..RowHasher::default()
        }
    }

    /// The digest of row `row`: key bytes from `key_cols` (indices into the batch, key order),
    /// row bytes from every column in batch order. An empty `key_cols` puts every row in bucket 0.
    ///
    /// # Panics
    /// If a column is not `Binary`, or an index is out of range.
    pub fn digest_row(&mut self, batch: &RecordBatch, row: usize, key_cols: &[usize]) -> RowDigest {
        assert!(row < batch.num_rows(), "row {row} out of range");
        let shapes = &self.shapes;
        let col = |i: usize| BinaryColumn::of(batch, i, shapes.get(i).unwrap_or(&PLAIN));
        let buf = &mut self.buf;
        buf.clear();
        encode_values(buf, key_cols.iter().map(|&i| col(i)), row);
        let key_len = buf.len();
        encode_values(buf, (0..batch.num_columns()).map(col), row);
        RowDigest::of_encoded(buf, key_len)
    }

    /// Calls `f(row, digest, key bytes, row bytes)` for every row of the batch, where the bytes
    /// are the canonical encodings the digest was computed over (reconcile spills them: the key
    /// names a row, the values name its changed columns). Rows are digested
    /// [`RowQueue::ROWS`] at a time, and `f` sees them in batch order.
    ///
    /// # Panics
    /// As [`RowHasher::digest_row`].
    pub fn digest_each(
        &mut self,
        batch: &RecordBatch,
        key_cols: &[usize],
        mut f: impl FnMut(usize, &RowDigest, &[u8], &[u8]),
    ) {
        let shapes = &self.shapes;
        let cols: Vec<BinaryColumn> = (0..batch.num_columns())
            .map(|i| BinaryColumn::of(batch, i, shapes.get(i).unwrap_or(&PLAIN)))
            .collect();
        let queue = &mut self.queue;
        let mut base = 0;
        for row in 0..batch.num_rows() {
            queue.push(
                |buf| encode_values(buf, key_cols.iter().map(|&i| cols[i]), row),
                |buf| encode_values(buf, cols.iter().copied(), row),
            );
            if queue.is_full() || row + 1 == batch.num_rows() {
                let n = queue.len();
                queue.drain(|i, d, key, values| f(base + i, d, key, values));
                base += n;
            }
        }
    }

    /// Adds every row of the batch to `leaves`. Columns are downcast once per batch.
    ///
    /// Rows are digested a queue at a time and only then added to their buckets: at
    /// [`FINE_K`] the leaves (2.6 MB) miss the cache on nearly every add, and a tight loop of
    /// independent adds lets those misses overlap instead of stalling once per row.
    ///
    /// # Panics
    /// As [`RowHasher::digest_row`].
    pub fn digest_batch(&mut self, batch: &RecordBatch, key_cols: &[usize], leaves: &mut Leaves) {
        let mut pending = std::mem::take(&mut self.pending);
        pending.clear();
        self.digest_each(batch, key_cols, |_, d, _, _| {
            pending.push((leaves.bucket(&d.bucket_hash), d.digest));
        });
        leaves.add_all(&pending);
        self.pending = pending;
    }
}

/// Appends the canonical encodings of row `row` of `cols` (see [`put_value`]); always true.
#[inline]
fn encode_values<'a>(
    buf: &mut Vec<u8>,
    cols: impl Iterator<Item = BinaryColumn<'a>>,
    row: usize,
) -> bool {
    for c in cols {
        put_value_as(buf, c.get(row), c.shape);
    }
    true
}

/// `blake3` of each column's canonical encoding for row `row`, in batch order: compared between
/// the two sides of a changed row to name the columns that differ.
///
/// # Panics
/// If a column is not `Binary`, or `row` is out of range.
pub fn column_digests(batch: &RecordBatch, row: usize) -> Vec<[u8; 32]> {
    assert!(row < batch.num_rows(), "row {row} out of range");
    let mut buf = Vec::new();
    (0..batch.num_columns())
        .map(|i| {
            buf.clear();
            put_value(&mut buf, BinaryColumn::of(batch, i, &PLAIN).get(row));
            *blake3::hash(&buf).as_bytes()
        })
        .collect()
}

/// The parts of a `BinaryArray` the hot path reads, taken out once so that a value costs two
/// offset loads and a validity bit.
#[derive(Clone, Copy)]
struct BinaryColumn<'a> {
    offsets: &'a [i32],
    values: &'a [u8],
    nulls: Option<&'a NullBuffer>,
    /// Where its values hold type OIDs (see [`put_value_as`]).
    shape: &'a Shape,
}

/// The shape of a column without type OIDs.
static PLAIN: Shape = Shape::Plain;

impl<'a> BinaryColumn<'a> {
    fn of(batch: &'a RecordBatch, i: usize, shape: &'a Shape) -> BinaryColumn<'a> {
        let col = batch.column(i);
        let Some(array) = col.as_any().downcast_ref::<BinaryArray>() else {
            panic!(
                "batch column {i} (`{}`) is {}, expected Binary (see cutover_core::batch)",
                batch.schema().field(i).name(),
                col.data_type()
            )
        };
        BinaryColumn {
            offsets: array.value_offsets(),
            values: array.values().as_slice(),
            nulls: array.nulls(),
            shape,
        }
    }

    #[inline]
    fn get(&self, row: usize) -> Option<&'a [u8]> {
        if self.nulls.is_some_and(|n| n.is_null(row)) {
            return None;
        }
        let (start, end) = (self.offsets[row] as usize, self.offsets[row + 1] as usize);
        Some(&self.values[start..end])
    }
}

/// Splits canonical bytes (a sequence of [`put_value`] encodings) into values; `None` for NULL.
/// Returns `None` when the bytes are not a well-formed sequence.
pub fn split_values(mut bytes: &[u8]) -> Option<Vec<Option<&[u8]>>> {
    let mut out = Vec::new();
    while let Some((&tag, rest)) = bytes.split_first() {
        match tag {
            0 => {
                out.push(None);
                bytes = rest;
            }
            1 if rest.len() >= 4 => {
                let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                let rest = &rest[4..];
                if rest.len() < len {
                    return None;
                }
                out.push(Some(&rest[..len]));
                bytes = &rest[len..];
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::binary_schema;
    use std::sync::Arc;

    type Row = Vec<Option<Vec<u8>>>;

    fn batch(rows: &[Row]) -> RecordBatch {
        let ncols = rows.first().map_or(0, Vec::len);
        let names: Vec<String> = (0..ncols).map(|i| format!("c{i}")).collect();
        let cols = (0..ncols)
            .map(|c| {
                let vals: Vec<Option<&[u8]>> = rows.iter().map(|r| r[c].as_deref()).collect();
                Arc::new(BinaryArray::from(vals)) as arrow_array::ArrayRef
            })
            .collect();
        RecordBatch::try_new(binary_schema(&names), cols).unwrap()
    }

    /// 3 columns: key (int4), name (text, NULL every 7th), score (int8).
    fn sample_rows(n: u32) -> Vec<Row> {
        (0..n)
            .map(|i| {
                let name = (i % 7 != 0).then(|| format!("name-{i}").into_bytes());
                let score = (u64::from(i) * 31).to_be_bytes().to_vec();
                vec![Some(i.to_be_bytes().to_vec()), name, Some(score)]
            })
            .collect()
    }

    fn leaves_of(rows: &[Row], k: u8) -> Leaves {
        let mut leaves = Leaves::new(k);
        RowHasher::new().digest_batch(&batch(rows), &[0], &mut leaves);
        leaves
    }

    /// Deterministic Fisher–Yates with a small LCG (core has no rand dependency).
    fn shuffled(rows: &[Row]) -> Vec<Row> {
        let mut v = rows.to_vec();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in (1..v.len()).rev() {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            v.swap(i, (state >> 33) as usize % (i + 1));
        }
        v
    }

    #[test]
    fn put_value_encodes_null_and_length_prefix() {
        let mut out = Vec::new();
        put_value(&mut out, None);
        put_value(&mut out, Some(b""));
        put_value(&mut out, Some(b"ab"));
        assert_eq!(out, [0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 2, b'a', b'b']);
    }

    #[test]
    fn shuffled_rows_give_the_same_leaves_and_root() {
        let rows = sample_rows(2000);
        let a = leaves_of(&rows, 6);
        let b = leaves_of(&shuffled(&rows), 6);
        assert_eq!(a, b);
        assert_eq!(a.root(), b.root());
        assert_eq!(a.rows(), 2000);
    }

    #[test]
    fn batch_split_does_not_change_leaves() {
        let rows = sample_rows(1000);
        let mut split = Leaves::new(5);
        let mut hasher = RowHasher::new();
        for chunk in rows.chunks(77) {
            hasher.digest_batch(&batch(chunk), &[0], &mut split);
        }
        assert_eq!(split, leaves_of(&rows, 5));
    }

    #[test]
    fn add_then_sub_restores() {
        let rows = sample_rows(300);
        let before = leaves_of(&rows, 4);
        let mut leaves = before.clone();
        let b = batch(&sample_rows(50));
        let mut hasher = RowHasher::new();
        for row in 0..b.num_rows() {
            let d = hasher.digest_row(&b, row, &[0]);
            leaves.add(&d.bucket_hash, &d.digest);
        }
        assert_ne!(leaves, before);
        for row in (0..b.num_rows()).rev() {
            let d = hasher.digest_row(&b, row, &[0]);
            leaves.sub(&d.bucket_hash, &d.digest);
        }
        assert_eq!(leaves, before);
    }

    #[test]
    fn sub_before_add_commutes() {
        // Delta-sync may remove a row from a bucket that has not yet received it.
        let d = [0xAB; 32];
        let (mut a, mut b) = (Leaf::default(), Leaf::default());
        a.add(&d);
        a.sub(&d);
        b.sub(&d);
        b.add(&d);
        assert_eq!(a, Leaf::default());
        assert_eq!(b, Leaf::default());
    }

    #[test]
    fn fold_from_fine_equals_direct_computation() {
        let rows = sample_rows(5000);
        let fine = leaves_of(&rows, FINE_K);
        for k in [0, 1, 3, 8, FINE_K] {
            let direct = leaves_of(&rows, k);
            assert_eq!(fine.fold(k), direct, "k = {k}");
            assert_eq!(fine.fold(k).root(), direct.root());
        }
        assert_eq!(fine.fold(8).fold(2), leaves_of(&rows, 2));
    }

    #[test]
    fn merge_of_two_halves_equals_the_whole() {
        let rows = sample_rows(1000);
        let mut first = leaves_of(&rows[..400], 7);
        first.merge(&leaves_of(&rows[400..], 7));
        assert_eq!(first, leaves_of(&rows, 7));
    }

    #[test]
    fn root_changes_when_any_single_value_changes() {
        let rows = sample_rows(40);
        let base = leaves_of(&rows, 3).root();
        for r in 0..rows.len() {
            for c in 0..rows[r].len() {
                let mut changed = rows.clone();
                changed[r][c] = match &rows[r][c] {
                    None => Some(Vec::new()),
                    Some(v) => {
                        let mut v = v.clone();
                        v[0] ^= 0x80;
                        Some(v)
                    }
                };
                assert_ne!(leaves_of(&changed, 3).root(), base, "row {r} col {c}");
            }
        }
    }

    #[test]
    fn null_and_empty_string_differ() {
        let null = batch(&[vec![Some(b"k".to_vec()), None]]);
        let empty = batch(&[vec![Some(b"k".to_vec()), Some(Vec::new())]]);
        let mut h = RowHasher::new();
        assert_ne!(h.digest_row(&null, 0, &[0]), h.digest_row(&empty, 0, &[0]));
        assert_ne!(column_digests(&null, 0)[1], column_digests(&empty, 0)[1]);
    }

    #[test]
    fn shifted_boundaries_differ() {
        let ab_c = batch(&[vec![Some(b"ab".to_vec()), Some(b"c".to_vec())]]);
        let a_bc = batch(&[vec![Some(b"a".to_vec()), Some(b"bc".to_vec())]]);
        let mut h = RowHasher::new();
        let (x, y) = (
            h.digest_row(&ab_c, 0, &[0, 1]),
            h.digest_row(&a_bc, 0, &[0, 1]),
        );
        assert_ne!(x.bucket_hash, y.bucket_hash);
        assert_ne!(x.digest, y.digest);
    }

    #[test]
    fn digest_row_matches_the_spec_formula() {
        let rows = sample_rows(8);
        let b = batch(&rows);
        let d = RowHasher::new().digest_row(&b, 7, &[2, 0]);
        let mut key = Vec::new();
        put_value(&mut key, rows[7][2].as_deref());
        put_value(&mut key, rows[7][0].as_deref());
        let mut all = key.clone();
        for v in &rows[7] {
            put_value(&mut all, v.as_deref());
        }
        assert_eq!(d.bucket_hash, *blake3::hash(&key).as_bytes());
        assert_eq!(d.digest, *blake3::hash(&all).as_bytes());
    }

    #[test]
    fn an_array_digests_without_its_element_type_oid() {
        let array = || vec![Shape::Plain, Shape::Array(Box::new(Shape::Plain))];
        // `'{1,2}'::int[]` as array_send sends it, then with another element type OID.
        let mut int_array = Vec::new();
        for x in [1i32, 0, 23, 2, 1, 4, 1, 4, 2] {
            int_array.extend(x.to_be_bytes());
        }
        let mut other = int_array.clone();
        other[8..12].copy_from_slice(&16_876u32.to_be_bytes());
        let rows = |v: &[u8]| batch(&[vec![Some(vec![7]), Some(v.to_vec())]]);
        let arrays = RowHasher::with_shapes(array()).digest_row(&rows(&int_array), 0, &[0]);
        assert_eq!(
            arrays,
            RowHasher::with_shapes(array()).digest_row(&rows(&other), 0, &[0])
        );
        let mut zeroed = Vec::new();
        put_value_as(&mut zeroed, Some(&other), &array()[1]);
        let mut expected = Vec::new();
        put_value(
            &mut expected,
            Some(&[&int_array[..8], &[0; 4], &int_array[12..]].concat()),
        );
        assert_eq!(zeroed, expected);
        // Not an array: every byte counts. Shorter than an array header: kept as it is.
        let bytes = RowHasher::default().digest_row(&rows(&int_array), 0, &[0]);
        assert_ne!(
            bytes,
            RowHasher::default().digest_row(&rows(&other), 0, &[0])
        );
        let mut short = Vec::new();
        put_value_as(&mut short, Some(&[1, 2, 3]), &array()[1]);
        assert_eq!(short, [1, 0, 0, 0, 3, 1, 2, 3]);
        // The batch path agrees with the row path.
        let mut each = Vec::new();
        RowHasher::with_shapes(array())
            .digest_each(&rows(&other), &[0], |_, d, _, _| each.push(*d));
        assert_eq!(each, [arrays]);
    }

    /// A field of a composite value as record_send writes it: type OID, length, bytes.
    fn field(oid: u32, value: Option<&[u8]>) -> Vec<u8> {
        let mut out = oid.to_be_bytes().to_vec();
        match value {
            Some(v) => {
                out.extend((v.len() as i32).to_be_bytes());
                out.extend(v);
            }
            None => out.extend((-1i32).to_be_bytes()),
        }
        out
    }

    /// A one-dimensional array as array_send writes it.
    fn array_of(oid: u32, elems: &[Option<&[u8]>]) -> Vec<u8> {
        let mut out = Vec::new();
        for x in [
            1,
            i32::from(elems.contains(&None)),
            oid as i32,
            elems.len() as i32,
            1,
        ] {
            out.extend(x.to_be_bytes());
        }
        for e in elems {
            match e {
                Some(v) => {
                    out.extend((v.len() as i32).to_be_bytes());
                    out.extend(*v);
                }
                None => out.extend((-1i32).to_be_bytes()),
            }
        }
        out
    }

    #[test]
    fn composite_values_digest_without_their_field_and_nested_type_oids() {
        // (street text, mood enum, tags mood[], inner (n int4)) and an array of it, with the
        // user types under two sets of OIDs.
        let record = |mood: u32, inner: u32, street: &[u8]| {
            let inner_value = [
                1i32.to_be_bytes(),
                23u32.to_be_bytes(),
                4i32.to_be_bytes(),
                9i32.to_be_bytes(),
            ]
            .concat();
            let mut v = 4i32.to_be_bytes().to_vec();
            v.extend(field(25, Some(street)));
            v.extend(field(mood, Some(b"sad")));
            v.extend(field(mood + 1, Some(&array_of(mood, &[Some(b"ok"), None]))));
            v.extend(field(inner, Some(&inner_value)));
            v
        };
        let shape = Shape::Record(vec![
            Shape::Plain,
            Shape::Plain,
            Shape::Array(Box::new(Shape::Plain)),
            Shape::Record(vec![Shape::Plain]),
        ]);
        let arrays = Shape::Array(Box::new(shape.clone()));
        let canon = |v: &[u8], shape: &Shape| {
            let mut out = Vec::new();
            put_value_as(&mut out, Some(v), shape);
            out
        };
        let (a, b) = (record(16_876, 16_900, b"x"), record(17_346, 17_400, b"x"));
        assert_ne!(a, b);
        assert_eq!(canon(&a, &shape), canon(&b, &shape));
        assert_eq!(
            canon(&array_of(16_950, &[Some(&a), None]), &arrays),
            canon(&array_of(17_450, &[Some(&b), None]), &arrays)
        );
        // A changed field still changes the digest.
        assert_ne!(
            canon(&a, &shape),
            canon(&record(16_876, 16_900, b"y"), &shape)
        );
        // Truncated anywhere: no panic, and the bytes before the cut are what they were.
        for cut in 0..a.len() {
            let out = canon(&a[..cut], &shape);
            assert_eq!(out.len(), 5 + cut);
        }
    }

    #[test]
    fn column_digests_name_the_changed_column() {
        let mut rows = sample_rows(2);
        let before = column_digests(&batch(&rows), 1);
        rows[1][2] = Some(b"other".to_vec());
        let after = column_digests(&batch(&rows), 1);
        let changed: Vec<usize> = (0..3).filter(|&i| before[i] != after[i]).collect();
        assert_eq!(changed, [2]);
    }

    #[test]
    fn bucket_takes_leading_bits() {
        let mut h = [0u8; 32];
        h[0] = 0b1011_0000;
        h[1] = 0xFF;
        assert_eq!(bucket_at(0, &h), 0);
        assert_eq!(bucket_at(1, &h), 1);
        assert_eq!(bucket_at(4, &h), 0b1011);
        assert_eq!(bucket_at(16, &h), 0xB0FF);
    }

    #[test]
    fn choose_k_values() {
        let cases = [
            (0, 0),
            (1, 0),
            (512, 0),
            (513, 1),
            (1024, 1),
            (1025, 2),
            (1_000_000, 11),
            (512 << 15, 15),
            ((512 << 15) + 1, 16),
            (512 << 16, 16),
            (u64::MAX, FINE_K),
        ];
        for (rows, k) in cases {
            assert_eq!(choose_k(rows), k, "rows = {rows}");
        }
    }

    #[test]
    fn base64_round_trip() {
        let leaves = leaves_of(&sample_rows(700), 5);
        let packed = leaves.to_base64();
        assert_eq!(Leaves::from_base64(5, &packed).unwrap(), leaves);
        assert_eq!(
            Leaves::from_base64(0, &Leaves::new(0).to_base64()).unwrap(),
            Leaves::new(0)
        );
        assert!(matches!(
            Leaves::from_base64(4, &packed),
            Err(LeavesError::Length { .. })
        ));
        assert!(matches!(
            Leaves::from_base64(5, "not base64!"),
            Err(LeavesError::Base64(_))
        ));
        assert_eq!(
            Leaves::from_base64(17, ""),
            Err(LeavesError::LevelTooFine(17))
        );
    }

    #[test]
    fn differing_lists_changed_buckets() {
        let rows = sample_rows(500);
        let a = leaves_of(&rows, 6);
        assert!(a.differing(&a.clone()).is_empty());
        let mut b = a.clone();
        b.leaves[3].add(&[1; 32]);
        b.leaves[60].sub(&[2; 32]);
        assert_eq!(a.differing(&b), [3, 60]);
        assert_ne!(a.root(), b.root());
    }

    #[test]
    fn split_values_inverts_put_value() {
        let values: [Option<&[u8]>; 4] = [Some(b"ab"), None, Some(b""), Some(&[0, 1, 0])];
        let mut bytes = Vec::new();
        for v in values {
            put_value(&mut bytes, v);
        }
        assert_eq!(split_values(&bytes).unwrap(), values);
        assert_eq!(split_values(&[]).unwrap(), []);
        assert_eq!(
            split_values(&bytes[..bytes.len() - 1]),
            None,
            "truncated value"
        );
        assert_eq!(split_values(&[1, 0, 0]), None, "truncated length");
        assert_eq!(split_values(&[2]), None, "unknown tag");
    }

    #[test]
    fn digest_each_hands_out_the_hashed_bytes() {
        let rows = sample_rows(20);
        let b = batch(&rows);
        let mut leaves = Leaves::new(3);
        let mut seen = 0;
        RowHasher::new().digest_each(&b, &[2, 0], |row, d, key, values| {
            let key_vals = split_values(key).unwrap();
            assert_eq!(key_vals, [rows[row][2].as_deref(), rows[row][0].as_deref()]);
            let vals: Vec<Option<Vec<u8>>> = split_values(values)
                .unwrap()
                .into_iter()
                .map(|v| v.map(<[u8]>::to_vec))
                .collect();
            assert_eq!(vals, rows[row]);
            assert_eq!(d.bucket_hash, *blake3::hash(key).as_bytes());
            assert_eq!(d.digest, *blake3::hash(&[key, values].concat()).as_bytes());
            leaves.add(&d.bucket_hash, &d.digest);
            seen += 1;
        });
        assert_eq!(seen, 20);
        let mut direct = Leaves::new(3);
        RowHasher::new().digest_batch(&b, &[2, 0], &mut direct);
        assert_eq!(leaves, direct);
    }

    #[test]
    fn leaf_hash_covers_count_and_lanes() {
        let empty = Leaf::default();
        let counted = Leaf { count: 1, ..empty };
        let summed = Leaf {
            sum: [0, 0, 0, 1],
            ..empty
        };
        assert_ne!(empty.hash(), counted.hash());
        assert_ne!(empty.hash(), summed.hash());
        assert_ne!(counted.hash(), summed.hash());
    }
}
