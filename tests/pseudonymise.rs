//! `migrate full --pseudonymise`: the values of `pii = true` columns land as keyed pseudonyms —
//! different from the source, the same for the same key (so joins between pii columns still
//! match), different for another key — while other columns and the source are untouched; and
//! pii values never appear in what cutover prints or records (rejects, plan examples).
mod common;

use std::process::{Command, Output};

use common::*;

const SOURCE: &str = "
CREATE TABLE customers (id int PRIMARY KEY, email text, name text, note text);
CREATE TABLE orders (id int PRIMARY KEY, customer_email text);
INSERT INTO customers VALUES
  (1, ' Ada@Example.com ', 'Ada Lovelace', 'first'),
  (2, 'grace@navy.mil', 'Grace Hopper', 'second'),
  (3, 'not an email', 'Bad Row', 'third'),
  (4, NULL, NULL, 'fourth');
INSERT INTO orders VALUES (10, 'ada@example.com'), (11, 'GRACE@navy.mil '), (12, 'ada@example.com');";

const TARGET: &str = "
CREATE TABLE customers (id int PRIMARY KEY, email varchar(60), name varchar(20), note text);
CREATE TABLE orders (id int PRIMARY KEY, customer_email varchar(60));";

const MAPPING: &str = r#"
version = 1

[[tables]]
source = "customers"

[tables.columns.id]
from = "id"

[tables.columns.email]
from = "email"
trim = true
lower = true
email = true
pii = true

[tables.columns.name]
from = "name"
pii = true

[tables.columns.note]
from = "note"

[[tables]]
source = "orders"

[tables.columns.id]
from = "id"

[tables.columns.customer_email]
from = "customer_email"
trim = true
lower = true
pii = true
"#;

const KEY: &str = "test-key-0123456789-abcdefghij";
const OTHER_KEY: &str = "another-key-9876543210-zyxwvu";

/// Source values that must never show up in the target's pii columns or in any output.
const SECRETS: [&str; 5] = [
    "ada@example.com",
    "grace@navy.mil",
    "Ada Lovelace",
    "Grace Hopper",
    "not an email",
];

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(args)
        .env_remove("CUTOVER_SOURCE_URL")
        .env_remove("CUTOVER_TARGET_URL")
        .env_remove("CUTOVER_PSEUDONYMISE_KEY")
        .envs(env.iter().copied())
        .output()
        .expect("run cutover");
    assert!(
        out.status.code().is_some(),
        "killed by a signal: {}",
        shown(&out)
    );
    out
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_no_secret(label: &str, text: &str) {
    for s in SECRETS.iter().chain([&KEY, &OTHER_KEY]) {
        assert!(
            !text.to_lowercase().contains(&s.to_lowercase()),
            "`{s}` appears in {label}:\n{text}"
        );
    }
}

/// Migrates into a fresh target with --pseudonymise; checks that neither the output nor the
/// manifest shows a source value or the key.
fn migrate(src: &ScratchDb, mapping: &str, extra: &[&str], env: &[(&str, &str)]) -> ScratchDb {
    let dst = ScratchDb::new("pii_dst");
    dst.sql(TARGET);
    let dir = temp_dir();
    let manifest = dir.path().join("run.json");
    let (s, d) = (src.url(), dst.url());
    let mut args = vec![
        "migrate",
        "full",
        "--source",
        &s,
        "--target",
        &d,
        "--mapping",
        mapping,
        "--manifest",
        manifest.to_str().unwrap(),
        "--pseudonymise",
    ];
    args.extend_from_slice(extra);
    let out = run(&args, env);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_no_secret("migrate output", &text(&out));
    assert_no_secret("the manifest", &std::fs::read_to_string(&manifest).unwrap());
    dst
}

/// Both tables, row by row (the same columns on both sides).
fn contents(db: &ScratchDb) -> String {
    db.sql(
        "SELECT string_agg(format('%s|%s|%s|%s', id, email, name, note), E'\\n' ORDER BY id) \
         FROM customers",
    ) + "\n"
        + &db.sql("SELECT string_agg(format('%s|%s', id, customer_email), E'\\n' ORDER BY id) FROM orders")
}

