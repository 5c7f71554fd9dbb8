//! `migrate delta-sync`: carries every source change since a watermark into the target through
//! the mapping, in one target transaction (a failed run changes nothing), as often as needed.
//!
//! Per table, in foreign-key order: the rows of the cursor window (see [`window`]) are read in
//! one source snapshot, transformed, COPYed into a staging table, cleaned of what the target's
//! constraints would refuse (as in `migrate full`), and merged by key: one `UPDATE` of the target
//! joined to itself, touching only rows whose content changed and returning their old content
//! and whether someone else had changed them (a conflict), then one `INSERT` of the new keys.
//! Deletes, which a cursor cannot see, are found by comparing the key sets of both sides
//! (bucket digests of keys only, as reconcile does) and, with `--deletes propagate`, applied
//! children first. The manifest's bucket leaves are kept current row by row (old digest out,
//! new digest in), so `reconcile --against-manifest` stays valid.
pub mod merge;
pub mod unique;
pub mod window;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use cutover_core::digest::Leaves;
use cutover_core::program::TableProgram;
use cutover_postgres::catalog::TableDdl;
use cutover_postgres::state::StateSchema;
use cutover_postgres::PgError;
use serde::Serialize;
use tokio_postgres::Client;

use crate::error::{EngineError, Result};
use crate::extract::{export_snapshot, horizon, open_reader};
use crate::manifest::Manifest;
use crate::observer::{Event, SharedObserver};
use crate::resolve::resolve;
use crate::settings::Settings;
use crate::stage::Stage;

/// What to do about rows deleted from the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Deletes {
    Ignore,
    Detect,
    Propagate,
}

/// Who wins when a target row was changed by someone else since cutover wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnConflict {
    SourceWins,
    TargetWins,
    Fail,
}

/// Options of `migrate delta-sync`.
#[derive(Clone, Debug)]
pub struct DeltaOptions {
    /// Start of the window; default: each table's recorded watermark.
    pub since: Option<DateTime<Utc>>,
    /// End of the window (exclusive).
    pub until: Option<DateTime<Utc>>,
    /// How far before the watermark to read again.
    pub lookback: std::time::Duration,
    pub deletes: Deletes,
    pub on_conflict: OnConflict,
    /// Cursor column for tables the mapping gives none (identity mapping).
    pub cursor: Option<String>,
    /// Manifest file of the full load, rewritten with the updated leaves.
    pub manifest_path: Option<PathBuf>,
}

/// What one table's delta did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TableDelta {
    pub table: String,
    pub read: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deleted: u64,
    /// Deleted in the source and still in the target (with `--deletes detect`: left there).
    pub deletes_detected: u64,
    pub conflicts: u64,
    /// Keys of the conflicting rows (JSON arrays).
    pub conflict_keys: Vec<String>,
    pub rejected: u64,
    /// Source rows whose cursor is NULL (always read, never skipped).
    pub null_cursor: u64,
    pub window_from: String,
    pub new_watermark: String,
    pub elapsed_ms: u64,
}

/// What a delta-sync run did.
#[derive(Clone, Debug, Serialize)]
pub struct DeltaReport {
    pub run_id: String,
    pub tables: Vec<TableDelta>,
    /// Tables skipped, with the reason (no cursor column…).
    pub skipped: Vec<String>,
}

