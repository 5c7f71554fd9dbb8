//! `migrate delta-sync` against the real PostgreSQL: changes since the full load (inserts,
//! updates, deletes, key-preserving rewrites) arrive and reconcile says MATCH; a writer committing
//! during the sync (a long transaction with an old cursor value) is not lost; boundaries, time
//! zones, NULL cursors, conflicts under each policy, idempotence.
mod common;

use std::collections::BTreeMap;

use common::*;

/// Exit code, the per-table rows of the CSV the command wrote, and its output.
type Outcome = (
    Option<i32>,
    BTreeMap<String, BTreeMap<String, String>>,
    String,
);

/// Runs `command` (e.g. `["migrate", "delta-sync"]`) between `src` and `dst` with
/// `--output out.csv`, then reads that per-table CSV.
fn run(command: &[&str], src: &str, dst: &str, extra: &[&str]) -> Outcome {
    let dir = temp_dir();
    let csv = dir.path().join("out.csv");
    let mut args = command.to_vec();
    args.extend_from_slice(&[
        "--source",
        src,
        "--target",
        dst,
        "--output",
        csv.to_str().unwrap(),
    ]);
    args.extend_from_slice(extra);
    let out = cutover(&args);
    (out.status.code(), csv_by_table(&csv), shown(&out))
}

/// Runs delta-sync with `--output summary.csv`.
fn delta(src: &str, dst: &str, extra: &[&str]) -> Outcome {
    run(&["migrate", "delta-sync"], src, dst, extra)
}

/// Runs reconcile with `--output report.csv`.
fn reconcile(src: &str, dst: &str, extra: &[&str]) -> Outcome {
    run(&["reconcile"], src, dst, extra)
}

const DDL: &str = "CREATE TABLE parent (id int PRIMARY KEY, name text NOT NULL, modified timestamptz);
                   CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent(id), v numeric,
                                       modified timestamptz);";

fn small_pair(tag: &str) -> (ScratchDb, ScratchDb) {
    let src = ScratchDb::new(&format!("{tag}_src"));
    let dst = ScratchDb::new(&format!("{tag}_dst"));
    src.sql(DDL);
    dst.sql(DDL);
    src.sql(
        "INSERT INTO parent SELECT g, 'p' || g, now() - interval '1 day' FROM generate_series(1, 200) g;
         INSERT INTO child SELECT g, 1 + g % 200, g / 10.0, now() - interval '1 day' FROM generate_series(1, 2000) g;",
    );
    migrate_identity(&src, &dst);
    (src, dst)
}

