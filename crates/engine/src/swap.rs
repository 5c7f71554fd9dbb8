//! The swap: one short transaction that moves the target's current tables into the run's
//! `_cutover_prev_<run>` schema, moves the staged tables into the target schema, hands serial
//! sequences over, recreates triggers, gives the new tables their predecessors' privileges and
//! settings (see [`crate::attributes`]), files the rejects and the manifest, and drops the
//! staging schema. Either all of it happens or none of it does.
use std::collections::HashMap;
use std::sync::Arc;

use cutover_core::catalog::{quote_ident, quote_literal};
use cutover_core::program::TableProgram;
use cutover_postgres::catalog::TableDdl;
use cutover_postgres::state::StateSchema;
use cutover_postgres::PgError;
use tokio_postgres::Client;

use crate::error::Result;
use crate::stage::Stage;

/// What the swap records beside the tables.
pub struct SwapExtras<'a> {
    /// Tables created by this run (`--create-tables`): nothing to move out for them.
    pub created: &'a std::collections::HashSet<String>,
    /// `(target table, cursor column)` of the tables delta-sync can follow.
    pub watermarks: &'a [(String, String)],
    /// The commit-safe horizon of the run's snapshot (RFC 3339): the new watermark.
    pub horizon: &'a str,
    /// The run's manifest, stored in its row of the state schema.
    pub manifest: &'a serde_json::Value,
    /// The exported snapshot the run read.
    pub snapshot: &'a str,
}

/// Swaps the staged tables in. `manifest` is stored in the run's row of the state schema.
pub async fn swap(
    client: &mut Client,
    stage: &Stage,
    programs: &[Arc<TableProgram>],
    ddl: &HashMap<String, TableDdl>,
    extras: &SwapExtras<'_>,
    state: &StateSchema,
) -> Result<()> {
    let created = extras.created;
    let tx = client
        .transaction()
        .await
        .map_err(|e| PgError::db("cannot begin the swap transaction", e))?;
    let err = |what: String| move |e| PgError::db(what, e);
    let target = quote_ident(&stage.target_schema);
    let mut sql = vec!["SET LOCAL lock_timeout = '60s'".to_string()];
    // An UNLOGGED target table stays unlogged (not replicated, emptied by a crash: the team's
    // choice). The staged table was loaded logged, so that a crash before the swap cannot
    // empty it behind the run's checkpoints; it is rewritten unlogged here, in the swap's
    // transaction, before any live table is locked. Referencing tables first: a logged table
    // may not reference an unlogged one (`programs` has the referenced ones first).
    sql.extend(
        programs
            .iter()
            .rev()
            .filter(|p| p.target.unlogged && !created.contains(&p.target.name))
            .map(|p| format!("ALTER TABLE {} SET UNLOGGED", stage.table(&p.target.name))),
    );
    sql.push(format!("CREATE SCHEMA {}", quote_ident(&stage.prev)));
    let empty = TableDdl::default();
    for p in programs
        .iter()
        .filter(|p| !created.contains(&p.target.name))
    {
        let d = ddl.get(&p.target.name).unwrap_or(&empty);
        for s in d.sequences.iter().filter(|s| !s.identity) {
            sql.push(format!("ALTER SEQUENCE {} OWNED BY NONE", s.sequence));
        }
        sql.push(format!(
            "ALTER TABLE {} SET SCHEMA {}",
            p.target.qualified(),
            quote_ident(&stage.prev)
        ));
    }
    for p in programs {
        sql.push(format!(
            "ALTER TABLE {} SET SCHEMA {target}",
            stage.table(&p.target.name)
        ));
    }
    for p in programs {
        let d = ddl.get(&p.target.name).unwrap_or(&empty);
        let q = p.target.qualified();
        for s in &d.sequences {
            let col = quote_ident(&s.column);
            if !s.identity && !created.contains(&p.target.name) {
                sql.push(format!("ALTER SEQUENCE {} OWNED BY {q}.{col}", s.sequence));
            }
            sql.push(format!(
                "SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence({}, {}), \
                 COALESCE(max({col}), 1), max({col}) IS NOT NULL) FROM {q}",
                quote_literal(&q),
                quote_literal(&s.column)
            ));
        }
        // A sequence the defaults draw from without owning it (shared, or created on its
        // own): past the loaded ids, forward only (another table may be ahead).
        for s in &d.default_sequences {
            sql.push(advance_sequence_sql(&s.sequence, &q, &s.column));
        }
        sql.extend(d.triggers.iter().cloned());
    }
    // Views and foreign keys elsewhere that depend on the replaced tables follow them to the
    // previous schema unless re-pointed: capture them before the move, replay after it.
    let replaced: Vec<(String, String)> = programs
        .iter()
        .filter(|p| !created.contains(&p.target.name))
        .map(|p| (p.target.schema.clone(), p.target.name.clone()))
        .collect();
    let deps = crate::dependents::capture(&tx, &replaced).await?;
    for s in deps.left.iter() {
        tracing::warn!(object = %s, "not re-pointed to the new tables");
    }
    let staged: Vec<(String, String, String)> = programs
        .iter()
        .filter(|p| !created.contains(&p.target.name))
        .map(|p| {
            let (schema, name) = (p.target.schema.clone(), p.target.name.clone());
            (schema, name, stage.table(&p.target.name))
        })
        .collect();
    let attributes = crate::attributes::capture(&tx, &staged, &stage.prev).await?;
    for s in attributes.left.iter() {
        tracing::warn!(object = %s, "not carried over to the new table");
    }
    for s in sql {
        tx.batch_execute(&s)
            .await
            .map_err(err(format!("swap failed at `{s}`")))?;
    }
    crate::dependents::apply(&tx, &deps).await?;
    crate::attributes::apply(&tx, &attributes).await?;
    tx.execute(
        &format!(
            "INSERT INTO {} (run_id, table_name, key, column_name, reason, phase, key_hash)
             SELECT $1, table_name, key, column_name, reason, phase, key_hash FROM {}",
            state.table("rejects"),
            stage.rejects_table()
        ),
        &[&stage.run_id],
    )
    .await
    .map_err(err("cannot file the rejected rows".into()))?;
    record_watermarks(&tx, state, extras.watermarks, extras.horizon, &stage.run_id).await?;
    state.record_write(&tx, &stage.run_id).await?;
    state
        .finish_run(
            &tx,
            &stage.run_id,
            "complete",
            Some(extras.snapshot),
            None,
            Some(extras.manifest),
        )
        .await?;
    tx.batch_execute(&format!(
        "DROP SCHEMA {} CASCADE",
        quote_ident(&stage.schema)
    ))
    .await
    .map_err(err("cannot drop the staging schema".into()))?;
    tx.commit().await.map_err(|e| {
        PgError::db(
            "the swap transaction failed to commit; the target is unchanged",
            e,
        )
    })?;
    Ok(())
}

