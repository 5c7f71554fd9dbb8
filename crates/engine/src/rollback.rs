//! `cutover rollback`: puts the target back as it was before a `migrate full` run, in one short
//! transaction of renames (seconds, whatever the size): the run's tables move out of the target
//! schema to `_cutover_rolledback_<run>`, the tables its swap kept in `_cutover_prev_<run>` move
//! back in with their indexes, constraints and triggers, serial sequences are handed back (and
//! never moved backwards, so no id is handed out twice), delta-sync watermarks set by the run or
//! after it are removed (the next delta-sync reads again from the previous full load), and the
//! run is marked `rolled back`.
//! Either all of it happens or none of it does. `cutover finalize` drops what was moved aside.
use std::collections::{HashMap, HashSet};

use cutover_core::catalog::quote_ident;
use cutover_postgres::state::StateSchema;
use cutover_postgres::{ConnInfo, PgError};
use tokio_postgres::Transaction;

use crate::error::{EngineError, Result};
use crate::run_record::{self, later_runs, lock_run, schema_exists, status, tables_in, RunRecord};

/// What a rollback did.
#[derive(Clone, Debug)]
pub struct RollbackReport {
    pub run_id: String,
    /// Tables put back from the previous schema, `schema.table`.
    pub restored: Vec<String>,
    /// Tables the run had created (no earlier version): moved aside only.
    pub removed: Vec<String>,
    /// Schema the restored tables came from (dropped when it is left empty).
    pub previous_schema: String,
    /// Schema now holding the run's tables, until `cutover finalize --run`.
    pub rolled_back_schema: String,
    /// Serial sequences handed back to the restored tables, `sequence → table.column`.
    pub sequences: Vec<String>,
    /// Delta-sync watermarks removed: they described the run's contents, not the restored ones.
    pub watermarks_cleared: u64,
}

/// One target table of the run: where it lives, and which versions of it exist.
#[derive(Clone, Debug)]
struct Pair {
    schema: String,
    name: String,
    /// The run's version is in the target schema.
    current: bool,
    /// The earlier version is in the previous schema.
    previous: bool,
}

impl Pair {
    fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

/// A serial sequence owned by one of the run's tables.
struct Owned {
    sequence: String,
    table: usize,
    column: String,
}

/// Rolls back run `run_id` of the target.
pub async fn rollback(
    target: &ConnInfo,
    state_schema: &str,
    run_id: &str,
) -> Result<RollbackReport> {
    let state = StateSchema::new(state_schema);
    let mut client = target.connect().await?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| PgError::db("cannot begin the rollback transaction", e))?;
    exec(&tx, "SET LOCAL lock_timeout = '60s'").await?;
    let run = lock_run(&tx, &state, run_id).await?;
    check_status(&run)?;
    let prev = run.previous_schema.clone().unwrap_or_default();
    if !schema_exists(&tx, &prev).await? {
        return Err(EngineError::config(format!(
            "cannot roll back run `{run_id}`: schema `{prev}`, which held the target's contents from \
             before it, no longer exists (dropped by hand?); nothing was changed"
        )));
    }
    let pairs = resolve_tables(&tx, &run, &prev).await?;
    let locks: Vec<String> = pairs
        .iter()
        .filter(|p| p.current)
        .map(Pair::qualified)
        .chain(
            pairs
                .iter()
                .filter(|p| p.previous)
                .map(|p| format!("{}.{}", quote_ident(&prev), quote_ident(&p.name))),
        )
        .collect();
    if !locks.is_empty() {
        exec(
            &tx,
            &format!("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", locks.join(", ")),
        )
        .await?;
    }
    // Checked once the tables are locked: a swap committing meanwhile is seen here.
    if let Some(later) = later_runs(&tx, &state, &run).await?.first() {
        return Err(EngineError::config(if later.status == status::FINALIZED {
            format!(
                "cannot roll back run `{run_id}`: run `{}` replaced the same tables after it and was \
                 finalized, so the tables of `{run_id}` are gone; nothing was changed",
                later.run_id
            )
        } else {
            format!(
                "cannot roll back run `{run_id}`: run `{}` replaced the same tables after it; roll \
                 that one back first (`cutover rollback --run {}`); nothing was changed",
                later.run_id, later.run_id
            )
        }));
    }
    // A table the run created leaves with its own sequences; a replaced table hands its
    // sequences (shared with the earlier version, as the swap did) back.
    let mut owned = owned_sequences(&tx, &pairs).await?;
    owned.retain(|o| pairs[o.table].previous);
    let prev_columns = integer_columns(&tx, &prev).await?;
    let aside = run.rolled_back_schema();