#[test]
fn crm_changes_arrive_and_reconcile_matches_also_against_the_manifest() {
    let (src, dst) = crm_pair("ds_crm");
    let dir = temp_dir();
    let manifest = dir.path().join("run.json");
    let m = migrate_crm(&src, &dst, &manifest);
    let m = m.as_str();
    src.sql(
        "UPDATE legacy.contacts SET last_nm = last_nm || '-x', modified_on = localtimestamp WHERE contact_id % 97 = 0;
         INSERT INTO legacy.contacts (acct_id, first_nm, last_nm, email, phone, do_not_call)
           SELECT 1 + g, 'New', 'Contact' || g, 'NEW' || g || '@Example.com', '(212) 555-01' || lpad(g::text, 2, '0'), 'N'
           FROM generate_series(1, 25) g;
         DELETE FROM legacy.tasks WHERE task_id % 211 = 0;
         -- a key-preserving rewrite: the same id, new content
         DELETE FROM legacy.users WHERE user_id = 3;
         INSERT INTO legacy.users SELECT 3, 'rewritten', 'Rewritten@Example.com', first_nm, last_nm, status_cd, is_admin,
                  phone, created_on, localtimestamp FROM legacy.users WHERE user_id = 4;",
    );
    let (code, rows, out) = delta(
        &src.url(),
        &dst.url(),
        &[
            "--mapping",
            m,
            "--deletes",
            "propagate",
            "--manifest",
            manifest.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(rows["crm.contacts"]["inserted"], "25", "{out}");
    assert!(
        rows["crm.contacts"]["updated"].parse::<u64>().unwrap() >= 50,
        "{out}"
    );
    assert!(
        rows["crm.tasks"]["deleted"].parse::<u64>().unwrap() > 0,
        "{out}"
    );
    let (code, rep, out) = reconcile(&src.url(), &dst.url(), &["--mapping", m]);
    assert_eq!(code, Some(0), "{out}");
    assert!(rep.values().all(|r| r["status"] == "MATCH"), "{out}");
    let (code, _, out) = reconcile(
        &src.url(),
        &dst.url(),
        &[
            "--mapping",
            m,
            "--against-manifest",
            manifest.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "the manifest follows the delta: {out}");
    // Idempotent: the same delta again changes nothing.
    let (code, rows, out) = delta(
        &src.url(),
        &dst.url(),
        &[
            "--mapping",
            m,
            "--deletes",
            "propagate",
            "--since",
            "2000-01-01",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    for (t, r) in &rows {
        assert_eq!(
            (
                r["inserted"].as_str(),
                r["updated"].as_str(),
                r["deleted"].as_str()
            ),
            ("0", "0", "0"),
            "{t}: {out}"
        );
    }
}

#[test]
fn writer_committing_during_the_sync_is_not_lost_after_the_freeze() {
    let (src, dst) = small_pair("ds_long");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&src.url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        // A long transaction: its cursor value (now() = its start) is older than the sync's snapshot.
        client
            .batch_execute(
                "BEGIN; UPDATE child SET v = -1, modified = now() WHERE id = 7;
                              INSERT INTO parent VALUES (999, 'late', now());",
            )
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        src.sql("UPDATE child SET v = -2, modified = now() WHERE id = 8");
        let (code, rows, out) = delta(
            &src.url(),
            &dst.url(),
            &[
                "--cursor",
                "modified",
                "--deletes",
                "propagate",
                "--lookback",
                "0s",
            ],
        );
        assert_eq!(code, Some(0), "{out}");
        assert_eq!(
            rows["public.child"]["updated"], "1",
            "only the committed change is visible: {out}"
        );
        client.batch_execute("COMMIT").await.unwrap();
    });
    // The freeze: no more writes. The final delta-sync carries the late commit.
    let (code, rows, out) = delta(
        &src.url(),
        &dst.url(),
        &[
            "--cursor",
            "modified",
            "--deletes",
            "propagate",
            "--lookback",
            "0s",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(rows["public.parent"]["inserted"], "1", "{out}");
    assert_eq!(rows["public.child"]["updated"], "1", "{out}");
    let (code, _, out) = reconcile(&src.url(), &dst.url(), &[]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(dst.sql("SELECT v FROM child WHERE id = 7"), "-1");
}

#[test]
fn boundary_rows_are_read_once_and_null_cursors_are_reported_not_skipped() {
    let (src, dst) = small_pair("ds_bound");
    src.sql(
        "UPDATE child SET v = 100, modified = '2030-01-01 00:00:00+00' WHERE id = 1;
             UPDATE child SET v = 101, modified = NULL WHERE id = 2;
             UPDATE child SET v = 102, modified = '2029-12-31 23:59:59.999999+00' WHERE id = 3;",
    );
    // --since equal to a row's cursor includes it; the row just before is outside the window.
    let (code, rows, out) = delta(
        &src.url(),
        &dst.url(),
        &[
            "--cursor",
            "modified",
            "--since",
            "2030-01-01T02:00:00+02:00",
            "--lookback",
            "0s",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    let c = &rows["public.child"];
    assert_eq!(c["null_cursor"], "1", "{out}");
    assert_eq!(
        out.matches("source rows have a NULL `modified`").count(),
        1,
        "the warning is printed once: {out}"
    );
    assert_eq!(
        c["updated"], "2",
        "the boundary row and the NULL-cursor row: {out}"
    );
    assert_eq!(
        dst.sql("SELECT v = 0.3 FROM child WHERE id = 3"),
        "t",
        "outside the window"
    );
    // Twice: nothing new, nothing duplicated.
    let (code, rows, out) = delta(
        &src.url(),
        &dst.url(),
        &[
            "--cursor",
            "modified",
            "--since",
            "2030-01-01",
            "--lookback",
            "0s",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(rows["public.child"]["updated"], "0", "{out}");
    assert_eq!(dst.sql("SELECT count(*) FROM child"), "2000");
    // An invalid --since is a clear error.
    let (code, _, out) = delta(
        &src.url(),
        &dst.url(),
        &["--cursor", "modified", "--since", "last tuesday"],
    );
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("--since `last tuesday`"), "{out}");
}

#[test]
fn timestamp_cursors_are_read_in_the_source_time_zone() {
    let src = ScratchDb::new("ds_tz_src");
    let dst = ScratchDb::new("ds_tz_dst");
    let ddl = "CREATE TABLE t (id int PRIMARY KEY, v text, modified_on timestamp NOT NULL)";
    src.sql(ddl);
    dst.sql(ddl);
    src.sql(&format!(
        "ALTER DATABASE {} SET timezone = 'Asia/Tokyo'",
        src.name
    ));
    src.sql("INSERT INTO t VALUES (1, 'a', '2024-06-01 08:00'), (2, 'b', '2024-06-01 10:00')");
    migrate_identity(&src, &dst);
    src.sql("UPDATE t SET v = v || '!'");
    // 09:00 Tokyo = 00:00 UTC: only row 2 (10:00 local) is in the window.
    let (code, rows, out) = delta(
        &src.url(),
        &dst.url(),
        &[
            "--cursor",
            "modified_on",
            "--since",
            "2024-06-01T00:00:00Z",
            "--lookback",
            "0s",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(rows["public.t"]["read"], "1", "{out}");
    assert_eq!(
        dst.sql("SELECT string_agg(v, ',' ORDER BY id) FROM t"),
        "a,b!"
    );
}

#[test]
fn conflicts_follow_each_policy_and_are_listed() {
    let (src, dst) = small_pair("ds_conf");
    dst.sql("UPDATE child SET v = 555 WHERE id = 10");
    src.sql("UPDATE child SET v = 777, modified = now() WHERE id IN (10, 11)");
    let base = ["--cursor", "modified", "--lookback", "0s"];
    // fail: exit 1, nothing applied.
    let (code, _, out) = delta(
        &src.url(),
        &dst.url(),
        &[&base[..], &["--on-conflict", "fail"]].concat(),
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("[\"10\"]"),
        "the conflicting key is named: {out}"
    );
    assert_eq!(
        dst.sql("SELECT v = 1.1 FROM child WHERE id = 11"),
        "t",
        "nothing applied"
    );
    // target-wins: the target's value stays, the other row arrives, the conflict is listed.
    let (code, rows, out) = delta(
        &src.url(),
        &dst.url(),
        &[&base[..], &["--on-conflict", "target-wins"]].concat(),
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(rows["public.child"]["conflicts"], "1", "{out}");
    assert_eq!(dst.sql("SELECT v FROM child WHERE id = 10"), "555");
    assert_eq!(dst.sql("SELECT v FROM child WHERE id = 11"), "777");
    // source-wins (the default): the source's value replaces it.
    let (code, rows, out) = delta(
        &src.url(),
        &dst.url(),
        &["--cursor", "modified", "--since", "2000-01-01"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(rows["public.child"]["conflicts"], "1", "{out}");
    assert_eq!(dst.sql("SELECT v FROM child WHERE id = 10"), "777");
    // Once cutover wrote it, it is no longer a conflict.
    let (_, rows, out) = delta(
        &src.url(),
        &dst.url(),
        &["--cursor", "modified", "--since", "2000-01-01"],
    );
    assert_eq!(rows["public.child"]["conflicts"], "0", "{out}");
    let (code, _, out) = reconcile(&src.url(), &dst.url(), &[]);
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn deletes_detect_reports_and_propagate_removes_children_first() {
    let (src, dst) = small_pair("ds_del");
    src.sql("DELETE FROM child WHERE parent_id = 5; DELETE FROM parent WHERE id = 5; DELETE FROM child WHERE id = 1999;");
    let (code, rows, out) = delta(
        &src.url(),
        &dst.url(),
        &["--cursor", "modified", "--deletes", "detect"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(rows["public.parent"]["deletes_detected"], "1", "{out}");
    assert_eq!(rows["public.child"]["deletes_detected"], "11", "{out}");
    assert_eq!(
        dst.sql("SELECT count(*) FROM child"),
        "2000",
        "detect deletes nothing"
    );
    let (code, rows, out) = delta(
        &src.url(),
        &dst.url(),
        &["--cursor", "modified", "--deletes", "propagate"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(rows["public.child"]["deleted"], "11", "{out}");
    assert_eq!(rows["public.parent"]["deleted"], "1", "{out}");
    let (code, _, out) = reconcile(&src.url(), &dst.url(), &[]);
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn a_delta_sync_killed_before_its_commit_changed_nothing_and_simply_runs_again() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let (src, dst) = small_pair("ds_kill");
    src.sql(
        "INSERT INTO parent VALUES (201, 'new', now());
         UPDATE child SET v = -v, modified = now() WHERE id % 10 = 3;
         DELETE FROM child WHERE id = 7;",
    );
    let before = dst.sql("SELECT count(*), sum(v) FROM child");
    let watermarks = dst.sql("SELECT count(*) FROM _cutover.watermarks");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args([
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
        ])
        .env("CUTOVER_DRILL_PAUSE", "merged")
        .env("CUTOVER_DRILL_PAUSE_SECS", "60")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn cutover");
    // Every table is merged, in the run's open transaction; then SIGKILL.
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let paused = stderr
        .lines()
        .map_while(|l| l.ok())
        .any(|l| l.contains("drill: pausing"));
    assert!(paused, "the delta-sync never reached its pause");
    child.kill().unwrap();
    child.wait().unwrap();

    // Nothing of it is in the target, and its watermarks were not advanced.
    let start = std::time::Instant::now();
    while dst.sql(&format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND application_name = 'cutover (target)'",
        dst.name
    )) != "0"
    {
        assert!(start.elapsed() < std::time::Duration::from_secs(30), "the killed run's session lingers");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(dst.sql("SELECT count(*), sum(v) FROM child"), before);
    assert_eq!(dst.sql("SELECT count(*) FROM parent WHERE id = 201"), "0");
    assert_eq!(
        dst.sql("SELECT count(*) FROM _cutover.watermarks"),
        watermarks
    );

    // Run again: everything arrives, once.
    let (code, rows, out) = delta(
        &src.url(),
        &dst.url(),
        &["--cursor", "modified", "--deletes", "propagate"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(rows["public.parent"]["inserted"], "1", "{out}");
    assert_eq!(rows["public.child"]["updated"], "200", "{out}");
    assert_eq!(rows["public.child"]["deleted"], "1", "{out}");
    assert_eq!(
        dst.sql("SELECT count(*), count(DISTINCT id) FROM child"),
        "1999|1999"
    );
    let (code, _, out) = reconcile(&src.url(), &dst.url(), &[]);
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn a_change_the_text_output_hides_is_still_merged() {
    // A row changed twice within one cursor value (a date cursor, say): the second change, to
    // 0.1 + 0.2 from 0.3, is one the target's text output hides under extra_float_digits = 0.
    // The merge compares the stored values themselves.
    let src = ScratchDb::new("ds_float_src");
    let dst = ScratchDb::new("ds_float_dst");
    let ddl = "CREATE TABLE m (id int PRIMARY KEY, x float8, r real, modified date)";
    src.sql(ddl);
    dst.sql(ddl);
    dst.sql(&format!(
        "ALTER DATABASE {} SET extra_float_digits = 0",
        dst.name
    ));
    src.sql("INSERT INTO m VALUES (1, 0, 0, '2020-01-01'), (2, 0, 0, '2020-01-01')");
    migrate_identity(&src, &dst);
    let window = ["--cursor", "modified", "--since", "2030-01-01"];
    src.sql("UPDATE m SET x = 0.3, r = 1, modified = '2030-01-01'");
    let (code, rows, out) = delta(&src.url(), &dst.url(), &window);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(rows["public.m"]["updated"], "2", "{out}");
    src.sql(
        "UPDATE m SET x = 0.1::float8 + 0.2::float8 WHERE id = 1;
         UPDATE m SET r = 1::real + 1.2e-7::real WHERE id = 2;",
    );
    assert_eq!(dst.sql("SELECT x::text FROM m WHERE id = 1"), "0.3");
    let (code, rows, out) = delta(&src.url(), &dst.url(), &window);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(rows["public.m"]["updated"], "2", "{out}");
    let q = "SELECT * FROM m ORDER BY id";
    assert_eq!(dst.copy_binary(q), src.copy_binary(q));
    let (code, _, out) = reconcile(&src.url(), &dst.url(), &[]);
    assert_eq!(code, Some(0), "{out}");
    // Once merged, the rows are unchanged for the next run.
    let (code, rows, out) = delta(&src.url(), &dst.url(), &window);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(rows["public.m"]["updated"], "0", "{out}");
}

/// Source and target with `u (id, email, modified)`, email unique in the target by `unique_ddl`
/// (and in the source only when `source_unique`), loaded by `migrate full`.
fn unique_pair(tag: &str, unique_ddl: &str, source_unique: bool) -> (ScratchDb, ScratchDb) {
    let src = ScratchDb::new(&format!("{tag}_src"));
    let dst = ScratchDb::new(&format!("{tag}_dst"));
    let ddl =
        "CREATE TABLE u (id int PRIMARY KEY, email text NOT NULL, modified timestamptz NOT NULL)";
    src.sql(ddl);
    dst.sql(ddl);
    dst.sql(unique_ddl);
    if source_unique {
        src.sql(unique_ddl);
    }
    src.sql(
        "INSERT INTO u SELECT g, 'u' || g || '@x', now() - interval '1 day' FROM generate_series(1, 50) g",
    );
    migrate_identity(&src, &dst);
    (src, dst)
}

#[test]
fn rows_that_exchange_unique_values_are_merged_and_the_constraint_is_kept() {
    let (src, dst) = unique_pair(
        "ds_swap",
        "ALTER TABLE u ADD CONSTRAINT u_email_key UNIQUE (email)",
        true,
    );
    dst.sql("COMMENT ON CONSTRAINT u_email_key ON u IS 'one account per address'");
    // Rows 1 and 2 swap addresses (through a temporary value, as the source's own constraint
    // demands); row 3 takes row 4's, which takes a new one.
    src.sql(
        "BEGIN;
         UPDATE u SET email = 'tmp', modified = now() WHERE id = 1;
         UPDATE u SET email = 'u1@x', modified = now() WHERE id = 2;
         UPDATE u SET email = 'u2@x' WHERE id = 1;
         UPDATE u SET email = 'new@x', modified = now() WHERE id = 4;
         UPDATE u SET email = 'u4@x', modified = now() WHERE id = 3;
         COMMIT;",
    );
    let (code, rows, out) = delta(&src.url(), &dst.url(), &["--cursor", "modified"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(rows["public.u"]["updated"], "4", "{out}");
    assert!(
        out.contains("exchange values of the unique index `u_email_key`"),
        "{out}"
    );
    let q = "SELECT * FROM u ORDER BY id";
    assert_eq!(dst.copy_binary(q), src.copy_binary(q));
    // The constraint is back, as it was.
    assert_eq!(
        dst.sql(
            "SELECT contype, condeferrable, obj_description(oid, 'pg_constraint') FROM pg_constraint
             WHERE conname = 'u_email_key' AND conrelid = 'u'::regclass"
        ),
        "u|f|one account per address"
    );
    let (code, _, out) = reconcile(&src.url(), &dst.url(), &[]);
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn a_real_duplicate_after_an_exchange_is_rejected_with_the_change_it_strands() {
    // The target's unique index is on an expression; the source has no such rule and now holds
    // two addresses that differ only in case, after an exchange. 2 cannot take U3@X (3 keeps
    // u3@x); so 2 keeps u2@x, which 1 then cannot take either.
    let (src, dst) = unique_pair(
        "ds_dup",
        "CREATE UNIQUE INDEX u_email_lower ON u (lower(email))",
        false,
    );
    src.sql(
        "UPDATE u SET email = 'u2@x', modified = now() WHERE id = 1;
         UPDATE u SET email = 'U3@X', modified = now() WHERE id = 2;",
    );
    let before = dst.copy_binary("SELECT * FROM u ORDER BY id");
    let (code, rows, out) = delta(&src.url(), &dst.url(), &["--cursor", "modified"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(rows["public.u"]["rejected"], "2", "{out}");
    assert_eq!(
        dst.sql("SELECT string_agg(key || ' ' || reason, E'\\n' ORDER BY key) FROM _cutover.rejects"),
        "[\"1\"] unique index `u_email_lower`: key (lower(email))=(u2@x) is held by another row of \
         the target, or of this run (the row first in key order is kept)\n\
         [\"2\"] unique index `u_email_lower`: key (lower(email))=(u3@x) is held by another row of \
         the target, or of this run (the row first in key order is kept)"
    );
    assert_eq!(dst.copy_binary("SELECT * FROM u ORDER BY id"), before);
    assert_eq!(
        dst.sql(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND indexname = 'u_email_lower'"
        ),
        "1"
    );
}

#[test]
fn a_unique_index_that_foreign_keys_reference_is_not_set_aside() {
    let (src, dst) = unique_pair(
        "ds_swapfk",
        "ALTER TABLE u ADD CONSTRAINT u_email_key UNIQUE (email);
         CREATE TABLE mail (id int PRIMARY KEY, address text REFERENCES u (email) DEFERRABLE);",
        true,
    );
    src.sql(
        "BEGIN;
         UPDATE u SET email = 'tmp', modified = now() WHERE id = 1;
         UPDATE u SET email = 'u1@x', modified = now() WHERE id = 2;
         UPDATE u SET email = 'u2@x' WHERE id = 1;
         COMMIT;",
    );
    let (code, _, out) = delta(&src.url(), &dst.url(), &["--cursor", "modified"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("cannot be set aside for the merge: foreign keys reference it (mail_address_fkey on mail)"),
        "{out}"
    );
    assert_eq!(dst.sql("SELECT email FROM u WHERE id = 1"), "u1@x");
}

#[test]
fn triggers_that_fire_on_the_merged_rows_are_named() {
    let (src, dst) = small_pair("ds_trig");
    dst.sql(
        "CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS
           'BEGIN NEW.modified := now(); RETURN NEW; END';
         CREATE TRIGGER child_stamp BEFORE UPDATE ON child FOR EACH ROW EXECUTE FUNCTION stamp();
         CREATE TRIGGER child_off BEFORE UPDATE ON child FOR EACH ROW EXECUTE FUNCTION stamp();
         ALTER TABLE child DISABLE TRIGGER child_off;",
    );
    src.sql("UPDATE child SET v = 1, modified = now() WHERE id = 1");
    let (code, _, out) = delta(&src.url(), &dst.url(), &["--cursor", "modified"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("public.child: triggers child_stamp fire on the rows delta-sync writes"),
        "{out}"
    );
    assert!(
        !out.contains("child_off"),
        "a disabled trigger is not named: {out}"
    );
    assert!(!out.contains("public.parent: triggers"), "{out}");
    // What the warning is about: the stamp made the row differ from the source.
    let (code, _, out) = reconcile(&src.url(), &dst.url(), &[]);
    assert_eq!(code, Some(1), "{out}");
}

#[test]
fn a_sequence_the_defaults_share_moves_past_the_ids_of_the_load_and_of_each_delta() {
    let src = ScratchDb::new("ds_shared_src");
    let dst = ScratchDb::new("ds_shared_dst");
    let tables = "CREATE TABLE a (id int PRIMARY KEY{d}, name text, modified timestamptz NOT NULL);
                  CREATE TABLE b (id bigint PRIMARY KEY{d}, name text, modified timestamptz NOT NULL);";
    src.sql(&tables.replace("{d}", ""));
    // The new system hands out every table's ids from one sequence it owns nowhere, as
    // Hibernate's `hibernate_sequence` does.
    dst.sql(&format!(
        "CREATE SEQUENCE hibernate_sequence; {}",
        tables.replace("{d}", " DEFAULT nextval('hibernate_sequence')")
    ));
    src.sql(
        "INSERT INTO a SELECT n, 'a', now() - interval '1 day' FROM generate_series(1, 3) n;
         INSERT INTO b SELECT n, 'b', now() - interval '1 day' FROM generate_series(10, 12) n;",
    );
    migrate_identity(&src, &dst);
    assert_eq!(
        dst.sql("INSERT INTO a (name, modified) VALUES ('app', now()) RETURNING id"),
        "13",
        "past the largest id the load put in any table sharing it"
    );
    src.sql("INSERT INTO b VALUES (20, 'new', now())");
    let (code, rows, out) = delta(&src.url(), &dst.url(), &["--cursor", "modified"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(rows["public.b"]["inserted"], "1", "{out}");
    assert_eq!(
        dst.sql("INSERT INTO a (name, modified) VALUES ('app', now()) RETURNING id"),
        "21"
    );
    // Forward only: a sequence ahead of the tables stays where it is.
    dst.sql("SELECT setval('hibernate_sequence', 100)");
    src.sql("INSERT INTO a VALUES (30, 'new', now())");
    let (code, _, out) = delta(&src.url(), &dst.url(), &["--cursor", "modified"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(dst.sql("SELECT last_value FROM hibernate_sequence"), "100");
}

#[test]
fn new_rows_in_identity_and_serial_tables_merge_and_move_their_sequences_on() {
    let src = ScratchDb::new("ds_ident_src");
    let dst = ScratchDb::new("ds_ident_dst");
    let ddl = "CREATE TABLE g (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text,
                               modified timestamptz NOT NULL DEFAULT now());
               CREATE TABLE s (id serial PRIMARY KEY, name text, modified timestamptz NOT NULL DEFAULT now());
               CREATE TABLE n (code text PRIMARY KEY, seq int GENERATED ALWAYS AS IDENTITY, name text,
                               modified timestamptz NOT NULL DEFAULT now());";
    src.sql(ddl);
    dst.sql(ddl);
    src.sql(
        "INSERT INTO g (name, modified) SELECT 'g' || n, now() - interval '1 day' FROM generate_series(1, 3) n;
         INSERT INTO s (name, modified) SELECT 's' || n, now() - interval '1 day' FROM generate_series(1, 3) n;
         INSERT INTO n (code, name, modified) VALUES ('a', 'n', now() - interval '1 day');",
    );
    migrate_identity(&src, &dst);
    // The legacy system goes on handing out ids from its own sequences.
    // (A non-key GENERATED ALWAYS column takes no value from an UPDATE: the merge leaves it.)
    src.sql(
        "INSERT INTO g (name) VALUES ('new'), ('new'); INSERT INTO s (name) VALUES ('new');
         UPDATE n SET name = 'changed', modified = now();",
    );
    let (code, rows, out) = delta(&src.url(), &dst.url(), &["--cursor", "modified"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(rows["public.g"]["inserted"], "2", "{out}");
    assert_eq!(rows["public.s"]["inserted"], "1", "{out}");
    assert_eq!(rows["public.n"]["updated"], "1", "{out}");
    let (code, _, out) = reconcile(&src.url(), &dst.url(), &[]);
    assert_eq!(code, Some(0), "{out}");
    // After the flip, the application's inserts get ids past the migrated ones.
    assert_eq!(
        dst.sql("INSERT INTO g (name) VALUES ('app') RETURNING id"),
        "6"
    );
    assert_eq!(
        dst.sql("INSERT INTO s (name) VALUES ('app') RETURNING id"),
        "5"
    );
    // And a later run never moves a sequence back.
    let (code, _, out) = delta(&src.url(), &dst.url(), &["--cursor", "modified"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(dst.sql("SELECT last_value FROM g_id_seq"), "6");
}

#[test]
fn a_row_whose_unique_key_the_target_already_holds_is_a_reject_of_the_delta() {
    let src = ScratchDb::new("ds_dupkey_src");
    let dst = ScratchDb::new("ds_dupkey_dst");
    let ddl =
        "CREATE TABLE accounts (id int PRIMARY KEY, email text, modified timestamptz NOT NULL);";
    src.sql(ddl);
    dst.sql(ddl);
    dst.sql("CREATE UNIQUE INDEX accounts_email ON accounts (lower(email))");
    src.sql(
        "INSERT INTO accounts VALUES (1, 'a@x', now() - interval '1 day'),
           (2, 'b@x', now() - interval '1 day'), (3, 'c@x', now() - interval '1 day');",
    );
    migrate_identity(&src, &dst);
    // 4 takes an address the target keeps for 1; 5 takes the one 2 gives up in the same run;
    // 6 and 7 arrive together with the same address.
    src.sql(
        "INSERT INTO accounts VALUES (4, 'A@x', now()), (5, 'b@x', now()), (6, 'z@x', now()),
                                     (7, 'Z@x', now());
         UPDATE accounts SET email = 'new@x', modified = now() WHERE id = 2;",
    );
    let (code, rows, out) = delta(&src.url(), &dst.url(), &["--cursor", "modified"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(rows["public.accounts"]["rejected"], "2", "{out}");
    assert_eq!(
        dst.sql("SELECT string_agg(id || ' ' || email, ', ' ORDER BY id) FROM accounts"),
        "1 a@x, 2 new@x, 3 c@x, 5 b@x, 6 z@x"
    );
    assert_eq!(
        dst.sql("SELECT string_agg(key || ' ' || reason, E'\\n' ORDER BY key) FROM _cutover.rejects"),
        "[\"4\"] unique index `accounts_email`: key (lower(email))=(a@x) is held by another row of \
         the target, or of this run (the row first in key order is kept)\n\
         [\"7\"] unique index `accounts_email`: key (lower(email))=(z@x) is held by another row of \
         the target, or of this run (the row first in key order is kept)"
    );
    let (code, _, out) = reconcile(&src.url(), &dst.url(), &[]);
    assert_eq!(code, Some(0), "the rejects are accounted for: {out}");
}

#[test]
fn two_staged_rows_with_one_merge_key_are_a_duplicate_not_a_failed_merge() {
    // The mapping keys the target by the lower-cased code, which the source never kept unique.
    let src = ScratchDb::new("ds_mkey_src");
    let dst = ScratchDb::new("ds_mkey_dst");
    src.sql(
        "CREATE TABLE items (id int PRIMARY KEY, code text NOT NULL, v int, modified timestamptz);
         INSERT INTO items VALUES (1, 'a', 1, now() - interval '1 day'), (2, 'b', 2, now() - interval '1 day');",
    );
    dst.sql("CREATE TABLE items (code text PRIMARY KEY, v int, modified timestamptz);");
    let dir = temp_dir();
    let mapping = dir.path().join("m.toml");
    std::fs::write(
        &mapping,
        "version = 1\n[[tables]]\nsource = \"items\"\ntarget = \"items\"\nkey = [\"code\"]\n\
         cursor = \"modified\"\n[tables.columns.code]\nfrom = \"code\"\nlower = true\n\
         [tables.columns.v]\nfrom = \"v\"\n[tables.columns.modified]\nfrom = \"modified\"\n",
    )
    .unwrap();
    migrate_mapped(&src, &dst, &mapping, &dir.path().join("run.json"));
    src.sql(
        "INSERT INTO items VALUES (3, 'C', 30, now()), (4, 'c', 40, now()), (5, 'd', 50, now());
         UPDATE items SET v = 20, modified = now() WHERE id = 2;",
    );
    let m = mapping.to_str().unwrap();
    let (code, rows, out) = delta(&src.url(), &dst.url(), &["--mapping", m]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(rows["public.items"]["rejected"], "1", "{out}");
    assert_eq!(
        dst.sql("SELECT string_agg(code || ' ' || v, ', ' ORDER BY code) FROM items"),
        "a 1, b 20, c 30, d 50",
        "the row first in key order (then by its text) is kept"
    );
    assert_eq!(
        dst.sql("SELECT string_agg(reason, E'\\n') FROM _cutover.rejects"),
        "unique index `items_pkey`: key (code)=(c) is duplicated; the row first in key order is kept"
    );
    // The same run again changes nothing.
    let (code, rows, out) = delta(&src.url(), &dst.url(), &["--mapping", m]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(rows["public.items"]["updated"], "0", "{out}");
    // Once the source holds the code once, the row loads and leaves the ledger of rejects.
    src.sql("UPDATE items SET code = 'e', modified = now() WHERE id = 4");
    let (code, rows, out) = delta(&src.url(), &dst.url(), &["--mapping", m]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(rows["public.items"]["inserted"], "1", "{out}");
    assert_eq!(
        dst.sql("SELECT string_agg(code || ' ' || v, ', ' ORDER BY code) FROM items"),
        "a 1, b 20, c 30, d 50, e 40"
    );
    assert_eq!(dst.sql("SELECT count(*) FROM _cutover.rejects"), "0");
}
