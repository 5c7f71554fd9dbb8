//! Dispatch: one function per command, each turning arguments into engine calls and the
//! outcome into a summary and an exit code.
use std::sync::Arc;

use cutover_engine::migrate::{migrate_full, MigrateOptions};
use cutover_engine::{EngineError, ErrorKind, Settings};
use cutover_postgres::{ConnInfo, Role};

use crate::args::{Cli, Command, Connections, Global, MigrateMode, PseudonymiseArgs};
use crate::exit;
use crate::printer::{render_table, Progress};

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> i32 {
    let quiet = cli.global.quiet;
    let result = match cli.command {
        Command::Plan { conn, output } => plan(&cli.global, &conn, output).await,
        Command::Rollback { run } => rollback(&cli.global, &run).await,
        Command::Finalize { run } => finalize(&cli.global, &run).await,
        Command::Validate(args) => crate::validate::run(&cli.global, &args).await,
        Command::Reconcile {
            conn,
            output,
            json,
            diff,
            diff_limit,
            against_manifest,
            max_missing_ratio,
            critical,
        } => {
            let files = ReconcileFiles { output, json, diff };
            reconcile(
                &cli.global,
                &conn,
                &files,
                diff_limit,
                against_manifest,
                max_missing_ratio,
                critical,
            )
            .await
        }
        Command::Migrate { mode } => match mode {
            MigrateMode::DeltaSync(args) => crate::delta::run(&cli.global, args).await,
            MigrateMode::Full {
                conn,
                manifest,
                drill_fail_after,
                chunk_pages,
                create_tables,
                overwrite,
                resume,
                pii,
            } => {
                let opts = MigrateOptions {
                    resume: resume.map(|r| Some(r).filter(|r| !r.is_empty())),
                    manifest_path: manifest,
                    drill_fail_after,
                    chunk_pages,
                    overwrite,
                };
                migrate(&cli.global, &conn, &opts, create_tables, &pii).await
            }
        },
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if !quiet || e.kind != ErrorKind::Interrupted {
                eprintln!("error: {}", e.message);
            }
            match e.kind {
                ErrorKind::Interrupted => exit::INTERRUPTED,
                ErrorKind::Found => exit::FOUND_PROBLEMS,
                _ => exit::ERROR,
            }
        }
    }
}

pub(crate) fn settings(
    global: &Global,
    conn: &Connections,
    create_tables: bool,
) -> Result<Settings, EngineError> {
    Ok(Settings {
        source: ConnInfo::parse(&conn.source, Role::Source)?
            .with_password_file(global.password_file.as_deref())?,
        target: ConnInfo::parse(&conn.target, Role::Target)?
            .with_password_file(global.password_file.as_deref())?,
        mapping: conn.mapping.clone(),
        schema: conn.schema.clone(),
        jobs: global
            .jobs
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2)
            })
            .max(1),
        state_schema: global.state_schema.clone(),
        create_tables,
        pseudonymise: None,
    })
}

/// Resolves when the user asks to stop (Ctrl-C or SIGTERM).
pub(crate) async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn write_json(path: &std::path::Path, value: &impl serde::Serialize) -> Result<(), EngineError> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| EngineError::runtime(e.to_string()))?;
    std::fs::write(path, text)
        .map_err(|e| EngineError::runtime(format!("cannot write {}: {e}", path.display())))
}

async fn plan(
    global: &Global,
    conn: &Connections,
    output: Option<std::path::PathBuf>,
) -> Result<i32, EngineError> {
    let s = settings(global, conn, false)?;
    let progress = Arc::new(Progress::for_run(global));
    let report = tokio::select! {
        r = cutover_engine::plan::plan(&s, progress) => r?,
        _ = shutdown() => return Err(EngineError::interrupted()),
    };
    if let Some(path) = &output {
        write_json(path, &report)?;
    }
    if !global.quiet {
        let rows: Vec<Vec<String>> = report
            .tables
            .iter()
            .map(|t| {
                vec![
                    t.load_order.to_string(),
                    t.source.clone(),
                    t.target.clone(),
                    t.rows_read.to_string(),
                    t.rows_accepted.to_string(),
                    t.rows_rejected.to_string(),
                    t.values_nulled.to_string(),
                ]
            })
            .collect();
        println!(
            "{}",
            render_table(
                &["order", "source", "target", "rows", "accepted", "rejected", "nulled"],
                &rows
            )
        );
        for f in &report.findings {
            let mut where_ = String::new();
            if let Some(l) = &f.location {
                where_.push_str(&format!("{l}: "));
            }
            match (&f.table, &f.column) {
                (Some(t), Some(c)) => where_.push_str(&format!("{t}.{c}: ")),
                (Some(t), None) => where_.push_str(&format!("{t}: ")),
                _ => {}
            }
            println!("{:<8} {where_}{}", f.severity, f.message);
        }
        println!(
            "\n{} BLOCKER, {} WARNING{}",
            report.blockers,
            report.warnings,
            if report.blockers > 0 {
                " — fix the BLOCKERs before `cutover migrate full`"
            } else {
                ""
            }
        );
    }
    Ok(if report.blockers > 0 {
        exit::FOUND_PROBLEMS
    } else {
        exit::OK
    })
}

