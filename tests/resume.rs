//! Crashes and faults during `migrate full`: a run killed with SIGKILL at several points is
//! finished by `--resume` (MATCH, no duplicates); a terminated backend is retried; Ctrl-C and a
//! permanent error leave the target as it was.
mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn pair(tag: &str, rows: i64) -> (ScratchDb, ScratchDb) {
    let src = ScratchDb::new(&format!("{tag}_src"));
    let dst = ScratchDb::new(&format!("{tag}_dst"));
    let ddl = "CREATE TABLE big (id int PRIMARY KEY, payload text, n numeric);
               CREATE TABLE small (id int PRIMARY KEY, big_id int REFERENCES big(id));
               CREATE INDEX big_n ON big (n);";
    src.sql(ddl);
    dst.sql(ddl);
    src.sql(&format!(
        "INSERT INTO big SELECT g, repeat(md5(g::text), 3), g / 7.0 FROM generate_series(1, {rows}) g;
         INSERT INTO small SELECT g, 1 + g % {rows} FROM generate_series(1, 1000) g;"
    ));
    src.sql("ANALYZE");
    dst.sql("INSERT INTO big VALUES (-1, 'old', 0)");
    (src, dst)
}

fn spawn(src: &ScratchDb, dst: &ScratchDb, extra: &[&str], env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cutover"));
    cmd.args([
        "migrate",
        "full",
        "--overwrite",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--quiet",
    ])
    .args(extra)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn cutover")
}

/// Polls `sql` on the target until it returns "t" (or panics after 60 s).
fn wait_for(db: &ScratchDb, sql: &str) {
    let start = Instant::now();
    while db.sql(sql) != "t" {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for `{sql}`"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stage_schema(db: &ScratchDb) -> String {
    db.sql("SELECT nspname FROM pg_namespace WHERE nspname LIKE '\\_cutover\\_stage\\_%'")
}

#[test]
fn kill_9_at_several_points_then_resume_gives_a_match_without_duplicates() {
    for point in ["start", "mid-load", "load", "cleanup"] {
        let (src, dst) = pair(&format!("res_{}", point.replace('-', "_")), 60_000);
        let chunked = ["--jobs", "1", "--chunk-pages", "20"];
        let mut child = match point {
            "mid-load" => {
                let c = spawn(&src, &dst, &chunked, &[]);
                // Kill once a few chunks are committed, with more to go.
                wait_for(&dst, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname LIKE '\\_cutover\\_stage\\_%')");
                let schema = stage_schema(&dst);
                wait_for(
                    &dst,
                    &format!("SELECT to_regclass('{schema}._cutover_chunks') IS NOT NULL"),
                );
                wait_for(
                    &dst,
                    &format!("SELECT count(*) >= 3 FROM {schema}._cutover_chunks"),
                );
                c
            }
            p => {
                let c = spawn(
                    &src,
                    &dst,
                    &chunked,
                    &[
                        ("CUTOVER_DRILL_PAUSE", p),
                        ("CUTOVER_DRILL_PAUSE_SECS", "60"),
                    ],
                );
                let table = if p == "cleanup" {
                    "_cutover_cleaned"
                } else {
                    "_cutover_meta"
                };
                wait_for(&dst, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname LIKE '\\_cutover\\_stage\\_%')");
                let schema = stage_schema(&dst);
                wait_for(
                    &dst,
                    &format!("SELECT to_regclass('{schema}.{table}') IS NOT NULL"),
                );
                if p == "cleanup" {
                    wait_for(
                        &dst,
                        &format!("SELECT count(*) > 0 FROM {schema}._cutover_cleaned"),
                    );
                }
                if p == "load" {
                    let planned = dst.sql(&format!("SELECT count(*) FROM {schema}._cutover_plan"));
                    wait_for(
                        &dst,
                        &format!("SELECT count(*) = {planned} FROM {schema}._cutover_chunks"),
                    );
                }
                std::thread::sleep(Duration::from_millis(300));
                c
            }
        };
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        // Killed: the target tables are untouched.
        assert_eq!(
            dst.sql("SELECT count(*) FROM big"),
            "1",
            "{point}: target unchanged after the kill"
        );
        let out = cutover(&[
            "migrate",
            "full",
            "--overwrite",
            "--source",
            &src.url(),
            "--target",
            &dst.url(),
            "--resume",
            "--jobs",
            "2",
        ]);
        assert_eq!(out.status.code(), Some(0), "{point}: {}", shown(&out));
        assert_eq!(
            dst.sql("SELECT count(*), count(DISTINCT id) FROM big"),
            "60000|60000",
            "{point}"
        );
        reconciles(&src, &dst);
        assert_eq!(stage_schema(&dst), "", "{point}: nothing left behind");
    }
}

#[test]
fn resume_refuses_a_finished_run_with_a_clear_message() {
    let (src, dst) = pair("res_done", 100);
    let out = cutover(&[
        "migrate",
        "full",
        "--overwrite",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let out = cutover(&[
        "migrate",
        "full",
        "--overwrite",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--resume",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not interrupted"),
        "{}",
        shown(&out)
    );
}

#[test]
fn a_terminated_backend_is_retried_and_only_its_chunk_redone() {
    let (src, dst) = pair("res_retry", 60_000);
    let child = spawn(
        &src,
        &dst,
        &["--jobs", "1", "--chunk-pages", "20"],
        &[("CUTOVER_LOG", "warn")],
    );
    let server = ScratchDb {
        name: "postgres".into(),
    };
    let start = Instant::now();
    loop {
        let killed = server.sql(&format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = '{}' AND application_name = 'cutover (target)' AND query LIKE 'COPY%'",
            dst.name
        ));
        if killed != "0" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no COPY to interrupt"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::mem::forget(server); // the shared database must not be dropped
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("retrying"),
        "the retry is logged with its table and chunk: {stderr}"
    );
    assert!(stderr.contains("table `big` chunk"), "{stderr}");
    assert_eq!(
        dst.sql("SELECT count(*), count(DISTINCT id) FROM big"),
        "60000|60000"
    );
    reconciles(&src, &dst);
}

#[test]
fn ctrl_c_stops_with_130_and_leaves_the_target_as_it_was() {
    let (src, dst) = pair("res_int", 20_000);
    let child = spawn(
        &src,
        &dst,
        &["--jobs", "1"],
        &[
            ("CUTOVER_DRILL_PAUSE", "load"),
            ("CUTOVER_DRILL_PAUSE_SECS", "60"),
        ],
    );
    wait_for(
        &dst,
        "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname LIKE '\\_cutover\\_stage\\_%')",
    );
    std::thread::sleep(Duration::from_millis(500));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", shown(&out));
    assert_eq!(dst.sql("SELECT count(*) FROM big"), "1");
    assert_eq!(
        stage_schema(&dst),
        "",
        "an interrupted run cleans up after itself"
    );
    assert_eq!(dst.sql("SELECT status FROM _cutover.runs"), "failed");
}

#[test]
fn ctrl_c_cancels_a_busy_source_query_and_abandons_no_session() {
    let (src, dst) = pair("res_cancel", 1_000);
    // Another session holds the source table: cutover's read of it waits on the lock, busy.
    let mut holder = Command::new("psql")
        .arg(src.url())
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
        .env("PGAPPNAME", "lock holder")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let stdin = holder.stdin.as_mut().unwrap();
        writeln!(stdin, "BEGIN; LOCK TABLE big IN ACCESS EXCLUSIVE MODE;").unwrap();
        stdin.flush().unwrap();
    }
    wait_for(
        &src,
        "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                        WHERE a.application_name = 'lock holder' AND l.mode = 'AccessExclusiveLock' AND l.granted)",
    );
    let child = spawn(&src, &dst, &["--jobs", "1"], &[]);
    wait_for(
        &src,
        &format!(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = '{}'
                            AND application_name LIKE 'cutover%' AND wait_event_type = 'Lock')",
            src.name
        ),
    );
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", shown(&out));
    drop(holder.stdin.take()); // psql ends at end of input: the lock goes
    assert!(holder.wait().unwrap().success());
    assert_eq!(dst.sql("SELECT count(*) FROM big"), "1");
    // The waiting query was cancelled, not left behind a closed socket (the session would be
    // abandoned once the lock came free): every session ended with Terminate.
    for db in [&src, &dst] {
        assert_eq!(cut_off_sessions(db), 0, "database {}", db.name);
    }
}