/// Records the delta-sync watermark of each table with a cursor column (`(table, cursor)`):
/// the commit-safe horizon of the snapshot the run read. In the run's writing transaction, so
/// a watermark never moves past data that was not committed.
pub async fn record_watermarks<C: tokio_postgres::GenericClient>(
    client: &C,
    state: &StateSchema,
    tables: &[(String, String)],
    watermark: &str,
    run_id: &str,
) -> Result<()> {
    for (table, cursor) in tables {
        client
            .execute(
                &format!(
                    "INSERT INTO {} (table_name, cursor_column, watermark, run_id) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (table_name) DO UPDATE SET cursor_column = EXCLUDED.cursor_column,
                        watermark = EXCLUDED.watermark, run_id = EXCLUDED.run_id, updated_at = now()",
                    state.table("watermarks")
                ),
                &[table, cursor, &watermark, &run_id],
            )
            .await
            .map_err(|e| PgError::db(format!("cannot record the watermark of `{table}`"), e))?;
    }
    Ok(())
}

/// The statement that moves `sequence` (qualified, as `pg_get_serial_sequence` prints it) past
/// the largest value of `table`.`column`, forward only: ids it handed out stay used.
pub(crate) fn advance_sequence_sql(sequence: &str, table: &str, column: &str) -> String {
    format!(
        "SELECT pg_catalog.setval({}::regclass, m.v) FROM (SELECT max({})::int8 AS v FROM {table}) m, {sequence} q \
         WHERE m.v > q.last_value OR (m.v = q.last_value AND NOT q.is_called)",
        quote_literal(sequence),
        quote_ident(column)
    )
}
