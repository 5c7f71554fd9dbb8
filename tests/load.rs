//! Under load: `pgbench` drives a bounded write load on the source (127.0.0.1, ten seconds:
//! updates of keyed rows, inserts, deletes, each setting a `modified timestamptz` cursor to
//! now()); `migrate full` runs while it writes; a `migrate delta-sync --follow` interrupted with
//! SIGINT during its first cycle finishes that cycle and exits 130; another runs for the rest of
//! the load and is stopped the same way; after the load stops, a final delta-sync, and reconcile
//! finds every table MATCH.
//!
//! Skipped, with the reason printed, when `pgbench` is not installed (Debian:
//! postgresql-client or postgresql-contrib).
mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The load, in pgbench's script language: move an amount between two accounts (updates), log
/// it (insert), and now and then open an account or drop an old history row.
const SCRIPT: &str = r"\set a random(1, 2000)
\set b random(1, 2000)
\set amount random(1, 500)
\set r random(1, 20)
BEGIN;
UPDATE accounts SET balance = balance - :amount, modified = now() WHERE id = :a;
UPDATE accounts SET balance = balance + :amount, modified = now() WHERE id = :b;
INSERT INTO history (account_id, amount, note, modified) VALUES (:a, :amount, 'transfer', now());
END;
\if :r = 1
INSERT INTO accounts (balance, owner, modified) VALUES (:amount, 'new ' || :a, now());
\elif :r = 2
DELETE FROM history WHERE id = :a;
\endif
";

const DDL: &str = "CREATE TABLE accounts (id bigserial PRIMARY KEY, balance bigint NOT NULL,
                                         owner text, modified timestamptz NOT NULL);
                   CREATE TABLE history (id bigserial PRIMARY KEY,
                                         account_id bigint NOT NULL REFERENCES accounts (id),
                                         amount int NOT NULL, note text,
                                         modified timestamptz NOT NULL);";

const SECONDS: u64 = 10;

