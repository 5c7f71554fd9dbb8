//! The engine's own state, kept in the target in one schema (default `_cutover`): runs with
//! their manifests, rejected rows, and per-table watermarks for delta-sync.
use cutover_core::catalog::quote_ident;
use tokio_postgres::GenericClient;

use crate::error::{PgError, Result};

/// The state schema of one target database.
#[derive(Clone, Debug)]
pub struct StateSchema {
    name: String,
}

impl StateSchema {
    pub fn new(name: &str) -> Self {
        StateSchema {
            name: name.to_string(),
        }
    }

    /// The schema name, unquoted.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `"schema"."table"` for a state table.
    pub fn table(&self, table: &str) -> String {
        format!("{}.{}", quote_ident(&self.name), quote_ident(table))
    }

    /// Creates the schema and its tables when missing (idempotent).
    pub async fn ensure<C: GenericClient>(&self, client: &C) -> Result<()> {
        let s = quote_ident(&self.name);
        let ddl = format!(
            "CREATE SCHEMA IF NOT EXISTS {s};
             CREATE TABLE IF NOT EXISTS {s}.runs (
                run_id text PRIMARY KEY,
                kind text NOT NULL,
                status text NOT NULL,
                started_at timestamptz NOT NULL DEFAULT now(),
                finished_at timestamptz,
                mapping_hash text,
                snapshot text,
                error text,
                manifest jsonb);
             CREATE TABLE IF NOT EXISTS {s}.rejects (
                run_id text NOT NULL,
                table_name text NOT NULL,
                key text NOT NULL,
                column_name text,
                reason text NOT NULL,
                phase text NOT NULL DEFAULT 'transform',
                key_hash text,
                recorded_at timestamptz NOT NULL DEFAULT now());
             COMMENT ON COLUMN {s}.rejects.phase IS
               'transform: the mapping refused the row (key = source key); constraint: the target refused it at load (key = target key); nulled: an orphan reference was set to NULL at load';
             COMMENT ON COLUMN {s}.rejects.key_hash IS
               'hex blake3 of the canonical target key bytes (constraint and nulled rows), used by reconcile';
             ALTER TABLE {s}.rejects ADD COLUMN IF NOT EXISTS phase text NOT NULL DEFAULT 'transform';
             ALTER TABLE {s}.rejects ADD COLUMN IF NOT EXISTS key_hash text;
             CREATE INDEX IF NOT EXISTS rejects_run_table ON {s}.rejects (run_id, table_name);
             CREATE TABLE IF NOT EXISTS {s}.writes (
                run_id text NOT NULL,
                xid bigint NOT NULL);
             COMMENT ON TABLE {s}.writes IS
               'transactions in which cutover wrote target rows (32-bit xids): a target row whose xmin is newer than the last full load and not one of these was written by someone else (a delta-sync conflict)';
             CREATE TABLE IF NOT EXISTS {s}.watermarks (
                table_name text PRIMARY KEY,
                cursor_column text NOT NULL,
                watermark text NOT NULL,
                run_id text NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now());"
        );
        client
            .batch_execute(&ddl)
            .await
            .map_err(|e| PgError::db(format!("cannot create the state schema `{}`", self.name), e))
    }

    /// Records a run as started.
    pub async fn start_run<C: GenericClient>(
        &self,
        client: &C,
        run_id: &str,
        kind: &str,
        mapping_hash: &str,
    ) -> Result<()> {
        client
            .execute(
                &format!(
                    "INSERT INTO {} (run_id, kind, status, mapping_hash) VALUES ($1, $2, 'running', $3)",
                    self.table("runs")
                ),
                &[&run_id, &kind, &mapping_hash],
            )
            .await
            .map(|_| ())
            .map_err(|e| PgError::db("cannot record the run in the state schema", e))
    }

    /// Records that the current transaction writes target rows for this run.
    pub async fn record_write<C: GenericClient>(&self, client: &C, run_id: &str) -> Result<()> {
        client
            .execute(
                &format!(
                    "INSERT INTO {} (run_id, xid) VALUES ($1, (pg_catalog.pg_current_xact_id()::text::bigint % 4294967296))",
                    self.table("writes")
                ),
                &[&run_id],
            )
            .await
            .map(|_| ())
            .map_err(|e| PgError::db("cannot record the writing transaction", e))
    }

    /// Records the end of a run: its status, the snapshot, an error message, the manifest.
    pub async fn finish_run<C: GenericClient>(
        &self,
        client: &C,
        run_id: &str,
        status: &str,
        snapshot: Option<&str>,
        error: Option<&str>,
        manifest: Option<&serde_json::Value>,
    ) -> Result<()> {
        client
            .execute(
                &format!(
                    "UPDATE {} SET status = $2, finished_at = now(), snapshot = $3, error = $4,
                            manifest = $5 WHERE run_id = $1",
                    self.table("runs")
                ),
                &[&run_id, &status, &snapshot, &error, &manifest],
            )
            .await
            .map(|_| ())
            .map_err(|e| PgError::db("cannot record the end of the run in the state schema", e))
    }
}
