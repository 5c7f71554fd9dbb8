//! `cutover validate` on the CRM fixture and on hand-made tables, and the declared column rules
//! in `cutover plan`.
mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::*;

/// A legacy CRM at scale 1 and an empty new CRM schema.
fn crm_pair() -> (ScratchDb, ScratchDb) {
    let src = ScratchDb::new("val_src");
    let dst = ScratchDb::new("val_dst");
    let fx = root().join("fixtures/crm");
    src.file(&fx.join("source.sql"), &[]);
    src.file(&fx.join("generate.sql"), &[("scale", "1")]);
    dst.file(&fx.join("target.sql"), &[]);
    (src, dst)
}

fn mapping() -> String {
    root().join("mappings/crm.toml").display().to_string()
}

/// The CRM fixture migrated through mappings/crm.toml.
fn migrated_crm() -> (ScratchDb, ScratchDb) {
    let (src, dst) = crm_pair();
    let out = cutover(&[
        "migrate",
        "full",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--mapping",
        &mapping(),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    (src, dst)
}

/// Runs validate; returns the run, summary.json and the rows of findings.csv.
fn validate(
    db: &ScratchDb,
    extra: &[&str],
) -> (
    std::process::Output,
    serde_json::Value,
    Vec<csv::StringRecord>,
) {
    let dir = temp_dir();
    let summary = dir.path().join("summary.json");
    let findings = dir.path().join("findings.csv");
    let url = db.url();
    let mut args = vec![
        "validate",
        "--target",
        &url,
        "--output",
        summary.to_str().unwrap(),
        "--findings",
        findings.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = cutover(&args);
    if out.status.code() == Some(2) {
        return (out, serde_json::Value::Null, Vec::new());
    }
    let json = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let mut reader = csv::Reader::from_path(&findings).unwrap();
    assert_eq!(
        reader.headers().unwrap(),
        vec![
            "table",
            "rule",
            "severity",
            "key",
            "column",
            "value",
            "status",
            "constraint"
        ]
    );
    let rows = reader.records().map(|r| r.unwrap()).collect();
    (out, json, rows)
}

/// Every rule outcome of summary.json with its table.
fn outcomes(summary: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
    summary["tables"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| {
            let name = t["table"].as_str().unwrap().to_string();
            t["rules"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |r| (name.clone(), r.clone()))
        })
        .collect()
}

#[test]
fn clean_crm_target_passes_with_exit_0() {
    let (_src, dst) = migrated_crm();
    let (out, summary, findings) = validate(&dst, &["--mapping", &mapping()]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(summary["blockers"], 0, "{summary:#}");
    assert_eq!(summary["warnings"], 0, "{summary:#}");
    assert!(findings.is_empty(), "{findings:?}");
    let all = outcomes(&summary);
    let tables: BTreeSet<&str> = all.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(tables.len(), 7, "{tables:?}");
    // Every kind of rule ran, on every row of its table.
    let kinds: BTreeSet<&str> = all
        .iter()
        .map(|(_, r)| r["rule"].as_str().unwrap())
        .collect();
    for kind in [
        "primary_key",
        "unique",
        "not_null",
        "check",
        "foreign_key",
        "not_empty",
        "email",
        "e164",
        "url",
        "regex",
        "one_of",
        "range",
        "max_scale",
    ] {
        assert!(kinds.contains(kind), "rule `{kind}` ran: {kinds:?}");
    }
    let contacts: u64 = dst
        .sql("SELECT count(*) FROM crm.contacts")
        .parse()
        .unwrap();
    let e164 = all
        .iter()
        .find(|(t, r)| t == "crm.contacts" && r["rule"] == "e164")
        .unwrap();
    assert_eq!(e164.1["rows_checked"], contacts);
    assert_eq!(e164.1["status"], "PASS");
    assert!(e164.1["location"].as_str().unwrap().contains("crm.toml:"));
}

/// Runs psql without failing the test: statements that are meant to fail.
fn psql_may_fail(db: &ScratchDb, sql: &str) -> bool {
    Command::new("psql")
        .arg(db.url())
        .args(["-X", "-q", "-c", sql])
        .output()
        .expect("run psql")
        .status
        .success()
}

/// The uuid key of the row with this legacy id, as findings show it.
fn key_of(db: &ScratchDb, table: &str, legacy_id: i64) -> String {
    let id = db.sql(&format!(
        "SELECT id FROM crm.{table} WHERE legacy_id = {legacy_id}"
    ));
    format!("[\"{id}\"]")
}

#[test]
fn each_planted_problem_is_reported_with_its_severity_table_rule_and_key() {
    let (_src, dst) = migrated_crm();
    dst.sql(
        "-- a duplicate key under a dropped unique index
         ALTER TABLE crm.audit_log DROP CONSTRAINT audit_log_pkey;
         INSERT INTO crm.audit_log SELECT * FROM crm.audit_log WHERE id = 4000000001;
         -- an orphan behind a NOT VALID foreign key
         ALTER TABLE crm.tasks DROP CONSTRAINT tasks_contact_id_fkey;
         UPDATE crm.tasks SET contact_id = '00000000-0000-0000-0000-000000000001' WHERE legacy_id = 3;
         ALTER TABLE crm.tasks ADD CONSTRAINT tasks_contact_fk_nv FOREIGN KEY (contact_id)
             REFERENCES crm.contacts (id) NOT VALID;
         -- a NULL in a column the mapping requires (not_empty), its NOT NULL dropped
         ALTER TABLE crm.users ALTER email DROP NOT NULL;
         UPDATE crm.users SET email = NULL WHERE legacy_id = 7;
         -- a malformed phone, its CHECK dropped
         ALTER TABLE crm.contacts DROP CONSTRAINT contacts_phone_check;
         UPDATE crm.contacts SET phone = '555-0100' WHERE legacy_id = 2;
         -- an out-of-range date
         UPDATE crm.opportunities SET close_date = '1900-01-01' WHERE legacy_id = 4;
         -- a sequence behind the max id
         CREATE SEQUENCE crm.accounts_legacy_id_seq OWNED BY crm.accounts.legacy_id;
         ALTER TABLE crm.accounts ALTER legacy_id SET DEFAULT nextval('crm.accounts_legacy_id_seq');
         -- a CHECK violated by rows written while the constraint was NOT VALID
         ALTER TABLE crm.opportunities DROP CONSTRAINT opportunities_amount_check;
         UPDATE crm.opportunities SET amount = -5 WHERE legacy_id = 6;
         ALTER TABLE crm.opportunities ADD CONSTRAINT opportunities_amount_nonneg
             CHECK (amount >= 0) NOT VALID;
         -- a relationship the mapping declares (uuid table users) but the schema lacks
         ALTER TABLE crm.audit_log DROP CONSTRAINT audit_log_user_id_fkey;
         UPDATE crm.audit_log SET user_id = '00000000-0000-0000-0000-000000000002'
          WHERE id = 4000000002;",
    );
    // A unique index whose concurrent build failed on duplicates: left INVALID.
    assert!(!psql_may_fail(
        &dst,
        "CREATE UNIQUE INDEX CONCURRENTLY users_last_name_uq ON crm.users (last_name)"
    ));
    let (out, summary, findings) = validate(&dst, &["--mapping", &mapping()]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));

    let found: BTreeSet<(String, String, String, String, String, String)> = findings
        .iter()
        .map(|r| {
            (
                r[0].to_string(),
                r[1].to_string(),
                r[2].to_string(),
                r[3].to_string(),
                r[4].to_string(),
                r[6].to_string(),
            )
        })
        .collect();
    let row = |t: &str, rule: &str, sev: &str, key: &str, col: &str, status: &str| {
        (
            t.into(),
            rule.into(),
            sev.into(),
            key.into(),
            col.into(),
            status.into(),
        )
    };
    let expected = [
        row(
            "crm.audit_log",
            "key",
            "BLOCKER",
            "[\"4000000001\"]",
            "id",
            "FAIL",
        ),
        row(
            "crm.tasks",
            "foreign_key",
            "BLOCKER",
            &key_of(&dst, "tasks", 3),
            "contact_id",
            "FAIL",
        ),
        row(
            "crm.users",
            "not_empty",
            "BLOCKER",
            &key_of(&dst, "users", 7),
            "email",
            "FAIL",
        ),
        row(
            "crm.contacts",
            "e164",
            "BLOCKER",
            &key_of(&dst, "contacts", 2),
            "phone",
            "FAIL",
        ),
        row(
            "crm.opportunities",
            "range",
            "BLOCKER",
            &key_of(&dst, "opportunities", 4),
            "close_date",
            "FAIL",
        ),
        row(
            "crm.accounts",
            "sequence",
            "BLOCKER",
            "",
            "legacy_id",
            "FAIL",
        ),
        row(
            "crm.opportunities",
            "check",
            "BLOCKER",
            &key_of(&dst, "opportunities", 6),
            "amount",
            "FAIL",
        ),
        // The same row breaks the mapping's amount range, a WARNING that tolerates 5 rows.
        row(
            "crm.opportunities",
            "range",
            "WARNING",
            &key_of(&dst, "opportunities", 6),
            "amount",
            "TOLERATED",
        ),
        row(
            "crm.audit_log",
            "mapping_reference",
            "BLOCKER",
            "[\"4000000002\"]",
            "user_id",
            "FAIL",
        ),
    ];
    for e in &expected {
        assert!(found.contains(e), "missing {e:?} in\n{found:#?}");
    }
    // The invalid index's duplicates: last_name is pii, so even the key is masked.
    let invalid: Vec<_> = findings
        .iter()
        .filter(|r| &r[1] == "unique" && &r[7] == "users_last_name_uq")
        .collect();
    assert!(!invalid.is_empty(), "{findings:?}");
    assert!(invalid
        .iter()
        .all(|r| &r[3] == "[\"***\"]" && &r[2] == "BLOCKER"));
    // Nothing else fails; pii values are masked, others shown.
    let failing: BTreeSet<(&str, &str)> = findings
        .iter()
        .filter(|r| &r[6] == "FAIL")
        .map(|r| (&r[0], &r[1]))
        .collect();
    assert_eq!(failing.len(), 9, "{failing:?}");
    assert_eq!(summary["blockers"], 9, "{summary:#}");
    assert_eq!(summary["tolerated"], 1, "{summary:#}");
    let value = |rule: &str, col: &str| {
        findings
            .iter()
            .find(|r| &r[1] == rule && &r[4] == col)
            .map(|r| r[5].to_string())
            .unwrap()
    };
    assert_eq!(value("e164", "phone"), "***", "contacts.phone is pii");
    assert_eq!(value("range", "close_date"), "1900-01-01");
    assert_eq!(value("check", "amount"), "-5.00");
    assert!(value("sequence", "legacy_id").contains("next value 1, max(legacy_id) 1847"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("NOT fit to go live"), "{}", shown(&out));
    // The NOT VALID constraints are named as such in the summary.
    let check = outcomes(&summary)
        .into_iter()
        .find(|(_, r)| r["constraint"] == "opportunities_amount_nonneg")
        .unwrap();
    assert!(check.1["detail"].as_str().unwrap().contains("NOT VALID"));
}

#[test]
fn catalog_rules_without_a_mapping_cover_domains_match_full_keys_and_quoted_names() {
    let db = ScratchDb::new("val_cat");
    db.sql(
        "CREATE SCHEMA \"My Schema\";
         CREATE DOMAIN \"My Schema\".posint AS integer CHECK (VALUE > 0);
         CREATE TABLE \"My Schema\".\"we\"\"ird\" (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
             n \"My Schema\".posint, a int, b int, UNIQUE (a, b));
         INSERT INTO \"My Schema\".\"we\"\"ird\" (id, n, a, b)
             VALUES (1, 1, 1, 1), (2, 2, 1, NULL), (3, 3, 2, 2);
         ALTER DOMAIN \"My Schema\".posint ADD CONSTRAINT posint_small CHECK (VALUE < 3) NOT VALID;
         CREATE TABLE \"My Schema\".child (id int PRIMARY KEY, a int, b int);
         INSERT INTO \"My Schema\".child VALUES (1, 1, 1), (2, 1, NULL), (3, 9, 9), (4, NULL, NULL);
         ALTER TABLE \"My Schema\".child ADD CONSTRAINT child_fk FOREIGN KEY (a, b)
             REFERENCES \"My Schema\".\"we\"\"ird\" (a, b) MATCH FULL NOT VALID;",
    );
    let (out, summary, findings) = validate(&db, &["--schema", "My Schema"]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    let got: BTreeSet<(String, String, String, String)> = findings
        .iter()
        .map(|r| (r[0].into(), r[1].into(), r[3].into(), r[5].into()))
        .collect();
    let want: BTreeSet<(String, String, String, String)> = [
        // MATCH FULL: a partly NULL reference is an orphan; an all-NULL one is not.
        ("My Schema.child", "foreign_key", "[\"2\"]", "a=1, b=NULL"),
        ("My Schema.child", "foreign_key", "[\"3\"]", "a=9, b=9"),
        // The domain's NOT VALID constraint, re-checked.
        ("My Schema.we\"ird", "domain", "[\"3\"]", "3"),
        // The identity sequence never used: its next value collides.
        (
            "My Schema.we\"ird",
            "sequence",
            "",
            "next value 1, max(id) 3",
        ),
    ]
    .into_iter()
    .map(|(a, b, c, d)| (a.into(), b.into(), c.into(), d.into()))
    .collect();
    assert_eq!(got, want);
    assert_eq!(summary["blockers"], 3);
}

#[test]
fn a_mapping_rule_that_cannot_apply_exits_2_naming_file_line_and_column() {
    let db = ScratchDb::new("val_bad");
    db.sql("CREATE TABLE t (id int PRIMARY KEY, n int)");
    let dir = temp_dir();
    let path = dir.path().join("m.toml");
    std::fs::write(
        &path,
        "version = 1\n\n[[tables]]\nsource = \"t\"\n\n[tables.columns.n]\nfrom = \"n\"\nchecks = { email = \"BLOCKER\" }\n",
    )
    .unwrap();
    let (out, _, _) = validate(&db, &["--mapping", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:8:20: rule `email` cannot check column `n`",
            path.display()
        )),
        "{}",
        shown(&out)
    );
}

/// Regression: plan checked rules in Rust, validate in SQL; a value must be judged the same by
/// both, for every rule and for the awkward values (char padding, NaN, infinities, -0, floats,
/// Unicode blanks, time zones).
#[test]
fn plan_and_validate_judge_every_value_alike() {
    let db = ScratchDb::new("val_agree");
    db.sql(
        "CREATE TABLE t (id int PRIMARY KEY, s text, c char(5), v varchar(40), n numeric,
                         i int8, f float8, d date, ts timestamptz, b bool);
         INSERT INTO t VALUES
          (1, 'ada@example.com', 'USD', '+14155550132', 1.50, 5, 0.1, '2024-01-01',
              '2024-01-01 00:00:00+00', true),
          (2, 'bob@localhost', 'usd', '(415) 555-0132', 'NaN', -1, 'NaN', 'infinity',
              '1999-12-31 23:59:59.999999+00', false),
          (3, '   ', 'US', '', -0.000, 101, '-0', '-infinity', 'infinity', NULL),
          (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
          (5, 'élise@exemple.fr', 'ABC  ', 'https://a.example.com/x?y', 123.456, 100, 1e300,
              '1999-12-31', '2100-01-01 00:00:00+00', true),
          (6, E'tab\\t@x.com', 'A B', 'http://localhost', 0.00000000000000000001, 0, 2.5,
              '2000-01-01', '2000-01-01 00:00:00+00', false),
          (7, E'\\u2003', 'ÉTÉ', 'https://x.example.org:8080', 100.00, 7, -1e-300, '2099-12-31',
              '2099-12-31 23:59:59+00', true);",
    );
    let dir = temp_dir();
    let mapping = dir.path().join("agree.toml");
    std::fs::write(
        &mapping,
        r#"version = 1

[[tables]]
source = "t"

[tables.columns.id]
from = "id"

[tables.columns.s]
from = "s"
checks = { email = "BLOCKER", not_empty = "BLOCKER", regex = "^[a-z]" }

[tables.columns.c]
from = "c"
checks = { regex = "^[A-Z]{3}$", one_of = ["USD", "ABC"], not_empty = "WARNING" }

[tables.columns.v]
from = "v"
checks = { e164 = "BLOCKER", url = "BLOCKER", one_of = ["", "http://localhost"] }

[tables.columns.n]
from = "n"
checks = { range = [0, 100], max_scale = 2, one_of = ["1.50", "NaN"] }

[tables.columns.i]
from = "i"
checks = { range = [0, 100], one_of = [5, 100] }

[tables.columns.f]
from = "f"
checks = { range = [0, 1], one_of = ["0.1", "1e+300", "-0"] }

[tables.columns.d]
from = "d"
checks = { range = ["2000-01-01", "2099-12-31"], one_of = ["2024-01-01", "infinity"] }

[tables.columns.ts]
from = "ts"
checks = { range = { min = "2000-01-01 00:00:00+00", max = "2099-12-31 23:59:59+00" }, one_of = ["2024-01-01 00:00:00+00"] }

[tables.columns.b]
from = "b"
checks = { one_of = [true], not_empty = "BLOCKER" }
"#,
    )
    .unwrap();
    let m = mapping.to_str().unwrap();
    let (out, summary, _) = validate(&db, &["--mapping", m]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", shown(&out));
    let plan_json = dir.path().join("plan.json");
    let out = cutover(&[
        "plan",
        "--source",
        &db.url(),
        "--target",
        &db.url(),
        "--mapping",
        m,
        "--output",
        plan_json.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", shown(&out));
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_json).unwrap()).unwrap();
    let from_plan: Vec<(String, String, u64)> = plan["tables"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["column"].as_str().unwrap().to_string(),
                r["rule"].as_str().unwrap().to_string(),
                r["violations"].as_u64().unwrap(),
            )
        })
        .collect();
    let from_validate: Vec<(String, String, u64)> = outcomes(&summary)
        .into_iter()
        .filter(|(_, r)| r["location"].is_string())
        .map(|(_, r)| {
            (
                r["column"].as_str().unwrap().to_string(),
                r["rule"].as_str().unwrap().to_string(),
                r["violations"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(from_plan.len(), 22, "{from_plan:?}");
    assert_eq!(from_plan, from_validate);
    // Both see broken rows for every rule: the comparison is not between zeros.
    let clean: Vec<_> = from_plan.iter().filter(|(_, _, n)| *n == 0).collect();
    assert!(clean.is_empty(), "rules no value breaks: {clean:?}");
}

#[test]
fn plan_reports_a_declared_rule_broken_by_dirty_source_data_as_a_blocker() {
    let (src, dst) = crm_pair();
    // A close date a century before the CRM existed; nothing in the mapping rejects it.
    src.sql("UPDATE legacy.opportunities SET close_dt = '1899-12-31' WHERE opp_id = 5");
    let dir = temp_dir();
    let plan_json = dir.path().join("plan.json");
    let out = cutover(&[
        "plan",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--mapping",
        &mapping(),
        "--output",
        plan_json.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_json).unwrap()).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let f = findings
        .iter()
        .find(|f| f["column"] == "close_date")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(f["severity"], "BLOCKER");
    assert_eq!(f["table"], "crm.opportunities");
    let message = f["message"].as_str().unwrap();
    assert!(message.contains("rule `range`: 1 of 12563"), "{message}");
    assert!(
        message.contains("key [\"5\"] value 1899-12-31"),
        "{message}"
    );
    assert!(f["location"].as_str().unwrap().contains("crm.toml:"), "{f}");
    assert_eq!(report["blockers"], 1, "{report:#}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("BLOCKER"), "{}", shown(&out));
    // Nothing was written.
    assert_eq!(dst.sql("SELECT count(*) FROM crm.opportunities"), "0");
}

#[test]
fn unreachable_target_exits_2_without_the_password() {
    let out = cutover(&[
        "validate",
        "--target",
        "postgres://alice:hunter2secret@127.0.0.1:1/crm",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert!(!shown(&out).contains("hunter2secret"), "{}", shown(&out));
}