async fn migrate(
    global: &Global,
    conn: &Connections,
    opts: &MigrateOptions,
    create_tables: bool,
    pii: &PseudonymiseArgs,
) -> Result<i32, EngineError> {
    let mut s = settings(global, conn, create_tables)?;
    if pii.pseudonymise {
        let file = pii.pseudonymise_key_file.as_deref();
        s.pseudonymise = Some(cutover_engine::settings::pseudonymise_key(file)?);
    }
    let progress = Arc::new(Progress::for_run(global).timing_phases());
    let started = std::time::Instant::now();
    let report = migrate_full(&s, opts, progress.clone(), shutdown()).await?;
    if !global.quiet {
        for w in &report.warnings {
            println!("WARNING  {}", cutover_engine::migrate::describe(w));
        }
        let m = &report.manifest;
        let rows: Vec<Vec<String>> = m
            .tables
            .iter()
            .map(|t| {
                vec![
                    t.target.clone(),
                    t.source_rows.to_string(),
                    t.loaded_rows.to_string(),
                    t.rejected_rows.to_string(),
                    t.nulled_values.to_string(),
                    format!("{:.1}", t.elapsed_ms as f64 / 1000.0),
                    t.root[..16].to_string(),
                ]
            })
            .collect();
        println!(
            "{}",
            render_table(
                &[
                    "table",
                    "source rows",
                    "loaded",
                    "rejected",
                    "nulled",
                    "seconds",
                    "root"
                ],
                &rows
            )
        );
        println!("{}", progress.phase_table());
        let loaded: u64 = m.tables.iter().map(|t| t.loaded_rows).sum();
        let rejected: u64 = m.tables.iter().map(|t| t.rejected_rows).sum();
        println!(
            "run {}: {loaded} rows loaded, {rejected} rejected (see {}.rejects), {:.1} s. \
             Previous contents kept in schema {} until `cutover finalize --run {}`.",
            m.run_id,
            s.state_schema,
            started.elapsed().as_secs_f64(),
            m.previous_schema.as_deref().unwrap_or("-"),
            m.run_id
        );
        if let Some(key) = &s.pseudonymise {
            println!(
                "pii columns were loaded as pseudonyms (key fingerprint {}).",
                key.fingerprint()
            );
        }
    }
    Ok(exit::OK)
}

async fn rollback(global: &Global, run: &crate::args::RunTarget) -> Result<i32, EngineError> {
    let target = ConnInfo::parse(&run.target, Role::Target)?
        .with_password_file(global.password_file.as_deref())?;
    let r = cutover_engine::rollback::rollback(&target, &global.state_schema, &run.run).await?;
    if !global.quiet {
        let rows: Vec<Vec<String>> = r
            .restored
            .iter()
            .map(|t| {
                vec![
                    t.clone(),
                    "restored".into(),
                    format!("from {}", r.previous_schema),
                ]
            })
            .chain(r.removed.iter().map(|t| {
                vec![
                    t.clone(),
                    "removed".into(),
                    "created by the run; it had no earlier version".into(),
                ]
            }))
            .collect();
        println!("{}", render_table(&["table", "action", "note"], &rows));
        for s in &r.sequences {
            println!("sequence {s}");
        }
        if r.watermarks_cleared > 0 {
            println!(
                "{} delta-sync watermarks set by the run or after it removed: the next delta-sync \
                 reads again from the previous full load (or pass --since).",
                r.watermarks_cleared
            );
        }
        println!(
            "run {}: rolled back; {} restored as they were before the run. The run's tables \
             are kept in schema {} until `cutover finalize --run {}`.",
            r.run_id,
            tables_count(r.restored.len()),
            r.rolled_back_schema,
            r.run_id
        );
    }
    Ok(exit::OK)
}