/// Runs one delta-sync cycle.
pub async fn delta_sync(
    settings: &Settings,
    opts: &DeltaOptions,
    observer: SharedObserver,
) -> Result<DeltaReport> {
    crate::resolve::read_mapping(settings)?;
    let source = settings.source.connect().await?;
    let mut target = settings.target.connect().await?;
    observer.event(Event::Phase(
        "reading catalogs and checking the mapping".into(),
    ));
    let resolved = resolve(settings, &source, &target).await?;
    resolved.refuse_blockers()?;
    let mut skipped = Vec::new();
    let mut tables: Vec<(Arc<TableProgram>, String)> = Vec::new();
    for p in resolved.programs {
        let cursor = p
            .cursor
            .clone()
            .or_else(|| opts.cursor.clone().filter(|c| p.source.column(c).is_some()));
        match cursor {
            Some(c) => tables.push((Arc::new(p), c)),
            None => {
                let why = format!(
                    "{}: no cursor column (set `cursor` in the mapping{})",
                    p.target.name,
                    if opts.cursor.is_some() {
                        ", or the table lacks --cursor's column"
                    } else {
                        " or pass --cursor"
                    }
                );
                observer.event(Event::Warning(format!("skipped {why}")));
                skipped.push(why);
            }
        }
    }
    warn_of_triggers(&target, &tables, &observer).await?;
    let state = StateSchema::new(&settings.state_schema);
    state.ensure(&target).await?;
    let run_id = crate::migrate::new_run_id();
    state
        .start_run(&target, &run_id, "delta-sync", &resolved.mapping_hash)
        .await?;
    let job = merge::Cycle {
        settings,
        opts,
        observer: observer.clone(),
        state: &state,
        run_id: &run_id,
        mapping: &resolved.mapping,
        mapping_file: settings
            .mapping
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        ddl: &resolved.ddl,
        unique: Default::default(),
    };
    let result = loop {
        let result = run(&job, &mut target, &tables).await;
        if result.is_err() {
            if let Some((table, index)) = job.unique.next_attempt() {
                observer.event(Event::Warning(format!(
                    "{table}: rows of this window exchange values of the unique index `{index}`, \
                     which one statement cannot apply; running again with the index set aside \
                     for the merge and built again (checked) before the commit"
                )));
                continue;
            }
        }
        break result;
    };
    match result {
        Ok(report_tables) => Ok(DeltaReport {
            run_id,
            tables: report_tables,
            skipped,
        }),
        Err(e) => {
            if let Ok(c) = settings.target.connect().await {
                let _ = state
                    .finish_run(&c, &run_id, "failed", None, Some(&e.message), None)
                    .await;
            }
            Err(e)
        }
    }
}

/// Moves the serial and identity sequences of the tables that got new rows, and the sequences
/// their defaults draw from, past the largest value now in their columns (forward only): the
/// merge inserted the source's own ids, which the sequences did not hand out, and the
/// application's first inserts after the flip would otherwise collide with them.
async fn advance_sequences(
    target: &Client,
    ddl: &HashMap<String, TableDdl>,
    tables: &[(Arc<TableProgram>, String)],
    out: &[TableDelta],
) -> Result<()> {
    for ((p, _), d) in tables.iter().zip(out) {
        if d.inserted == 0 {
            continue;
        }
        let Some(t) = ddl.get(&p.target.name) else {
            continue;
        };
        for s in t.sequences.iter().chain(&t.default_sequences) {
            let sql =
                crate::swap::advance_sequence_sql(&s.sequence, &p.target.qualified(), &s.column);
            target.batch_execute(&sql).await.map_err(|e| {
                PgError::db(
                    format!(
                        "cannot advance the sequence {} of `{}`",
                        s.sequence, p.target.name
                    ),
                    e,
                )
            })?;
        }
    }
    Ok(())
}

/// Names the user triggers that will fire on the rows the merges write. The full load writes
/// into bare staging tables; a delta-sync writes into the live target tables, so an
/// application's trigger (one that stamps a timestamp, say) would change the synced rows and
/// reconcile would find them different from the source.
async fn warn_of_triggers(
    target: &Client,
    tables: &[(Arc<TableProgram>, String)],
    observer: &SharedObserver,
) -> Result<()> {
    for (p, _) in tables {
        let row = target
            .query_one(
                "SELECT string_agg(pg_catalog.quote_ident(tgname), ', ' ORDER BY tgname)
                 FROM pg_catalog.pg_trigger
                 WHERE tgrelid = $1::text::regclass AND NOT tgisinternal AND tgenabled IN ('O', 'A')",
                &[&p.target.qualified()],
            )
            .await
            .map_err(|e| PgError::db("cannot list the target's triggers", e))?;
        if let Some(names) = row.get::<_, Option<String>>(0) {
            observer.event(Event::Warning(format!(
                "{}: triggers {names} fire on the rows delta-sync writes; one that changes them \
                 makes the target differ from the source (ALTER TABLE … DISABLE TRIGGER for the \
                 cutover window, if they are the application's)",
                p.target.dotted()
            )));
        }
    }
    Ok(())
}

