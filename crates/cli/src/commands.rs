//! Dispatch: one function per command, each turning arguments into engine calls and the
//! outcome into a summary and an exit code.
use std::sync::Arc;

use cutover_engine::migrate::{migrate_full, MigrateOptions};
use cutover_engine::{EngineError, ErrorKind, Settings};
use cutover_postgres::{ConnInfo, Role};

use crate::args::{Cli, Command, Connections, Global, MigrateMode};
use crate::exit;
use crate::printer::{render_table, Progress};

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> i32 {
    let quiet = cli.global.quiet;
    let result = match cli.command {
        Command::Plan { conn, output } => plan(&cli.global, &conn, output).await,
        Command::Migrate { mode } => match mode {
            MigrateMode::Full {
                conn,
                manifest,
                drill_fail_after,
                chunk_pages,
                create_tables,
            } => {
                let opts = MigrateOptions {
                    manifest_path: manifest,
                    drill_fail_after,
                    chunk_pages,
                };
                migrate(&cli.global, &conn, &opts, create_tables).await
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
                _ => exit::ERROR,
            }
        }
    }
}

fn settings(
    global: &Global,
    conn: &Connections,
    create_tables: bool,
) -> Result<Settings, EngineError> {
    Ok(Settings {
        source: ConnInfo::parse(&conn.source, Role::Source)?,
        target: ConnInfo::parse(&conn.target, Role::Target)?,
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
    })
}

/// Resolves when the user asks to stop (Ctrl-C or SIGTERM).
async fn shutdown() {
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
    let progress = Arc::new(Progress::new(global.quiet));
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
) -> Result<i32, EngineError> {
    let s = settings(global, conn, create_tables)?;
    let progress = Arc::new(Progress::new(global.quiet));
    let started = std::time::Instant::now();
    let report = migrate_full(&s, opts, progress, shutdown()).await?;
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
    }
    Ok(exit::OK)
}
