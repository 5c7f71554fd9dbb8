//! `cutover reconcile` against the real PostgreSQL: MATCH after a clean migrate, every planted
//! difference named with its kind and changed columns, counts equal to an independent SQL
//! oracle on randomly perturbed tables, gates and exit codes.
mod common;

use std::collections::BTreeMap;

use common::*;

/// One reconcile run: exit code, report rows by table, diff rows.
struct Run {
    code: Option<i32>,
    out: String,
    report: BTreeMap<String, BTreeMap<String, String>>,
    diff: Vec<(String, String, String, String)>,
}

fn reconcile(args: &[&str]) -> Run {
    let dir = temp_dir();
    let report = dir.path().join("report.csv");
    let diff = dir.path().join("diff.csv");
    let mut all = vec![
        "reconcile",
        "--output",
        report.to_str().unwrap(),
        "--diff",
        diff.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let out = cutover(&all);
    let rows = csv_by_table(&report);
    let mut diffs = Vec::new();
    if let Ok(mut r) = csv::Reader::from_path(&diff) {
        for rec in r.records() {
            let rec = rec.unwrap();
            diffs.push((
                rec[0].to_string(),
                rec[1].to_string(),
                rec[2].to_string(),
                rec[3].to_string(),
            ));
        }
    }
    Run {
        code: out.status.code(),
        out: shown(&out),
        report: rows,
        diff: diffs,
    }
}

#[test]
fn clean_crm_migrate_reconciles_match_with_the_manifest_roots() {
    let (src, dst) = crm_pair("rc_crm");
    let dir = temp_dir();
    let manifest = dir.path().join("run.json");
    let m = migrate_crm(&src, &dst, &manifest);
    let m = m.as_str();
    let run = reconcile(&[
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--mapping",
        m,
    ]);
    assert_eq!(run.code, Some(0), "{}", run.out);
    let man: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    assert_eq!(run.report.len(), 7);
    for t in man["tables"].as_array().unwrap() {
        let name = t["target"].as_str().unwrap();
        let r = &run.report[name];
        assert_eq!(r["status"], "MATCH", "{name}: {r:?}");
        assert_eq!(
            r["rejected_at_source"],
            t["rejected_rows"].to_string(),
            "{name}"
        );
        assert_eq!(r["target_rows"], t["loaded_rows"].to_string(), "{name}");
        assert_eq!(r["source_root"], r["target_root"], "{name}");
        assert_eq!(
            r["source_root"],
            t["root"].as_str().unwrap(),
            "{name}: migrate and reconcile roots agree"
        );
    }
    assert!(run.diff.is_empty());
    // Half the work: the source side from the manifest.
    let run = reconcile(&[
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--mapping",
        m,
        "--against-manifest",
        manifest.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(0), "{}", run.out);
    assert!(
        run.report.values().all(|r| r["status"] == "MATCH"),
        "{}",
        run.out
    );

    // A changed row and a deleted one are found, also against the manifest.
    dst.sql("UPDATE crm.users SET first_name = first_name || 'x' WHERE legacy_id = 7;
             DELETE FROM crm.audit_log WHERE id IN (SELECT id FROM crm.audit_log ORDER BY id LIMIT 1)");
    for extra in [
        vec![],
        vec!["--against-manifest", manifest.to_str().unwrap()],
    ] {
        let mut args = vec![
            "--source",
            src.url().leak() as &str,
            "--target",
            dst.url().leak(),
            "--mapping",
            m,
        ];
        args.extend(extra);
        let run = reconcile(&args);
        assert_eq!(run.code, Some(1), "{}", run.out);
        assert_eq!(run.report["crm.users"]["changed"], "1", "{}", run.out);
        assert_eq!(
            run.report["crm.audit_log"]["missing_in_target"], "1",
            "{}",
            run.out
        );
        assert_eq!(run.report["crm.accounts"]["status"], "MATCH");
        let changed: Vec<_> = run.diff.iter().filter(|d| d.2 == "changed").collect();
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].3, "first_name");
    }
}

const PERTURB_DDL: &str = "CREATE TABLE t (id int PRIMARY KEY, name text, f float8, n numeric, note text, ts timestamptz)";

#[test]
fn planted_differences_are_named_with_kind_and_columns() {
    let src = ScratchDb::new("rc_pl_src");
    let dst = ScratchDb::new("rc_pl_dst");
    for db in [&src, &dst] {
        db.sql(PERTURB_DDL);
        db.sql("INSERT INTO t SELECT g, 'name ' || g, 0, 1.5, CASE WHEN g % 2 = 0 THEN NULL ELSE 'n' END,
                timestamptz '2024-01-01' + g * interval '1 hour' FROM generate_series(1, 5000) g");
    }
    let run = reconcile(&["--source", &src.url(), "--target", &dst.url()]);
    assert_eq!(run.code, Some(0), "{}", run.out);
    assert_eq!(run.report["public.t"]["status"], "MATCH");
    // A row moved to another physical page is not a difference.
    dst.sql("UPDATE t SET name = name WHERE id = 10");
    let run = reconcile(&["--source", &src.url(), "--target", &dst.url()]);
    assert_eq!(run.code, Some(0), "{}", run.out);

    dst.sql(
        "UPDATE t SET name = 'changed' WHERE id = 1;
         DELETE FROM t WHERE id = 2;
         INSERT INTO t VALUES (9001, 'new', 0, 1, NULL, now());
         UPDATE t SET note = 'was null' WHERE id = 4;
         UPDATE t SET name = name || ' ' WHERE id = 5;
         UPDATE t SET f = '-0' WHERE id = 6;
         UPDATE t SET n = 1.50 WHERE id = 7;
         UPDATE t SET ts = ts + interval '1 microsecond', note = NULL WHERE id = 9;",
    );
    let run = reconcile(&["--source", &src.url(), "--target", &dst.url()]);
    assert_eq!(run.code, Some(1), "{}", run.out);
    let r = &run.report["public.t"];
    assert_eq!(
        (
            r["missing_in_target"].as_str(),
            r["extra_in_target"].as_str(),
            r["changed"].as_str()
        ),
        ("1", "1", "6"),
        "{r:?}"
    );
    assert_eq!(r["status"], "MISMATCH");
    assert_eq!(r["matched"], "4993");
    let got: Vec<(String, String, String)> = run
        .diff
        .iter()
        .map(|d| (d.1.clone(), d.2.clone(), d.3.clone()))
        .collect();
    let want: Vec<(String, String, String)> = [
        ("[\"1\"]", "changed", "name"),
        ("[\"4\"]", "changed", "note"),
        ("[\"5\"]", "changed", "name"),
        ("[\"6\"]", "changed", "f"),
        ("[\"7\"]", "changed", "n"),
        ("[\"9\"]", "changed", "note;ts"),
        ("[\"9001\"]", "extra", ""),
        ("[\"2\"]", "missing", ""),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    let by_kind_then_key = |v: &[(String, String, String)]| {
        let mut v = v.to_vec();
        v.sort_by_key(|r| (r.1.clone(), r.0.clone()));
        v
    };
    assert_eq!(by_kind_then_key(&got), by_kind_then_key(&want));

    // Gates: a generous ratio passes, a critical table does not.
    let run = reconcile(&[
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--max-missing-ratio",
        "0.01",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.out);
    let run = reconcile(&[
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--max-missing-ratio",
        "0.01",
        "--critical",
        "t",
    ]);
    assert_eq!(run.code, Some(1), "{}", run.out);
    assert!(run.out.contains("critical table differs"), "{}", run.out);
}

#[test]
fn arrays_and_composites_of_user_types_match_across_databases_and_a_change_is_named() {
    let src = ScratchDb::new("rc_arr_src");
    let dst = ScratchDb::new("rc_arr_dst");
    // The same types in both databases, under other OIDs (the target made some types first):
    // an array's binary form names its element type by OID, a composite value its fields'.
    dst.sql("CREATE TYPE spacer AS ENUM ('x'); CREATE DOMAIN spacer2 AS int;");
    for db in [&src, &dst] {
        db.sql(
            "CREATE TYPE level AS ENUM ('low', 'mid', 'high');
             CREATE DOMAIN pos AS int CHECK (VALUE > 0);
             CREATE TYPE spot AS (n pos, lvl level);
             CREATE TYPE addr AS (street text, lvl level, seen level[], at spot);
             CREATE TABLE t (id int PRIMARY KEY, levels level[], counts pos[], grid int[],
                             home addr, homes addr[]);
             INSERT INTO t SELECT g, ARRAY['low', CASE WHEN g % 2 = 0 THEN 'high' END]::level[],
                                  ARRAY[g, g + 1]::pos[], CASE WHEN g % 3 = 0 THEN '{{1,2},{3,4}}' END::int[],
                                  ROW('s' || g, 'mid', '{low,high}', ROW(g, 'low'))::addr,
                                  ARRAY[ROW('t', 'high', NULL, NULL)::addr, NULL]
             FROM generate_series(1, 300) g;",
        );
    }
    assert_ne!(
        src.sql("SELECT 'level'::regtype::oid"),
        dst.sql("SELECT 'level'::regtype::oid")
    );
    let run = reconcile(&["--source", &src.url(), "--target", &dst.url()]);
    assert_eq!(run.code, Some(0), "{}", run.out);
    assert_eq!(run.report["public.t"]["status"], "MATCH");

    dst.sql(
        "UPDATE t SET levels[2] = 'mid' WHERE id = 2;
         UPDATE t SET counts = '{7}' WHERE id = 3;
         UPDATE t SET grid[2][2] = 5 WHERE id = 6;
         UPDATE t SET home.seen = '{high}' WHERE id = 7;
         UPDATE t SET homes[1] = ROW('t', 'high', NULL, ROW(1, 'low'))::addr WHERE id = 8;",
    );
    let run = reconcile(&["--source", &src.url(), "--target", &dst.url()]);
    assert_eq!(run.code, Some(1), "{}", run.out);
    let mut got: Vec<(String, String, String)> = run
        .diff
        .iter()
        .map(|d| (d.1.clone(), d.2.clone(), d.3.clone()))
        .collect();
    got.sort();
    let want: Vec<(String, String, String)> = [
        ("[\"2\"]", "changed", "levels"),
        ("[\"3\"]", "changed", "counts"),
        ("[\"6\"]", "changed", "grid"),
        ("[\"7\"]", "changed", "home"),
        ("[\"8\"]", "changed", "homes"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(got, want);
}

#[test]
fn table_without_a_key_is_an_error_with_a_reason() {
    let src = ScratchDb::new("rc_nk_src");
    let dst = ScratchDb::new("rc_nk_dst");
    for db in [&src, &dst] {
        db.sql("CREATE TABLE heap_only (a int, b text); INSERT INTO heap_only VALUES (1, 'x');");
    }
    let run = reconcile(&["--source", &src.url(), "--target", &dst.url()]);
    assert_eq!(run.code, Some(2), "{}", run.out);
    assert_eq!(
        run.report["public.heap_only"]["status"], "ERROR",
        "{}",
        run.out
    );
    assert!(run.out.contains("key"), "{}", run.out);
}

/// The oracle: both tables in one database (schemas `a` and `b`), compared by a FULL OUTER
/// JOIN on the key and the rows' text, independently of cutover's digests.
fn oracle(db: &ScratchDb) -> (i64, i64, i64) {
    let row = db.sql(
        "SELECT count(*) FILTER (WHERE y.k1 IS NULL), count(*) FILTER (WHERE x.k1 IS NULL),
                count(*) FILTER (WHERE x.k1 IS NOT NULL AND y.k1 IS NOT NULL AND x::text IS DISTINCT FROM y::text)
         FROM a.t x FULL OUTER JOIN b.t y ON x.k1 = y.k1 AND x.k2 = y.k2",
    );
    let v: Vec<i64> = row.split('|').map(|s| s.parse().unwrap()).collect();
    (v[0], v[1], v[2])
}

#[test]
fn counts_equal_a_sql_oracle_on_randomly_perturbed_tables() {
    let db = ScratchDb::new("rc_oracle");
    let dir = temp_dir();
    let mapping = dir.path().join("ab.toml");
    std::fs::write(
        &mapping,
        "version = 1\nsource_schema = \"a\"\ntarget_schema = \"b\"\n\n[[tables]]\nsource = \"t\"\ncopy_unmapped = true\n",
    )
    .unwrap();
    for seed in 1..=6 {
        db.sql(
            "DROP SCHEMA IF EXISTS a CASCADE; DROP SCHEMA IF EXISTS b CASCADE; CREATE SCHEMA a; CREATE SCHEMA b;
             CREATE TABLE a.t (k1 text COLLATE \"C\", k2 int, v float8, w numeric, s text, PRIMARY KEY (k1, k2));
             CREATE TABLE b.t (LIKE a.t INCLUDING ALL);",
        );
        db.sql(&format!(
            "SELECT setseed({});
             INSERT INTO a.t SELECT (ARRAY['é','B','a','ß','Z',''])[1 + g % 6] || (g / 7), g % 7,
                    round(random()::numeric * 1000, 3)::float8, round(random()::numeric * 100, 2),
                    CASE WHEN random() < 0.2 THEN NULL ELSE md5(g::text) END
             FROM generate_series(1, 3000) g;
             INSERT INTO b.t SELECT * FROM a.t;
             DELETE FROM b.t WHERE random() < 0.01;
             UPDATE b.t SET v = -v WHERE random() < 0.01;
             UPDATE b.t SET s = NULL WHERE random() < 0.01;
             UPDATE b.t SET w = w * 1.0 WHERE random() < 0.01;
             UPDATE b.t SET s = s || ' ' WHERE random() < 0.005;
             INSERT INTO b.t SELECT 'extra' || g, g, 0, 0, 'x' FROM generate_series(1, (random() * 20)::int) g;",
            seed as f64 / 10.0
        ));
        let (missing, extra, changed) = oracle(&db);
        assert!(
            missing + extra + changed > 0,
            "seed {seed} perturbs something"
        );
        let run = reconcile(&[
            "--source",
            &db.url(),
            "--target",
            &db.url(),
            "--mapping",
            mapping.to_str().unwrap(),
            "--jobs",
            if seed % 2 == 0 { "1" } else { "2" },
        ]);
        assert_eq!(run.code, Some(1), "seed {seed}: {}", run.out);
        let r = &run.report["b.t"];
        assert_eq!(
            (
                r["missing_in_target"].parse::<i64>().unwrap(),
                r["extra_in_target"].parse::<i64>().unwrap(),
                r["changed"].parse::<i64>().unwrap()
            ),
            (missing, extra, changed),
            "seed {seed}: cutover vs oracle"
        );
        assert_eq!(
            run.diff.len() as i64,
            missing + extra + changed,
            "seed {seed}: every row named"
        );
    }
}

/// Identity tables are read row by row from the COPY bytes (no batch), in `migrate` and in
/// `reconcile`: a NULL the target's NOT NULL refuses still rejects its row there, as the
/// batch path would, and a NOT NULL column with a `default` still takes it.
#[test]
fn identity_rows_refused_by_a_not_null_target_are_quarantined_and_counted_at_source() {
    let src = ScratchDb::new("rec_nn_src");
    let dst = ScratchDb::new("rec_nn_dst");
    src.sql("CREATE TABLE t (id int PRIMARY KEY, name text, n int, note text)");
    dst.sql("CREATE TABLE t (id int PRIMARY KEY, name text NOT NULL, n int, note text)");
    src.sql(
        "INSERT INTO t SELECT g, CASE WHEN g % 100 = 0 THEN NULL ELSE 'n' || g END,
                CASE WHEN g % 7 = 0 THEN NULL ELSE g END, repeat('x', g % 50)
         FROM generate_series(1, 5000) g",
    );
    let dir = temp_dir();
    let manifest = dir.path().join("run.json");
    let out = cutover(&[
        "migrate",
        "full",
        "--quiet",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--manifest",
        manifest.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(dst.sql("SELECT count(*) FROM t"), "4950");
    assert_eq!(
        dst.sql("SELECT count(*) FROM _cutover.rejects WHERE table_name = 't'"),
        "50"
    );
    let kept = "COPY (SELECT * FROM t WHERE id % 100 <> 0 ORDER BY id) TO STDOUT";
    assert_eq!(dst.sql(kept), src.sql(kept));

    let run = reconcile(&["--source", &src.url(), "--target", &dst.url()]);
    assert_eq!(run.code, Some(0), "{}", run.out);
    let r = &run.report["public.t"];
    assert_eq!(r["status"], "MATCH", "{r:?}");
    assert_eq!(r["rejected_at_source"], "50");
    assert_eq!(r["target_rows"], "4950");
    let man: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    assert_eq!(r["target_root"], man["tables"][0]["root"].as_str().unwrap());

    // A row changed behind the load is named, as on the batch path.
    dst.sql("UPDATE t SET n = -1 WHERE id = 3; DELETE FROM t WHERE id = 4");
    let run = reconcile(&["--source", &src.url(), "--target", &dst.url()]);
    assert_eq!(run.code, Some(1), "{}", run.out);
    let kinds: Vec<(&str, &str, &str)> = run
        .diff
        .iter()
        .map(|(_, k, kind, cols)| (k.as_str(), kind.as_str(), cols.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [(r#"["3"]"#, "changed", "n"), (r#"["4"]"#, "missing", "")]
    );
}
