//! The source is never written: `plan`, `migrate full` and `reconcile` succeed against a source
//! database that is read-only by default, through a role that may only connect, look and read,
//! and they leave no trace there (no schema, table, temporary table or replication slot).
mod common;
mod scratch_role;

use common::*;
use scratch_role::ScratchRole;

const DDL: &str = "
CREATE TABLE parent (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent(id), note text,
                    modified timestamptz NOT NULL DEFAULT now());";

/// Everything that would show a write to the source: its schemas, its relations, its
/// replication slots, and the contents of its tables.
fn footprint(db: &ScratchDb) -> String {
    db.sql(&format!(
        "SELECT (SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace) || E'\\n' ||
                (SELECT string_agg(n.nspname || '.' || c.relname || ':' || c.relkind::text, ',' ORDER BY n.nspname, c.relname)
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')) || E'\\n' ||
                (SELECT count(*) FROM pg_replication_slots WHERE database = '{}') || E'\\n' ||
                (SELECT count(*) FROM pg_prepared_xacts WHERE database = '{}')",
        db.name, db.name
    )) + &format!("{:?}", (
        db.copy_binary("SELECT * FROM parent ORDER BY id"),
        db.copy_binary("SELECT * FROM child ORDER BY id"),
    ))
}

#[test]
fn plan_migrate_and_reconcile_need_only_select_on_a_read_only_source() {
    let role = ScratchRole::new("ro", None, "");
    let src = ScratchDb::new("ro_src");
    let dst = ScratchDb::new("ro_dst");
    src.sql(DDL);
    dst.sql(DDL);
    src.sql(
        "INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 300) g;
             INSERT INTO child SELECT g, 1 + g % 300, 'c' || g FROM generate_series(1, 2000) g;",
    );
    // Only CONNECT (not even TEMPORARY, which PUBLIC has by default), USAGE and SELECT.
    src.sql(&format!(
        "REVOKE ALL ON DATABASE {db} FROM PUBLIC;
         REVOKE ALL ON SCHEMA public FROM PUBLIC;
         GRANT CONNECT ON DATABASE {db} TO {r};
         GRANT USAGE ON SCHEMA public TO {r};
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO {r};
         ALTER DATABASE {db} SET default_transaction_read_only = on;",
        db = src.name,
        r = role.name
    ));
    let source = role.url(&src.name, false);
    // The setup holds: the role cannot write, create or make temporary tables there.
    for denied in [
        "CREATE TEMP TABLE t (x int)",
        "INSERT INTO parent VALUES (0, 'x')",
        "CREATE TABLE public.t (x int)",
    ] {
        let out = std::process::Command::new("psql")
            .arg(&source)
            .args([
                "-X",
                "-q",
                "-c",
                &format!("SET default_transaction_read_only = off; {denied}"),
            ])
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "`{denied}` should be refused to the role"
        );
    }
    let before = footprint(&src);

    let dir = temp_dir();
    let plan = dir.path().join("plan.json");
    let out = cutover(&[
        "plan",
        "--source",
        &source,
        "--target",
        &dst.url(),
        "--output",
        plan.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    assert_eq!(p["blockers"], 0, "{p}");

    let out = cutover(&[
        "migrate",
        "full",
        "--source",
        &source,
        "--target",
        &dst.url(),
        "--jobs",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    for t in ["parent", "child"] {
        let q = format!("SELECT * FROM {t} ORDER BY id");
        assert_eq!(dst.copy_binary(&q), src.copy_binary(&q), "table {t}");
    }
    // delta-sync reads the source the same way (deletes found by key sets, nothing written).
    let out = cutover(&[
        "migrate",
        "delta-sync",
        "--source",
        &source,
        "--target",
        &dst.url(),
        "--cursor",
        "modified",
        "--deletes",
        "propagate",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let report = dir.path().join("report.csv");
    let out = cutover(&[
        "reconcile",
        "--source",
        &source,
        "--target",
        &dst.url(),
        "--output",
        report.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(footprint(&src), before);
    // Every session cutover opened ended with a Terminate message: none was abandoned, which
    // the server would have logged ("unexpected EOF on client connection").
    for db in [&src, &dst] {
        assert_eq!(cut_off_sessions(db), 0, "database {}", db.name);
    }
}

#[test]
fn a_row_level_security_policy_that_would_hide_source_rows_stops_the_run() {
    let role = ScratchRole::new("rls", None, "");
    let src = ScratchDb::new("rls_src");
    let dst = ScratchDb::new("rls_dst");
    src.sql(DDL);
    dst.sql(DDL);
    src.sql(&format!(
        "INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 10) g;
         GRANT USAGE ON SCHEMA public TO {r};
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO {r};
         ALTER TABLE parent ENABLE ROW LEVEL SECURITY;
         CREATE POLICY some_rows ON parent FOR SELECT USING (id <= 5);",
        r = role.name
    ));
    let source = role.url(&src.name, false);
    // Read through the policy, the role would see 5 of the 10 rows, and a reconcile through
    // the same policy would agree: the run must refuse instead.
    let out = cutover(&[
        "migrate",
        "full",
        "--source",
        &source,
        "--target",
        &dst.url(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert!(
        shown(&out).contains("row-level security policy for table \"parent\""),
        "{}",
        shown(&out)
    );
    assert_eq!(dst.sql("SELECT count(*) FROM parent"), "0");
    // A role that bypasses row-level security reads every row.
    src.sql(&format!("ALTER ROLE {} BYPASSRLS", role.name));
    let out = cutover(&[
        "migrate",
        "full",
        "--source",
        &source,
        "--target",
        &dst.url(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(dst.sql("SELECT count(*) FROM parent"), "10");
}
