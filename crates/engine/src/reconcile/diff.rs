//! Naming the differing rows: only the buckets whose leaves differ are looked at, partition by
//! partition from the spilled records of both sides, matched by key bytes (never by ordering, so
//! collations do not matter).
use std::collections::{BTreeMap, HashMap, HashSet};

use cutover_core::program::TableProgram;
use cutover_core::report::{DiffKind, DiffRow};
use cutover_core::value;

use crate::error::Result;
use crate::reconcile::spill::{key_values, Record, SpillFiles};

/// Counts of one table's differences, and the rows (up to the limit).
#[derive(Default, Debug)]
pub struct Differences {
    pub missing: u64,
    pub extra: u64,
    pub changed: u64,
    pub rows: Vec<DiffRow>,
    /// Key bytes of every extra row (delta-sync deletes them).
    pub extra_keys: Vec<Vec<u8>>,
}

/// Compares the records of the differing fine buckets of both sides.
pub fn diff_buckets(
    program: &TableProgram,
    table: &str,
    buckets: &[u32],
    source: &SpillFiles,
    target: &SpillFiles,
    limit: Option<usize>,
) -> Result<Differences> {
    let mut by_partition: BTreeMap<usize, HashSet<u32>> = BTreeMap::new();
    for &b in buckets {
        by_partition
            .entry(SpillFiles::partition_of(b))
            .or_default()
            .insert(b);
    }
    let mut out = Differences::default();
    let names: Vec<&str> = program
        .target_columns
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    for (p, wanted) in by_partition {
        let mut expected: HashMap<Vec<u8>, Vec<Record>> = HashMap::new();
        for r in source.read(p, &wanted)? {
            expected.entry(r.key.clone()).or_default().push(r);
        }
        let mut rows = Vec::new();
        for t in target.read(p, &wanted)? {
            let found = expected.get_mut(&t.key).and_then(|v| {
                // Prefer an identical row when a key repeats.
                let i = v.iter().position(|s| s.digest == t.digest).unwrap_or(0);
                (!v.is_empty()).then(|| v.swap_remove(i))
            });
            match found {
                Some(s) if s.digest == t.digest => {}
                Some(s) => {
                    out.changed += 1;
                    let cols = s
                        .columns
                        .iter()
                        .zip(&t.columns)
                        .enumerate()
                        .filter(|(_, (a, b))| a != b)
                        .map(|(i, _)| names.get(i).copied().unwrap_or("?").to_string())
                        .collect();
                    rows.push(row(program, table, &t.key, DiffKind::Changed, cols));
                }
                None => {
                    out.extra += 1;
                    out.extra_keys.push(t.key.clone());
                    rows.push(row(program, table, &t.key, DiffKind::Extra, Vec::new()));
                }
            }
        }
        for (key, left) in expected {
            for _ in left {
                out.missing += 1;
                rows.push(row(program, table, &key, DiffKind::Missing, Vec::new()));
            }
        }
        rows.sort();
        out.rows.extend(rows);
    }
    out.rows.sort();
    if let Some(n) = limit {
        // Keep the first N of each kind's order, deterministically.
        out.rows.truncate(n);
    }
    Ok(out)
}

fn row(
    program: &TableProgram,
    table: &str,
    key: &[u8],
    kind: DiffKind,
    cols: Vec<String>,
) -> DiffRow {
    DiffRow {
        table: table.to_string(),
        key: key_json(program, key),
        kind,
        changed_columns: cols,
    }
}

/// The key bytes of a row as a JSON array of texts (hex for values that have no text form,
/// `***` for a `pii = true` column).
pub fn key_json(program: &TableProgram, key: &[u8]) -> String {
    let Some(values) = key_values(key) else {
        return serde_json::Value::String(hex::encode(key)).to_string();
    };
    let vals: Vec<serde_json::Value> = values
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            None => serde_json::Value::Null,
            Some(_) if program.key.get(i).is_some_and(|&k| program.is_pii(k)) => {
                serde_json::Value::String(cutover_core::validation::MASKED.into())
            }
            Some(bytes) => {
                let ty = program.key.get(i).map(|&k| &program.target_columns[k].ty);
                let text = ty
                    .and_then(|ty| value::decode(ty, bytes).ok())
                    .and_then(|v| v.as_text().map(|t| t.into_owned()));
                serde_json::Value::String(
                    text.unwrap_or_else(|| format!("\\x{}", hex::encode(bytes))),
                )
            }
        })
        .collect();
    serde_json::Value::Array(vals).to_string()
}
