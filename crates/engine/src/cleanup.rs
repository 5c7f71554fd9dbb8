//! Rows the target's constraints would refuse, found set-wise in the staging tables after the
//! load: CHECK violations and orphan references (also those orphaned by a parent row that was
//! itself rejected, by repeating until nothing changes). They become rejects — or, for an orphan
//! reference whose column says `on_error = "null"`, the reference is set to NULL — and the
//! table's bucket leaves are corrected row by row, so the recorded roots describe exactly what
//! is loaded.
use arrow_array::{Array, BinaryArray, RecordBatch};
use cutover_core::catalog::quote_ident;
use cutover_core::digest::Leaves;
use cutover_core::mapping::OnError;
use cutover_core::program::TableProgram;
use cutover_core::value;
use cutover_postgres::catalog::{ForeignKey, TableDdl};
use cutover_postgres::copy_decode::CopyDecoder;
use cutover_postgres::PgError;
use futures_util::StreamExt;
use tokio_postgres::Client;

use crate::error::{EngineError, Result};
use crate::stage::{column_list, Adjustment, Stage};

/// Running totals of one table during a migration.
#[derive(Clone, Debug)]
pub struct TableTally {
    pub leaves: Leaves,
    pub source_rows: u64,
    pub loaded_rows: u64,
    pub rejected: u64,
    pub nulled: u64,
}

/// The key of a target-shaped row as a JSON array of texts (NULL as null).
pub fn key_json(program: &TableProgram, batch: &RecordBatch, row: usize) -> String {
    let vals: Vec<serde_json::Value> = program
        .key
        .iter()
        .map(|&k| {
            let col = batch
                .column(k)
                .as_any()
                .downcast_ref::<BinaryArray>()
                .expect("binary column");
            if col.is_null(row) {
                return serde_json::Value::Null;
            }
            if program.is_pii(k) {
                return serde_json::Value::String(cutover_core::validation::MASKED.to_string());
            }
            let ty = &program.target_columns[k].ty;
            match value::decode(ty, col.value(row))
                .ok()
                .and_then(|v| v.as_text().map(|t| t.into_owned()))
            {
                Some(t) => serde_json::Value::String(t),
                None => serde_json::Value::String(hex::encode(col.value(row))),
            }
        })
        .collect();
    serde_json::Value::Array(vals).to_string()
}

/// Runs `COPY (<dml> RETURNING …) TO STDOUT (FORMAT binary)` and decodes what it returns.
pub(crate) async fn copy_returning(
    client: &Client,
    sql: &str,
    names: &[String],
) -> Result<Vec<RecordBatch>> {
    run_returning(client, sql, names, |e| {
        PgError::db("cannot clean the staging table", e).into()
    })
    .await
}

/// [`copy_returning`], with the statement's own error turned into the engine's by `failed`.
pub(crate) async fn run_returning(
    client: &Client,
    sql: &str,
    names: &[String],
    failed: impl Fn(tokio_postgres::Error) -> EngineError,
) -> Result<Vec<RecordBatch>> {
    let stream = client.copy_out(sql).await.map_err(&failed)?;
    futures_util::pin_mut!(stream);
    let mut dec = CopyDecoder::new(names, 8192, 8 << 20);
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(&failed)?;
        dec.feed(&chunk, &mut out)
            .map_err(|e| EngineError::runtime(e.to_string()))?;
    }
    if let Some(b) = dec
        .finish()
        .map_err(|e| EngineError::runtime(e.to_string()))?
    {
        out.push(b);
    }
    Ok(out)
}

fn target_names(program: &TableProgram) -> Vec<String> {
    program
        .target_columns
        .iter()
        .map(|c| c.name.clone())
        .collect()
}

/// After a run read its chunks in more than one snapshot (a resume, or a source that lost the
/// exported snapshot), a row updated in between can be staged twice: its old version from a
/// chunk read in the earlier snapshot, its new one (moved to another page) from a later one.
/// Keeps the version staged last (the youngest `xmin`: each chunk commits in its own
/// transaction), takes the others out of the tally and returns how many were dropped.
pub async fn drop_stale_duplicates(
    client: &Client,
    stage: &Stage,
    program: &TableProgram,
    tally: &mut TableTally,
) -> Result<u64> {
    if program.key.is_empty() {
        return Ok(0);
    }
    let t = stage.table(&program.target.name);
    let same_key = program
        .key
        .iter()
        .map(|&k| {
            let c = quote_ident(&program.target_columns[k].name);
            format!("d.{c} = n.{c}")
        })
        .collect::<Vec<_>>()
        .join(" AND ");
    let cols = program
        .target_columns
        .iter()
        .map(|c| format!("d.{}", quote_ident(&c.name)))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "COPY (DELETE FROM {t} d USING {t} n WHERE {same_key} AND age(n.xmin) < age(d.xmin)
               RETURNING {cols}) TO STDOUT (FORMAT binary)"
    );
    let batches = copy_returning(client, &sql, &target_names(program)).await?;
    let mut hasher = program.hasher();
    let mut dropped = 0;
    for b in &batches {
        for r in 0..b.num_rows() {
            let d = hasher.digest_row(b, r, &program.key);
            tally.leaves.sub(&d.bucket_hash, &d.digest);
            dropped += 1;
        }
    }
    tally.loaded_rows -= dropped;
    tally.source_rows -= dropped;
    Ok(dropped)
}