    // Views and foreign keys elsewhere were re-pointed to the run's tables at the swap: capture
    // them now and replay them after the move so they bind to the restored tables.
    let current: Vec<(String, String)> = pairs
        .iter()
        .filter(|p| p.current && p.previous)
        .map(|p| (p.schema.clone(), p.name.clone()))
        .collect();
    let deps = crate::dependents::capture(&tx, &current).await?;
    let mut sql = vec![format!("CREATE SCHEMA {}", quote_ident(&aside))];
    for o in &owned {
        sql.push(format!("ALTER SEQUENCE {} OWNED BY NONE", o.sequence));
    }
    for p in pairs.iter().filter(|p| p.current) {
        sql.push(format!(
            "ALTER TABLE {} SET SCHEMA {}",
            p.qualified(),
            quote_ident(&aside)
        ));
    }
    for p in pairs.iter().filter(|p| p.previous) {
        sql.push(format!(
            "ALTER TABLE {}.{} SET SCHEMA {}",
            quote_ident(&prev),
            quote_ident(&p.name),
            quote_ident(&p.schema)
        ));
    }
    // Extended statistics objects stay where they are when their tables move: those of the
    // run's tables go aside with them, those of the restored tables come back (the swap moved
    // them to the previous schema).
    for p in pairs.iter().filter(|p| p.current) {
        let moves = crate::attributes::move_statistics(&tx, &p.qualified(), None, &aside).await?;
        sql.extend(moves);
    }
    for p in pairs.iter().filter(|p| p.previous) {
        let old = format!("{}.{}", quote_ident(&prev), quote_ident(&p.name));
        let moves = crate::attributes::move_statistics(&tx, &old, Some(&prev), &p.schema).await?;
        sql.extend(moves);
    }
    let mut sequences = Vec::new();
    for o in &owned {
        let p = &pairs[o.table];
        let Some(integer) = prev_columns.get(&(p.name.clone(), o.column.clone())) else {
            continue; // the earlier table lacks the column: the sequence stays unowned
        };
        let col = quote_ident(&o.column);
        sql.push(format!(
            "ALTER SEQUENCE {} OWNED BY {}.{col}",
            o.sequence,
            p.qualified()
        ));
        if *integer {
            // Forward only: ids handed out since the run stay used.
            sql.push(crate::swap::advance_sequence_sql(
                &o.sequence,
                &p.qualified(),
                &o.column,
            ));
        }
        sequences.push(format!("{} → {}.{}", o.sequence, p.qualified(), col));
    }
    for s in &sql {
        exec(&tx, s)
            .await
            .map_err(|e| e.context("the rollback failed; nothing was changed"))?;
    }
    crate::dependents::apply(&tx, &deps)
        .await
        .map_err(|e| e.context("the rollback failed; nothing was changed"))?;
    drop_if_empty(&tx, &prev).await?;
    let names: Vec<String> = pairs.iter().map(|p| p.name.clone()).collect();
    let watermarks_cleared = run_record::clear_watermarks(&tx, &state, run_id, &names).await?;
    run_record::set_status(&tx, &state, run_id, status::ROLLED_BACK).await?;
    tx.commit().await.map_err(|e| {
        PgError::db(
            "the rollback transaction failed to commit; nothing was changed",
            e,
        )
    })?;
    tracing::info!(run = %run_id, tables = pairs.len(), "run rolled back");
    Ok(RollbackReport {
        run_id: run_id.to_string(),
        restored: pairs
            .iter()
            .filter(|p| p.previous)
            .map(|p| format!("{}.{}", p.schema, p.name))
            .collect(),
        removed: pairs
            .iter()
            .filter(|p| !p.previous)
            .map(|p| format!("{}.{}", p.schema, p.name))
            .collect(),
        previous_schema: prev,
        rolled_back_schema: aside,
        sequences,
        watermarks_cleared,
    })
}

/// Only a complete run that replaced tables can be rolled back.
fn check_status(run: &RunRecord) -> Result<()> {
    let id = &run.run_id;
    let why = match run.status.as_str() {
        status::COMPLETE if run.previous_schema.is_some() => return Ok(()),
        status::COMPLETE => format!("it is a `{}` run, which replaced no tables", run.kind),
        status::ROLLED_BACK => format!(
            "it was already rolled back (its tables are in schema `{}` until `cutover finalize --run {id}`)",
            run.rolled_back_schema()
        ),
        status::FINALIZED => "it was finalized: the contents from before it were dropped".to_string(),
        status::FAILED => "it failed before its swap, so the target tables were never replaced".to_string(),
        status::RUNNING => "it has not finished (status `running`); the target tables are replaced \
                            only when a run completes"
            .to_string(),
        other => format!("its status is `{other}`; only a complete run can be rolled back"),
    };
    Err(EngineError::config(format!(
        "cannot roll back run `{id}`: {why}"
    )))
}

