//! The source side: one exported snapshot shared by every reader, tables split into ctid ranges,
//! and the `COPY (SELECT …) TO STDOUT (FORMAT binary)` statement of each chunk.
//!
//! ctid ranges work for every table (no integer key needed) and, under one snapshot, each visible
//! row version is in exactly one range: the snapshot keeps vacuum from moving what it can see, and
//! the last range is open-ended so pages added after the catalog was read are still covered.
use cutover_core::catalog::quote_ident;
use cutover_core::program::TableProgram;
use cutover_postgres::{ConnInfo, PgError};
use tokio_postgres::Client;

use crate::error::{EngineError, ErrorKind, Result};

/// A source snapshot, exported by a connection that keeps its transaction open until dropped.
pub struct Snapshot {
    _holder: Client,
    /// The snapshot id to pass to `SET TRANSACTION SNAPSHOT`.
    pub id: String,
}

/// Opens a read-only repeatable-read transaction on the source and exports its snapshot.
pub async fn export_snapshot(source: &ConnInfo) -> Result<Snapshot> {
    let client = source.connect().await?;
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(|e| PgError::db("cannot open the snapshot transaction on the source", e))?;
    let row = client
        .query_one("SELECT pg_catalog.pg_export_snapshot()", &[])
        .await
        .map_err(|e| PgError::db("cannot export a snapshot on the source", e))?;
    Ok(Snapshot {
        id: row.get(0),
        _holder: client,
    })
}

/// The commit-safe horizon of a snapshot about to be taken: the earlier of the current time and
/// the start of the oldest transaction then holding a transaction id (a writer). Read in its own
/// transaction *before* the snapshot: a writer running when the snapshot is taken was either
/// already running here (so it is counted) or started later (so its start is after this time).
/// Any row invisible to the snapshot was written by a transaction that started at or after the
/// horizon, so its cursor (set by that transaction's clock) is at or after it too.
/// Returns RFC 3339 text (UTC).
pub async fn horizon(source: &ConnInfo) -> Result<String> {
    let client = source.connect().await?;
    let row = client
        .query_one(
            "SELECT to_char(least(clock_timestamp(),
                        (SELECT min(xact_start) FROM pg_catalog.pg_stat_activity
                         WHERE backend_xid IS NOT NULL AND pid <> pg_catalog.pg_backend_pid()))
                    AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
            &[],
        )
        .await
        .map_err(|e| {
            PgError::db(
                "cannot read the oldest running transaction on the source",
                e,
            )
        })?;
    Ok(row.get(0))
}

/// Opens a source connection reading in the given snapshot (or in its own repeatable-read
/// snapshot when `snapshot` is `None`). The transaction stays open for the connection's life.
pub async fn open_reader(source: &ConnInfo, snapshot: Option<&str>) -> Result<Client> {
    let client = source.connect().await?;
    if sql_ascii(&client).await? {
        // The server stores bytes of any encoding and would refuse, not convert, each value
        // that is not UTF-8: read them as stored (programs check them, see
        // `TableProgram::check_utf8`).
        client
            .batch_execute("SET client_encoding = 'SQL_ASCII'")
            .await
            .map_err(|e| PgError::db("cannot read the source's bytes as stored", e))?;
    }
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(|e| PgError::db("cannot open a read-only transaction on the source", e))?;
    if let Some(id) = snapshot {
        client
            .batch_execute(&format!(
                "SET TRANSACTION SNAPSHOT {}",
                cutover_core::catalog::quote_literal(id)
            ))
            .await
            .map_err(|e| {
                let e = PgError::db("cannot join the exported snapshot on the source", e);
                if e.sqlstate() == Some("22023") {
                    // invalid snapshot identifier: the exporting transaction has ended.
                    EngineError {
                        kind: ErrorKind::SnapshotLost,
                        message: e.to_string(),
                    }
                } else {
                    e.into()
                }
            })?;
    }
    Ok(client)
}

/// Whether the database `client` is connected to has the encoding `SQL_ASCII`.
pub async fn sql_ascii(client: &Client) -> Result<bool> {
    let enc: String = client
        .query_one("SELECT pg_catalog.current_setting('server_encoding')", &[])
        .await
        .map_err(|e| PgError::db("cannot read the server's encoding", e))?
        .get(0);
    Ok(enc == "SQL_ASCII")
}

/// One unit of work: a ctid page range of one table (`None` bounds are open).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Index of the table's program in the resolved order.
    pub table: usize,
    /// Position of this chunk in its table, from 0.
    pub index: usize,
    /// Number of chunks of the table.
    pub of: usize,
    /// First page (inclusive), or none.
    pub from_page: Option<i64>,
    /// Last page (exclusive), or none.
    pub to_page: Option<i64>,
}

/// Splits a table of `pages` pages into chunks of at most `chunk_pages` pages. The last chunk
/// is open-ended; a table that fits in one chunk gets a single unbounded chunk.
pub fn chunks(table: usize, pages: i64, chunk_pages: i64) -> Vec<Chunk> {
    let chunk_pages = chunk_pages.max(1);
    let n = if pages <= chunk_pages {
        1
    } else {
        ((pages + chunk_pages - 1) / chunk_pages) as usize
    };
    (0..n)
        .map(|i| Chunk {
            table,
            index: i,
            of: n,
            from_page: (i > 0).then(|| i as i64 * chunk_pages),
            to_page: (i + 1 < n).then(|| (i as i64 + 1) * chunk_pages),
        })
        .collect()
}

/// The `SELECT` of a program's source columns for one chunk (or the whole table).
pub fn select_sql(
    program: &TableProgram,
    chunk: Option<&Chunk>,
    extra_where: Option<&str>,
) -> String {
    let cols = program
        .source_columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let mut conds = Vec::new();
    if let Some(f) = &program.filter {
        conds.push(format!("({f})"));
    }
    if let Some(extra) = extra_where {
        conds.push(format!("({extra})"));
    }
    if let Some(c) = chunk {
        if let Some(from) = c.from_page {
            conds.push(format!("ctid >= '({from},0)'::tid"));
        }
        if let Some(to) = c.to_page {
            conds.push(format!("ctid < '({to},0)'::tid"));
        }
    }
    let mut sql = format!("SELECT {cols} FROM {}", program.source.qualified());
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    sql
}

/// The `COPY … TO STDOUT (FORMAT binary)` of a query.
pub fn copy_out_sql(select: &str) -> String {
    format!("COPY ({select}) TO STDOUT (FORMAT binary)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_page_once_and_the_last_is_open() {
        let c = chunks(0, 25, 10);
        assert_eq!(c.len(), 3);
        assert_eq!((c[0].from_page, c[0].to_page), (None, Some(10)));
        assert_eq!((c[1].from_page, c[1].to_page), (Some(10), Some(20)));
        assert_eq!((c[2].from_page, c[2].to_page), (Some(20), None));
        let one = chunks(3, 5, 10);
        assert_eq!(one.len(), 1);
        assert_eq!((one[0].from_page, one[0].to_page), (None, None));
    }
}
