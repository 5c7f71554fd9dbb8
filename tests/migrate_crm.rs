//! The CRM fixture through mappings/crm.toml: the main job of `cutover`, end to end.
mod common;

use std::collections::BTreeMap;

use common::*;

fn counts(db: &ScratchDb, schema: &str) -> BTreeMap<String, i64> {
    let tables = db.sql(&format!(
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = '{schema}'"
    ));
    tables
        .split(',')
        .map(|t| {
            (
                t.to_string(),
                db.sql(&format!("SELECT count(*) FROM {schema}.{t}"))
                    .parse()
                    .unwrap(),
            )
        })
        .collect()
}

#[test]
fn crm_fixture_migrates_with_the_documented_rejects_and_valid_constraints() {
    let (src, dst) = crm_pair("crm");
    let dir = temp_dir();
    let manifest = dir.path().join("run.json");
    let mapping = root().join("mappings/crm.toml");
    let out = cutover(&[
        "migrate",
        "full",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--mapping",
        mapping.to_str().unwrap(),
        "--manifest",
        manifest.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));

    let source_counts = counts(&src, "legacy");
    assert_eq!(source_counts["users"], 156);
    assert_eq!(source_counts["audit_log"], 47_892);
    let target_counts = counts(&dst, "crm");
    let oracle_sql =
        std::fs::read_to_string(root().join("fixtures/crm/expected_rejects.sql")).unwrap();
    let expected: BTreeMap<String, i64> = src
        .sql(&oracle_sql)
        .lines()
        .map(|l| {
            let (t, n) = l.split_once('|').unwrap();
            (t.to_string(), n.parse().unwrap())
        })
        .collect();
    assert!(
        expected.values().sum::<i64>() > 0,
        "the fixture must exercise rejects"
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    for (table, rejects) in &expected {
        assert_eq!(
            target_counts[table],
            source_counts[table] - rejects,
            "table {table}: target rows = source rows - expected rejects"
        );
        let t = m["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["target"] == format!("crm.{table}"))
            .unwrap();
        assert_eq!(
            t["rejected_rows"].as_i64().unwrap(),
            *rejects,
            "manifest rejects of {table}"
        );
        assert_eq!(
            t["loaded_rows"].as_i64().unwrap(),
            target_counts[table],
            "manifest rows of {table}"
        );
        let filed: i64 = dst
            .sql(&format!(
                "SELECT count(DISTINCT key) FROM _cutover.rejects WHERE table_name = '{table}' AND phase <> 'nulled'"
            ))
            .parse()
            .unwrap();
        assert_eq!(filed, *rejects, "rejects filed for {table}");
    }

    // Every phone in the target is E.164.
    let phone_cols = dst.sql(
        "SELECT string_agg(table_name || '.' || column_name, ',') FROM information_schema.columns
         WHERE table_schema = 'crm' AND column_name LIKE '%phone%'",
    );
    assert!(!phone_cols.is_empty());
    for tc in phone_cols.split(',') {
        let (t, c) = tc.split_once('.').unwrap();
        let bad = dst.sql(&format!(
            "SELECT count(*) FROM crm.{t} WHERE {c} IS NOT NULL AND {c} !~ '^\\+[1-9][0-9]{{6,14}}$'"
        ));
        assert_eq!(bad, "0", "non-E.164 phones in {tc}");
        let good: i64 = dst
            .sql(&format!("SELECT count({c}) FROM crm.{t}"))
            .parse()
            .unwrap();
        assert!(good > 0, "{tc} has phones");
    }
    // Every constraint of the target is in place and validated; every index exists.
    assert_eq!(
        dst.sql(
            "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
                 WHERE n.nspname = 'crm' AND NOT c.convalidated"
        ),
        "0"
    );
    let fks: i64 = dst
        .sql(
            "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
              WHERE n.nspname = 'crm' AND c.contype = 'f'",
        )
        .parse()
        .unwrap();
    assert!(fks >= 6, "foreign keys recreated: {fks}");
    let prev_fks: i64 = dst
        .sql(&format!(
            "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
             WHERE n.nspname = '{}' AND c.contype = 'f'",
            m["previous_schema"].as_str().unwrap()
        ))
        .parse()
        .unwrap();
    assert_eq!(
        fks, prev_fks,
        "the new tables have every foreign key the old ones had"
    );
    let idx_new = dst.sql("SELECT count(*) FROM pg_indexes WHERE schemaname = 'crm'");
    let idx_old = dst.sql(&format!(
        "SELECT count(*) FROM pg_indexes WHERE schemaname = '{}'",
        m["previous_schema"].as_str().unwrap()
    ));
    assert_eq!(idx_new, idx_old, "every index is rebuilt");
    // The source was only read.
    assert_eq!(counts(&src, "legacy"), source_counts);
    assert_eq!(
        src.sql("SELECT count(*) FROM pg_namespace WHERE nspname LIKE '\\_cutover%'"),
        "0"
    );
}

#[test]
fn plan_reports_blockers_of_a_broken_mapping_and_exits_1() {
    let (src, dst) = crm_pair("crm");
    let good = std::fs::read_to_string(root().join("mappings/crm.toml")).unwrap();
    // Break it three ways: a misspelt source column, a missing source table, a missing target column.
    let broken = good
        .replacen("from = \"email_addr\"", "from = \"emial_addr\"", 1)
        .replacen("source = \"tasks\"", "source = \"taskz\"", 1)
        .replacen(
            "[tables.columns.legacy_id]",
            "[tables.columns.no_such_column]",
            1,
        );
    assert_ne!(broken, good);
    let dir = temp_dir();
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, broken).unwrap();
    let plan_json = dir.path().join("plan.json");
    let out = cutover(&[
        "plan",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--mapping",
        path.to_str().unwrap(),
        "--output",
        plan_json.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for needle in ["BLOCKER", "emial_addr", "taskz", "no_such_column"] {
        assert!(
            stdout.contains(needle),
            "plan output names `{needle}`:\n{}",
            shown(&out)
        );
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_json).unwrap()).unwrap();
    assert!(report["blockers"].as_u64().unwrap() >= 3);
    // Nothing was written to the target.
    assert_eq!(dst.sql("SELECT count(*) FROM crm.users"), "0");
}

#[test]
fn plan_of_the_good_mapping_streams_every_row_and_counts_rejects() {
    let (src, dst) = crm_pair("crm");
    let mapping = root().join("mappings/crm.toml");
    let dir = temp_dir();
    let plan_json = dir.path().join("plan.json");
    let out = cutover(&[
        "plan",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--mapping",
        mapping.to_str().unwrap(),
        "--output",
        plan_json.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_json).unwrap()).unwrap();
    let read: u64 = report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["rows_read"].as_u64().unwrap())
        .sum();
    assert_eq!(read, 156 + 1_847 + 5_421 + 8_234 + 12_563 + 19_771 + 47_892);
    let leads = report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == "crm.leads")
        .unwrap();
    assert!(
        leads["rows_rejected"].as_u64().unwrap() > 0,
        "unmapped lead status codes are rejected"
    );
    let order: Vec<&str> = report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["target"].as_str().unwrap())
        .collect();
    let pos = |t: &str| order.iter().position(|x| *x == t).unwrap();
    assert!(
        pos("crm.accounts") < pos("crm.opportunities"),
        "foreign-key load order: {order:?}"
    );
    assert!(
        pos("crm.opportunities") < pos("crm.tasks"),
        "foreign-key load order: {order:?}"
    );
    assert_eq!(dst.sql("SELECT count(*) FROM crm.leads"), "0");
}

