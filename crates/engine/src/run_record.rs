//! A finished run as `rollback` and `finalize` see it: its row in the state schema (locked for
//! the caller's transaction), the schemas it left beside the target, and the tables it replaced.
use cutover_core::catalog::quote_ident;
use cutover_postgres::state::StateSchema;
use cutover_postgres::PgError;
use tokio_postgres::Transaction;

use crate::error::{EngineError, Result};

/// Run status values written by `migrate full`, `rollback` and `finalize`.
pub mod status {
    pub const RUNNING: &str = "running";
    pub const FAILED: &str = "failed";
    pub const COMPLETE: &str = "complete";
    pub const ROLLED_BACK: &str = "rolled back";
    pub const FINALIZED: &str = "finalized";
}

/// Prefix of the schema a rollback moves a run's tables to.
pub const ROLLED_BACK_PREFIX: &str = "_cutover_rolledback_";

/// One run's row of `<state>.runs`.
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub run_id: String,
    pub kind: String,
    pub status: String,
    /// `previous_schema` of the manifest: where the swap moved the tables it replaced.
    pub previous_schema: Option<String>,
    /// `target` of each manifest table, `schema.table` as printed (unquoted).
    pub targets: Vec<String>,
}

impl RunRecord {
    /// Schema that holds this run's tables after a rollback.
    pub fn rolled_back_schema(&self) -> String {
        format!("{ROLLED_BACK_PREFIX}{}", self.run_id)
    }
}

/// Reads a run's row and locks it until the transaction ends (two rollbacks or a rollback and
/// a finalize of one run cannot interleave). Unknown run ids are configuration errors.
pub async fn lock_run(
    tx: &Transaction<'_>,
    state: &StateSchema,
    run_id: &str,
) -> Result<RunRecord> {
    let exists: Option<String> = tx
        .query_one(
            "SELECT pg_catalog.to_regclass($1)::text",
            &[&state.table("runs")],
        )
        .await
        .map_err(|e| PgError::db("cannot look for the state schema", e))?
        .get(0);
    if exists.is_none() {
        return Err(EngineError::config(format!(
            "unknown run `{run_id}`: the target has no `{}` state schema (no run was ever recorded \
             there; check --target and --state-schema)",
            state.name()
        )));
    }
    let row = tx
        .query_opt(
            &format!(
                "SELECT kind, status, manifest->>'previous_schema',
                        ARRAY(SELECT t->>'target' FROM jsonb_array_elements(
                              COALESCE(manifest->'tables', '[]'::jsonb)) AS t)
                 FROM {} WHERE run_id = $1 FOR UPDATE",
                state.table("runs")
            ),
            &[&run_id],
        )
        .await
        .map_err(|e| PgError::db("cannot read the run from the state schema", e))?;
    let Some(row) = row else {
        return Err(EngineError::config(format!(
            "unknown run `{run_id}`: no such run in `{}.runs` (the run id is printed at the end \
             of `cutover migrate full` and is in its manifest)",
            state.name()
        )));
    };
    Ok(RunRecord {
        run_id: run_id.to_string(),
        kind: row.get(0),
        status: row.get(1),
        previous_schema: row.get(2),
        targets: row
            .get::<_, Vec<Option<String>>>(3)
            .into_iter()
            .flatten()
            .collect(),
    })
}

/// A run that swapped tables in after `run` and shares a target table with it.
#[derive(Clone, Debug)]
pub struct LaterRun {
    pub run_id: String,
    pub status: String,
}

/// Complete or finalized runs whose swap came after `run`'s and touched one of its tables
/// (they must be rolled back first: their previous contents are `run`'s tables).
pub async fn later_runs(
    tx: &Transaction<'_>,
    state: &StateSchema,
    run: &RunRecord,
) -> Result<Vec<LaterRun>> {
    let rows = tx
        .query(
            &format!(
                "SELECT r.run_id, r.status FROM {runs} r, {runs} me
                 WHERE me.run_id = $1 AND r.run_id <> me.run_id
                   AND r.status IN ($2, $3) AND r.manifest->>'previous_schema' IS NOT NULL
                   AND (r.finished_at, r.run_id) > (me.finished_at, me.run_id)
                   AND EXISTS (SELECT 1 FROM jsonb_array_elements(r.manifest->'tables') t
                               WHERE t->>'target' = ANY($4))
                 ORDER BY r.finished_at, r.run_id",
                runs = state.table("runs")
            ),
            &[
                &run.run_id,
                &status::COMPLETE,
                &status::FINALIZED,
                &run.targets,
            ],
        )
        .await
        .map_err(|e| PgError::db("cannot look for later runs in the state schema", e))?;
    Ok(rows
        .iter()
        .map(|r| LaterRun {
            run_id: r.get(0),
            status: r.get(1),
        })
        .collect())
}

