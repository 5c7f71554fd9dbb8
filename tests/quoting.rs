//! Identifiers are always quoted: tables, columns, indexes, constraints and a serial sequence
//! named `x"; drop table y; --`, `Order` and `select` go through plan, migrate full, rollback and
//! finalize exactly, and the table `y` survives on both sides.
mod common;

use common::*;

const EVIL: &str = r#""x""; drop table y; --""#;

fn ddl() -> String {
    format!(
        r#"
CREATE TABLE y (id int PRIMARY KEY, v text);
CREATE TABLE "Order" ("select" int PRIMARY KEY, {EVIL} text, "Order" text);
CREATE TABLE {EVIL} ({EVIL} serial PRIMARY KEY,
                     "Order" int REFERENCES "Order"("select"),
                     "select" text CHECK ("select" <> 'drop table y'),
                     UNIQUE ("Order", "select"));
CREATE INDEX "x""; drop index y; --" ON {EVIL} ("select");
CREATE TABLE "select" ("Order" int, "select" text, {EVIL} numeric,
                       PRIMARY KEY ("Order", "select"));
"#
    )
}

fn rows() -> String {
    format!(
        r#"
INSERT INTO y VALUES (1, 'source y');
INSERT INTO "Order" VALUES (1, 'x"; drop table y; --', 'Order'), (2, NULL, '''; drop table y; --');
INSERT INTO {EVIL} ("Order", "select") VALUES (1, 'select'), (2, '"quoted"'), (NULL, NULL);
INSERT INTO "select" VALUES (1, 'a', 1.5), (1, 'b', NULL), (2, 'x"; drop table y; --', -0.0);
"#
    )
}

const TABLES: [&str; 4] = ["y", r#""Order""#, EVIL, r#""select""#];

fn dumps(db: &ScratchDb) -> Vec<Vec<u8>> {
    TABLES
        .iter()
        .map(|t| db.copy_binary(&format!("SELECT * FROM public.{t} ORDER BY 1, 2")))
        .collect()
}

fn tables(db: &ScratchDb) -> String {
    db.sql("SELECT string_agg(relname, ' / ' ORDER BY relname) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'")
}

#[test]
fn hostile_identifiers_migrate_exactly_and_drop_nothing() {
    let src = ScratchDb::new("quote_src");
    let dst = ScratchDb::new("quote_dst");
    src.sql(&ddl());
    dst.sql(&ddl());
    src.sql(&rows());
    dst.sql(
        r#"INSERT INTO y VALUES (7, 'target y'); INSERT INTO "Order" VALUES (9, 'old', 'old');"#,
    );
    let names = tables(&src);
    assert_eq!(names, r#"Order / select / x"; drop table y; -- / y"#);
    let src_before = dumps(&src);
    let dst_before = dumps(&dst);

    let out = cutover(&["plan", "--source", &src.url(), "--target", &dst.url()]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));

    let dir = temp_dir();
    let manifest = dir.path().join("run.json");
    let out = cutover(&[
        "migrate",
        "full",
        "--overwrite",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--manifest",
        manifest.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(
        dumps(&dst),
        src_before,
        "the target holds exactly the source's rows"
    );
    assert_eq!(dumps(&src), src_before, "the source is unchanged");
    assert_eq!(tables(&src), names);
    assert_eq!(tables(&dst), names);
    // The serial sequence of the hostile column was handed over and advanced.
    assert_eq!(
        dst.sql(&format!(
            "INSERT INTO {EVIL} (\"select\") VALUES ('new') RETURNING {EVIL}"
        )),
        "4"
    );
    assert_eq!(
        dst.sql("SELECT count(*) FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND convalidated"),
        "7"
    );

    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let run = m["run_id"].as_str().unwrap();
    let out = cutover(&["rollback", "--target", &dst.url(), "--run", run]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(dumps(&dst), dst_before);
    assert_eq!(tables(&dst), names);
    let out = cutover(&["finalize", "--target", &dst.url(), "--run", run]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(dumps(&dst), dst_before);
    assert_eq!(tables(&dst), names);
}

/// The mapping names hostile tables and columns too: source `Order` becomes target `select`,
/// its columns crossing over by name.
const MAPPING: &str = r#"
version = 1

[[tables]]
source = "Order"
target = "select"

[tables.columns.Order]
from = "select"

[tables.columns.select]
from = "Order"

[tables.columns.'x"; drop table y; --']
const = "1.5"
"#;

#[test]
fn hostile_identifiers_in_a_mapping_file_are_quoted() {
    let src = ScratchDb::new("quotem_src");
    let dst = ScratchDb::new("quotem_dst");
    src.sql(&ddl());
    dst.sql(&ddl());
    src.sql(&rows());
    dst.sql(&rows());
    let dir = temp_dir();
    let mapping = dir.path().join("hostile.toml");
    std::fs::write(&mapping, MAPPING).unwrap();
    let m = mapping.to_str().unwrap();
    let out = cutover(&[
        "plan",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--mapping",
        m,
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
        "--mapping",
        m,
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(
        dst.copy_binary(r#"SELECT * FROM "select" ORDER BY 1, 2"#),
        src.copy_binary(r#"SELECT "select", "Order", 1.5::numeric FROM "Order" ORDER BY 1, 2"#)
    );
    assert_eq!(tables(&src), tables(&dst));
    assert_eq!(dst.sql("SELECT v FROM y"), "source y");
}
