//! One table of a delta-sync cycle: stage the window, clean it, settle conflicts, keep the
//! manifest's leaves current, merge by key; and the key-set comparison that finds deletes.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::builder::BinaryBuilder;
use arrow_array::{Array, ArrayRef, BinaryArray, RecordBatch};
use bytes::BytesMut;
use chrono::{DateTime, Utc};
use cutover_core::batch::binary_schema;
use cutover_core::catalog::{quote_ident, TableInfo};
use cutover_core::digest::{split_values, Leaves, FINE_K};
use cutover_core::mapping::Mapping;
use cutover_core::program::TableProgram;
use cutover_postgres::catalog::TableDdl;
use cutover_postgres::state::StateSchema;
use cutover_postgres::{copy_encode, PgError};
use futures_util::SinkExt;
use tokio_postgres::Client;

use super::{refresh_entry, window, Deletes, DeltaOptions, OnConflict, TableDelta};
use crate::cleanup::{
    copy_returning, key_json, reject_check_violations, reject_domain_violations, reject_duplicates,
    resolve_orphans, run_returning, Parents, TableTally,
};
use crate::error::{EngineError, Result};
use crate::extract::{copy_out_sql, select_sql};
use crate::load::{run_chunk, ChunkWorker};
use crate::manifest::TableManifest;
use crate::observer::{Event, SharedObserver};
use crate::reconcile::diff::diff_buckets;
use crate::reconcile::side::{Ledger, SideWorker};
use crate::reconcile::spill::SpillWriter;
use crate::settings::Settings;
use crate::stage::{column_list, rebuild_sql, Stage};

/// Everything a cycle needs besides the connections.
pub struct Cycle<'a> {
    pub settings: &'a Settings,
    pub opts: &'a DeltaOptions,
    pub observer: SharedObserver,
    pub state: &'a StateSchema,
    pub run_id: &'a str,
    pub mapping: &'a Mapping,
    pub mapping_file: String,
    pub ddl: &'a HashMap<String, TableDdl>,
    /// Unique indexes set aside for the merge (rows of the window exchange their values).
    pub unique: super::unique::SetAside,
}

