//! `cutover reconcile`: proves the target holds exactly what the source, through the mapping,
//! says it should — per table row counts, Merkle roots of both sides, and every differing row
//! named as missing, extra or changed (with its changed columns).
//!
//! Each side is read once, in one snapshot per database, both at the same time, in any physical
//! order: rows are digested into order-independent bucket leaves (DESIGN.md, hash_version 1) and
//! spilled to disk by bucket. Equal leaves mean equal buckets; only the records of differing
//! buckets are read back from the spill to name rows. Memory is bounded by the leaves and one
//! partition's differing records, whatever the table size.
pub mod diff;
pub mod side;
pub mod spill;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use cutover_core::catalog::quote_ident;
use cutover_core::digest::{choose_k, Leaves, HASH_VERSION};
use cutover_core::program::{Severity, TableProgram};
use cutover_core::report::{DiffRow, Status, TableReport};
use cutover_postgres::state::StateSchema;
use cutover_postgres::PgError;
use serde::Serialize;
use tokio_postgres::Client;

use crate::error::{EngineError, Result};
use crate::extract::{copy_out_sql, export_snapshot, open_reader, select_sql};
use crate::load::run_chunk;
use crate::manifest::Manifest;
use crate::observer::{Event, SharedObserver};
use crate::resolve::resolve;
use crate::settings::Settings;
use side::{Adjust, Ledger, SideWorker};
use spill::SpillWriter;

/// Options of `reconcile`.
#[derive(Clone, Debug, Default)]
pub struct ReconcileOptions {
    /// At most this many differing rows named per table (all are counted).
    pub diff_limit: Option<usize>,
    /// A table passes when (missing + extra + changed) / expected rows ≤ this ratio.
    pub max_missing_ratio: f64,
    /// Tables (target names) with zero tolerance whatever the ratio.
    pub critical: Vec<String>,
    /// Reuse the source side recorded by `migrate full` and read only the target.
    pub against_manifest: Option<Manifest>,
}

/// The run's parameters, recorded in `report.json`.
#[derive(Clone, Debug, Serialize)]
pub struct ReconcileParams {
    pub hash_version: u32,
    pub mapping_hash: String,
    pub max_missing_ratio: f64,
    pub critical: Vec<String>,
    pub against_manifest: Option<String>,
    pub source_snapshot: String,
    pub target_snapshot: String,
}

/// What `reconcile` found.
#[derive(Clone, Debug, Serialize)]
pub struct ReconcileOutcome {
    pub params: ReconcileParams,
    pub tables: Vec<TableReport>,
    #[serde(skip)]
    pub diffs: Vec<DiffRow>,
}

impl ReconcileOutcome {
    /// True when every table passes its gate.
    pub fn passed(&self) -> bool {
        self.tables
            .iter()
            .all(|t| t.status != Status::Error && t.gate_failure.is_none())
    }

    /// True when a table could not be compared.
    pub fn errored(&self) -> bool {
        self.tables.iter().any(|t| t.status == Status::Error)
    }
}

