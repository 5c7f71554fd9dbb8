//! The staging schema of a run: every target table is loaded into a bare copy of itself (no
//! indexes, no constraints but NOT NULL) in `_cutover_stage_<run>`, cleaned of rows the target's
//! constraints would refuse (orphans, CHECK violations: they become rejects), given its indexes
//! and constraints back, and only then swapped into place. Until the swap nothing the
//! application sees has changed.
use std::collections::HashMap;

use cutover_core::catalog::{quote_ident, quote_literal};
use cutover_core::program::{RowReject, TableProgram};
use cutover_postgres::catalog::{printed_name, TableDdl};
use cutover_postgres::PgError;
use tokio_postgres::Client;

use crate::error::Result;

/// Names of a run's schemas.
#[derive(Clone, Debug)]
pub struct Stage {
    /// Run id.
    pub run_id: String,
    /// Schema the new contents are built in.
    pub schema: String,
    /// Schema the previous contents are moved to at the swap (kept for rollback).
    pub prev: String,
    /// Target schema of the mapping.
    pub target_schema: String,
}

impl Stage {
    pub fn new(run_id: &str, target_schema: &str) -> Self {
        Stage {
            run_id: run_id.to_string(),
            schema: format!("_cutover_stage_{run_id}"),
            prev: format!("_cutover_prev_{run_id}"),
            target_schema: target_schema.to_string(),
        }
    }

    /// `"stage"."table"`.
    pub fn table(&self, name: &str) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(name))
    }

    /// The table that holds this run's rejects until the swap.
    pub fn rejects_table(&self) -> String {
        self.table("_cutover_rejects")
    }

    /// Creates the staging schema and its rejects table.
    pub async fn create(&self, client: &Client) -> Result<()> {
        client
            .batch_execute(&format!(
                "CREATE SCHEMA {s};
                 CREATE TABLE {r} (table_name text NOT NULL, key text NOT NULL,
                                   column_name text, reason text NOT NULL);",
                s = quote_ident(&self.schema),
                r = self.rejects_table()
            ))
            .await
            .map_err(|e| PgError::db(format!("cannot create the staging schema `{}`", self.schema), e))?;
        Ok(())
    }

    /// Drops the staging schema and everything in it (after a failure, or after the swap).
    pub async fn drop(&self, client: &Client) -> Result<()> {
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                quote_ident(&self.schema)
            ))
            .await
            .map_err(|e| PgError::db(format!("cannot drop the staging schema `{}`", self.schema), e))?;
        Ok(())
    }

    /// `CREATE TABLE` of the bare staging copy of a target table: columns, defaults, identity,
    /// generated columns, storage and NOT NULL; no index, no other constraint.
    pub fn create_table_sql(&self, program: &TableProgram) -> String {
        format!(
            "CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING GENERATED \
             INCLUDING STORAGE INCLUDING COMPRESSION INCLUDING COMMENTS)",
            self.table(&program.target.name),
            program.target.qualified()
        )
    }

    /// `COPY … FROM STDIN (FORMAT binary)` into the staging table; `FREEZE` when the table was
    /// created in the same transaction.
    pub fn copy_in_sql(&self, program: &TableProgram, freeze: bool) -> String {
        let cols = column_list(program);
        format!(
            "COPY {} ({cols}) FROM STDIN (FORMAT binary{})",
            self.table(&program.target.name),
            if freeze { ", FREEZE" } else { "" }
        )
    }

    /// Records rejected rows of a table (in the caller's transaction).
    pub async fn write_rejects(&self, client: &Client, table: &str, rejects: &[RowReject]) -> Result<()> {
        for part in rejects.chunks(10_000) {
            let keys: Vec<&str> = part.iter().map(|r| r.key.as_str()).collect();
            let cols: Vec<&str> = part.iter().map(|r| r.column.as_str()).collect();
            let reasons: Vec<&str> = part.iter().map(|r| r.reason.as_str()).collect();
            client
                .execute(
                    &format!(
                        "INSERT INTO {} (table_name, key, column_name, reason)
                         SELECT $1, k, NULLIF(c, ''), r FROM unnest($2::text[], $3::text[], $4::text[]) AS u(k, c, r)",
                        self.rejects_table()
                    ),
                    &[&table, &keys, &cols, &reasons],
                )
                .await
                .map_err(|e| PgError::db(format!("cannot record the rejected rows of `{table}`"), e))?;
        }
        Ok(())
    }
}

