//! `cutover validate`: an integrity scan of the target, run as a cutover gate. Proves the
//! target *fit to go live*, where reconcile proves it complete.
//!
//! Rules come from the catalog ([`catalog_rules`]: primary keys and unique indexes — also invalid
//! ones —, NOT NULL, CHECK and foreign-key constraints — also `NOT VALID` ones —, domain
//! constraints, enum labels, sequences ahead of their column) and from the mapping
//! ([`declared`]: column rules, the mapping's key, and relationships its `uuid` references
//! declare but the schema lacks).
//!
//! The work is pushed into PostgreSQL, all in one exported snapshot, tables in parallel over
//! `jobs` connections ([`scan`]): per table ONE scan evaluates every per-row rule as
//! `count(*) FILTER (WHERE …)` and the maximum of each sequence-fed column; only when some rule
//! is broken does a second, cursor-driven pass fetch a bounded sample of broken rows (stopping
//! as soon as every broken rule has its sample). Uniqueness is a `GROUP BY … HAVING count(*) > 1`
//! (it does not trust the index) and orphans are anti-joins, each streamed through a cursor.
//! Nothing is written: every session is a read-only transaction.
pub mod source;

mod catalog_rules;
mod declared;
mod report;
mod scan;
mod sql;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;

use cutover_core::catalog::TableInfo;
use cutover_core::mapping::{self, Mapping};
use cutover_core::validation::{RuleOutcome, ValidationSummary};
use cutover_postgres::integrity::SequenceState;
use cutover_postgres::{catalog, integrity, ConnInfo};
use serde::Serialize;

use crate::error::{EngineError, Result};
use crate::extract::{export_snapshot, open_reader};
use crate::observer::{Event, SharedObserver};

/// What `validate` needs.
#[derive(Clone, Debug)]
pub struct ValidateOptions {
    /// The database to check (only read).
    pub target: ConnInfo,
    /// Mapping file: its target tables are checked, with its declared rules. Without it, every
    /// table of `schema` is checked against its catalog rules only.
    pub mapping: Option<PathBuf>,
    /// Schema checked without a mapping.
    pub schema: String,
    /// Parallel connections.
    pub jobs: usize,
    /// Broken rows named per table and rule (all are counted).
    pub findings_limit: usize,
}

/// The run's parameters, recorded in `summary.json`.
#[derive(Clone, Debug, Serialize)]
pub struct ValidateParams {
    pub schema: String,
    pub mapping_hash: Option<String>,
    pub snapshot: String,
    pub findings_limit: usize,
}

/// What `validate` found.
#[derive(Clone, Debug, Serialize)]
pub struct ValidateOutcome {
    pub params: ValidateParams,
    #[serde(flatten)]
    pub summary: ValidationSummary,
}

/// A rule checked row by row in the table's scan.
#[derive(Clone, Debug)]
pub(crate) struct RowCheck {
    /// The outcome to fill (rule, column, constraint, severity, tolerance, location).
    pub outcome: RuleOutcome,
    /// TRUE exactly when a row breaks the rule (on the table aliased `t`).
    pub predicate: String,
    /// Text of the offending value(s) shown in findings, when there is one.
    pub value_sql: Option<String>,
    /// The value is personal data: masked.
    pub mask: bool,
}

/// Rows that must not share a key.
#[derive(Clone, Debug)]
pub(crate) struct KeyCheck {
    pub outcome: RuleOutcome,
    pub columns: Vec<String>,
    /// Predicate of a partial unique index.
    pub predicate: Option<String>,
}

/// References that must find their parent row.
#[derive(Clone, Debug)]
pub(crate) struct OrphanCheck {
    pub outcome: RuleOutcome,
    pub columns: Vec<String>,
    /// The parent table, quoted and qualified.
    pub parent: String,
    pub parent_columns: Vec<String>,
    pub match_full: bool,
    pub mask: bool,
}

/// A sequence that must be ahead of its column.
#[derive(Clone, Debug)]
pub(crate) struct SequenceCheck {
    pub outcome: RuleOutcome,
    pub state: SequenceState,
}

/// One table and every rule checked on it.
#[derive(Clone, Debug)]
pub(crate) struct TableScope {
    pub info: TableInfo,
    /// Columns naming a row in findings (the mapping's key, else the primary key); empty: ctid.
    pub key: Vec<String>,
    /// Columns whose values are masked.
    pub pii: Vec<String>,
    pub rows: Vec<RowCheck>,
    pub keys: Vec<KeyCheck>,
    pub orphans: Vec<OrphanCheck>,
    pub sequences: Vec<SequenceCheck>,
}

impl TableScope {
    fn is_pii(&self, column: &str) -> bool {
        self.pii.iter().any(|p| p == column)
    }
}

/// One query of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Task {
    Scan(usize),
    Key(usize, usize),
    Orphan(usize, usize),
}

