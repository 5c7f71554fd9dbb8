//! Passwords never appear in any output: a password-protected role runs plan, migrate full,
//! reconcile, rollback, finalize, failing runs, an unreachable server and malformed connection
//! strings, with the password in the URL and then in PGPASSWORD, with every log line on; stdout,
//! stderr, the plan, manifest and report files, the `_cutover` tables and `pg_stat_activity` are
//! searched for it. (The test server trusts local connections, so the password is never
//! checked; it only has to never leak.)
mod common;
mod scratch_role;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};

use common::*;
use scratch_role::ScratchRole;

const DDL: &str = "
CREATE TABLE parent (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent(id), note text);";

const MISSING_TABLE_MAPPING: &str = r#"
version = 1

[[tables]]
source = "no_such_table"
target = "parent"
key = ["id"]

[tables.columns.id]
from = "id"
"#;

/// Everything a run showed or wrote, labelled, to search for the password.
#[derive(Default)]
struct Seen(Vec<(String, String)>);

impl Seen {
    fn add(&mut self, label: impl Into<String>, text: impl Into<String>) {
        self.0.push((label.into(), text.into()));
    }

    fn output(&mut self, label: &str, out: &Output) {
        self.add(
            format!("{label} stdout"),
            String::from_utf8_lossy(&out.stdout),
        );
        self.add(
            format!("{label} stderr"),
            String::from_utf8_lossy(&out.stderr),
        );
    }

    fn file(&mut self, label: &str, path: &std::path::Path) {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert!(!text.is_empty(), "{label} is empty");
        self.add(label, text);
    }

    fn assert_never(&self, secret: &str) {
        for (label, text) in &self.0 {
            assert!(
                !text.contains(secret),
                "the password appears in {label}:\n{text}"
            );
        }
    }
}

/// Runs the binary with every log line on, and with `PGPASSWORD` only when given.
fn run(args: &[&str], pgpassword: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cutover"));
    cmd.args(args)
        .env_remove("CUTOVER_SOURCE_URL")
        .env_remove("CUTOVER_TARGET_URL")
        .env_remove("PGPASSWORD")
        .env("CUTOVER_LOG", "trace");
    if let Some(pw) = pgpassword {
        cmd.env("PGPASSWORD", pw);
    }
    cmd.output().expect("run cutover")
}