/// Deletes the staging rows matching `cond`, records them as rejects with the reason computed
/// by `reason_sql` (an SQL text expression over the row), and subtracts them from the leaves.
async fn reject_where(
    client: &Client,
    stage: &Stage,
    program: &TableProgram,
    cond: &str,
    reason_sql: &str,
    column: &str,
    tally: &mut TableTally,
) -> Result<u64> {
    let t = stage.table(&program.target.name);
    let sql = format!(
        "COPY (DELETE FROM {t} WHERE {cond} RETURNING {}, ({reason_sql})::text) TO STDOUT (FORMAT binary)",
        column_list(program)
    );
    let mut names = target_names(program);
    let n = names.len();
    names.push("_reason".into());
    let batches = copy_returning(client, &sql, &names).await?;
    let mut hasher = program.hasher();
    let mut rejects = Vec::new();
    for b in &batches {
        let rows = b
            .project(&(0..n).collect::<Vec<_>>())
            .map_err(|e| EngineError::runtime(e.to_string()))?;
        let reason = b
            .column(n)
            .as_any()
            .downcast_ref::<BinaryArray>()
            .expect("binary column");
        for r in 0..b.num_rows() {
            let d = hasher.digest_row(&rows, r, &program.key);
            tally.leaves.sub(&d.bucket_hash, &d.digest);
            rejects.push(Adjustment {
                key: key_json(program, &rows, r),
                column: column.to_string(),
                reason: String::from_utf8_lossy(reason.value(r)).into_owned(),
                phase: "constraint",
                key_hash: Some(hex::encode(d.bucket_hash)),
            });
        }
    }
    let count = rejects.len() as u64;
    stage
        .write_adjustments(client, &program.target.name, &rejects)
        .await?;
    tally.loaded_rows -= count;
    tally.rejected += count;
    Ok(count)
}

/// Removes the rows for which any of `violations` (`(reason, SQL condition)`) holds, each
/// rejected with the reason of the first that does, as refused in `column` ("" for the row).
async fn reject_first_violated(
    client: &Client,
    stage: &Stage,
    program: &TableProgram,
    violations: &[(String, String)],
    column: &str,
    tally: &mut TableTally,
) -> Result<u64> {
    if violations.is_empty() {
        return Ok(0);
    }
    let cond = violations
        .iter()
        .map(|(_, c)| c.as_str())
        .collect::<Vec<_>>()
        .join(" OR ");
    let reason = format!(
        "CASE {} END",
        violations
            .iter()
            .map(|(why, c)| format!(
                "WHEN {c} THEN {}",
                cutover_core::catalog::quote_literal(why)
            ))
            .collect::<Vec<_>>()
            .join(" ")
    );
    reject_where(client, stage, program, &cond, &reason, column, tally).await
}

/// Removes the rows that violate a CHECK constraint of the target table.
pub async fn reject_check_violations(
    client: &Client,
    stage: &Stage,
    program: &TableProgram,
    checks: &[(String, String)],
    tally: &mut TableTally,
) -> Result<u64> {
    let violations: Vec<(String, String)> = checks
        .iter()
        .map(|(n, e)| {
            (
                format!("violates check constraint `{n}`"),
                format!("({e}) IS FALSE"),
            )
        })
        .collect();
    reject_first_violated(client, stage, program, &violations, "", tally).await
}

/// Removes the rows with a value the CHECK constraints of its column's domain refuse (the
/// column is staged as the base type, see `cutover_postgres::catalog::DomainColumn`):
/// `domain_checks` as [`crate::stage::Rebuild`] has them, one pass per column.
pub async fn reject_domain_violations(
    client: &Client,
    stage: &Stage,
    program: &TableProgram,
    domain_checks: &[(String, Vec<(String, String)>)],
    tally: &mut TableTally,
) -> Result<u64> {
    let mut n = 0;
    for (column, checks) in domain_checks {
        n += reject_first_violated(client, stage, program, checks, column, tally).await?;
    }
    Ok(n)
}