async fn finalize(global: &Global, run: &crate::args::RunTarget) -> Result<i32, EngineError> {
    let target = ConnInfo::parse(&run.target, Role::Target)?
        .with_password_file(global.password_file.as_deref())?;
    let r = cutover_engine::finalize::finalize(&target, &global.state_schema, &run.run).await?;
    if !global.quiet {
        for (schema, tables) in &r.dropped {
            println!("dropped schema {schema} ({})", tables_count(*tables));
        }
        if r.status == cutover_engine::run_record::status::ROLLED_BACK {
            println!(
                "run {}: the tables of this rolled-back run were dropped; the target is unchanged.",
                r.run_id
            );
        } else {
            println!(
                "run {}: finalized; {}, so it can no longer be rolled back.",
                r.run_id,
                if r.dropped.is_empty() {
                    "the contents from before it were already gone"
                } else {
                    "the contents from before it were dropped"
                }
            );
        }
    }
    Ok(exit::OK)
}

/// Where reconcile writes.
struct ReconcileFiles {
    output: std::path::PathBuf,
    json: Option<std::path::PathBuf>,
    diff: Option<std::path::PathBuf>,
}

async fn reconcile(
    global: &Global,
    conn: &Connections,
    files: &ReconcileFiles,
    diff_limit: Option<usize>,
    against_manifest: Option<std::path::PathBuf>,
    max_missing_ratio: f64,
    critical: Vec<String>,
) -> Result<i32, EngineError> {
    use cutover_core::report::{write_diff_csv, write_report_csv};
    use cutover_engine::reconcile::{reconcile, ReconcileOptions};
    let s = settings(global, conn, false)?;
    if !(0.0..=1.0).contains(&max_missing_ratio) {
        return Err(EngineError::config(
            "--max-missing-ratio must be between 0 and 1",
        ));
    }
    let manifest = match &against_manifest {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                EngineError::config(format!("cannot read the manifest {}: {e}", path.display()))
            })?;
            Some(serde_json::from_str(&text).map_err(|e| {
                EngineError::config(format!("{}: not a cutover manifest: {e}", path.display()))
            })?)
        }
        None => None,
    };
    let opts = ReconcileOptions {
        diff_limit,
        max_missing_ratio,
        critical,
        against_manifest: manifest,
    };
    let progress = Arc::new(Progress::for_run(global));
    let outcome = tokio::select! {
        r = reconcile(&s, &opts, progress) => r?,
        _ = shutdown() => return Err(EngineError::interrupted()),
    };
    let create = |path: &std::path::Path| {
        std::fs::File::create(path)
            .map_err(|e| EngineError::runtime(format!("cannot write {}: {e}", path.display())))
    };
    write_report_csv(create(&files.output)?, &outcome.tables).map_err(|e| {
        EngineError::runtime(format!("cannot write {}: {e}", files.output.display()))
    })?;
    if let Some(path) = &files.json {
        write_json(path, &outcome)?;
    }
    if let Some(path) = &files.diff {
        write_diff_csv(create(path)?, &outcome.diffs)
            .map_err(|e| EngineError::runtime(format!("cannot write {}: {e}", path.display())))?;
    }
    if !global.quiet {
        let rows: Vec<Vec<String>> = outcome
            .tables
            .iter()
            .map(|t| {
                vec![
                    t.table.clone(),
                    t.status.as_str().to_string(),
                    t.source_rows.to_string(),
                    t.target_rows.to_string(),
                    t.missing_in_target.to_string(),
                    t.extra_in_target.to_string(),
                    t.changed.to_string(),
                    t.rejected_at_source.to_string(),
                    format!("{:.2}%", t.completeness_pct),
                    if t.gate_failure.is_some() {
                        "FAIL"
                    } else {
                        "pass"
                    }
                    .to_string(),
                ]
            })
            .collect();
        println!(
            "{}",
            render_table(
                &[
                    "table", "status", "source", "target", "missing", "extra", "changed",
                    "rejected", "complete", "gate",
                ],
                &rows
            )
        );
        for t in outcome.tables.iter().filter(|t| t.gate_failure.is_some()) {
            println!(
                "FAIL  {}: {}",
                t.table,
                t.gate_failure.as_deref().unwrap_or("")
            );
        }
        println!(
            "{}",
            if outcome.passed() {
                "every table passes: the target is complete"
            } else {
                "the target is NOT complete (see the failing tables above)"
            }
        );
    }
    Ok(if outcome.errored() {
        exit::ERROR
    } else if outcome.passed() {
        exit::OK
    } else {
        exit::FOUND_PROBLEMS
    })
}

fn tables_count(n: usize) -> String {
    format!("{n} table{}", if n == 1 { "" } else { "s" })
}