/// Sets a run's status (in the caller's transaction).
pub async fn set_status(
    tx: &Transaction<'_>,
    state: &StateSchema,
    run_id: &str,
    status: &str,
) -> Result<()> {
    tx.execute(
        &format!(
            "UPDATE {} SET status = $2 WHERE run_id = $1",
            state.table("runs")
        ),
        &[&run_id, &status],
    )
    .await
    .map_err(|e| PgError::db("cannot record the run's new status in the state schema", e))?;
    Ok(())
}

/// Removes the delta-sync watermarks of `tables` that were recorded by `run_id` or by a run
/// that finished after it: they describe contents a rollback removes. Watermarks of earlier
/// runs stay. A delta-sync without a watermark falls back to the previous full load's horizon
/// (reading some changes again, which its merge tolerates) or asks for `--since`.
pub async fn clear_watermarks(
    tx: &Transaction<'_>,
    state: &StateSchema,
    run_id: &str,
    tables: &[String],
) -> Result<u64> {
    tx.execute(
        &format!(
            "DELETE FROM {marks} w WHERE w.table_name = ANY($2)
               AND NOT EXISTS (SELECT 1 FROM {runs} r, {runs} me
                               WHERE me.run_id = $1 AND r.run_id = w.run_id
                                 AND r.run_id <> me.run_id AND r.finished_at < me.finished_at)",
            marks = state.table("watermarks"),
            runs = state.table("runs")
        ),
        &[&run_id, &tables],
    )
    .await
    .map_err(|e| {
        PgError::db(
            "cannot clear the delta-sync watermarks of the run's tables",
            e,
        )
        .into()
    })
}

/// Whether a schema exists.
pub async fn schema_exists(tx: &Transaction<'_>, schema: &str) -> Result<bool> {
    let row = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)",
            &[&schema],
        )
        .await
        .map_err(|e| PgError::db(format!("cannot look for schema `{schema}`"), e))?;
    Ok(row.get(0))
}

/// Names of the tables (plain and partitioned) of a schema.
pub async fn tables_in(tx: &Transaction<'_>, schema: &str) -> Result<Vec<String>> {
    let rows = tx
        .query(
            "SELECT c.relname::text FROM pg_catalog.pg_class c
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
             ORDER BY c.relname",
            &[&schema],
        )
        .await
        .map_err(|e| PgError::db(format!("cannot list the tables of schema `{schema}`"), e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Objects outside `schema` that depend on its tables or their row types (views, foreign keys
/// of other tables, functions returning its rows…), described by PostgreSQL. `DROP SCHEMA … CASCADE` would drop them
/// silently, so `finalize` refuses while any exist.
pub async fn outside_dependents(tx: &Transaction<'_>, schema: &str) -> Result<Vec<String>> {
    let rows = tx
        .query(
            "WITH rels AS (SELECT c.oid FROM pg_catalog.pg_class c
                           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                           WHERE n.nspname = $1),
                  types AS (SELECT t.oid FROM pg_catalog.pg_type t
                            JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
                            WHERE n.nspname = $1)
             SELECT DISTINCT pg_catalog.pg_describe_object(d.classid, d.objid, 0)
             FROM pg_catalog.pg_depend d
             WHERE ((d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid IN (SELECT oid FROM rels))
                    OR (d.refclassid = 'pg_catalog.pg_type'::regclass AND d.refobjid IN (SELECT oid FROM types)))
               AND d.deptype = 'n'
               AND NOT COALESCE(CASE d.classid
                 WHEN 'pg_catalog.pg_class'::regclass THEN d.objid IN (SELECT oid FROM rels)
                 WHEN 'pg_catalog.pg_rewrite'::regclass THEN (SELECT ev_class FROM pg_catalog.pg_rewrite
                      WHERE oid = d.objid) IN (SELECT oid FROM rels)
                 WHEN 'pg_catalog.pg_constraint'::regclass THEN (SELECT conrelid FROM pg_catalog.pg_constraint
                      WHERE oid = d.objid) IN (SELECT oid FROM rels)
                 WHEN 'pg_catalog.pg_attrdef'::regclass THEN (SELECT adrelid FROM pg_catalog.pg_attrdef
                      WHERE oid = d.objid) IN (SELECT oid FROM rels)
                 WHEN 'pg_catalog.pg_trigger'::regclass THEN (SELECT tgrelid FROM pg_catalog.pg_trigger
                      WHERE oid = d.objid) IN (SELECT oid FROM rels)
                 END, false)
             ORDER BY 1",
            &[&schema],
        )
        .await
        .map_err(|e| PgError::db(format!("cannot read what depends on schema `{schema}`"), e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// `DROP SCHEMA "name" CASCADE`.
pub fn drop_schema_sql(schema: &str) -> String {
    format!("DROP SCHEMA {} CASCADE", quote_ident(schema))
}
