//! Pauses for runbook drills and tests: kill the run there and practise the recovery.

/// With `CUTOVER_DRILL_PAUSE=<point>` the run sleeps at that point for
/// `CUTOVER_DRILL_PAUSE_SECS` (default 30), so that a runbook drill (or a test) can kill it there
/// and practise the recovery. Points: `migrate full` — `start` after the plan is checkpointed,
/// `chunk` after the first chunk is committed, `load` after every chunk is loaded, `cleanup`
/// after the clean-up committed (recovery: `--resume`); `delta-sync` — `merged` after every
/// table is merged, before the commit (recovery: run it again).
pub(crate) async fn drill_pause(point: &str) {
    if std::env::var("CUTOVER_DRILL_PAUSE").as_deref() == Ok(point) {
        let secs = std::env::var("CUTOVER_DRILL_PAUSE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(30);
        tracing::warn!(point, secs, "drill pause");
        eprintln!("drill: pausing {secs} s at `{point}`");
        tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
    }
}
