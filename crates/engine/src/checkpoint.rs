//! Checkpoints of a `migrate full` run, kept in its staging schema so that a run killed at any
//! point (SIGKILL included) can be resumed with `--resume`: the chunk plan, one row per loaded
//! chunk (written in the chunk's own transaction, so a chunk is checkpointed if and only if its
//! rows are committed), and the tallies after the constraint clean-up.
use cutover_core::digest::{Leaf, Leaves, FINE_K};
use cutover_postgres::PgError;
use tokio_postgres::{Client, GenericClient};

use crate::cleanup::TableTally;
use crate::error::{EngineError, Result};
use crate::extract::Chunk;
use crate::stage::Stage;

fn t(stage: &Stage, name: &str) -> String {
    stage.table(name)
}

/// Creates the checkpoint tables and records the run's horizon and chunk plan (once, at start,
/// in one transaction). The leaves (2.9 MB per chunk at the finest level, their sums random)
/// are stored uncompressed: `pglz` would compress each value whole only to find it saves too
/// little and give up, 140 ms of the chunk's transaction against 9 ms.
pub async fn create(
    client: &Client,
    stage: &Stage,
    horizon: &str,
    mapping_hash: &str,
    plan: &[(String, Chunk)],
) -> Result<()> {
    client
        .batch_execute(&format!(
            "BEGIN;
             CREATE TABLE {meta} (horizon text NOT NULL, mapping_hash text NOT NULL);
             CREATE TABLE {plan} (table_name text, chunk int, chunks int, from_page bigint, to_page bigint);
             CREATE TABLE {done} (table_name text, chunk int, rows_read bigint, rows_written bigint,
                                  rejected bigint, nulled bigint, leaves bytea);
             CREATE TABLE {clean} (table_name text, rows bigint, rejected bigint, nulled bigint, leaves bytea);
             ALTER TABLE {done} ALTER leaves SET STORAGE EXTERNAL;
             ALTER TABLE {clean} ALTER leaves SET STORAGE EXTERNAL;",
            meta = t(stage, "_cutover_meta"),
            plan = t(stage, "_cutover_plan"),
            done = t(stage, "_cutover_chunks"),
            clean = t(stage, "_cutover_cleaned"),
        ))
        .await
        .map_err(|e| PgError::db("cannot create the checkpoint tables", e))?;
    client
        .execute(
            &format!("INSERT INTO {} VALUES ($1, $2)", t(stage, "_cutover_meta")),
            &[&horizon, &mapping_hash],
        )
        .await
        .map_err(|e| PgError::db("cannot record the run's horizon", e))?;
    for (name, c) in plan {
        client
            .execute(
                &format!(
                    "INSERT INTO {} VALUES ($1, $2, $3, $4, $5)",
                    t(stage, "_cutover_plan")
                ),
                &[
                    name,
                    &(c.index as i32),
                    &(c.of as i32),
                    &c.from_page,
                    &c.to_page,
                ],
            )
            .await
            .map_err(|e| PgError::db("cannot record the chunk plan", e))?;
    }
    client
        .batch_execute("COMMIT")
        .await
        .map_err(|e| PgError::db("cannot record the chunk plan", e))?;
    Ok(())
}

/// One chunk of the recorded plan: table, chunk index, chunk count, page bounds.
pub type Planned = (String, i32, i32, Option<i64>, Option<i64>);

/// What a resumed run finds: the horizon and mapping hash of the first attempt, the plan, and the
/// chunks already loaded (with their tallies).
pub struct Resumed {
    pub horizon: String,
    pub mapping_hash: String,
    pub plan: Vec<Planned>,
    pub done: Vec<(String, i32, TableTally)>,
    pub cleaned: Vec<(String, TableTally)>,
}

/// Reads the checkpoints of a run's staging schema.
pub async fn read(client: &Client, stage: &Stage) -> Result<Resumed> {
    let err = |e| {
        PgError::db(
            "cannot read the run's checkpoints (was it started by this version?)",
            e,
        )
    };
    let meta = client
        .query_one(
            &format!(
                "SELECT horizon, mapping_hash FROM {}",
                t(stage, "_cutover_meta")
            ),
            &[],
        )
        .await
        .map_err(err)?;
    let plan = client
        .query(
            &format!(
                "SELECT table_name, chunk, chunks, from_page, to_page FROM {} ORDER BY 1, 2",
                t(stage, "_cutover_plan")
            ),
            &[],
        )
        .await
        .map_err(err)?;
    let done = client
        .query(
            &format!(
                "SELECT table_name, chunk, rows_read, rows_written, rejected, nulled, leaves FROM {}",
                t(stage, "_cutover_chunks")
            ),
            &[],
        )
        .await
        .map_err(err)?;
    let cleaned = client
        .query(
            &format!(
                "SELECT table_name, rows, rejected, nulled, leaves FROM {}",
                t(stage, "_cutover_cleaned")
            ),
            &[],
        )
        .await
        .map_err(err)?;
    Ok(Resumed {
        horizon: meta.get(0),
        mapping_hash: meta.get(1),
        plan: plan
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
            .collect(),
        done: done
            .iter()
            .map(|r| {
                Ok((
                    r.get(0),
                    r.get(1),
                    TableTally {
                        source_rows: r.get::<_, i64>(2) as u64,
                        loaded_rows: r.get::<_, i64>(3) as u64,
                        rejected: r.get::<_, i64>(4) as u64,
                        nulled: r.get::<_, i64>(5) as u64,
                        leaves: unpack(r.get(6))?,
                    },
                ))
            })
            .collect::<Result<_>>()?,
        cleaned: cleaned
            .iter()
            .map(|r| {
                Ok((
                    r.get(0),
                    TableTally {
                        source_rows: 0,
                        loaded_rows: r.get::<_, i64>(1) as u64,
                        rejected: r.get::<_, i64>(2) as u64,
                        nulled: r.get::<_, i64>(3) as u64,
                        leaves: unpack(r.get(4))?,
                    },
                ))
            })
            .collect::<Result<_>>()?,
    })
}

