//! Merkle roots over bucket leaves: rs_merkle with a blake3 hasher, leaves in bucket order.