#[test]
fn a_permanent_error_fails_with_exit_2_and_the_target_unchanged() {
    let src = ScratchDb::new("res_perm_src");
    let dst = ScratchDb::new("res_perm_dst");
    // Overlapping periods an exclusion constraint of the target refuses: no row of them is
    // more wrong than the other, so nothing can be rejected instead.
    src.sql(
        "CREATE TABLE t (id int PRIMARY KEY, booked int4range);
             INSERT INTO t VALUES (1, '[1,5)'), (2, '[3,8)');",
    );
    dst.sql("CREATE TABLE t (id int PRIMARY KEY, booked int4range, EXCLUDE USING gist (booked WITH &&));
             INSERT INTO t VALUES (9, '[1,2)');");
    let out = cutover(&[
        "migrate",
        "full",
        "--overwrite",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("t_booked_excl"),
        "names the constraint: {}",
        shown(&out)
    );
    assert_eq!(
        dst.sql("SELECT string_agg(id || ':' || booked, ',') FROM t"),
        "9:[1,2)"
    );
}

#[test]
fn a_lost_snapshot_is_renewed_and_rows_changed_in_between_are_kept_once() {
    let (src, dst) = pair("res_snap", 60_000);
    let child = spawn(
        &src,
        &dst,
        &["--jobs", "1", "--chunk-pages", "20"],
        &[
            ("CUTOVER_LOG", "warn"),
            ("CUTOVER_DRILL_PAUSE", "chunk"),
            ("CUTOVER_DRILL_PAUSE_SECS", "15"),
        ],
    );
    // The first chunk (the table's first pages) is committed in the first snapshot.
    let start = Instant::now();
    let stage = loop {
        let s = stage_schema(&dst);
        if !s.is_empty()
            && dst.sql(&format!(
                "SELECT to_regclass('{s}._cutover_chunks') IS NOT NULL"
            )) == "t"
        {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no staging schema"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    wait_for(
        &dst,
        &format!("SELECT count(*) >= 1 FROM {stage}._cutover_chunks"),
    );
    // Rows of that chunk change and grow (too big for what is left of their pages, so their
    // new versions go to the table's last pages, not yet read), then every
    // source session of the run ends, the snapshot's exporter with them: a restart, as the
    // run sees it.
    src.sql("UPDATE big SET payload = repeat('changed', 20), n = -n WHERE id <= 50");
    let server = ScratchDb {
        name: "postgres".into(),
    };
    let killed = server.sql(&format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE datname = '{}' AND application_name LIKE 'cutover (source%'",
        src.name
    ));
    std::mem::forget(server); // the shared database must not be dropped
    assert_ne!(killed, "0", "no source session to end");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("read in a new snapshot"),
        "the renewed snapshot is said: {stderr}"
    );
    assert!(
        stderr.contains("staged twice; the newer version of each is kept"),
        "the duplicates are said: {stderr}"
    );
    assert_eq!(
        dst.sql("SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE n < 0) FROM big"),
        "60000|60000|50"
    );
    reconciles(&src, &dst);
}