#[test]
fn malformed_mapping_exits_2_naming_file_line_and_column() {
    let dir = temp_dir();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "version = 1\nsource_schema = \"legacy\"\n\n[[tables]]\nsource = \"users\"\n  colour = \"blue\"\n").unwrap();
    let out = cutover(&[
        "plan",
        "--source",
        "postgres://nobody@127.0.0.1:1/none",
        "--target",
        "postgres://nobody@127.0.0.1:1/none",
        "--mapping",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:6:3", path.display())),
        "{}",
        shown(&out)
    );
    assert!(stderr.contains("colour"), "{}", shown(&out));
}

#[test]
fn unreachable_database_is_a_clear_error_without_the_password() {
    let out = cutover(&[
        "plan",
        "--source",
        "postgres://alice:hunter2secret@127.0.0.1:1/legacy",
        "--target",
        "postgres://alice:hunter2secret@127.0.0.1:1/crm",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    let all = shown(&out);
    assert!(all.contains("cannot connect to source"), "{all}");
    assert!(!all.contains("hunter2secret"), "{all}");
}

/// `url` with one more connection parameter.
fn with_param(url: &str, param: &str) -> String {
    format!("{url}{}{param}", if url.contains('?') { '&' } else { '?' })
}

#[test]
fn plain_and_default_sessions_carry_the_same_rows() {
    // Plain sessions run over a socket cutover opens itself (crates/postgres/src/wire), TLS ones
    // (the default when the server offers it) inside rustls: the CRM loaded over plain sessions
    // reconciles over both kinds to the same roots.
    let (src, dst) = crm_pair("plain");
    let dir = temp_dir();
    let mapping = root().join("mappings/crm.toml");
    let mapping = mapping.to_str().unwrap();
    let plain = |db: &ScratchDb| with_param(&db.url(), "sslmode=disable");
    let out = cutover(&[
        "migrate",
        "full",
        "--source",
        &plain(&src),
        "--target",
        &plain(&dst),
        "--mapping",
        mapping,
        "--manifest",
        dir.path().join("run.json").to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let mut roots = Vec::new();
    for (name, s, d) in [
        ("plain", plain(&src), plain(&dst)),
        ("default", src.url(), dst.url()),
    ] {
        let report = dir.path().join(format!("{name}.csv"));
        let out = cutover(&[
            "reconcile",
            "--source",
            &s,
            "--target",
            &d,
            "--mapping",
            mapping,
            "--output",
            report.to_str().unwrap(),
            "--quiet",
        ]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", shown(&out));
        let by_table = csv_by_table(&report);
        assert_eq!(by_table.len(), 7, "{name}: {by_table:?}");
        let tables: Vec<(String, String, String)> = by_table
            .into_iter()
            .map(|(t, r)| {
                assert_eq!(r["status"], "MATCH", "{name}: {t}");
                (t, r["source_root"].clone(), r["target_root"].clone())
            })
            .collect();
        roots.push(tables);
    }
    assert_eq!(roots[0], roots[1]);

    // Several hosts: the first that answers, as libpq (a port nobody listens on first).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hosts = plain(&src).replacen("@127.0.0.1:", &format!("@127.0.0.1:{port},127.0.0.1:"), 1);
    if hosts != plain(&src) {
        let out = cutover(&[
            "plan",
            "--source",
            &hosts,
            "--target",
            &plain(&dst),
            "--mapping",
            mapping,
        ]);
        assert_eq!(out.status.code(), Some(0), "{hosts}: {}", shown(&out));
    }
}