/// Removes the rows that duplicate, in a unique index of the target, the key of a row before
/// them in key order (`duplicates` as [`crate::stage::Rebuild`] has them).
pub async fn reject_duplicates(
    client: &Client,
    stage: &Stage,
    program: &TableProgram,
    duplicates: &[(String, String)],
    tally: &mut TableTally,
) -> Result<u64> {
    let mut n = 0;
    for (cond, reason) in duplicates {
        n += reject_where(client, stage, program, cond, reason, "", tally).await?;
    }
    Ok(n)
}

/// Where the parents of staged rows are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parents {
    /// A full load: every parent of a staged table is staged too.
    Staged,
    /// A delta: parents are in the target (already merged) or staged in the same delta.
    TargetAndStaged,
}

/// The orphan condition of a foreign key on staging table `child` (alias `c`).
fn orphan_cond(fk: &ForeignKey, parent: &str) -> String {
    let not_null = fk
        .columns
        .iter()
        .map(|c| format!("c.{} IS NOT NULL", quote_ident(c)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let join = fk
        .columns
        .iter()
        .zip(&fk.ref_columns)
        .map(|(c, r)| format!("p.{} = c.{}", quote_ident(r), quote_ident(c)))
        .collect::<Vec<_>>()
        .join(" AND ");
    format!("{not_null} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {join})")
}

/// Resolves orphan references in every staging table, in load order, repeating until a whole
/// pass changes nothing (a rejected parent row orphans its children). Returns rows changed.
pub async fn resolve_orphans(
    client: &Client,
    stage: &Stage,
    programs: &[std::sync::Arc<TableProgram>],
    ddl: &std::collections::HashMap<String, TableDdl>,
    tallies: &mut [TableTally],
    parents: Parents,
) -> Result<u64> {
    let staged: std::collections::HashSet<&str> =
        programs.iter().map(|p| p.target.name.as_str()).collect();
    let mut total = 0;
    // Staged tables that lost rows in the previous pass: after the first pass (which checks
    // every reference), only references to those can have become orphans.
    let mut shrunk: Option<std::collections::HashSet<String>> = None;
    for _pass in 0..20 {
        let mut changed = 0;
        let mut lost = std::collections::HashSet::new();
        for (i, program) in programs.iter().enumerate() {
            let Some(d) = ddl.get(&program.target.name) else {
                continue;
            };
            // The references whose orphans reject their row go first, in constraint order
            // (the first orphaned one is the reason); then those whose orphans become NULL,
            // so that a row rejected is never also reported nulled. One anti-join each: a
            // single scan with every parent joined is slower (no anti-join under `OR`). The
            // rows are deleted by TID, as in `null_where`.
            let mut rejecting: Vec<(&ForeignKey, String)> = Vec::new();
            let mut nulling: Vec<(&ForeignKey, String)> = Vec::new();
            for con in &d.constraints {
                let Some(fk) = &con.references else { continue };
                let in_target = format!("{}.{}", quote_ident(&fk.schema), quote_ident(&fk.table));
                let is_staged =
                    fk.schema == program.target.schema && staged.contains(fk.table.as_str());
                if let Some(shrunk) = &shrunk {
                    if !is_staged || !shrunk.contains(&fk.table) {
                        continue;
                    }
                }
                let parent = match parents {
                    _ if !is_staged => in_target,
                    Parents::Staged => stage.table(&fk.table),
                    Parents::TargetAndStaged => {
                        let cols = fk
                            .ref_columns
                            .iter()
                            .map(|c| quote_ident(c))
                            .collect::<Vec<_>>()
                            .join(", ");
                        format!(
                            "(SELECT {cols} FROM {in_target} UNION ALL SELECT {cols} FROM {})",
                            stage.table(&fk.table)
                        )
                    }
                };
                let policy = fk
                    .columns
                    .first()
                    .and_then(|c| program.target_columns.iter().position(|t| &t.name == c))
                    .map(|i| program.on_error[i])
                    .unwrap_or(OnError::Reject);
                let nullable = fk.columns.iter().all(|c| {
                    program
                        .target
                        .column(c)
                        .map(|col| !col.not_null)
                        .unwrap_or(false)
                });
                let cond = orphan_cond(fk, &parent);
                if matches!(policy, OnError::Null) && nullable {
                    nulling.push((fk, cond));
                } else {
                    rejecting.push((fk, cond));
                }
            }
            for (fk, cond) in rejecting {
                let what = format!(
                    "orphan reference: no `{}` row with ({}) = the value of ({})",
                    fk.table,
                    fk.ref_columns.join(", "),
                    fk.columns.join(", ")
                );
                let t = stage.table(&program.target.name);
                let n = reject_where(
                    client,
                    stage,
                    program,
                    &format!("ctid = ANY(ARRAY(SELECT c.ctid FROM {t} c WHERE {cond}))"),
                    &cutover_core::catalog::quote_literal(&what),
                    &fk.columns.join(","),
                    &mut tallies[i],
                )
                .await?;
                if n > 0 {
                    lost.insert(program.target.name.clone());
                }
                changed += n;
            }
            for (fk, cond) in nulling {
                changed += null_where(client, stage, program, fk, &cond, &mut tallies[i]).await?;
            }
        }
        total += changed;
        if lost.is_empty() {
            return Ok(total);
        }
        shrunk = Some(lost);
    }
    Err(EngineError::runtime(
        "orphan references did not settle after 20 passes (a cycle of rejections?)",
    ))
}

/// Sets orphan references to NULL, correcting the leaves with the old and new row digests.
/// The orphans are found once and the rows to change fetched by TID (`ctid = ANY(ARRAY(…))`):
/// joined on `ctid`, PostgreSQL scanned the whole table a second time for a hash join.
async fn null_where(
    client: &Client,
    stage: &Stage,
    program: &TableProgram,
    fk: &ForeignKey,
    cond: &str,
    tally: &mut TableTally,
) -> Result<u64> {
    let t = stage.table(&program.target.name);
    let set = fk
        .columns
        .iter()
        .map(|c| format!("{} = NULL", quote_ident(c)))
        .collect::<Vec<_>>()
        .join(", ");
    let olds = fk
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("c.{} AS _old{i}", quote_ident(c)))
        .collect::<Vec<_>>()
        .join(", ");
    let ret = program
        .target_columns
        .iter()
        .map(|c| format!("u.{}", quote_ident(&c.name)))
        .chain((0..fk.columns.len()).map(|i| format!("o._old{i}")))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "COPY (WITH o AS MATERIALIZED (SELECT c.ctid AS _ctid, {olds} FROM {t} c WHERE {cond})
               UPDATE {t} u SET {set} FROM o
               WHERE u.ctid = o._ctid AND u.ctid = ANY(ARRAY(SELECT _ctid FROM o))
               RETURNING {ret}) TO STDOUT (FORMAT binary)"
    );
    let mut names = target_names(program);
    let n = names.len();
    names.extend((0..fk.columns.len()).map(|i| format!("_old{i}")));
    let batches = copy_returning(client, &sql, &names).await?;
    let positions: Vec<usize> = fk
        .columns
        .iter()
        .map(|c| {
            program
                .target_columns
                .iter()
                .position(|t| &t.name == c)
                .ok_or_else(|| {
                    EngineError::runtime(format!("foreign key column `{c}` is not loaded"))
                })
        })
        .collect::<Result<_>>()?;
    let mut hasher = program.hasher();
    let mut count = 0;
    let mut filed = Vec::new();
    for b in &batches {
        let new_rows = b
            .project(&(0..n).collect::<Vec<_>>())
            .map_err(|e| EngineError::runtime(e.to_string()))?;
        let mut old_cols = new_rows.columns().to_vec();
        for (i, &p) in positions.iter().enumerate() {
            old_cols[p] = b.column(n + i).clone();
        }
        let old_rows = RecordBatch::try_new(new_rows.schema(), old_cols)
            .map_err(|e| EngineError::runtime(e.to_string()))?;
        for r in 0..b.num_rows() {
            let old = hasher.digest_row(&old_rows, r, &program.key);
            tally.leaves.sub(&old.bucket_hash, &old.digest);
            let new = hasher.digest_row(&new_rows, r, &program.key);
            tally.leaves.add(&new.bucket_hash, &new.digest);
            count += 1;
            filed.push(Adjustment {
                key: key_json(program, &new_rows, r),
                column: fk.columns.join(","),
                reason: format!(
                    "orphan reference set to NULL: no `{}` row matches",
                    fk.table
                ),
                phase: "nulled",
                key_hash: Some(hex::encode(old.bucket_hash)),
            });
        }
    }
    stage
        .write_adjustments(client, &program.target.name, &filed)
        .await?;
    tally.nulled += count;
    Ok(count)
}
