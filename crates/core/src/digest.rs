//! Row digests and additive bucket leaves, hash_version 1 (see DESIGN.md).
//!
//! Canonical encoding of one value: NULL is the single byte `0x00`; a value is `0x01`, its length
//! as u32 big-endian, then its PostgreSQL binary bytes. `key bytes` are the canonical encodings of
//! the key columns in key order; `row bytes` those of every digest column in the recorded column
//! order (keys included). `row_digest = blake3(key bytes ‖ row bytes)`; the bucket of a row is the
//! leading `k` bits of `blake3(key bytes)`.
use arrow_array::RecordBatch;

/// Version of the digest scheme, recorded in manifests and reports.
pub const HASH_VERSION: u32 = 1;
/// The finest bucket level computed during a pass; coarser levels are folded from it.
pub const FINE_K: u8 = 16;

/// Appends the canonical encoding of one value (`None` = NULL).
pub fn put_value(out: &mut Vec<u8>, v: Option<&[u8]>) {
    let _ = (out, v);
    unimplemented!()
}

/// One bucket's order-independent summary: row count and the wrapping sum of row digests as
/// four little-endian u64 lanes. Adding then subtracting a digest restores the leaf exactly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Leaf {
    pub count: u64,
    pub sum: [u64; 4],
}

/// The leaves of one table at level `k` (2^k buckets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leaves {
    pub k: u8,
    pub leaves: Vec<Leaf>,
}