/// Matches the manifest's `schema.table` targets with the tables of the target and of the
/// previous schema (names may contain dots, so the catalog decides where the schema ends).
async fn resolve_tables(tx: &Transaction<'_>, run: &RunRecord, prev: &str) -> Result<Vec<Pair>> {
    let in_prev: HashSet<String> = tables_in(tx, prev).await?.into_iter().collect();
    let rows = tx
        .query(
            "SELECT n.nspname::text, c.relname::text FROM pg_catalog.pg_class c
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p') AND n.nspname::text || '.' || c.relname::text = ANY($1)",
            &[&run.targets],
        )
        .await
        .map_err(|e| PgError::db("cannot find the run's tables in the target", e))?;
    let current: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let mut pairs = Vec::new();
    for t in &run.targets {
        let cur = current.iter().find(|(s, n)| format!("{s}.{n}") == *t);
        let old = match cur {
            Some((_, n)) if in_prev.contains(n) => Some(n.clone()),
            Some(_) => None,
            None => in_prev
                .iter()
                .filter(|n| t.len() > n.len() + 1 && t.ends_with(&format!(".{n}")))
                .max_by_key(|n| n.len())
                .cloned(),
        };
        let (schema, name) = match (cur, &old) {
            (Some((s, n)), _) => (s.clone(), n.clone()),
            (None, Some(n)) => (t[..t.len() - n.len() - 1].to_string(), n.clone()),
            (None, None) => {
                return Err(EngineError::config(format!(
                    "cannot roll back run `{}`: its table `{t}` is neither in the target nor in \
                     schema `{prev}` (dropped or moved by hand?); nothing was changed",
                    run.run_id
                )))
            }
        };
        pairs.push(Pair {
            schema,
            name,
            current: cur.is_some(),
            previous: old.is_some(),
        });
    }
    Ok(pairs)
}

/// Serial sequences owned (`OWNED BY`) by a column of the run's current tables. Identity
/// sequences belong to their table and move with it, so they are not listed.
async fn owned_sequences(tx: &Transaction<'_>, pairs: &[Pair]) -> Result<Vec<Owned>> {
    let current: Vec<&Pair> = pairs.iter().filter(|p| p.current).collect();
    let schemas: Vec<&str> = current.iter().map(|p| p.schema.as_str()).collect();
    let names: Vec<&str> = current.iter().map(|p| p.name.as_str()).collect();
    let rows = tx
        .query(
            "SELECT tn.nspname::text, t.relname::text, a.attname::text, sn.nspname::text, s.relname::text
             FROM pg_catalog.pg_depend d
             JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'
             JOIN pg_catalog.pg_namespace sn ON sn.oid = s.relnamespace
             JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
             JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
             JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
             WHERE d.classid = 'pg_catalog.pg_class'::regclass
               AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype = 'a'
               AND (tn.nspname::text, t.relname::text) IN (SELECT * FROM unnest($1::text[], $2::text[]))
             ORDER BY 4, 5",
            &[&schemas, &names],
        )
        .await
        .map_err(|e| PgError::db("cannot read the sequences owned by the run's tables", e))?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let (schema, name): (String, String) = (r.get(0), r.get(1));
            let table = pairs
                .iter()
                .position(|p| p.current && p.schema == schema && p.name == name)?;
            Some(Owned {
                sequence: format!("{}.{}", quote_ident(r.get(3)), quote_ident(r.get(4))),
                table,
                column: r.get(2),
            })
        })
        .collect())
}

/// The columns of the previous schema's tables: `(table, column) → is an integer`.
async fn integer_columns(
    tx: &Transaction<'_>,
    prev: &str,
) -> Result<HashMap<(String, String), bool>> {
    let rows = tx
        .query(
            "SELECT c.relname::text, a.attname::text, a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
             FROM pg_catalog.pg_attribute a
             JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped",
            &[&prev],
        )
        .await
        .map_err(|e| PgError::db(format!("cannot read the columns of schema `{prev}`"), e))?;
    Ok(rows
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect())
}

/// Drops the previous schema if the rollback left it empty; anything else put there is kept.
async fn drop_if_empty(tx: &Transaction<'_>, prev: &str) -> Result<()> {
    let sp = format!(
        "SAVEPOINT drop_prev; DROP SCHEMA {} RESTRICT",
        quote_ident(prev)
    );
    match tx.batch_execute(&sp).await {
        Ok(()) => exec(tx, "RELEASE SAVEPOINT drop_prev").await,
        Err(_) => exec(tx, "ROLLBACK TO SAVEPOINT drop_prev").await,
    }
}

async fn exec(tx: &Transaction<'_>, sql: &str) -> Result<()> {
    tx.batch_execute(sql)
        .await
        .map_err(|e| PgError::db(format!("statement failed: `{sql}`"), e).into())
}