/// Runs reconcile.
pub async fn reconcile(
    settings: &Settings,
    opts: &ReconcileOptions,
    observer: SharedObserver,
) -> Result<ReconcileOutcome> {
    crate::resolve::read_mapping(settings)?;
    let source = settings.source.connect().await?;
    let target = settings.target.connect().await?;
    observer.event(Event::Phase(
        "reading catalogs and checking the mapping".into(),
    ));
    let resolved = resolve(settings, &source, &target).await?;
    if let Some(f) = resolved
        .findings
        .iter()
        .find(|f| f.severity == Severity::Blocker && f.table.is_none())
    {
        return Err(EngineError::config(crate::migrate::describe(f)));
    }
    let mut errors: Vec<TableReport> = Vec::new();
    for f in resolved
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Blocker)
    {
        let table = f.table.clone().unwrap_or_default();
        if let Some(e) = errors
            .iter_mut()
            .find(|e| e.table.ends_with(&format!(".{table}")))
        {
            let msg = e.error.get_or_insert_with(String::new);
            msg.push_str("; ");
            msg.push_str(&crate::migrate::describe(f));
            continue;
        }
        errors.push(error_report(
            &format!("{}.{table}", resolved.mapping.target_schema),
            crate::migrate::describe(f),
        ));
    }
    let programs: Vec<Arc<TableProgram>> = resolved.programs.into_iter().map(Arc::new).collect();
    let ledgers = load_ledgers(&target, &settings.state_schema, &programs).await?;

    let src_snap = export_snapshot(&settings.source).await?;
    let dst_snap = export_snapshot(&settings.target).await?;
    let spill_root = tempfile::Builder::new()
        .prefix("cutover-reconcile-")
        .tempdir()
        .map_err(|e| EngineError::runtime(format!("cannot create a spill directory: {e}")))?;
    observer.event(Event::Phase(format!(
        "comparing {} tables, both sides at once ({} workers)",
        programs.len(),
        settings.jobs
    )));
    let queue = Mutex::new((0..programs.len()).collect::<VecDeque<_>>());
    let results: Mutex<Vec<(usize, TableReport, Vec<DiffRow>)>> = Mutex::new(Vec::new());
    let ctx = Ctx {
        opts,
        observer: observer.clone(),
        spill_root: spill_root.path(),
    };
    let workers = (0..settings.jobs.max(1)).map(|_| async {
        let src = open_reader(&settings.source, Some(&src_snap.id)).await?;
        let dst = open_reader(&settings.target, Some(&dst_snap.id)).await?;
        loop {
            let next = queue.lock().expect("queue lock").pop_front();
            let Some(i) = next else {
                return Ok::<(), EngineError>(());
            };
            let p = programs[i].clone();
            let ledger = Arc::new(ledgers.get(&p.target.name).cloned().unwrap_or_default());
            let (report, diffs) = match ctx.table(&src, &dst, p.clone(), ledger).await {
                Ok(r) => r,
                Err(e) if e.kind == crate::error::ErrorKind::Interrupted => return Err(e),
                Err(e) => (error_report(&p.target.dotted(), e.message), Vec::new()),
            };
            results
                .lock()
                .expect("results lock")
                .push((i, report, diffs));
        }
    });
    futures_util::future::try_join_all(workers).await?;
    let mut results = results.into_inner().expect("results lock");
    results.sort_by_key(|(i, _, _)| *i);
    let mut tables: Vec<TableReport> = Vec::new();
    let mut diffs = Vec::new();
    for (_, mut r, d) in results {
        gate(&mut r, opts);
        tables.push(r);
        diffs.extend(d);
    }
    for mut e in errors {
        gate(&mut e, opts);
        tables.push(e);
    }
    Ok(ReconcileOutcome {
        params: ReconcileParams {
            hash_version: HASH_VERSION,
            mapping_hash: resolved.mapping_hash,
            max_missing_ratio: opts.max_missing_ratio,
            critical: opts.critical.clone(),
            against_manifest: opts.against_manifest.as_ref().map(|m| m.run_id.clone()),
            source_snapshot: src_snap.id.clone(),
            target_snapshot: dst_snap.id.clone(),
        },
        tables,
        diffs,
    })
}

fn error_report(table: &str, message: String) -> TableReport {
    TableReport {
        table: table.to_string(),
        source_rows: 0,
        target_rows: 0,
        matched: 0,
        missing_in_target: 0,
        extra_in_target: 0,
        changed: 0,
        rejected_at_source: 0,
        completeness_pct: 0.0,
        source_root: String::new(),
        target_root: String::new(),
        status: Status::Error,
        elapsed_ms: 0,
        k: 0,
        digest_columns: Vec::new(),
        key_columns: Vec::new(),
        error: Some(message),
        gate_failure: None,
    }
}

/// Applies the gates: zero tolerance for critical tables, else the ratio.
fn gate(r: &mut TableReport, opts: &ReconcileOptions) {
    if r.status == Status::Error {
        r.gate_failure = r.error.clone();
        return;
    }
    let diffs = r.missing_in_target + r.extra_in_target + r.changed;
    if diffs == 0 {
        return;
    }
    let name = r.table.rsplit('.').next().unwrap_or(&r.table).to_string();
    let what = format!(
        "{} missing, {} extra, {} changed",
        r.missing_in_target, r.extra_in_target, r.changed
    );
    if opts.critical.iter().any(|c| *c == name || *c == r.table) {
        r.gate_failure = Some(format!("critical table differs: {what}"));
        return;
    }
    let ratio = diffs as f64 / r.expected().max(1) as f64;
    if ratio > opts.max_missing_ratio {
        r.gate_failure = Some(format!(
            "{what} = {:.4}% of expected rows, above --max-missing-ratio {}",
            ratio * 100.0,
            opts.max_missing_ratio
        ));
    }
}

