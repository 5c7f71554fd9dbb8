//! `cutover validate`: arguments to options, the reports, the summary and the exit code.
use std::sync::Arc;

use cutover_core::program::Severity;
use cutover_core::validation::{write_findings_csv, RuleStatus};
use cutover_engine::validate::{validate, ValidateOptions, ValidateOutcome};
use cutover_engine::EngineError;
use cutover_postgres::{ConnInfo, Role};

use crate::args::{Global, ValidateArgs};
use crate::commands::shutdown;
use crate::exit;
use crate::printer::{render_table, Progress};

/// Runs validate; exit 1 when a rule fails with severity BLOCKER.
pub async fn run(global: &Global, args: &ValidateArgs) -> Result<i32, EngineError> {
    let opts = ValidateOptions {
        target: ConnInfo::parse(&args.target, Role::Target)?
            .with_password_file(global.password_file.as_deref())?,
        mapping: args.mapping.clone(),
        schema: args.schema.clone(),
        jobs: global
            .jobs
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2)
            })
            .max(1),
        findings_limit: args.findings_limit,
    };
    let progress = Arc::new(Progress::for_run(global));
    let outcome = tokio::select! {
        r = validate(&opts, progress) => r?,
        _ = shutdown() => return Err(EngineError::interrupted()),
    };
    let cannot = |path: &std::path::Path, e: &dyn std::fmt::Display| {
        EngineError::runtime(format!("cannot write {}: {e}", path.display()))
    };
    if let Some(path) = &args.output {
        let text = serde_json::to_string_pretty(&outcome).map_err(|e| cannot(path, &e))?;
        std::fs::write(path, text).map_err(|e| cannot(path, &e))?;
    }
    if let Some(path) = &args.findings {
        let file = std::fs::File::create(path).map_err(|e| cannot(path, &e))?;
        write_findings_csv(file, &outcome.summary.tables).map_err(|e| cannot(path, &e))?;
    }
    if !global.quiet {
        print(&outcome);
    }
    Ok(if outcome.summary.blockers > 0 {
        exit::FOUND_PROBLEMS
    } else {
        exit::OK
    })
}

fn print(outcome: &ValidateOutcome) {
    let s = &outcome.summary;
    let rows: Vec<Vec<String>> = s
        .tables
        .iter()
        .flat_map(|t| {
            t.rules
                .iter()
                .filter(|r| r.status != RuleStatus::Pass)
                .map(move |r| {
                    vec![
                        t.table.clone(),
                        r.rule.clone(),
                        r.column.clone().unwrap_or_default(),
                        r.constraint.clone().unwrap_or_default(),
                        match r.severity {
                            Severity::Blocker => "BLOCKER".into(),
                            Severity::Warning => "WARNING".into(),
                        },
                        r.violations.to_string(),
                        r.allowed.to_string(),
                        r.status.as_str().to_string(),
                    ]
                })
        })
        .collect();
    if !rows.is_empty() {
        println!(
            "{}",
            render_table(
                &[
                    "table",
                    "rule",
                    "column",
                    "constraint",
                    "severity",
                    "violations",
                    "allowed",
                    "status"
                ],
                &rows
            )
        );
    }
    let checked_rows: u64 = s.tables.iter().map(|t| t.rows).sum();
    println!(
        "{} tables, {checked_rows} rows, {} rules checked: {} BLOCKER, {} WARNING, {} tolerated{}",
        s.tables.len(),
        s.rules_checked,
        s.blockers,
        s.warnings,
        s.tolerated,
        if s.blockers > 0 {
            " — the target is NOT fit to go live (see the BLOCKERs above)"
        } else {
            " — the target passes"
        }
    );
}