#[test]
fn pii_columns_are_pseudonymised_deterministically_and_never_shown() {
    let src = ScratchDb::new("pii_src");
    src.sql(SOURCE);
    let before = contents(&src);
    let dir = temp_dir();
    let mapping = dir.path().join("mapping.toml");
    std::fs::write(&mapping, MAPPING).unwrap();
    let mapping = mapping.to_str().unwrap();
    let key_file = dir.path().join("pii.key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let key_file = key_file.to_str().unwrap();

    // The key from the environment, then the same key from a file: the same target.
    let a = migrate(&src, mapping, &[], &[("CUTOVER_PSEUDONYMISE_KEY", KEY)]);
    let b = migrate(&src, mapping, &["--pseudonymise-key-file", key_file], &[]);
    let c = migrate(
        &src,
        mapping,
        &[],
        &[("CUTOVER_PSEUDONYMISE_KEY", OTHER_KEY)],
    );
    assert_eq!(contents(&a), contents(&b), "same key, same pseudonyms");

    let got = contents(&a);
    assert_no_secret("the target", &got);
    let rows = a.sql("SELECT id, email, name, note FROM customers ORDER BY id");
    let rows: Vec<Vec<&str>> = rows.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), 3, "the invalid e-mail is rejected: {rows:?}");
    for r in &rows[..2] {
        let (email, name) = (r[1], r[2]);
        assert!(
            email.starts_with("u_") && email.ends_with("@example.invalid") && email.len() == 34,
            "{email}"
        );
        assert!(
            name.len() == 20 && name.chars().all(|c| c.is_ascii_hexdigit()),
            "{name}"
        );
    }
    assert_ne!(rows[0][1], rows[1][1]);
    // Not pii: unchanged; NULL stays NULL.
    assert_eq!((rows[0][3], rows[1][3]), ("first", "second"));
    assert_eq!(rows[2], vec!["4", "", "", "fourth"]);
    // Joins between pii columns still match: every order finds its customer.
    let joined = a.sql(
        "SELECT o.id || ':' || c.id FROM orders o JOIN customers c ON c.email = o.customer_email \
         ORDER BY o.id",
    );
    assert_eq!(joined, "10:1\n11:2\n12:1");

    // Another key: other pseudonyms.
    let other = c.sql("SELECT email FROM customers WHERE id = 1");
    assert!(
        other.ends_with("@example.invalid") && other != rows[0][1],
        "{other}"
    );

    // The source is untouched.
    assert_eq!(contents(&src), before);

    // The rejected row is recorded without its value.
    let rejects = a.sql("SELECT key || ' ' || column_name || ' ' || reason FROM _cutover.rejects");
    assert!(
        rejects.starts_with("[\"3\"] email ") && rejects.contains("***"),
        "{rejects}"
    );
    assert_no_secret("_cutover.rejects", &rejects);
}

#[test]
fn plan_examples_mask_pii_values_and_a_missing_key_is_refused() {
    let src = ScratchDb::new("pii_plan_src");
    src.sql(SOURCE);
    let dst = ScratchDb::new("pii_plan_dst");
    dst.sql(TARGET);
    let dir = temp_dir();
    let mapping = dir.path().join("mapping.toml");
    std::fs::write(&mapping, MAPPING).unwrap();
    let plan_json = dir.path().join("plan.json");
    let (s, d) = (src.url(), dst.url());
    let m = mapping.to_str().unwrap();
    let out = run(
        &[
            "plan",
            "--source",
            &s,
            "--target",
            &d,
            "--mapping",
            m,
            "--output",
            plan_json.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("email `***`"), "{}", shown(&out));
    assert_no_secret("plan output", &text(&out));
    assert_no_secret("plan.json", &std::fs::read_to_string(&plan_json).unwrap());

    let base = [
        "migrate",
        "full",
        "--source",
        &s,
        "--target",
        &d,
        "--mapping",
        m,
    ];
    let out = run(&[&base[..], &["--pseudonymise"]].concat(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert!(
        text(&out).contains("--pseudonymise needs a key"),
        "{}",
        shown(&out)
    );
    let out = run(
        &[&base[..], &["--pseudonymise"]].concat(),
        &[("CUTOVER_PSEUDONYMISE_KEY", "short")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert!(text(&out).contains("at least 16 bytes"), "{}", shown(&out));
    // Nothing was loaded by the refused runs.
    assert_eq!(dst.sql("SELECT count(*) FROM customers"), "0");
}
