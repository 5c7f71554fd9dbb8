//! `cutover plan`: the dry run. Checks the mapping against both catalogs, orders the tables by
//! foreign keys, then streams every source row through the transforms in one snapshot, writing
//! nothing, and counts what would be rejected per table and reason.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use cutover_core::program::{Finding, Severity, TableProgram};
use serde::Serialize;

use crate::error::{EngineError, Result};
use crate::extract::{copy_out_sql, export_snapshot, open_reader, select_sql};
use crate::load::run_chunk;
use crate::observer::{Event, SharedObserver};
use crate::resolve::resolve;
use crate::settings::Settings;
use crate::validate::source::{plan_rules, rule_findings, PlanRules, RulesWorker};
use cutover_core::validation::RuleOutcome;

/// A finding as reported.
#[derive(Clone, Debug, Serialize)]
pub struct PlanFinding {
    pub severity: &'static str,
    pub table: Option<String>,
    pub column: Option<String>,
    pub location: Option<String>,
    pub message: String,
}

impl From<&Finding> for PlanFinding {
    fn from(f: &Finding) -> Self {
        PlanFinding {
            severity: match f.severity {
                Severity::Blocker => "BLOCKER",
                Severity::Warning => "WARNING",
            },
            table: f.table.clone(),
            column: f.column.clone(),
            location: f.location.clone(),
            message: f.message.clone(),
        }
    }
}

/// Rejects of one table for one column.
#[derive(Clone, Debug, Serialize)]
pub struct RejectReason {
    pub column: String,
    pub rows: u64,
    /// Up to three example reasons.
    pub examples: Vec<String>,
}

/// What the dry run found for one table.
#[derive(Clone, Debug, Serialize)]
pub struct PlanTable {
    pub source: String,
    pub target: String,
    pub load_order: usize,
    pub estimated_rows: i64,
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_rejected: u64,
    pub values_nulled: u64,
    pub rejects: Vec<RejectReason>,
    /// The mapping's declared column rules on the accepted (transformed) rows.
    pub rules: Vec<RuleOutcome>,
}

/// The plan report (`--output plan.json`).
#[derive(Clone, Debug, Serialize)]
pub struct PlanReport {
    pub mapping_hash: String,
    pub blockers: usize,
    pub warnings: usize,
    pub findings: Vec<PlanFinding>,
    pub tables: Vec<PlanTable>,
}

/// Runs the dry run.
pub async fn plan(settings: &Settings, observer: SharedObserver) -> Result<PlanReport> {
    // A broken mapping file is reported before any connection is attempted.
    crate::resolve::read_mapping(settings)?;
    let source = settings.source.connect().await?;
    let target = settings.target.connect().await?;
    observer.event(Event::Phase(
        "reading catalogs and checking the mapping".into(),
    ));
    let resolved = resolve(settings, &source, &target).await?.for_full_load();
    let mut findings: Vec<PlanFinding> = resolved.findings.iter().map(PlanFinding::from).collect();
    let programs: Vec<Arc<TableProgram>> = resolved.programs.into_iter().map(Arc::new).collect();
    // The mapping's declared column rules, checked by the workers on the transformed rows.
    let file = settings
        .mapping
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let rules: Vec<Arc<PlanRules>> = programs
        .iter()
        .map(|p| {
            let (r, found) = plan_rules(&resolved.mapping, &file, p);
            findings.extend(found.iter().map(PlanFinding::from));
            r
        })
        .collect();

    let snapshot = export_snapshot(&settings.source).await?;
    let queue = Mutex::new((0..programs.len()).collect::<std::collections::VecDeque<_>>());
    let results: Mutex<BTreeMap<usize, PlanTable>> = Mutex::new(BTreeMap::new());
    observer.event(Event::Phase(format!(
        "streaming every source row through the mapping ({} tables, nothing is written)",
        programs.len()
    )));
    let workers = (0..settings.jobs.max(1)).map(|_| async {
        let reader = open_reader(&settings.source, Some(&snapshot.id)).await?;
        loop {
            let next = queue.lock().expect("plan queue lock").pop_front();
            let Some(i) = next else {
                return Ok::<(), EngineError>(());
            };
            let p = &programs[i];
            observer.event(Event::TableStarted {
                table: p.target.name.clone(),
                estimated_rows: p.source.estimated_rows.max(0) as u64,
            });
            let w = RulesWorker::new(p.clone(), rules[i].clone(), observer.clone());
            let done = run_chunk(&reader, &copy_out_sql(&select_sql(p, None, None)), None, w)
                .await
                .map_err(|e| e.context(format!("table `{}`", p.target.name)))?;
            let mut by_col: BTreeMap<String, RejectReason> = BTreeMap::new();
            for r in &done.rejects {
                let e = by_col
                    .entry(r.column.clone())
                    .or_insert_with(|| RejectReason {
                        column: r.column.clone(),
                        rows: 0,
                        examples: Vec::new(),
                    });
                e.rows += 1;
                if e.examples.len() < 3 && !e.examples.contains(&r.reason) {
                    e.examples.push(r.reason.clone());
                }
            }
            observer.event(Event::TableFinished {
                table: p.target.name.clone(),
                rows: done.rows_written,
                rejected: done.rejects.len() as u64,
            });
            results.lock().expect("plan results lock").insert(
                i,
                PlanTable {
                    source: p.source.dotted(),
                    target: p.target.dotted(),
                    load_order: i + 1,
                    estimated_rows: p.source.estimated_rows,
                    rows_read: done.rows_read,
                    rows_accepted: done.rows_written,
                    rows_rejected: done.rejects.len() as u64,
                    values_nulled: done.nulled,
                    rejects: by_col.into_values().collect(),
                    rules: done.outcomes(),
                },
            );
        }
    });
    futures_util::future::try_join_all(workers).await?;
    let tables: Vec<PlanTable> = results
        .into_inner()
        .expect("plan results lock")
        .into_values()
        .collect();
    for t in &tables {
        for r in &t.rejects {
            findings.push(PlanFinding {
                severity: "WARNING",
                table: Some(t.target.clone()),
                column: Some(r.column.clone()).filter(|c| !c.is_empty()),
                location: None,
                message: format!(
                    "{} rows would be rejected (e.g. {})",
                    r.rows,
                    r.examples.join("; ")
                ),
            });
        }
    }
    for t in &tables {
        findings.extend(
            rule_findings(&t.target, &t.rules)
                .iter()
                .map(PlanFinding::from),
        );
    }
    for p in programs.iter() {
        if let Some(d) = resolved.ddl.get(&p.target.name) {
            if !d.triggers.is_empty() {
                findings.push(PlanFinding {
                    severity: "WARNING",
                    table: Some(p.target.name.clone()),
                    column: None,
                    location: None,
                    message: format!(
                        "{} trigger(s) on the target table are recreated on the new table at the swap",
                        d.triggers.len()
                    ),
                });
            }
        }
    }
    let blockers = findings.iter().filter(|f| f.severity == "BLOCKER").count();
    Ok(PlanReport {
        mapping_hash: resolved.mapping_hash,
        blockers,
        warnings: findings.len() - blockers,
        findings,
        tables,
    })
}