/// Rows the last complete `migrate full` and the delta-syncs after it rejected or altered at
/// load (beyond the mapping), by target table: reconcile applies the same decisions to the
/// expected side. A delta-sync that later loads such a row removes its entry.
async fn load_ledgers(
    target: &Client,
    state_schema: &str,
    programs: &[Arc<TableProgram>],
) -> Result<HashMap<String, Ledger>> {
    let state = StateSchema::new(state_schema);
    let exists: bool = target
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&state.table("rejects")],
        )
        .await
        .map_err(|e| PgError::db("cannot look for the state schema", e))?
        .get(0);
    let mut out: HashMap<String, Ledger> = HashMap::new();
    if !exists {
        return Ok(out);
    }
    let rows = target
        .query(
            &format!(
                "WITH last AS (SELECT run_id, finished_at FROM {runs}
                               WHERE kind = 'migrate-full' AND status IN ('complete', 'finalized')
                               ORDER BY finished_at DESC LIMIT 1),
                      since AS (SELECT run_id FROM last
                                UNION ALL
                                SELECT r.run_id FROM {runs} r, last
                                WHERE r.kind = 'delta-sync' AND r.status = 'complete'
                                  AND r.finished_at > last.finished_at)
                 SELECT table_name, key_hash, phase, coalesce(column_name, '')
                 FROM {rejects} WHERE run_id IN (SELECT run_id FROM since)
                   AND phase IN ('constraint', 'nulled') AND key_hash IS NOT NULL",
                runs = state.table("runs"),
                rejects = state.table("rejects"),
            ),
            &[],
        )
        .await
        .map_err(|e| PgError::db("cannot read the load ledger from the state schema", e))?;
    for r in rows {
        let table: String = r.get(0);
        let Some(p) = programs.iter().find(|p| p.target.name == table) else {
            continue;
        };
        let mut hash = [0u8; 32];
        if hex::decode_to_slice(r.get::<_, String>(1), &mut hash).is_err() {
            continue;
        }
        let phase: String = r.get(2);
        let adjust = if phase == "nulled" {
            let cols: String = r.get(3);
            Adjust::Nulled(
                cols.split(',')
                    .filter_map(|c| p.target_columns.iter().position(|t| t.name == c))
                    .collect(),
            )
        } else {
            Adjust::Rejected
        };
        let ledger = out.entry(table).or_default();
        match (ledger.get_mut(&hash), adjust) {
            (Some(Adjust::Nulled(a)), Adjust::Nulled(b)) => a.extend(b),
            (_, adjust) => {
                ledger.insert(hash, adjust);
            }
        }
    }
    Ok(out)
}

struct Ctx<'a> {
    opts: &'a ReconcileOptions,
    observer: SharedObserver,
    spill_root: &'a std::path::Path,
}

