//! `cutover finalize`: drops what `cutover rollback` of a run would need — `_cutover_prev_<run>`,
//! the target's contents from before the run — and, for a rolled-back run, the run's own tables
//! in `_cutover_rolledback_<run>`. A complete run becomes `finalized` and can no longer be rolled
//! back; a rolled-back run keeps its status. Nothing outside those schemas is dropped: while a
//! view or a foreign key elsewhere still depends on their tables, finalize refuses.
use cutover_core::catalog::quote_ident;
use cutover_postgres::state::StateSchema;
use cutover_postgres::{ConnInfo, PgError};

use crate::error::{EngineError, Result};
use crate::run_record::{
    self, drop_schema_sql, lock_run, outside_dependents, schema_exists, status, tables_in,
};

/// What a finalize dropped.
#[derive(Clone, Debug)]
pub struct FinalizeReport {
    pub run_id: String,
    /// Status of the run afterwards (`finalized`, or `rolled back`).
    pub status: String,
    /// Schemas dropped, each with the number of tables it held.
    pub dropped: Vec<(String, usize)>,
}

/// Finalizes run `run_id` of the target.
pub async fn finalize(
    target: &ConnInfo,
    state_schema: &str,
    run_id: &str,
) -> Result<FinalizeReport> {
    let state = StateSchema::new(state_schema);
    let mut client = target.connect().await?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| PgError::db("cannot begin the finalize transaction", e))?;
    tx.batch_execute("SET LOCAL lock_timeout = '60s'")
        .await
        .map_err(|e| PgError::db("cannot configure the finalize transaction", e))?;
    let run = lock_run(&tx, &state, run_id).await?;
    let refuse = |why: String| {
        Err(EngineError::config(format!(
            "cannot finalize run `{run_id}`: {why}"
        )))
    };
    let (candidates, new_status) = match run.status.as_str() {
        status::COMPLETE => match &run.previous_schema {
            Some(prev) => (
                vec![prev.clone(), run.rolled_back_schema()],
                status::FINALIZED,
            ),
            None => {
                return refuse(format!(
                    "it is a `{}` run, which kept nothing aside",
                    run.kind
                ))
            }
        },
        status::ROLLED_BACK => (
            run.previous_schema
                .iter()
                .cloned()
                .chain([run.rolled_back_schema()])
                .collect(),
            status::ROLLED_BACK,
        ),
        status::FINALIZED => return refuse("it was already finalized".into()),
        status::FAILED => {
            return refuse("it failed before its swap and kept nothing aside".into());
        }
        status::RUNNING => return refuse("it has not finished (status `running`)".into()),
        other => return refuse(format!("its status is `{other}`")),
    };
    let mut present = Vec::new();
    for s in candidates {
        if schema_exists(&tx, &s).await? {
            present.push(s);
        }
    }
    if present.is_empty() && run.status == status::ROLLED_BACK {
        return refuse(format!(
            "it was rolled back and its tables (schema `{}`) were already dropped",
            run.rolled_back_schema()
        ));
    }
    let mut dropped = Vec::new();
    for s in &present {
        let dependents = outside_dependents(&tx, s).await?;
        if !dependents.is_empty() {
            return refuse(format!(
                "these objects outside schema `{s}` still use its tables and would be dropped with \
                 it: {}. Point them at the tables in the target schema (or drop them), then run \
                 finalize again; nothing was dropped",
                dependents.join("; ")
            ));
        }
        let tables = tables_in(&tx, s).await?.len();
        tx.batch_execute(&drop_schema_sql(s)).await.map_err(|e| {
            PgError::db(
                format!("cannot drop schema {}; nothing was dropped", quote_ident(s)),
                e,
            )
        })?;
        dropped.push((s.clone(), tables));
    }
    run_record::set_status(&tx, &state, run_id, new_status).await?;
    tx.commit().await.map_err(|e| {
        PgError::db(
            "the finalize transaction failed to commit; nothing was dropped",
            e,
        )
    })?;
    tracing::info!(run = %run_id, schemas = dropped.len(), "run finalized");
    Ok(FinalizeReport {
        run_id: run_id.to_string(),
        status: new_status.to_string(),
        dropped,
    })
}