/// Runs validate.
pub async fn validate(opts: &ValidateOptions, observer: SharedObserver) -> Result<ValidateOutcome> {
    let parsed = read_mapping(opts)?;
    let client = opts.target.connect().await?;
    observer.event(Event::Phase(
        "reading the catalog and the mapping's rules".into(),
    ));
    let schema = parsed
        .as_ref()
        .map_or(opts.schema.clone(), |(m, _, _)| m.target_schema.clone());
    let tables = catalog::tables(&client, &schema).await?;
    let mut scopes = Vec::new();
    match &parsed {
        Some((m, _, file)) => {
            let mut problems = Vec::new();
            for spec in &m.tables {
                let Some(info) = tables.iter().find(|t| t.name == spec.target_name()) else {
                    problems.push(format!(
                        "target table `{schema}.{}` does not exist{}",
                        spec.target_name(),
                        crate::resolve::suggest(
                            spec.target_name(),
                            tables.iter().map(|t| t.name.as_str())
                        )
                    ));
                    continue;
                };
                let rules = integrity::integrity(&client, &schema, &info.name).await?;
                match declared::scope(m, spec, file, info, &rules) {
                    Ok(s) => scopes.push(s),
                    Err(mut p) => problems.append(&mut p),
                }
            }
            if !problems.is_empty() {
                return Err(EngineError::config(problems.join("\n")));
            }
            declared::references(m, file, &mut scopes);
        }
        None => {
            for info in &tables {
                let rules = integrity::integrity(&client, &schema, &info.name).await?;
                let key = info.primary_key.clone();
                scopes.push(catalog_rules::scope(info, &rules, key, Vec::new()));
            }
        }
    }
    drop(client);

    let snapshot = export_snapshot(&opts.target).await?;
    observer.event(Event::Phase(format!(
        "checking {} tables in one snapshot ({} workers, nothing is written)",
        scopes.len(),
        opts.jobs
    )));
    let mut order: Vec<usize> = (0..scopes.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(scopes[i].info.pages));
    let mut tasks: VecDeque<Task> = order.iter().map(|&i| Task::Scan(i)).collect();
    for &i in &order {
        tasks.extend((0..scopes[i].keys.len()).map(|k| Task::Key(i, k)));
        tasks.extend((0..scopes[i].orphans.len()).map(|k| Task::Orphan(i, k)));
    }
    let queue = Mutex::new(tasks);
    let done: Mutex<Vec<(Task, scan::Found)>> = Mutex::new(Vec::new());
    let workers = (0..opts.jobs.max(1)).map(|_| async {
        let client = open_reader(&opts.target, Some(&snapshot.id)).await?;
        scan::prepare_session(&client).await?;
        loop {
            let next = queue.lock().expect("validate queue lock").pop_front();
            let Some(task) = next else {
                return Ok::<(), EngineError>(());
            };
            let started = std::time::Instant::now();
            let found = match task {
                Task::Scan(i) => {
                    let t = &scopes[i];
                    observer.event(Event::TableStarted {
                        table: t.info.name.clone(),
                        estimated_rows: t.info.estimated_rows.max(0) as u64,
                    });
                    let found = scan::scan(&client, t, opts.findings_limit).await;
                    if let Ok(scan::Found::Scan(s)) = &found {
                        observer.event(Event::TableFinished {
                            table: t.info.name.clone(),
                            rows: s.rows,
                            rejected: 0,
                        });
                    }
                    found
                }
                Task::Key(i, k) => {
                    scan::duplicates(&client, &scopes[i], k, opts.findings_limit).await
                }
                Task::Orphan(i, k) => {
                    scan::orphans(&client, &scopes[i], k, opts.findings_limit).await
                }
            }
            .map_err(|e| {
                e.context(format!(
                    "validating `{}`",
                    scopes[task_table(task)].info.qualified()
                ))
            })?;
            tracing::debug!(
                table = %scopes[task_table(task)].info.name,
                task = ?task,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "validate query done"
            );
            done.lock()
                .expect("validate results lock")
                .push((task, found));
        }
    });
    futures_util::future::try_join_all(workers).await?;
    let done = done.into_inner().expect("validate results lock");
    let summary = report::assemble(scopes, done);
    Ok(ValidateOutcome {
        params: ValidateParams {
            schema,
            mapping_hash: parsed.as_ref().map(|(_, h, _)| h.clone()),
            snapshot: snapshot.id.clone(),
            findings_limit: opts.findings_limit,
        },
        summary,
    })
}

fn task_table(task: Task) -> usize {
    match task {
        Task::Scan(i) | Task::Key(i, _) | Task::Orphan(i, _) => i,
    }
}

/// The mapping file, its hash and its name for locations.
fn read_mapping(opts: &ValidateOptions) -> Result<Option<(Mapping, String, String)>> {
    let Some(path) = &opts.mapping else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        EngineError::config(format!("cannot read mapping file {}: {e}", path.display()))
    })?;
    let file = path.display().to_string();
    let m = mapping::parse(&file, &text).map_err(|e| EngineError::config(e.to_string()))?;
    Ok(Some((m, mapping::mapping_hash(&text), file)))
}