impl Ctx<'_> {
    /// Compares one table: both sides streamed at once, then the differing buckets.
    async fn table(
        &self,
        src: &Client,
        dst: &Client,
        p: Arc<TableProgram>,
        ledger: Arc<Ledger>,
    ) -> Result<(TableReport, Vec<DiffRow>)> {
        let started = Instant::now();
        let name = p.target.dotted();
        self.observer.event(Event::TableStarted {
            table: p.target.name.clone(),
            estimated_rows: (p.source.estimated_rows.max(0) + p.target.estimated_rows.max(0))
                as u64,
        });
        let ncols = p.target_columns.len();
        let dir = self.spill_root.join(&p.target.name);
        let manifest_entry = self
            .opts
            .against_manifest
            .as_ref()
            .and_then(|m| m.table(&name))
            .filter(|t| {
                t.digest_columns
                    == p.target_columns
                        .iter()
                        .map(|c| c.name.clone())
                        .collect::<Vec<_>>()
            });

        let dst_worker = SideWorker::new(
            p.clone(),
            false,
            Arc::new(Ledger::new()),
            SpillWriter::new(dir.join("target"), ncols)?,
            self.observer.clone(),
        );
        let dst_sql = copy_out_sql(&target_select(&p));
        let src_sql = copy_out_sql(&select_sql(&p, None, None));

        // With a manifest, read the target first and the source only if the leaves differ.
        let (src_w, dst_w) = match manifest_entry {
            Some(entry) => {
                let dst_w = run_chunk(dst, &dst_sql, None, dst_worker).await?;
                let recorded = Leaves::from_base64(entry.k, &entry.leaves)
                    .map_err(|e| EngineError::runtime(format!("manifest leaves of {name}: {e}")))?;
                if recorded == dst_w.leaves.fold(entry.k) {
                    let k = entry.k;
                    let root = hex::encode(recorded.root());
                    self.observer.event(Event::TableFinished {
                        table: p.target.name.clone(),
                        rows: dst_w.rows_read,
                        rejected: entry.rejected_rows,
                    });
                    let report = TableReport {
                        table: name,
                        source_rows: entry.source_rows,
                        target_rows: dst_w.rows_read,
                        matched: dst_w.rows_read,
                        missing_in_target: 0,
                        extra_in_target: 0,
                        changed: 0,
                        rejected_at_source: entry.rejected_rows,
                        completeness_pct: 100.0,
                        source_root: root.clone(),
                        target_root: root,
                        status: Status::Match,
                        elapsed_ms: started.elapsed().as_millis() as u64,
                        k,
                        digest_columns: entry.digest_columns.clone(),
                        key_columns: entry.key_columns.clone(),
                        error: None,
                        gate_failure: None,
                    };
                    return Ok((report, Vec::new()));
                }
                let src_worker = SideWorker::new(
                    p.clone(),
                    true,
                    ledger,
                    SpillWriter::new(dir.join("source"), ncols)?,
                    self.observer.clone(),
                );
                (run_chunk(src, &src_sql, None, src_worker).await?, dst_w)
            }
            None => {
                let src_worker = SideWorker::new(
                    p.clone(),
                    true,
                    ledger,
                    SpillWriter::new(dir.join("source"), ncols)?,
                    self.observer.clone(),
                );
                let (s, d) = tokio::join!(
                    run_chunk(src, &src_sql, None, src_worker),
                    run_chunk(dst, &dst_sql, None, dst_worker)
                );
                (s?, d?)
            }
        };

        let buckets = src_w.leaves.differing(&dst_w.leaves);
        let (src_rows, rejected, src_leaves) =
            (src_w.rows_read, src_w.rejected, src_w.leaves.clone());
        let (dst_rows, dst_leaves) = (dst_w.rows_read, dst_w.leaves.clone());
        let src_spill = src_w.into_spill()?;
        let dst_spill = dst_w.into_spill()?;
        // Reading the spill back is file work: off the async threads, which keep other
        // tables' streams moving meanwhile.
        let (program, table, limit) = (p.clone(), name.clone(), self.opts.diff_limit);
        let d = tokio::task::spawn_blocking(move || {
            let d = if buckets.is_empty() {
                Ok(diff::Differences::default())
            } else {
                diff::diff_buckets(&program, &table, &buckets, &src_spill, &dst_spill, limit)
            };
            let _ = std::fs::remove_dir_all(&dir);
            d.map(|d| (d, buckets.is_empty()))
        })
        .await
        .map_err(|e| EngineError::runtime(format!("a worker thread failed: {e}")))??;
        let (d, no_buckets) = d;
        let k_src = choose_k(src_leaves.rows());
        let k_dst = choose_k(dst_leaves.rows());
        let expected = src_rows - rejected;
        let matched = expected.saturating_sub(d.missing + d.changed);
        let status = if d.missing + d.extra + d.changed == 0 && no_buckets {
            Status::Match
        } else {
            Status::Mismatch
        };
        self.observer.event(Event::TableFinished {
            table: p.target.name.clone(),
            rows: dst_rows,
            rejected,
        });
        let report = TableReport {
            table: name,
            source_rows: src_rows,
            target_rows: dst_rows,
            matched,
            missing_in_target: d.missing,
            extra_in_target: d.extra,
            changed: d.changed,
            rejected_at_source: rejected,
            completeness_pct: if expected == 0 {
                100.0
            } else {
                matched as f64 * 100.0 / expected as f64
            },
            source_root: hex::encode(src_leaves.fold(k_src).root()),
            target_root: hex::encode(dst_leaves.fold(k_dst).root()),
            status,
            elapsed_ms: started.elapsed().as_millis() as u64,
            k: k_src,
            digest_columns: p.target_columns.iter().map(|c| c.name.clone()).collect(),
            key_columns: p
                .key
                .iter()
                .map(|&k| p.target_columns[k].name.clone())
                .collect(),
            error: None,
            gate_failure: None,
        };
        Ok((report, d.rows))
    }
}

/// The `SELECT` of a target table's digest columns.
fn target_select(p: &TableProgram) -> String {
    format!(
        "SELECT {} FROM {}",
        p.target_columns
            .iter()
            .map(|c| quote_ident(&c.name))
            .collect::<Vec<_>>()
            .join(", "),
        p.target.qualified()
    )
}