/// The quoted target column list of a program, in batch order.
pub fn column_list(program: &TableProgram) -> String {
    program
        .target_columns
        .iter()
        .map(|c| quote_ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// DDL statements to give a staging table its target's indexes and constraints back.
#[derive(Clone, Debug, Default)]
pub struct Rebuild {
    /// `CREATE INDEX` statements (independent: may run in parallel).
    pub indexes: Vec<String>,
    /// `ALTER TABLE … ADD CONSTRAINT` for primary keys, unique and exclusion constraints and
    /// checks (after the indexes).
    pub constraints: Vec<String>,
    /// `ALTER TABLE … ADD CONSTRAINT … FOREIGN KEY` (after every table's keys exist).
    pub foreign_keys: Vec<String>,
    /// CHECK expressions by constraint name (to find the rows that violate them).
    pub checks: Vec<(String, String)>,
}

/// Rewrites a target table's DDL to apply to its staging copy. `staged` maps every target table
/// of the run to nothing: references to those go to their staging copies too.
pub async fn rebuild_sql(
    client: &Client,
    stage: &Stage,
    program: &TableProgram,
    ddl: &TableDdl,
    staged: &HashMap<String, ()>,
) -> Result<Rebuild> {
    let schema = &program.target.schema;
    let table = &program.target.name;
    let printed = printed_name(client, schema, table).await?;
    let staged_name = stage.table(table);
    let mut out = Rebuild::default();
    for idx in &ddl.indexes {
        if idx.constraint_kind == Some('x') {
            continue; // created by its constraint below
        }
        out.indexes.push(
            idx.sql
                .replacen(&format!(" ON {printed} "), &format!(" ON {staged_name} "), 1)
                .replacen(&format!(" ON ONLY {printed} "), &format!(" ON ONLY {staged_name} "), 1),
        );
        if let (Some(con), Some(kind)) = (&idx.constraint, idx.constraint_kind) {
            let what = if kind == 'p' { "PRIMARY KEY" } else { "UNIQUE" };
            out.constraints.push(format!(
                "ALTER TABLE {staged_name} ADD CONSTRAINT {} {what} USING INDEX {}",
                quote_ident(con),
                quote_ident(&idx.name)
            ));
        }
    }
    for con in &ddl.constraints {
        let def = con.sql.trim_end_matches(" NOT VALID").to_string();
        match con.kind {
            'c' => {
                let expr = def.trim_start_matches("CHECK ").to_string();
                out.checks.push((con.name.clone(), expr));
                out.constraints.push(format!(
                    "ALTER TABLE {staged_name} ADD CONSTRAINT {} {def}",
                    quote_ident(&con.name)
                ));
            }
            'f' => {
                let mut def = def;
                if let Some(fk) = &con.references {
                    if fk.schema == *schema && staged.contains_key(&fk.table) {
                        let parent = printed_name(client, &fk.schema, &fk.table).await?;
                        def = def.replacen(
                            &format!("REFERENCES {parent}("),
                            &format!("REFERENCES {}(", stage.table(&fk.table)),
                            1,
                        );
                    }
                }
                out.foreign_keys.push(format!(
                    "ALTER TABLE {staged_name} ADD CONSTRAINT {} {def}",
                    quote_ident(&con.name)
                ));
            }
            _ => {}
        }
    }
    for idx in &ddl.indexes {
        if idx.constraint_kind == Some('x') {
            if let Some(con) = &idx.constraint {
                let def = client
                    .query_one(
                        "SELECT pg_catalog.pg_get_constraintdef(c.oid) FROM pg_catalog.pg_constraint c
                         JOIN pg_catalog.pg_class t ON t.oid = c.conrelid
                         JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
                         WHERE n.nspname = $1 AND t.relname = $2 AND c.conname = $3",
                        &[schema, table, con],
                    )
                    .await
                    .map_err(|e| PgError::db("cannot read an exclusion constraint", e))?;
                let def: String = def.get(0);
                out.constraints.push(format!(
                    "ALTER TABLE {staged_name} ADD CONSTRAINT {} {def}",
                    quote_ident(con)
                ));
            }
        }
    }
    Ok(out)
}

/// The literal of a staging table's name for messages.
pub fn shown(stage: &Stage, table: &str) -> String {
    quote_literal(&format!("{}.{}", stage.target_schema, table))
}