/// Records a loaded chunk, in the chunk's transaction.
pub async fn record_chunk<C: GenericClient>(
    client: &C,
    stage: &Stage,
    table: &str,
    chunk: usize,
    tally: &TableTally,
) -> Result<()> {
    client
        .execute(
            &format!(
                "INSERT INTO {} VALUES ($1, $2, $3, $4, $5, $6, $7)",
                t(stage, "_cutover_chunks")
            ),
            &[
                &table,
                &(chunk as i32),
                &(tally.source_rows as i64),
                &(tally.loaded_rows as i64),
                &(tally.rejected as i64),
                &(tally.nulled as i64),
                &pack(&tally.leaves),
            ],
        )
        .await
        .map_err(|e| PgError::db("cannot checkpoint the chunk", e))?;
    Ok(())
}

/// Records the tallies after the clean-up, in the clean-up's transaction.
pub async fn record_cleaned<C: GenericClient>(
    client: &C,
    stage: &Stage,
    tables: &[(String, &TableTally)],
) -> Result<()> {
    for (name, tally) in tables {
        // Replaces the table's earlier record: rows rejected after a first clean-up (keys a
        // unique index found duplicated) change the tallies.
        client
            .execute(
                &format!(
                    "DELETE FROM {} WHERE table_name = $1",
                    t(stage, "_cutover_cleaned")
                ),
                &[name],
            )
            .await
            .map_err(|e| PgError::db("cannot checkpoint the clean-up", e))?;
        client
            .execute(
                &format!(
                    "INSERT INTO {} VALUES ($1, $2, $3, $4, $5)",
                    t(stage, "_cutover_cleaned")
                ),
                &[
                    name,
                    &(tally.loaded_rows as i64),
                    &(tally.rejected as i64),
                    &(tally.nulled as i64),
                    &pack(&tally.leaves),
                ],
            )
            .await
            .map_err(|e| PgError::db("cannot checkpoint the clean-up", e))?;
    }
    Ok(())
}

/// Fine leaves, sparsely: (bucket u32, count u64, 4 × u64) little-endian per non-empty leaf.
pub fn pack(leaves: &Leaves) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, l) in leaves.leaves.iter().enumerate() {
        if *l != Leaf::default() {
            out.extend_from_slice(&(i as u32).to_le_bytes());
            out.extend_from_slice(&l.count.to_le_bytes());
            for lane in l.sum {
                out.extend_from_slice(&lane.to_le_bytes());
            }
        }
    }
    out
}

/// The inverse of [`pack`].
pub fn unpack(bytes: &[u8]) -> Result<Leaves> {
    let mut leaves = Leaves::new(FINE_K);
    if !bytes.len().is_multiple_of(44) {
        return Err(EngineError::runtime("corrupt checkpoint leaves"));
    }
    for rec in bytes.chunks_exact(44) {
        let u = |i: usize| u64::from_le_bytes(rec[i..i + 8].try_into().expect("8 bytes"));
        let b = u32::from_le_bytes(rec[0..4].try_into().expect("4 bytes")) as usize;
        let leaf = leaves
            .leaves
            .get_mut(b)
            .ok_or_else(|| EngineError::runtime("corrupt checkpoint leaves"))?;
        *leaf = Leaf {
            count: u(4),
            sum: [u(12), u(20), u(28), u(36)],
        };
    }
    Ok(leaves)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_leaves_round_trip() {
        let mut l = Leaves::new(FINE_K);
        l.add(&[7; 32], &[1; 32]);
        l.add(&[200; 32], &[9; 32]);
        let p = pack(&l);
        assert_eq!(p.len(), 88);
        assert_eq!(unpack(&p).unwrap(), l);
        assert!(unpack(&p[..10]).is_err());
    }
}