fn pgbench_version() -> Option<String> {
    let out = Command::new("pgbench").arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn reconcile_report(
    src: &ScratchDb,
    dst: &ScratchDb,
) -> (Option<i32>, Vec<BTreeMap<String, String>>, String) {
    let dir = temp_dir();
    let report = dir.path().join("report.csv");
    let out = cutover(&[
        "reconcile",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--output",
        report.to_str().unwrap(),
    ]);
    let rows = if report.exists() {
        let mut r = csv::Reader::from_path(&report).unwrap();
        let headers = r.headers().unwrap().clone();
        r.records()
            .map(|rec| {
                headers
                    .iter()
                    .zip(rec.unwrap().iter())
                    .map(|(h, v)| (h.to_string(), v.to_string()))
                    .collect()
            })
            .collect()
    } else {
        Vec::new()
    };
    (out.status.code(), rows, shown(&out))
}

/// Starts `migrate delta-sync --follow` (1 s cycles, deletes propagated).
fn spawn_follow(src: &ScratchDb, dst: &ScratchDb, summary: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args([
            "migrate",
            "delta-sync",
            "--source",
            &src.url(),
            "--target",
            &dst.url(),
        ])
        .args(["--follow", "--interval", "1s", "--cursor", "modified"])
        .args(["--deletes", "propagate", "--output"])
        .arg(summary)
        .env_remove("CUTOVER_SOURCE_URL")
        .env_remove("CUTOVER_TARGET_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn delta-sync --follow")
}

/// Sends SIGINT to a running `--follow` and waits (at most 2 minutes) for it to exit: its exit
/// code and its stdout and stderr.
fn interrupt(mut child: Child) -> (Option<i32>, String) {
    assert!(
        child.try_wait().unwrap().is_none(),
        "delta-sync --follow stopped on its own"
    );
    let signalled = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(signalled.success());
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("delta-sync --follow ignored SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The cycles a `--follow` run finished (each prints `cycle N (time):`).
fn cycles(output: &str) -> usize {
    output.lines().filter(|l| l.starts_with("cycle ")).count()
}

#[test]
fn full_load_and_follow_under_pgbench_then_final_sync_reconciles_match() {
    if !server_url().contains("@127.0.0.1:") {
        eprintln!("skipped: the load runs on 127.0.0.1 only, and CUTOVER_TEST_PG is elsewhere");
        return;
    }
    let Some(version) = pgbench_version() else {
        eprintln!(
            "skipped: pgbench is not installed (Debian: apt-get install postgresql-client or postgresql-contrib)"
        );
        return;
    };
    let src = ScratchDb::new("load_src");
    let dst = ScratchDb::new("load_dst");
    src.sql(DDL);
    dst.sql(DDL);
    src.sql(
        "INSERT INTO accounts (balance, owner, modified)
           SELECT 10000, 'owner ' || g, now() - interval '1 day' FROM generate_series(1, 2000) g;
         INSERT INTO history (account_id, amount, note, modified)
           SELECT 1 + g % 2000, g % 100, 'opening', now() - interval '1 day'
           FROM generate_series(1, 20000) g;
         ANALYZE;",
    );
    let dir = temp_dir();
    let script = dir.path().join("transfer.sql");
    std::fs::write(&script, SCRIPT).unwrap();

    // The load: 4 clients on 2 threads for SECONDS seconds, on 127.0.0.1 only.
    let url = src.url();
    let started = Instant::now();
    let mut bench = Command::new("pgbench")
        .args(["-n", "-c", "4", "-j", "2", "-T", &SECONDS.to_string(), "-f"])
        .arg(&script)
        .arg(&url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pgbench");
    std::thread::sleep(Duration::from_millis(500));

    // The full load, while the source changes under it.
    let out = cutover(&[
        "migrate",
        "full",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let full_done = started.elapsed();
    assert!(
        bench.try_wait().unwrap().is_none(),
        "migrate full ({full_done:?}) must finish while the load runs; make the load longer"
    );

    // A first --follow, interrupted while its first cycle runs (its source session is open):
    // the cycle finishes, then exit 130.
    let summary = dir.path().join("follow.csv");
    let first = spawn_follow(&src, &dst, &summary);
    let session = "SELECT count(*) > 0 FROM pg_stat_activity
                   WHERE datname = current_database() AND application_name LIKE 'cutover (source%'";
    let deadline = Instant::now() + Duration::from_secs(60);
    while src.sql(session) != "t" {
        assert!(
            Instant::now() < deadline,
            "delta-sync --follow never connected"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let (code, first_out) = interrupt(first);
    assert_eq!(code, Some(130), "exit 130 on SIGINT: {first_out}");
    assert_eq!(
        cycles(&first_out),
        1,
        "the running cycle finished: {first_out}"
    );
    assert!(
        first_out.contains("stopping after the current cycle"),
        "{first_out}"
    );

    // --follow for the rest of the load.
    let follow = spawn_follow(&src, &dst, &summary);
    let bench_out = bench.wait_with_output().expect("pgbench");
    let bench_text = format!(
        "{}{}",
        String::from_utf8_lossy(&bench_out.stdout),
        String::from_utf8_lossy(&bench_out.stderr)
    );
    assert!(bench_out.status.success(), "pgbench failed: {bench_text}");
    let load_secs = started.elapsed().as_secs_f64();
    // The load has stopped: SIGINT lets the running cycle (if any) finish, then exit 130.
    let (code, follow_out) = interrupt(follow);
    assert_eq!(code, Some(130), "exit 130 on SIGINT: {follow_out}");
    let cycles = cycles(&follow_out);
    assert!(cycles >= 1, "no cycle finished: {follow_out}");
    assert!(!follow_out.contains("error"), "{follow_out}");
    assert!(summary.exists(), "each cycle writes its summary");
    assert_eq!(
        dst.sql("SELECT count(*) > 0 FROM history WHERE note = 'transfer'"),
        "t",
        "the follow cycles carried changes during the load: {follow_out}"
    );

    // The freeze: a final delta-sync carries the last changes.
    let out = cutover(&[
        "migrate",
        "delta-sync",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--cursor",
        "modified",
        "--deletes",
        "propagate",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));

    let (code, rows, out) = reconcile_report(&src, &dst);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(rows.len(), 2, "{out}");
    for r in &rows {
        assert_eq!(r["status"], "MATCH", "{r:?}\n{out}");
    }
    let counts = "SELECT (SELECT count(*) FROM accounts) || '/' || (SELECT count(*) FROM history)";
    assert_eq!(dst.sql(counts), src.sql(counts));
    let changed = src.sql("SELECT count(*) > 100 FROM history WHERE note = 'transfer'");
    assert_eq!(changed, "t", "the load wrote: {bench_text}");
    assert_eq!(
        dst.sql("SELECT count(*) FROM pg_namespace WHERE nspname LIKE '\\_cutover\\_stage%'"),
        "0",
        "nothing left behind"
    );
    eprintln!(
        "{version}: {:.1} s of load, migrate full done at {:.1} s, {cycles} follow cycles",
        load_secs,
        full_done.as_secs_f64()
    );
}
