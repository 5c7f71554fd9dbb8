//! Shared helpers of the end-to-end tests: scratch databases on the real PostgreSQL (each test
//! makes its own, uniquely named, and drops them), psql, and running the built binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The server URL (`CUTOVER_TEST_PG`, as printed by scripts/pg-up.sh).
pub fn server_url() -> String {
    std::env::var("CUTOVER_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// URL of another database on the same server.
pub fn db_url(db: &str) -> String {
    let base = server_url();
    let (head, tail) = match base.find('?') {
        Some(q) => (&base[..q], &base[q..]),
        None => (base.as_str(), ""),
    };
    let slash = head.rfind('/').expect("URL with a database");
    format!("{}/{db}{tail}", &head[..slash])
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A scratch database, dropped when this value is dropped (also when the test panics).
pub struct ScratchDb {
    pub name: String,
}

impl ScratchDb {
    pub fn new(tag: &str) -> ScratchDb {
        ScratchDb::with_options(tag, "")
    }

    /// A scratch database created with `options` (`ENCODING 'SQL_ASCII' …`).
    pub fn with_options(tag: &str, options: &str) -> ScratchDb {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "ct_{tag}_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        psql_ok(&server_url(), &format!("CREATE DATABASE {name} {options}"));
        ScratchDb { name }
    }

    pub fn url(&self) -> String {
        db_url(&self.name)
    }

    /// Runs SQL, panics on error, returns stdout (unaligned, tuples only).
    pub fn sql(&self, sql: &str) -> String {
        psql_ok(&self.url(), sql)
    }

    /// The binary COPY output of a query, byte for byte.
    pub fn copy_binary(&self, query: &str) -> Vec<u8> {
        let out = Command::new("psql")
            .arg(self.url())
            .args(["-X", "-q", "-c"])
            .arg(format!("COPY ({query}) TO STDOUT (FORMAT binary)"))
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Runs a SQL file with psql variables.
    pub fn file(&self, path: &Path, vars: &[(&str, &str)]) {
        let mut cmd = Command::new("psql");
        cmd.arg(self.url())
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-X", "-f"])
            .arg(path);
        for (k, v) in vars {
            cmd.arg("-v").arg(format!("{k}={v}"));
        }
        let out = cmd.output().expect("run psql");
        assert!(
            out.status.success(),
            "psql -f {} failed: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .arg(server_url())
            .args(["-X", "-q", "-c"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .output();
    }
}

/// Runs SQL through psql; panics with its error output on failure.
pub fn psql_ok(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .arg(url)
        .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql failed on `{sql}`: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim_end()
        .to_string()
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the built `cutover` binary.
pub fn cutover(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(args)
        .env_remove("CUTOVER_SOURCE_URL")
        .env_remove("CUTOVER_TARGET_URL")
        .output()
        .expect("run cutover");
    if std::env::var("CUTOVER_TEST_VERBOSE").is_ok() {
        eprintln!(
            "cutover {args:?} → {:?}\n--- stdout\n{}\n--- stderr\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// stdout and stderr of a run, for assertion messages.
pub fn shown(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A temporary directory for reports and manifests.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// The rows of a CSV report keyed by its `table` column (each row as column → value); empty
/// when the file was not written.
pub fn csv_by_table(
    path: &Path,
) -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>> {
    let Ok(mut r) = csv::Reader::from_path(path) else {
        return Default::default();
    };
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            let m: std::collections::BTreeMap<String, String> = headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect();
            (m["table"].clone(), m)
        })
        .collect()
}

/// A legacy CRM at scale 1 (fixtures/crm) and an empty new CRM schema.
pub fn crm_pair(tag: &str) -> (ScratchDb, ScratchDb) {
    let src = ScratchDb::new(&format!("{tag}_src"));
    let dst = ScratchDb::new(&format!("{tag}_dst"));
    let fx = root().join("fixtures/crm");
    src.file(&fx.join("source.sql"), &[]);
    src.file(&fx.join("generate.sql"), &[("scale", "1")]);
    dst.file(&fx.join("target.sql"), &[]);
    (src, dst)
}

/// `migrate full` of the CRM through mappings/crm.toml, writing the manifest to `manifest`;
/// panics unless it exits 0. Returns the mapping's path.
pub fn migrate_crm(src: &ScratchDb, dst: &ScratchDb, manifest: &Path) -> String {
    let mapping = root()
        .join("mappings/crm.toml")
        .to_str()
        .unwrap()
        .to_string();
    migrate_mapped(src, dst, Path::new(&mapping), manifest);
    mapping
}

/// `migrate full` with the identity mapping; panics unless it exits 0.
pub fn migrate_identity(src: &ScratchDb, dst: &ScratchDb) {
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
}

/// `migrate full` through `mapping`, writing the manifest to `manifest`; panics unless it
/// exits 0.
pub fn migrate_mapped(src: &ScratchDb, dst: &ScratchDb, mapping: &Path, manifest: &Path) {
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
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
}

/// Sessions of `db` that the client cut off instead of ending them with its Terminate message
/// (the server logs "unexpected EOF on client connection" or "connection to client lost"),
/// once all have ended.
pub fn cut_off_sessions(db: &ScratchDb) -> i64 {
    let open = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()",
        db.name
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while psql_ok(&server_url(), &open).trim() != "0" {
        assert!(
            std::time::Instant::now() < deadline,
            "sessions of {} still open",
            db.name
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    psql_ok(
        &server_url(),
        &format!(
            "SELECT sessions_abandoned + sessions_fatal FROM pg_stat_database WHERE datname = '{}'",
            db.name
        ),
    )
    .trim()
    .parse()
    .unwrap()
}

/// `reconcile` of the two databases passes (exit 0): the rejects are accounted for.
pub fn reconciles(src: &ScratchDb, dst: &ScratchDb) {
    let dir = temp_dir();
    let report = dir.path().join("report.csv");
    let out = cutover(&[
        "reconcile",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--quiet",
        "--output",
        report.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
}
