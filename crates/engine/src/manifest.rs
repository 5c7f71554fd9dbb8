//! The run manifest: what a run moved, and the Merkle roots of what it loaded. Written to
//! `--manifest run.json` and to the run's row in the state schema.
use serde::{Deserialize, Serialize};

/// The manifest of one run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Unique id of the run.
    pub run_id: String,
    /// `migrate-full`, `delta-sync`.
    pub kind: String,
    /// Digest scheme version (DESIGN.md).
    pub hash_version: u32,
    /// blake3 of the mapping file.
    pub mapping_hash: String,
    /// The exported source snapshot the run read.
    pub snapshot: Option<String>,
    /// RFC 3339 start and end.
    pub started_at: String,
    pub finished_at: String,
    /// Schema holding the target's contents from before this run (for rollback).
    pub previous_schema: Option<String>,
    /// Commit-safe horizon of the snapshot (RFC 3339): every source change invisible to the
    /// run has a cursor at or after it (the watermark delta-sync starts from).
    #[serde(default)]
    pub horizon: Option<String>,
    /// Per table, in load order.
    pub tables: Vec<TableManifest>,
}

impl Manifest {
    /// The entry of the target table `schema.name` (`TableInfo::dotted`).
    pub fn table(&self, target: &str) -> Option<&TableManifest> {
        self.tables.iter().find(|t| t.target == target)
    }

    /// The entry of the target table `schema.name`, to update.
    pub fn table_mut(&mut self, target: &str) -> Option<&mut TableManifest> {
        self.tables.iter_mut().find(|t| t.target == target)
    }
}

/// What a run did to one table.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TableManifest {
    /// Source table, `schema.name`.
    pub source: String,
    /// Target table, `schema.name`.
    pub target: String,
    /// Rows read from the source.
    pub source_rows: u64,
    /// Rows in the target table after the run.
    pub loaded_rows: u64,
    /// Rows rejected by the mapping or by target constraints (orphans, checks).
    pub rejected_rows: u64,
    /// Values set to NULL by `on_error = "null"` (including orphan references).
    pub nulled_values: u64,
    /// Target columns digested, in digest order.
    pub digest_columns: Vec<String>,
    /// Target key columns.
    pub key_columns: Vec<String>,
    /// Bucket level: 2^k leaves.
    pub k: u8,
    /// Merkle root of the loaded rows, hex.
    pub root: String,
    /// The 2^k leaves, packed (count and four sum lanes per leaf, little-endian), base64.
    pub leaves: String,
    /// Milliseconds spent streaming this table.
    pub elapsed_ms: u64,
}