/// `t.k1 = s.k1 AND …` over a program's key columns.
fn key_join(p: &TableProgram, t: &str, s: &str) -> String {
    p.key
        .iter()
        .map(|&k| {
            let c = quote_ident(&p.target_columns[k].name);
            format!("{t}.{c} = {s}.{c}")
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn names(p: &TableProgram) -> Vec<String> {
    p.target_columns.iter().map(|c| c.name.clone()).collect()
}

fn qualified_cols(p: &TableProgram, alias: &str) -> String {
    p.target_columns
        .iter()
        .map(|c| format!("{alias}.{}", quote_ident(&c.name)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Column `col` of row `r` as text (a `::text` column of a binary COPY).
fn text_at(b: &RecordBatch, col: usize, r: usize) -> String {
    let c = b
        .column(col)
        .as_any()
        .downcast_ref::<BinaryArray>()
        .expect("binary column");
    String::from_utf8_lossy(c.value(r)).into_owned()
}

/// Deletes staged rows by ctid (text), if any.
async fn delete_staged(target: &Client, staged: &str, ctids: &[String]) -> Result<()> {
    if ctids.is_empty() {
        return Ok(());
    }
    target
        .execute(
            &format!("DELETE FROM {staged} WHERE ctid = ANY($1::text[]::tid[])"),
            &[&ctids],
        )
        .await
        .map_err(|e| PgError::db("cannot update the staging table", e))?;
    Ok(())
}

/// Adds (or subtracts) the digests of `batches` to manifest leaves; returns their bucket hashes.
fn fold_digests(
    p: &TableProgram,
    batches: &[RecordBatch],
    leaves: Option<&mut Leaves>,
    add: bool,
) -> Vec<[u8; 32]> {
    let mut hasher = p.hasher();
    let mut hashes = Vec::new();
    let mut leaves = leaves;
    for b in batches {
        for r in 0..b.num_rows() {
            let d = hasher.digest_row(b, r, &p.key);
            if let Some(l) = leaves.as_deref_mut() {
                if add {
                    l.add(&d.bucket_hash, &d.digest);
                } else {
                    l.sub(&d.bucket_hash, &d.digest);
                }
            }
            hashes.push(d.bucket_hash);
        }
    }
    hashes
}

impl Cycle<'_> {
    /// Stages, cleans, settles and merges one table's window.
    #[allow(clippy::too_many_arguments)]
    pub async fn table(
        &self,
        target: &Client,
        reader: &Client,
        stage: &Stage,
        p: &Arc<TableProgram>,
        cursor: &str,
        lower: &DateTime<Utc>,
        until: Option<&DateTime<Utc>>,
        full_xid: Option<i64>,
        entry: Option<&mut TableManifest>,
    ) -> Result<TableDelta> {
        let started = Instant::now();
        let name = p.target.name.clone();
        let src_col = p.source.column(cursor).ok_or_else(|| {
            EngineError::config(format!(
                "cursor column `{cursor}` is not a column of the source table"
            ))
        })?;
        let window = window::window_sql(cursor, &src_col.ty, lower, until)?;
        self.observer.event(Event::TableStarted {
            table: name.clone(),
            estimated_rows: 0,
        });
        let null_cursor: i64 = reader
            .query_one(
                &format!(
                    "SELECT count(*) FROM {} WHERE {} IS NULL{}",
                    p.source.qualified(),
                    quote_ident(cursor),
                    p.filter
                        .as_ref()
                        .map(|f| format!(" AND ({f})"))
                        .unwrap_or_default()
                ),
                &[],
            )
            .await
            .map_err(|e| PgError::db("cannot count rows with a NULL cursor", e))?
            .get(0);
        if null_cursor > 0 {
            self.observer.event(Event::Warning(format!(
                "{name}: {null_cursor} source rows have a NULL `{cursor}`; they are read on every run"
            )));
        }
        let t = p.target.qualified();
        let s = stage.table(&name);
        let empty = TableDdl::default();
        let ddl = self.ddl.get(&name).unwrap_or(&empty);
        target
            .batch_execute(&stage.create_table_sql(p, &ddl.domains, true))
            .await
            .map_err(|e| PgError::db("cannot create the delta's staging table", e))?;
        let w = run_chunk(
            reader,
            &copy_out_sql(&select_sql(p, None, Some(&window))),
            Some((target, &stage.copy_in_sql(p, false))),
            ChunkWorker::new(p.clone(), true, self.observer.clone()),
        )
        .await?;
        stage.write_rejects(target, &name, &w.rejects).await?;
        let mut tally = TableTally {
            leaves: Leaves::new(FINE_K),
            source_rows: w.rows_read,
            loaded_rows: w.rows_written,
            rejected: w.rejects.len() as u64,
            nulled: w.nulled,
        };
        let rb = rebuild_sql(target, stage, p, ddl, &HashMap::new()).await?;
        reject_check_violations(target, stage, p, &rb.checks, &mut tally).await?;
        reject_domain_violations(target, stage, p, &rb.domain_checks, &mut tally).await?;
        if let Some(sql) = &rb.retype {
            // The merge compares and assigns the staged columns as the target's own types.
            target.batch_execute(sql).await.map_err(|e| {
                PgError::db(
                    format!("cannot give the staged columns their domain (`{sql}`)"),
                    e,
                )
            })?;
        }
        // Until nothing more is found: a rejected row no longer replaces its target row, whose
        // key may then be held against another staged row.
        while reject_duplicates(target, stage, p, &rb.delta_duplicates, &mut tally).await? > 0 {}
        resolve_orphans(
            target,
            stage,
            std::slice::from_ref(p),
            self.ddl,
            std::slice::from_mut(&mut tally),
            Parents::TargetAndStaged,
        )
        .await?;

        let mut out = TableDelta {
            table: p.target.dotted(),
            read: w.rows_read,
            rejected: tally.rejected,
            null_cursor: null_cursor as u64,
            ..TableDelta::default()
        };
        let mut leaves = match &entry {
            Some(e) => Some(Leaves::from_base64(e.k, &e.leaves).map_err(|err| {
                EngineError::runtime(format!("manifest leaves of `{name}`: {err}"))
            })?),
            None => None,
        };
        // Whether someone else changed a target row since cutover wrote it (a conflict).
        let conflict = match full_xid {
            Some(xid) => format!(
                "(age(y.xmin) < age({xid}::text::xid) AND y.xmin::text::bigint NOT IN (SELECT xid FROM {}))",
                self.state.table("writes")
            ),
            None => "false".to_string(),
        };
        let on_ys = key_join(p, "y", "s");
        // The stored values compared byte for byte (record image equality, as REFRESH
        // MATERIALIZED VIEW CONCURRENTLY does): equality operators call 1.0 and 1.00 equal,
        // and text output can hide a change (floats under extra_float_digits < 1).
        let distinct = format!(
            "NOT (ROW({})::record *= ROW({})::record)",
            qualified_cols(p, "y"),
            qualified_cols(p, "s")
        );
        let n = p.target_columns.len();
        let mut with_extras = names(p);
        with_extras.push("_conflict".into());
        with_extras.push("_staged".into());
        let mut conflicts: Vec<String> = Vec::new();
        let mut hasher = p.hasher();

        self.unique.before_merge(target, p).await?;
        // Under target-wins, the conflicting rows (whose content would change) are listed and
        // set aside first: the target keeps them.
        if full_xid.is_some() && self.opts.on_conflict == OnConflict::TargetWins {
            let found = copy_returning(
                target,
                &format!(
                    "COPY (SELECT {}, true, s.ctid::text FROM {t} y JOIN {s} s ON {on_ys}
                           WHERE {conflict} AND {distinct}) TO STDOUT (FORMAT binary)",
                    qualified_cols(p, "y")
                ),
                &with_extras,
            )
            .await?;
            let mut ctids = Vec::new();
            for b in &found {
                let rows = b
                    .project(&(0..n).collect::<Vec<_>>())
                    .map_err(|e| EngineError::runtime(e.to_string()))?;
                for r in 0..b.num_rows() {
                    conflicts.push(key_json(p, &rows, r));
                    ctids.push(text_at(b, n + 1, r));
                }
            }
            delete_staged(target, &s, &ctids).await?;
        }

        // The staged rows' digests: they enter the leaves as they are merged.
        let new = copy_returning(
            target,
            &format!(
                "COPY (SELECT {} FROM {s}) TO STDOUT (FORMAT binary)",
                column_list(p)
            ),
            &names(p),
        )
        .await?;
        let mut staged_digests: HashMap<[u8; 32], [u8; 32]> = HashMap::new();
        let mut new_hashes = Vec::new();
        for b in &new {
            for r in 0..b.num_rows() {
                let d = hasher.digest_row(b, r, &p.key);
                staged_digests.insert(d.bucket_hash, d.digest);
                new_hashes.push(d.bucket_hash);
            }
        }
        let staged = new_hashes.len() as u64;

        // Updates, in one pass over the target rows the window touches: the target is joined
        // to itself (`y`, read in the statement's snapshot) so that RETURNING gives each
        // replaced row's old content (its digest leaves the leaves) and whether it was a
        // conflict. Rows whose content is already the staged one are not touched. A row is its
        // ctid within its partition: `tableoid` too, or rows of two partitions pair up.
        // A GENERATED ALWAYS identity column takes no value from an UPDATE; nor does the
        // source's ever change once inserted, so leaving it out of SET loses nothing.
        let always: Vec<String> = target
            .query(
                "SELECT attname::text FROM pg_catalog.pg_attribute
                 WHERE attrelid = $1::text::regclass AND attidentity = 'a'",
                &[&t],
            )
            .await
            .map_err(|e| PgError::db("cannot read the identity columns of the target", e))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let non_key: Vec<String> = p
            .target_columns
            .iter()
            .enumerate()
            .filter(|(i, c)| !p.key.contains(i) && !always.contains(&c.name))
            .map(|(_, c)| quote_ident(&c.name))
            .collect();
        let mut all_done = false;
        if !non_key.is_empty() {
            let set = non_key
                .iter()
                .map(|c| format!("{c} = s.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            let old = run_returning(
                target,
                &format!(
                    "COPY (UPDATE {t} x SET {set} FROM {s} s JOIN {t} y ON {on_ys}
                           WHERE x.ctid = y.ctid AND x.tableoid = y.tableoid AND {distinct}
                           RETURNING {}, {conflict}, s.ctid::text) TO STDOUT (FORMAT binary)",
                    qualified_cols(p, "y")
                ),
                &with_extras,
                |e| self.unique.merge_failed(p, e),
            )
            .await?;
            let mut done = Vec::new();
            for b in &old {
                let flag = b
                    .column(n)
                    .as_any()
                    .downcast_ref::<BinaryArray>()
                    .expect("binary column");
                let rows = b
                    .project(&(0..n).collect::<Vec<_>>())
                    .map_err(|e| EngineError::runtime(e.to_string()))?;
                for r in 0..b.num_rows() {
                    out.updated += 1;
                    if flag.value(r) == [1] {
                        conflicts.push(key_json(p, &rows, r));
                    }
                    if let Some(l) = leaves.as_mut() {
                        let d = hasher.digest_row(&rows, r, &p.key);
                        l.sub(&d.bucket_hash, &d.digest);
                        if let Some(digest) = staged_digests.get(&d.bucket_hash) {
                            l.add(&d.bucket_hash, digest);
                        }
                    }
                    done.push(text_at(b, n + 1, r));
                }
            }
            if self.opts.on_conflict == OnConflict::Fail && !conflicts.is_empty() {
                conflicts.sort();
                return Err(EngineError::found(format!(
                    "{} target row(s) changed by someone else since cutover wrote them (--on-conflict fail; nothing was changed): {}",
                    conflicts.len(),
                    conflicts.iter().take(20).cloned().collect::<Vec<_>>().join(", ")
                )));
            }
            // The updated rows are done: the insert below need not look for them (nor run,
            // when they were all the staged rows).
            if done.len() as u64 == staged {
                all_done = true;
            } else {
                delete_staged(target, &s, &done).await?;
            }
        }
        conflicts.sort();
        out.conflicts = conflicts.len() as u64;
        out.conflict_keys = conflicts;

        // Inserts: the staged rows left whose key the target lacks, with the source's values
        // also in identity columns (GENERATED ALWAYS refuses them otherwise).
        let cols = column_list(p);
        let on = key_join(p, "t", "s");
        let inserted = if all_done {
            Vec::new()
        } else {
            run_returning(
                target,
                &format!(
                "COPY (INSERT INTO {t} ({cols}) OVERRIDING SYSTEM VALUE SELECT {cols} FROM {s} s
                       WHERE NOT EXISTS (SELECT 1 FROM {t} t WHERE {on})
                       RETURNING {cols}) TO STDOUT (FORMAT binary)"
            ),
                &names(p),
                |e| self.unique.merge_failed(p, e),
            )
            .await?
        };
        for b in &inserted {
            for r in 0..b.num_rows() {
                out.inserted += 1;
                if let Some(l) = leaves.as_mut() {
                    let d = hasher.digest_row(b, r, &p.key);
                    l.add(&d.bucket_hash, &d.digest);
                }
            }
        }
        out.unchanged = staged - out.inserted - out.updated;

        // Rows now loaded are no longer rejected or altered (the keys are sent only when the
        // ledger holds such rows of the table at all).
        let rejects = self.state.table("rejects");
        let listed: bool = target
            .query_one(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM {rejects} WHERE table_name = $1 AND phase IN ('constraint', 'nulled'))"
                ),
                &[&name],
            )
            .await
            .map_err(|e| PgError::db("cannot read the load ledger", e))?
            .get(0);
        if listed {
            let hex_hashes: Vec<String> = new_hashes.iter().map(hex::encode).collect();
            target
                .execute(
                    &format!(
                        "DELETE FROM {rejects} WHERE table_name = $1 AND phase IN ('constraint', 'nulled') AND key_hash = ANY($2)"
                    ),
                    &[&name, &hex_hashes],
                )
                .await
                .map_err(|e| PgError::db("cannot update the load ledger", e))?;
        }
        if let (Some(e), Some(l)) = (entry, leaves.as_ref()) {
            refresh_entry(e, l);
        }
        out.elapsed_ms = started.elapsed().as_millis() as u64;
        self.observer.event(Event::TableFinished {
            table: name,
            rows: out.inserted + out.updated,
            rejected: out.rejected,
        });
        Ok(out)
    }

    /// Finds the target keys the source no longer has (key sets compared through bucket
    /// digests of the keys alone) and, with `--deletes propagate`, deletes those rows.
    pub async fn deletes(
        &self,
        target: &Client,
        reader: &Client,
        stage: &Stage,
        p: &Arc<TableProgram>,
        out: &mut TableDelta,
        entry: Option<&mut TableManifest>,
    ) -> Result<()> {
        let kp = Arc::new(self.key_program(p)?);
        let dir = tempfile::Builder::new()
            .prefix("cutover-delta-")
            .tempdir()
            .map_err(|e| EngineError::runtime(format!("cannot create a spill directory: {e}")))?;
        let n = kp.target_columns.len();
        let src = SideWorker::new(
            kp.clone(),
            true,
            Arc::new(Ledger::new()),
            SpillWriter::new(dir.path().join("source"), n)?,
            self.observer.clone(),
        );
        let dst = SideWorker::new(
            kp.clone(),
            false,
            Arc::new(Ledger::new()),
            SpillWriter::new(dir.path().join("target"), n)?,
            self.observer.clone(),
        );
        let src = run_chunk(
            reader,
            &copy_out_sql(&select_sql(&kp, None, None)),
            None,
            src,
        )
        .await?;
        let dst_sql = format!(
            "COPY (SELECT {} FROM {}) TO STDOUT (FORMAT binary)",
            column_list(&kp),
            kp.target.qualified()
        );
        let dst = run_chunk(target, &dst_sql, None, dst).await?;
        let buckets = src.leaves.differing(&dst.leaves);
        if buckets.is_empty() {
            return Ok(());
        }
        let (src_spill, dst_spill) = (src.into_spill()?, dst.into_spill()?);
        let d = diff_buckets(&kp, &out.table, &buckets, &src_spill, &dst_spill, Some(0))?;
        out.deletes_detected = d.extra;
        if self.opts.deletes != Deletes::Propagate || d.extra_keys.is_empty() {
            if d.extra > 0 {
                self.observer.event(Event::Warning(format!(
                    "{}: {} rows deleted in the source are still in the target (--deletes propagate removes them)",
                    out.table, d.extra
                )));
            }
            return Ok(());
        }
        // The doomed keys go into a keys table by binary COPY, then one DELETE … USING.
        let keys_table = stage.table(&format!("{}:deleted_keys", p.target.name));
        let key_cols = column_list(&kp);
        target
            .batch_execute(&format!(
                "CREATE TABLE {keys_table} AS SELECT {key_cols} FROM {} WITH NO DATA",
                kp.target.qualified()
            ))
            .await
            .map_err(|e| PgError::db("cannot stage the deleted keys", e))?;
        let mut builders: Vec<BinaryBuilder> = (0..n).map(|_| BinaryBuilder::new()).collect();
        for k in &d.extra_keys {
            let values = split_values(k)
                .ok_or_else(|| EngineError::runtime("internal: malformed key bytes"))?;
            for (b, v) in builders.iter_mut().zip(values) {
                b.append_option(v);
            }
        }
        let arrays: Vec<ArrayRef> = builders
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        let batch = RecordBatch::try_new(binary_schema(&names(&kp)), arrays)
            .map_err(|e| EngineError::runtime(e.to_string()))?;
        let mut buf = BytesMut::new();
        copy_encode::write_header(&mut buf);
        copy_encode::encode_batch(&batch, &mut buf);
        copy_encode::write_trailer(&mut buf);
        let sink = target
            .copy_in::<_, bytes::Bytes>(&format!(
                "COPY {keys_table} ({key_cols}) FROM STDIN (FORMAT binary)"
            ))
            .await
            .map_err(|e| PgError::db("cannot stage the deleted keys", e))?;
        futures_util::pin_mut!(sink);
        sink.send(buf.freeze())
            .await
            .map_err(|e| PgError::db("cannot stage the deleted keys", e))?;
        sink.finish()
            .await
            .map_err(|e| PgError::db("cannot stage the deleted keys", e))?;
        let gone = copy_returning(
            target,
            &format!(
                "COPY (DELETE FROM {} t USING {keys_table} s WHERE {} RETURNING {}) TO STDOUT (FORMAT binary)",
                p.target.qualified(),
                key_join(&kp, "t", "s"),
                qualified_cols(p, "t")
            ),
            &names(p),
        )
        .await?;
        let mut leaves = match &entry {
            Some(e) => Some(
                Leaves::from_base64(e.k, &e.leaves)
                    .map_err(|err| EngineError::runtime(format!("manifest leaves: {err}")))?,
            ),
            None => None,
        };
        out.deleted = fold_digests(p, &gone, leaves.as_mut(), false).len() as u64;
        if let (Some(e), Some(l)) = (entry, leaves.as_ref()) {
            refresh_entry(e, l);
        }
        Ok(())
    }

    /// The table's program restricted to its key columns (reads keys only).
    fn key_program(&self, p: &TableProgram) -> Result<TableProgram> {
        let key_names: Vec<String> = p
            .key
            .iter()
            .map(|&k| p.target_columns[k].name.clone())
            .collect();
        let spec = self
            .mapping
            .tables
            .iter()
            .find(|s| s.source == p.source.name && s.target_name() == p.target.name)
            .ok_or_else(|| EngineError::runtime("internal: no mapping entry for the table"))?;
        let mut spec = spec.clone();
        spec.columns.retain(|c| key_names.iter().any(|k| k == c));
        let target = TableInfo {
            columns: p
                .target
                .columns
                .iter()
                .filter(|c| key_names.contains(&c.name))
                .cloned()
                .collect(),
            ..p.target.clone()
        };
        let (kp, findings) =
            TableProgram::compile(self.mapping, &spec, &self.mapping_file, &p.source, &target);
        kp.ok_or_else(|| {
            EngineError::runtime(format!(
                "cannot compile the key-only mapping of `{}`: {}",
                p.target.name,
                findings
                    .iter()
                    .map(crate::migrate::describe)
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        })
    }
}
