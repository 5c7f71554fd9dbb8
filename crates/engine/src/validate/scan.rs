//! Running validate's queries on one connection (a read-only transaction in the run's
//! snapshot). Results come back as text through the simple protocol; anything longer than one
//! row is read through a cursor, `FETCH_ROWS` at a time, so memory stays bounded whatever the
//! number of broken rows — only the first `limit` of each rule are kept, the rest counted.
use std::time::Instant;

use cutover_core::validation::{key_json, Sample, MASKED};
use tokio_postgres::{Client, SimpleQueryMessage, SimpleQueryRow};

use super::{sql, TableScope};
use crate::error::{EngineError, Result};
use cutover_postgres::PgError;

/// Rows fetched from a cursor per round trip.
const FETCH_ROWS: usize = 2000;
const CURSOR: &str = "cutover_validate";

/// Broken rows of one rule: all counted, the first few kept.
#[derive(Clone, Debug, Default)]
pub(super) struct Tally {
    pub violations: u64,
    pub samples: Vec<Sample>,
}

/// What the scan of a table found.
#[derive(Clone, Debug, Default)]
pub(super) struct ScanFound {
    pub rows: u64,
    pub elapsed_ms: u64,
    /// Per row rule, in order.
    pub tallies: Vec<Tally>,
    /// Per sequence, the column's maximum (minimum for a descending sequence) as text.
    pub extremes: Vec<Option<String>>,
}

/// The result of one task.
#[derive(Clone, Debug)]
pub(super) enum Found {
    Scan(ScanFound),
    Key(Tally),
    Orphan(Tally),
}

/// Session settings under which value texts match `cutover_core::value` and every name in the
/// rules' expressions is qualified.
pub(super) async fn prepare_session(client: &Client) -> Result<()> {
    client
        .batch_execute(
            "SET search_path = ''; SET TimeZone = 'UTC'; SET DateStyle = 'ISO';
             SET IntervalStyle = 'postgres'; SET extra_float_digits = 1;
             SET bytea_output = 'hex'; SET standard_conforming_strings = on",
        )
        .await
        .map_err(|e| EngineError::from(PgError::db("cannot set up a validate session", e)))
}

fn rows_of(messages: Vec<SimpleQueryMessage>) -> Vec<SimpleQueryRow> {
    messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn count(r: &SimpleQueryRow, i: usize) -> u64 {
    r.get(i).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Runs `sql` through a cursor, calling `each` per row until it returns false or rows run out.
async fn stream(
    client: &Client,
    sql: &str,
    mut each: impl FnMut(&SimpleQueryRow) -> bool,
) -> Result<()> {
    let fail = |e| EngineError::from(PgError::db("a validate query failed", e));
    client
        .batch_execute(&format!("DECLARE {CURSOR} NO SCROLL CURSOR FOR {sql}"))
        .await
        .map_err(fail)?;
    'fetch: loop {
        let rows = rows_of(
            client
                .simple_query(&format!("FETCH {FETCH_ROWS} FROM {CURSOR}"))
                .await
                .map_err(fail)?,
        );
        let last = rows.len() < FETCH_ROWS;
        for r in &rows {
            if !each(r) {
                break 'fetch;
            }
        }
        if last {
            break;
        }
    }
    client
        .batch_execute(&format!("CLOSE {CURSOR}"))
        .await
        .map_err(fail)
}

/// The key of a row from its first columns, pii parts masked.
fn key(t: &TableScope, r: &SimpleQueryRow) -> String {
    let width = sql::key_width(t);
    let parts: Vec<Option<String>> = (0..width)
        .map(|i| {
            let masked = t.key.get(i).is_some_and(|k| t.is_pii(k));
            r.get(i).map(|v| {
                if masked {
                    MASKED.to_string()
                } else {
                    v.to_string()
                }
            })
        })
        .collect();
    key_json(&parts)
}

fn shown(value: Option<&str>, mask: bool) -> Option<String> {
    value.map(|v| {
        if mask {
            MASKED.to_string()
        } else {
            v.to_string()
        }
    })
}

/// Scans a table once for every row rule, then samples the broken rules' rows.
pub(super) async fn scan(client: &Client, t: &TableScope, limit: usize) -> Result<Found> {
    let started = Instant::now();
    let rows = rows_of(
        client
            .simple_query(&sql::scan(t))
            .await
            .map_err(|e| PgError::db("the table scan failed", e))?,
    );
    let r = rows
        .first()
        .ok_or_else(|| EngineError::runtime("the table scan returned no row"))?;
    let mut found = ScanFound {
        rows: count(r, 0),
        tallies: (0..t.rows.len())
            .map(|i| Tally {
                violations: count(r, 1 + i),
                samples: Vec::new(),
            })
            .collect(),
        extremes: (0..t.sequences.len())
            .map(|i| r.get(1 + t.rows.len() + i).map(str::to_string))
            .collect(),
        ..ScanFound::default()
    };
    let broken: Vec<usize> = (0..t.rows.len())
        .filter(|&i| found.tallies[i].violations > 0)
        .collect();
    if !broken.is_empty() && limit > 0 {
        let width = sql::key_width(t);
        let wanted = |tally: &Tally| (tally.violations as usize).min(limit);
        let tallies = &mut found.tallies;
        stream(client, &sql::samples(t, &broken), |r| {
            let k = key(t, r);
            for (j, &i) in broken.iter().enumerate() {
                if r.get(width + 2 * j) == Some("t") && tallies[i].samples.len() < limit {
                    tallies[i].samples.push(Sample {
                        key: k.clone(),
                        value: shown(r.get(width + 2 * j + 1), t.rows[i].mask),
                    });
                }
            }
            broken
                .iter()
                .any(|&i| tallies[i].samples.len() < wanted(&tallies[i]))
        })
        .await?;
    }
    found.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(Found::Scan(found))
}

/// Keys shared by several rows, for key check `k`.
pub(super) async fn duplicates(
    client: &Client,
    t: &TableScope,
    k: usize,
    limit: usize,
) -> Result<Found> {
    let check = &t.keys[k];
    let n = check.columns.len();
    let mut tally = Tally::default();
    stream(client, &sql::duplicates(t, k), |r| {
        let rows = count(r, n);
        tally.violations += rows;
        if tally.samples.len() < limit {
            let parts: Vec<Option<String>> = (0..n)
                .map(|i| shown(r.get(i), t.is_pii(&check.columns[i])))
                .collect();
            tally.samples.push(Sample {
                key: key_json(&parts),
                value: Some(format!("{rows} rows")),
            });
        }
        true
    })
    .await?;
    Ok(Found::Key(tally))
}

/// References without a parent row, for orphan check `k`.
pub(super) async fn orphans(
    client: &Client,
    t: &TableScope,
    k: usize,
    limit: usize,
) -> Result<Found> {
    let check = &t.orphans[k];
    let width = sql::key_width(t);
    let mut tally = Tally::default();
    stream(client, &sql::orphans(t, k), |r| {
        tally.violations += 1;
        if tally.samples.len() < limit {
            let value = match check.columns.len() {
                1 => r.get(width).map(str::to_string),
                _ => Some(
                    check
                        .columns
                        .iter()
                        .enumerate()
                        .map(|(i, c)| format!("{c}={}", r.get(width + i).unwrap_or("NULL")))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
            };
            tally.samples.push(Sample {
                key: key(t, r),
                value: shown(value.as_deref(), check.mask),
            });
        }
        true
    })
    .await?;
    Ok(Found::Orphan(tally))
}