/// Runs `migrate full` while a session holds a lock on the target's `parent`, so the run
/// waits at its swap; meanwhile every session of `role` is read from `pg_stat_activity`.
fn migrate_watched(
    args: &[&str],
    pgpassword: Option<&str>,
    dst: &ScratchDb,
    role: &str,
    seen: &mut Seen,
) -> Output {
    let mut holder = Command::new("psql")
        .arg(dst.url())
        .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run psql");
    let mut stdin = holder.stdin.take().unwrap();
    stdin
        .write_all(b"BEGIN; LOCK TABLE parent IN ACCESS SHARE MODE; SELECT 'locked';\n")
        .unwrap();
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");

    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let pw = pgpassword.map(str::to_string);
    let runner = std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args, pw.as_deref())
    });
    let activity = format!(
        "SELECT coalesce(string_agg(application_name || ' | ' || coalesce(wait_event_type, '') || ' | ' || query, E'\\n'), '')
         FROM pg_stat_activity WHERE usename = '{role}'"
    );
    let started = std::time::Instant::now();
    let mut waiting = String::new();
    while started.elapsed() < std::time::Duration::from_secs(60) && !runner.is_finished() {
        let now = psql_ok(&server_url(), &activity);
        if now.lines().any(|l| l.contains("| Lock |")) {
            waiting = now;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    stdin.write_all(b"COMMIT;\n").unwrap();
    drop(stdin);
    holder.wait().unwrap();
    let out = runner.join().unwrap();
    assert!(
        waiting.contains("cutover (target)"),
        "never saw the run wait at its swap: {waiting}\n{}",
        shown(&out)
    );
    seen.add("pg_stat_activity during the run", waiting);
    out
}

/// Every row of every table of the state schema, as text.
fn state_tables(dst: &ScratchDb) -> String {
    let tables = dst.sql("SELECT string_agg(quote_ident(relname), ' ') FROM pg_class WHERE relnamespace = '_cutover'::regnamespace AND relkind = 'r'");
    tables
        .split(' ')
        .map(|t| {
            dst.sql(&format!(
                "SELECT coalesce(string_agg(x::text, E'\\n'), '') FROM _cutover.{t} x"
            ))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn passwords_never_appear_in_any_output() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let password = format!("Pw{nanos:x}Zq");
    let role = ScratchRole::new("secret", Some(&password), "");
    let src = ScratchDb::new("secret_src");
    let dst = ScratchDb::new("secret_dst");
    src.sql(DDL);
    src.sql(
        "INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 200) g;
             INSERT INTO child SELECT g, 1 + g % 200, 'c' || g FROM generate_series(1, 1000) g;",
    );
    src.sql(&format!(
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}",
        role.name
    ));
    dst.sql(&format!(
        "ALTER DATABASE {} OWNER TO {}",
        dst.name, role.name
    ));
    psql_ok(&role.url(&dst.name, true), DDL);
    psql_ok(
        &role.url(&dst.name, true),
        "INSERT INTO parent VALUES (1, 'old')",
    );

    let dir = temp_dir();
    let mapping = dir.path().join("missing.toml");
    std::fs::write(&mapping, MISSING_TABLE_MAPPING).unwrap();
    let mut seen = Seen::default();
    let mut runs = Vec::new();
    for (how, in_url, env) in [
        ("url", true, None),
        ("PGPASSWORD", false, Some(password.as_str())),
    ] {
        let source = role.url(&src.name, in_url);
        let target = role.url(&dst.name, in_url);
        assert_eq!(source.contains(&password), in_url);
        let plan = dir.path().join(format!("plan-{how}.json"));
        let manifest = dir.path().join(format!("run-{how}.json"));
        let ok = |label: &str, out: Output, code: i32, seen: &mut Seen| {
            seen.output(&format!("{label} ({how})"), &out);
            assert_eq!(
                out.status.code(),
                Some(code),
                "{label} ({how}): {}",
                shown(&out)
            );
        };

        let out = run(
            &[
                "plan",
                "--source",
                &source,
                "--target",
                &target,
                "--output",
                plan.to_str().unwrap(),
            ],
            env,
        );
        ok("plan", out, 0, &mut seen);
        seen.file(&format!("plan.json ({how})"), &plan);

        let out = migrate_watched(
            &[
                "migrate",
                "full",
                "--overwrite",
                "--source",
                &source,
                "--target",
                &target,
                "--log-format",
                "json",
                "--manifest",
                manifest.to_str().unwrap(),
            ],
            env,
            &dst,
            &role.name,
            &mut seen,
        );
        ok("migrate full", out, 0, &mut seen);
        seen.file(&format!("manifest ({how})"), &manifest);
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
        let run_id = m["run_id"].as_str().unwrap().to_string();
        runs.push(run_id.clone());

        let report = dir.path().join(format!("report-{how}.csv"));
        let json = dir.path().join(format!("report-{how}.json"));
        let out = run(
            &[
                "reconcile",
                "--source",
                &source,
                "--target",
                &target,
                "--output",
                report.to_str().unwrap(),
                "--json",
                json.to_str().unwrap(),
            ],
            env,
        );
        ok("reconcile", out, 0, &mut seen);
        seen.file(&format!("reconcile report ({how})"), &report);
        seen.file(&format!("reconcile JSON ({how})"), &json);

        let out = run(
            &[
                "plan",
                "--source",
                &source,
                "--target",
                &target,
                "--mapping",
                mapping.to_str().unwrap(),
            ],
            env,
        );
        ok("plan with a missing table", out, 1, &mut seen);
        let out = run(
            &[
                "migrate",
                "full",
                "--overwrite",
                "--source",
                &source,
                "--target",
                &target,
                "--mapping",
                mapping.to_str().unwrap(),
            ],
            env,
        );
        ok("migrate with a missing table", out, 2, &mut seen);

        let unreachable =
            role.url(&src.name, in_url)
                .replacen(&format!("@{}", host_port()), "@127.0.0.1:1", 1);
        assert!(unreachable.contains("127.0.0.1:1/"), "{unreachable}");
        let out = run(
            &["plan", "--source", &unreachable, "--target", &target],
            env,
        );
        ok("plan with an unreachable source", out, 2, &mut seen);
        let out = run(
            &[
                "migrate",
                "full",
                "--overwrite",
                "--source",
                &source,
                "--target",
                &unreachable,
            ],
            env,
        );
        ok("migrate with an unreachable target", out, 2, &mut seen);
        let malformed = unreachable.replacen("127.0.0.1:1", "127.0.0.1:notaport", 1);
        let out = run(
            &[
                "migrate",
                "full",
                "--overwrite",
                "--source",
                &malformed,
                "--target",
                &target,
            ],
            env,
        );
        ok("migrate with a malformed source URL", out, 2, &mut seen);

        let out = run(
            &["rollback", "--target", &target, "--run", "no-such-run"],
            env,
        );
        ok("rollback of an unknown run", out, 2, &mut seen);
    }
    // Malformed connection strings are shown in errors, redacted however the password is
    // written: spaces around `=`, quoted with a space inside, given twice, or holding a `/`.
    let kv = |pw: &str| {
        format!(
            "host=127.0.0.1 port=notaport user={} {pw} dbname={}",
            role.name, src.name
        )
    };
    for (i, malformed) in [
        kv(&format!("password = {password}")),
        kv(&format!("password='{password} {password}'")),
        kv(&format!("password='x\\' {password}'")),
        kv(&format!("password=x password={password}")),
        format!(
            "postgres://{}:{password}/{password}@127.0.0.1:notaport/db",
            role.name
        ),
        format!(
            "postgres://{}@127.0.0.1:notaport/db?password=x&password={password}",
            role.name
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let out = run(
            &["plan", "--source", &malformed, "--target", &dst.url()],
            None,
        );
        seen.output(&format!("plan with malformed connection string #{i}"), &out);
        assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    }
    // Rollback and finalize of both runs, newest first, through the password URL.
    let target = role.url(&dst.name, true);
    for run_id in runs.iter().rev() {
        let out = run(&["rollback", "--target", &target, "--run", run_id], None);
        seen.output("rollback", &out);
        assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
        let out = run(&["finalize", "--target", &target, "--run", run_id], None);
        seen.output("finalize", &out);
        assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    }
    assert_eq!(dst.sql("SELECT name FROM parent"), "old");
    seen.add("_cutover tables", state_tables(&dst));
    seen.add(
        "pg_stat_activity after the runs",
        psql_ok(&server_url(), "SELECT coalesce(string_agg(application_name || ' ' || query, E'\\n'), '') FROM pg_stat_activity"),
    );
    assert!(
        seen.0
            .iter()
            .any(|(l, t)| l.starts_with("migrate full") && t.contains("\"level\"")),
        "no JSON logs seen"
    );
    seen.assert_never(&password);
}

/// `host:port` of the test server, as written in its URL.
fn host_port() -> String {
    let url = server_url();
    let rest = &url[url.find("://").unwrap() + 3..];
    let rest = &rest[rest.find('@').map(|a| a + 1).unwrap_or(0)..];
    rest[..rest.find(['/', '?']).unwrap_or(rest.len())].to_string()
}