async fn run(
    job: &merge::Cycle<'_>,
    target: &mut Client,
    tables: &[(Arc<TableProgram>, String)],
) -> Result<Vec<TableDelta>> {
    let horizon = horizon(&job.settings.source).await?;
    let horizon_t = window::parse_instant("horizon", &horizon)?;
    // The watermark every table gets: the snapshot's horizon, or --until when earlier.
    let new_watermark = match job.opts.until {
        Some(u) if u < horizon_t => u,
        _ => horizon_t,
    };
    let snapshot = export_snapshot(&job.settings.source).await?;
    let reader = open_reader(&job.settings.source, Some(&snapshot.id)).await?;
    let stage = Stage::new(job.run_id, &job.mapping.target_schema);
    let watermarks = read_watermarks(target, job.state).await?;
    let (full_run, mut manifest) = latest_full_manifest(target, job.state).await?;
    let full_xid = full_load_xid(target, job.state, full_run.as_deref()).await?;

    // Without JIT: the merge reaches the delta's rows by key, but the planner costs it as a
    // join over the whole table, which turns on JIT with inlining and optimisation (127 ms
    // of compiling for the UPDATE of a 50,000-row delta, for nothing in return).
    target
        .batch_execute("BEGIN; SET LOCAL jit = off")
        .await
        .map_err(|e| PgError::db("cannot begin the delta-sync transaction", e))?;
    let result = async {
        stage.create(target).await?;
        let mut out = Vec::new();
        for (p, cursor) in tables {
            // The table's own watermark, else the horizon of the last full load (which read
            // everything as of its snapshot, whatever the cursor).
            let recorded = watermarks
                .get(&p.target.name)
                .cloned()
                .or_else(|| manifest.as_ref().and_then(|m| m.horizon.clone()));
            let since = match (job.opts.since, recorded) {
                (Some(s), _) => s,
                (None, Some(w)) => window::parse_instant("recorded watermark", &w)?,
                (None, None) => {
                    return Err(EngineError::config(format!(
                        "table `{}` has no recorded watermark: run `cutover migrate full` first or pass --since",
                        p.target.name
                    )))
                }
            };
            let lower = since
                - chrono::Duration::from_std(job.opts.lookback)
                    .map_err(|_| EngineError::config("--lookback is too large"))?;
            let leaves = manifest.as_mut().and_then(|m| m.table_mut(&p.target.dotted()));
            let mut d = job
                .table(target, &reader, &stage, p, cursor, &lower, job.opts.until.as_ref(), full_xid, leaves)
                .await
                .map_err(|e| e.context(format!("table `{}`", p.target.name)))?;
            d.window_from = lower.to_rfc3339();
            d.new_watermark = new_watermark.to_rfc3339();
            out.push(d);
        }
        if job.opts.deletes != Deletes::Ignore {
            for (i, (p, _)) in tables.iter().enumerate().rev() {
                let leaves = manifest.as_mut().and_then(|m| m.table_mut(&p.target.dotted()));
                job.deletes(target, &reader, &stage, p, &mut out[i], leaves)
                    .await
                    .map_err(|e| e.context(format!("deletes of table `{}`", p.target.name)))?;
            }
        }
        job.unique.restore(target).await?;
        advance_sequences(target, job.ddl, tables, &out).await?;
        let marks: Vec<(String, String)> = tables
            .iter()
            .map(|(p, c)| (p.target.name.clone(), c.clone()))
            .collect();
        crate::swap::record_watermarks(
            target,
            job.state,
            &marks,
            &new_watermark.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            job.run_id,
        )
        .await?;
        job.state.record_write(target, job.run_id).await?;
        target
            .execute(
                &format!(
                    "INSERT INTO {} (run_id, table_name, key, column_name, reason, phase, key_hash)
                     SELECT $1, table_name, key, column_name, reason, phase, key_hash FROM {}",
                    job.state.table("rejects"),
                    stage.rejects_table()
                ),
                &[&job.run_id],
            )
            .await
            .map_err(|e| PgError::db("cannot file the rejected rows", e))?;
        if let (Some(run), Some(m)) = (&full_run, &manifest) {
            let json = serde_json::to_value(m).map_err(|e| EngineError::runtime(e.to_string()))?;
            target
                .execute(
                    &format!("UPDATE {} SET manifest = $2 WHERE run_id = $1", job.state.table("runs")),
                    &[run, &json],
                )
                .await
                .map_err(|e| PgError::db("cannot update the full load's manifest", e))?;
        }
        let summary = serde_json::to_value(&out).map_err(|e| EngineError::runtime(e.to_string()))?;
        job.state
            .finish_run(target, job.run_id, "complete", Some(&snapshot.id), None, Some(&summary))
            .await?;
        stage.drop(target).await?;
        Ok::<_, EngineError>(out)
    }
    .await;
    if result.is_ok() {
        crate::drill::drill_pause("merged").await;
    }
    match result {
        Ok(out) => {
            target.batch_execute("COMMIT").await.map_err(|e| {
                PgError::db(
                    "the delta-sync transaction failed to commit; the target is unchanged",
                    e,
                )
            })?;
            if let (Some(path), Some(m)) = (&job.opts.manifest_path, &manifest) {
                let text = serde_json::to_string_pretty(m)
                    .map_err(|e| EngineError::runtime(e.to_string()))?;
                std::fs::write(path, text).map_err(|e| {
                    EngineError::runtime(format!(
                        "cannot write the manifest {}: {e}",
                        path.display()
                    ))
                })?;
            }
            Ok(out)
        }
        Err(e) => {
            let _ = target.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

async fn read_watermarks(target: &Client, state: &StateSchema) -> Result<HashMap<String, String>> {
    let rows = target
        .query(
            &format!(
                "SELECT table_name, watermark FROM {}",
                state.table("watermarks")
            ),
            &[],
        )
        .await
        .map_err(|e| PgError::db("cannot read the watermarks", e))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// The manifest of the latest complete `migrate full`, whose leaves a delta keeps current.
async fn latest_full_manifest(
    target: &Client,
    state: &StateSchema,
) -> Result<(Option<String>, Option<Manifest>)> {
    let row = target
        .query_opt(
            &format!(
                "SELECT run_id, manifest FROM {} WHERE kind = 'migrate-full' AND status IN ('complete', 'finalized')
                 ORDER BY finished_at DESC LIMIT 1",
                state.table("runs")
            ),
            &[],
        )
        .await
        .map_err(|e| PgError::db("cannot read the last full load", e))?;
    let Some(row) = row else {
        return Ok((None, None));
    };
    let run: String = row.get(0);
    let json: Option<serde_json::Value> = row.get(1);
    let manifest = json.and_then(|j| serde_json::from_value::<Manifest>(j).ok());
    Ok((Some(run), manifest))
}

/// The 32-bit xid of the last full load's swap (rows older than it were loaded by cutover).
async fn full_load_xid(
    target: &Client,
    state: &StateSchema,
    run: Option<&str>,
) -> Result<Option<i64>> {
    let Some(run) = run else { return Ok(None) };
    let row = target
        .query_opt(
            &format!(
                "SELECT max(xid) FROM {} WHERE run_id = $1",
                state.table("writes")
            ),
            &[&run],
        )
        .await
        .map_err(|e| PgError::db("cannot read the full load's transaction", e))?;
    Ok(row.and_then(|r| r.get(0)))
}

/// Updates a manifest table entry's root and row count after its leaves changed.
pub fn refresh_entry(entry: &mut crate::manifest::TableManifest, leaves: &Leaves) {
    entry.leaves = leaves.to_base64();
    entry.root = hex::encode(leaves.root());
    entry.loaded_rows = leaves.rows();
}
