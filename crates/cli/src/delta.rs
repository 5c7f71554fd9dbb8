//! `migrate delta-sync`: argument handling, the --follow loop, and its summaries.
use std::sync::Arc;

use cutover_engine::delta::window::{parse_duration, parse_instant};
use cutover_engine::delta::{delta_sync, Deletes, DeltaOptions, DeltaReport, OnConflict};
use cutover_engine::EngineError;

use crate::args::{ConflictArg, DeletesArg, DeltaArgs, Global};
use crate::commands::{settings, shutdown};
use crate::exit;
use crate::printer::{render_table, Progress};

/// Runs delta-sync once, or in cycles with --follow.
pub async fn run(global: &Global, args: DeltaArgs) -> Result<i32, EngineError> {
    let s = settings(global, &args.conn, false)?;
    let opts = DeltaOptions {
        since: args
            .since
            .as_deref()
            .map(|t| parse_instant("--since", t))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|t| parse_instant("--until", t))
            .transpose()?,
        lookback: parse_duration("--lookback", &args.lookback)?,
        deletes: match args.deletes {
            DeletesArg::Ignore => Deletes::Ignore,
            DeletesArg::Detect => Deletes::Detect,
            DeletesArg::Propagate => Deletes::Propagate,
        },
        on_conflict: match args.on_conflict {
            ConflictArg::SourceWins => OnConflict::SourceWins,
            ConflictArg::TargetWins => OnConflict::TargetWins,
            ConflictArg::Fail => OnConflict::Fail,
        },
        cursor: args.cursor.clone(),
        manifest_path: args.manifest.clone(),
    };
    if let (Some(a), Some(b)) = (opts.since, opts.until) {
        if b <= a {
            return Err(EngineError::config("--until must be after --since"));
        }
    }
    let interval = parse_duration("--interval", &args.interval)?;
    let progress = Arc::new(Progress::for_run(global));
    if !args.follow {
        let report = tokio::select! {
            r = delta_sync(&s, &opts, progress) => r?,
            _ = shutdown() => return Err(EngineError::interrupted()),
        };
        print(global, &args, &report)?;
        return Ok(exit::OK);
    }
    // --follow: a Ctrl-C lets the running cycle finish, then stops.
    let stop = Arc::new(tokio::sync::Notify::new());
    let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let (stop, stopped) = (stop.clone(), stopped.clone());
        tokio::spawn(async move {
            shutdown().await;
            stopped.store(true, std::sync::atomic::Ordering::SeqCst);
            stop.notify_waiters();
            eprintln!("stopping after the current cycle (Ctrl-C again to abort it)");
            shutdown().await;
            std::process::exit(exit::INTERRUPTED);
        });
    }
    let mut cycle = 0u64;
    loop {
        cycle += 1;
        let report = delta_sync(&s, &opts, progress.clone()).await?;
        if !global.quiet {
            println!(
                "cycle {cycle} ({}):",
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
        }
        print(global, &args, &report)?;
        if stopped.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(exit::INTERRUPTED);
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.notified() => return Ok(exit::INTERRUPTED),
        }
    }
}

fn print(global: &Global, args: &DeltaArgs, report: &DeltaReport) -> Result<(), EngineError> {
    if let Some(path) = &args.output {
        write_csv(path, report)
            .map_err(|e| EngineError::runtime(format!("cannot write {}: {e}", path.display())))?;
    }
    if global.quiet {
        return Ok(());
    }
    let now = chrono::Utc::now();
    let rows: Vec<Vec<String>> = report
        .tables
        .iter()
        .map(|t| {
            let lag = parse_instant("watermark", &t.new_watermark)
                .map(|w| format!("{:.1}", (now - w).num_milliseconds() as f64 / 1000.0))
                .unwrap_or_default();
            vec![
                t.table.clone(),
                t.read.to_string(),
                t.inserted.to_string(),
                t.updated.to_string(),
                t.unchanged.to_string(),
                t.deleted.to_string(),
                t.deletes_detected.to_string(),
                t.conflicts.to_string(),
                t.rejected.to_string(),
                lag,
                format!("{:.1}", t.elapsed_ms as f64 / 1000.0),
            ]
        })
        .collect();
    println!(
        "{}",
        render_table(
            &[
                "table",
                "read",
                "inserted",
                "updated",
                "unchanged",
                "deleted",
                "deletes seen",
                "conflicts",
                "rejected",
                "lag s",
                "seconds",
            ],
            &rows
        )
    );
    for t in report.tables.iter().filter(|t| t.conflicts > 0) {
        println!(
            "CONFLICT {}: {} row(s) changed in the target by someone else: {}",
            t.table,
            t.conflicts,
            t.conflict_keys
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for s in &report.skipped {
        println!("skipped  {s}");
    }
    println!(
        "run {}: watermarks advanced; the target is in step as of the source snapshot",
        report.run_id
    );
    Ok(())
}

fn write_csv(path: &std::path::Path, report: &DeltaReport) -> csv::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record([
        "table",
        "read",
        "inserted",
        "updated",
        "unchanged",
        "deleted",
        "deletes_detected",
        "conflicts",
        "rejected",
        "null_cursor",
        "window_from",
        "new_watermark",
        "elapsed_ms",
    ])?;
    for t in &report.tables {
        w.write_record([
            t.table.clone(),
            t.read.to_string(),
            t.inserted.to_string(),
            t.updated.to_string(),
            t.unchanged.to_string(),
            t.deleted.to_string(),
            t.deletes_detected.to_string(),
            t.conflicts.to_string(),
            t.rejected.to_string(),
            t.null_cursor.to_string(),
            t.window_from.clone(),
            t.new_watermark.clone(),
            t.elapsed_ms.to_string(),
        ])?;
    }
    w.flush()?;
    Ok(())
}
