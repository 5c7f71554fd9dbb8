//! Bad input, each with a clear message naming the thing, a non-zero exit and nothing
//! half-written on the target: malformed TOML and unknown keys, missing tables and columns,
//! impossible casts, an invalid --since, an unreachable host, a missing database, a target
//! lacking a table, a value overflowing its target type, and a full disk on the target.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

const SOURCE_DDL: &str = "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, code text,
                                             qty numeric, flag bool, modified timestamptz);
                          INSERT INTO items VALUES
                            (1, 'one', '6f0d5b4e-8a53-4c1e-9d2b-3c4a5e6f7a8b', 5, true, now()),
                            (2, 'two', 'not-a-uuid', 1e12, false, now()),
                            (3, 'three', NULL, 7, NULL, now());";
const TARGET_DDL: &str = "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, code uuid,
                                             qty int4, flag bool, modified timestamptz);
                          INSERT INTO items VALUES (42, 'old', NULL, 1, true, now());";

fn pair(tag: &str) -> (ScratchDb, ScratchDb) {
    let src = ScratchDb::new(&format!("{tag}_src"));
    let dst = ScratchDb::new(&format!("{tag}_dst"));
    src.sql(SOURCE_DDL);
    dst.sql(TARGET_DDL);
    (src, dst)
}

/// Writes `text` as `name` in `dir` and returns its path.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// What a failed command must leave unchanged on the target: the user tables' contents, and
/// no staging or previous-tables schema.
fn fingerprint(dst: &ScratchDb) -> String {
    dst.sql(
        "SELECT coalesce(string_agg(format('%s.%s', table_schema, table_name), ',' ORDER BY 1), '')
         FROM information_schema.tables WHERE table_schema NOT LIKE '\\_cutover%'
           AND table_schema NOT IN ('pg_catalog', 'information_schema')",
    ) + &dst.sql("SELECT string_agg(i::text, ';' ORDER BY id) FROM items i")
        + &dst.sql(
            "SELECT string_agg(nspname, ',') FROM pg_namespace
             WHERE nspname LIKE '\\_cutover\\_stage%' OR nspname LIKE '\\_cutover\\_prev%'",
        )
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn plan(src: &str, dst: &str, mapping: &Path) -> Output {
    cutover(&[
        "plan",
        "--source",
        src,
        "--target",
        dst,
        "--mapping",
        mapping.to_str().unwrap(),
    ])
}

fn migrate(src: &str, dst: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "migrate",
        "full",
        "--overwrite",
        "--source",
        src,
        "--target",
        dst,
        "--quiet",
    ];
    args.extend_from_slice(extra);
    cutover(&args)
}

#[test]
fn malformed_toml_and_unknown_keys_are_named_by_file_line_and_column() {
    let (src, dst) = pair("bad_toml");
    let before = fingerprint(&dst);
    let dir = temp_dir();
    let cases = [
        (
            "unquoted.toml",
            "version = 1\n\n[[tables]]\nsource = items\n",
            "unquoted.toml:4:10",
            "",
        ),
        (
            "unclosed.toml",
            "version = 1\n[[tables]]\nsource = \"items\"\nkey = [\"id\"\n",
            "unclosed.toml:5:1",
            "",
        ),
        (
            "unknown_key.toml",
            "version = 1\n\n[[tables]]\nsource = \"items\"\n\n[tables.columns.name]\nform = \"name\"\n",
            "unknown_key.toml:7:1",
            "form",
        ),
    ];
    for (name, text, location, names) in cases {
        let path = write(dir.path(), name, text);
        for out in [
            plan(&src.url(), &dst.url(), &path),
            migrate(
                &src.url(),
                &dst.url(),
                &["--mapping", path.to_str().unwrap()],
            ),
        ] {
            assert_eq!(out.status.code(), Some(2), "{name}: {}", shown(&out));
            let err = stderr(&out);
            assert!(err.contains(location), "{name}: {}", shown(&out));
            assert!(err.contains(names), "{name}: {}", shown(&out));
        }
    }
    assert_eq!(fingerprint(&dst), before, "nothing written");
}

#[test]
fn missing_tables_and_columns_are_blockers_of_plan_and_stop_migrate() {
    let (src, dst) = pair("bad_missing");
    let before = fingerprint(&dst);
    let dir = temp_dir();
    let mapping = write(
        dir.path(),
        "missing.toml",
        "version = 1\n\n[[tables]]\nsource = \"itemz\"\n\n[[tables]]\nsource = \"items\"\n\
         copy_unmapped = true\n\n[tables.columns.name]\nfrom = \"nmae\"\n\n\
         [tables.columns.nope]\nconst = 1\n",
    );
    let out = plan(&src.url(), &dst.url(), &mapping);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    let all = shown(&out);
    for needle in [
        "BLOCKER",
        "source table `public.itemz` does not exist (did you mean `items`?)",
        "missing.toml:11:8",
        "unknown column `nmae` in source table `items` (did you mean `name`?)",
        "`nope`",
    ] {
        assert!(all.contains(needle), "`{needle}` in {all}");
    }
    let out = migrate(
        &src.url(),
        &dst.url(),
        &["--mapping", mapping.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert!(stderr(&out).contains("`nmae`"), "{}", shown(&out));
    assert_eq!(fingerprint(&dst), before, "nothing written");
}

#[test]
fn impossible_casts_are_blockers_and_unparsable_values_are_counted() {
    let (src, dst) = pair("bad_types");
    dst.sql("ALTER TABLE items ADD COLUMN flag_id uuid, ADD COLUMN stamp int4");
    let dir = temp_dir();
    let mapping = write(
        dir.path(),
        "types.toml",
        "version = 1\n\n[[tables]]\nsource = \"items\"\ncopy_unmapped = true\n\n\
         [tables.columns.flag_id]\nfrom = \"flag\"\n\n[tables.columns.stamp]\nfrom = \"modified\"\n",
    );
    let out = plan(&src.url(), &dst.url(), &mapping);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    let all = shown(&out);
    for needle in [
        "types.toml:7:17: items.flag_id: source column `flag` (boolean) cannot be cast to the type of target column `flag_id` (uuid)",
        "types.toml:10:17: items.stamp: source column `modified` (timestamp with time zone) cannot be cast to the type of target column `stamp` (integer)",
    ] {
        assert!(all.contains(needle), "`{needle}` in {all}");
    }
    // text → uuid is a cast that can work (docs/mapping.md), so values that do not parse are
    // counted per row by the dry run, not refused up front.
    let mapping = write(
        dir.path(),
        "uuid.toml",
        "version = 1\n\n[[tables]]\nsource = \"items\"\ncopy_unmapped = true\n\n\
         [tables.columns.qty]\nconst = 0\n",
    );
    let out = plan(&src.url(), &dst.url(), &mapping);
    let all = shown(&out);
    assert!(
        all.contains("items.code: 1 rows would be rejected")
            && all.contains("invalid input syntax for type uuid: \"not-a-uuid\""),
        "{all}"
    );
}

#[test]
fn an_invalid_since_is_refused_naming_the_option_and_value() {
    let (src, dst) = pair("bad_since");
    let before = fingerprint(&dst);
    for since in ["last tuesday", "2024-13-01", "2024-01-01T25:00:00Z"] {
        let out = cutover(&[
            "migrate",
            "delta-sync",
            "--source",
            &src.url(),
            "--target",
            &dst.url(),
            "--cursor",
            "modified",
            "--since",
            since,
        ]);
        assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
        assert!(
            stderr(&out).contains(&format!("--since `{since}` is not a time")),
            "{}",
            shown(&out)
        );
    }
    assert_eq!(fingerprint(&dst), before, "nothing written");
}

#[test]
fn an_unreachable_host_and_a_missing_database_are_named() {
    let (src, dst) = pair("bad_conn");
    let before = fingerprint(&dst);
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let closed = format!("postgres://cutover:s3cret-pw@127.0.0.1:{port}/nowhere");
    let missing = db_url(&format!("{}_absent", dst.name));
    // Plain sessions connect over a socket of cutover's own: their failures read the same.
    let plain = |url: &str| {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}sslmode=disable")
    };
    let cases = [
        (closed.clone(), dst.url(), "cannot connect to source"),
        (src.url(), closed.clone(), "cannot connect to target"),
        (plain(&closed), dst.url(), "cannot connect to source"),
        (
            src.url(),
            missing.clone(),
            &*format!("database \"{}_absent\" does not exist", dst.name),
        ),
        (
            plain(&src.url()),
            plain(&missing),
            &*format!("database \"{}_absent\" does not exist", dst.name),
        ),
        (
            db_url(&format!("{}_absent", src.name)),
            dst.url(),
            &*format!("database \"{}_absent\" does not exist", src.name),
        ),
    ];
    for (s, t, needle) in &cases {
        for out in [
            migrate(s, t, &[]),
            cutover(&["plan", "--source", s, "--target", t]),
        ] {
            assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
            let err = stderr(&out);
            assert!(err.contains(needle), "`{needle}` in {}", shown(&out));
            assert!(!shown(&out).contains("s3cret-pw"), "{}", shown(&out));
        }
    }
    assert_eq!(fingerprint(&dst), before, "nothing written");
}

#[test]
fn a_target_lacking_a_table_is_a_blocker_and_migrate_writes_nothing() {
    let (src, dst) = pair("bad_notable");
    src.sql("CREATE TABLE extra (id int PRIMARY KEY, v text); INSERT INTO extra VALUES (1, 'x')");
    let before = fingerprint(&dst);
    let out = cutover(&["plan", "--source", &src.url(), "--target", &dst.url()]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    let all = shown(&out);
    assert!(
        all.contains("BLOCKER") && all.contains("`public.extra` does not exist"),
        "{all}"
    );
    let out = migrate(&src.url(), &dst.url(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert!(stderr(&out).contains("public.extra"), "{}", shown(&out));
    assert_eq!(fingerprint(&dst), before, "nothing written");
}

#[test]
fn a_value_overflowing_its_target_type_is_rejected_or_nulled_per_on_error() {
    let (src, dst) = pair("bad_overflow");
    let dir = temp_dir();
    let manifest = dir.path().join("run.json");
    for (on_error, loaded, rejected, nulled) in [("reject", 2, 1, 0), ("null", 3, 0, 1)] {
        let mapping = write(
            dir.path(),
            "overflow.toml",
            &format!(
                "version = 1\n\n[[tables]]\nsource = \"items\"\ncopy_unmapped = true\n\n\
                 [tables.columns.code]\nconst = \"6f0d5b4e-8a53-4c1e-9d2b-3c4a5e6f7a8b\"\n\n\
                 [tables.columns.qty]\nfrom = \"qty\"\non_error = \"{on_error}\"\n"
            ),
        );
        let out = migrate(
            &src.url(),
            &dst.url(),
            &[
                "--mapping",
                mapping.to_str().unwrap(),
                "--manifest",
                manifest.to_str().unwrap(),
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{on_error}: {}", shown(&out));
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
        let t = &m["tables"][0];
        assert_eq!(
            (
                t["loaded_rows"].as_u64(),
                t["rejected_rows"].as_u64(),
                t["nulled_values"].as_u64()
            ),
            (Some(loaded), Some(rejected), Some(nulled)),
            "{on_error}: {t}"
        );
        let run = m["run_id"].as_str().unwrap();
        let filed = dst.sql(&format!(
            "SELECT key || '|' || column_name || '|' || reason || '|' || phase
             FROM _cutover.rejects WHERE run_id = '{run}'"
        ));
        // A value nulled by on_error = "null" is counted (nulled_values), not filed.
        let expected = match on_error {
            "reject" => "[\"2\"]|qty|1000000000000 is out of range for type int4|transform",
            _ => "",
        };
        assert_eq!(filed, expected, "{on_error}");
        let row2 = dst.sql("SELECT coalesce(qty::text, 'NULL') FROM items WHERE id = 2");
        let expected = if on_error == "null" { "NULL" } else { "" };
        assert_eq!(row2, expected, "{on_error}: row 2 of the target");
        assert_eq!(
            dst.sql("SELECT string_agg(qty::text, ',' ORDER BY id) FROM items WHERE id <> 2"),
            "5,7",
            "{on_error}"
        );
    }
}

/// A tablespace on a 2 MiB tmpfs; dropped and unmounted when this value is dropped (declare it
/// before the databases that use it, so that they are dropped first).
struct TinyTablespace {
    name: String,
    dir: tempfile::TempDir,
}

impl TinyTablespace {
    /// `Err(reason)` when it cannot be made here (not root, no tmpfs, a remote server, …).
    fn new(tag: &str) -> Result<TinyTablespace, String> {
        let dir = tempfile::Builder::new()
            .prefix("cutover_tiny_")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let path = dir.path().to_str().unwrap().to_string();
        let run = |cmd: &str, args: &[&str]| -> Result<(), String> {
            let out = Command::new(cmd)
                .args(args)
                .output()
                .map_err(|e| format!("{cmd}: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{cmd} {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        run("mount", &["-t", "tmpfs", "-o", "size=2m", "tmpfs", &path])?;
        let name = format!("ct_tiny_{tag}_{}", std::process::id());
        let ts = TinyTablespace { name, dir };
        // Dropping `ts` from here on unmounts.
        run("chown", &["postgres:postgres", &path])?;
        run("chmod", &["700", &path])?;
        let out = Command::new("psql")
            .arg(server_url())
            .args(["-X", "-q", "-c"])
            .arg(format!("CREATE TABLESPACE {} LOCATION '{path}'", ts.name))
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "CREATE TABLESPACE: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(ts)
    }
}

impl Drop for TinyTablespace {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .arg(server_url())
            .args(["-X", "-q", "-c"])
            .arg(format!("DROP TABLESPACE IF EXISTS {}", self.name))
            .output();
        let _ = Command::new("umount").arg(self.dir.path()).output();
    }
}

#[test]
fn a_full_disk_on_the_target_fails_cleanly_and_leaves_the_target_as_it_was() {
    let tiny = match TinyTablespace::new("full") {
        Ok(t) => t,
        Err(reason) => {
            eprintln!("skipped: cannot make a tiny tablespace on tmpfs here ({reason})");
            return;
        }
    };
    let src = ScratchDb::new("bad_disk_src");
    let dst = ScratchDb::new("bad_disk_dst");
    src.sql(
        "CREATE TABLE items (id int PRIMARY KEY, payload text);
         INSERT INTO items SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 40000) g;",
    );
    dst.sql(&format!(
        "CREATE TABLE items (id int PRIMARY KEY, payload text) TABLESPACE {};
         INSERT INTO items VALUES (-1, 'old');",
        tiny.name
    ));
    assert!(
        src.sql("SELECT pg_table_size('items') > 4 * 1024 * 1024") == "t",
        "the source table must not fit in 2 MiB"
    );
    let before = dst.sql("SELECT string_agg(i::text, ';' ORDER BY id) FROM items i");
    let out = migrate(&src.url(), &dst.url(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert!(
        stderr(&out).contains("No space left on device") && stderr(&out).contains("`items`"),
        "{}",
        shown(&out)
    );
    assert_eq!(
        dst.sql("SELECT string_agg(i::text, ';' ORDER BY id) FROM items i"),
        before,
        "the target table is unchanged"
    );
    assert_eq!(
        dst.sql(
            "SELECT count(*) FROM pg_namespace
             WHERE nspname LIKE '\\_cutover\\_stage%' OR nspname LIKE '\\_cutover\\_prev%'"
        ),
        "0",
        "no staging schema is left"
    );
    drop(dst);
    drop(src);
}

#[test]
fn a_target_holding_rows_no_cutover_run_loaded_is_refused_without_overwrite() {
    let (src, dst) = pair("bi_foreign");
    let before = fingerprint(&dst);
    let out = cutover(&[
        "migrate",
        "full",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    let err = stderr(&out);
    assert!(
        err.contains("`public.items` already hold rows that no earlier cutover run loaded")
            && err.contains("--overwrite")
            && err.contains("nothing was written"),
        "{err}"
    );
    assert_eq!(fingerprint(&dst), before, "the target is unchanged");
    assert_eq!(
        dst.sql("SELECT count(*) FROM pg_namespace WHERE nspname LIKE '\\_cutover%'"),
        "0",
        "not even the state schema is created"
    );
    // Said on purpose, it replaces them; a later run over what cutover loaded needs no flag.
    let out = migrate(&src.url(), &dst.url(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    migrate_identity(&src, &dst);
}

#[test]
fn inherited_tables_are_blockers_unless_the_parent_is_read_alone() {
    let src = ScratchDb::new("bad_inh_src");
    let dst = ScratchDb::new("bad_inh_dst");
    let ddl = "CREATE TABLE events (id int PRIMARY KEY, what text);
               CREATE TABLE events_2019 (CHECK (id < 100)) INHERITS (events);";
    src.sql(ddl);
    src.sql(
        "INSERT INTO events VALUES (100, 'now'), (101, 'now');
         INSERT INTO events_2019 VALUES (1, 'old'), (2, 'old'), (3, 'old');",
    );
    dst.sql("CREATE TABLE events (id int PRIMARY KEY, what text)");
    // Read as it is, the parent would bring its child's rows along.
    let out = migrate(&src.url(), &dst.url(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert!(
        stderr(&out).contains(
            "source table `events` is inherited by events_2019: reading it would read their rows too"
        ),
        "{}",
        shown(&out)
    );
    assert_eq!(dst.sql("SELECT count(*) FROM events"), "0");
    // A filter on tableoid reads the parent's own rows.
    let dir = temp_dir();
    let mapping = write(
        dir.path(),
        "events.toml",
        "version = 1\n\n[[tables]]\nsource = \"events\"\ncopy_unmapped = true\n\
         filter = \"tableoid = 'events'::regclass\"\n",
    );
    let out = migrate(
        &src.url(),
        &dst.url(),
        &["--mapping", mapping.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(
        dst.sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM events"),
        "100,101"
    );
    // A target parent cannot be replaced without leaving its children behind.
    dst.sql("CREATE TABLE events_old () INHERITS (events)");
    let out = migrate(
        &src.url(),
        &dst.url(),
        &["--mapping", mapping.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert!(
        stderr(&out).contains("target table `events` is inherited by events_old"),
        "{}",
        shown(&out)
    );
}

#[test]
fn a_partitioned_target_is_a_blocker_of_the_full_load_only() {
    let src = ScratchDb::new("bad_part_src");
    let dst = ScratchDb::new("bad_part_dst");
    let ddl = "CREATE TABLE m (id int, at date NOT NULL, modified timestamptz NOT NULL, PRIMARY KEY (id, at))
                 PARTITION BY RANGE (at);
               CREATE TABLE m_2024 PARTITION OF m FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
               CREATE TABLE m_2025 PARTITION OF m FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');";
    src.sql(ddl);
    dst.sql(ddl);
    let rows = "INSERT INTO m VALUES (1, '2024-05-01', now() - interval '1 day'),
                                     (2, '2025-05-01', now() - interval '1 day')";
    src.sql(rows);
    // The swap would put a plain table in its place and leave the partitions behind.
    let out = migrate(&src.url(), &dst.url(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert!(
        stderr(&out).contains("target table `m` is partitioned"),
        "{}",
        shown(&out)
    );
    assert_eq!(
        dst.sql("SELECT relkind FROM pg_class WHERE oid = 'public.m'::regclass"),
        "p"
    );
    // Loaded another way, delta-sync and reconcile work on it in place.
    dst.sql(rows);
    src.sql(
        "UPDATE m SET modified = now() WHERE id = 2; INSERT INTO m VALUES (3, '2025-06-01', now())",
    );
    delta_syncs(&src, &dst, "modified", "2000-01-01");
    reconciles(&src, &dst);
    assert_eq!(dst.sql("SELECT count(*) FROM m_2025"), "2");
}

/// `migrate delta-sync --cursor CURSOR --since SINCE` of the two databases succeeds.
fn delta_syncs(src: &ScratchDb, dst: &ScratchDb, cursor: &str, since: &str) {
    let out = cutover(&[
        "migrate",
        "delta-sync",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--cursor",
        cursor,
        "--since",
        since,
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
}

/// `(column, reason, count)` of the target's rejects, one per line.
fn reject_counts(dst: &ScratchDb) -> String {
    dst.sql(
        "SELECT string_agg(format('%s|%s|%s', column_name, reason, n), E'\\n' ORDER BY column_name, reason)
         FROM (SELECT column_name, reason, count(*) n FROM _cutover.rejects GROUP BY 1, 2) r",
    )
}

#[test]
fn values_a_domain_refuses_are_rejects_of_the_full_load_and_of_delta_sync() {
    let src = ScratchDb::new("bad_domain_src");
    let dst = ScratchDb::new("bad_domain_dst");
    src.sql(
        "CREATE TABLE t (id int PRIMARY KEY, v int, e text, n text, m numeric, modified timestamptz, a int[]);
         INSERT INTO t SELECT g, g - 3, CASE WHEN g % 10 = 0 THEN 'bad' ELSE 'a' || g || '@x.com' END,
                              CASE WHEN g % 7 = 0 THEN NULL ELSE 'x' END, CASE WHEN g = 4 THEN 1 ELSE g END,
                              '2024-01-01', ARRAY[g, g + 1]
         FROM generate_series(1, 40) g;
         UPDATE t SET a = CASE id WHEN 11 THEN '{1,0}'::int[] WHEN 12 THEN '{NULL,-5}' WHEN 13 THEN '{}'
                                  WHEN 15 THEN NULL WHEN 16 THEN '{{1,2},{3,-4}}' WHEN 17 THEN '{{1,2},{3,4}}' END
         WHERE id BETWEEN 11 AND 17 AND id <> 14;",
    );
    // Checks of a domain, of a domain over a domain, a NOT NULL domain, and an array of a
    // domain (each element checked): COPY refuses each on the first bad value.
    dst.sql(
        "CREATE DOMAIN pos AS int CHECK (VALUE > 0);
         CREATE DOMAIN email AS text CHECK (VALUE LIKE '%@%') CHECK (length(VALUE) > 3);
         CREATE DOMAIN nn AS text NOT NULL;
         CREATE DOMAIN small AS numeric(10,2) CHECK (VALUE < 35);
         CREATE DOMAIN smallish AS small CHECK (VALUE > 1);
         CREATE TABLE t (id int PRIMARY KEY, v pos, e email, n nn, m smallish, modified timestamptz, a pos[]);",
    );
    let out = migrate(&src.url(), &dst.url(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    // Rejected in this order: NULLs (ids 7 14 21 28 35), then per column: v <= 0 (1 2 3),
    // e 'bad' (10 20 30 40), m >= 35 (36 37 38 39) by the inner domain, m <= 1 (4) by the
    // outer one, an element of a <= 0 (11 12 16; a NULL element, an empty array, a NULL
    // array and a two-dimensional array of good elements pass).
    assert_eq!(
        reject_counts(&dst),
        "a|an element violates check constraint `pos_check` of domain `public.pos` (column `a`)|3\n\
         e|violates check constraint `email_check` of domain `public.email` (column `e`)|4\n\
         m|violates check constraint `small_check` of domain `public.smallish` (column `m`)|4\n\
         m|violates check constraint `smallish_check` of domain `public.smallish` (column `m`)|1\n\
         n|NULL in NOT NULL column `n`|5\n\
         v|violates check constraint `pos_check` of domain `public.pos` (column `v`)|3"
    );
    assert_eq!(dst.sql("SELECT count(*) FROM t"), "20");
    assert_eq!(
        dst.sql("SELECT string_agg(format('%s %s', id, a), ', ' ORDER BY id) FROM t WHERE id BETWEEN 13 AND 18"),
        "13 {}, 15 , 17 {{1,2},{3,4}}, 18 {18,19}"
    );
    assert_eq!(
        dst.sql("SELECT string_agg(format_type(atttypid, atttypmod), ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 't'::regclass AND attnum > 0"),
        "integer,pos,email,nn,smallish,timestamp with time zone,pos[]",
        "the columns keep their domains"
    );
    reconciles(&src, &dst);

    src.sql(
        "UPDATE t SET v = -1, modified = '2025-01-01' WHERE id = 5;
         UPDATE t SET e = 'new@y.org', modified = '2025-01-01' WHERE id = 6;
         UPDATE t SET a = '{3,-3}', modified = '2025-01-01' WHERE id = 13;
         INSERT INTO t VALUES (41, 7, 'z@z.com', 'x', 20, '2025-01-01', '{1}'), (42, 0, 'q@q.com', 'x', 20, '2025-01-01', '{1}'),
                              (43, 8, 'w@w.com', 'x', 20, '2025-01-01', '{0}');",
    );
    delta_syncs(&src, &dst, "modified", "2024-06-01");
    assert_eq!(
        dst.sql("SELECT string_agg(format('%s %s %s %s', id, v, e, a), ', ' ORDER BY id) FROM t WHERE id IN (5, 6, 13, 41, 42, 43)"),
        "5 2 a5@x.com {5,6}, 6 3 new@y.org {6,7}, 13 10 a13@x.com {}, 41 7 z@z.com {1}",
        "the good changes merged, the refused ones left out"
    );
    assert!(
        reject_counts(&dst).contains(
            "v|violates check constraint `pos_check` of domain `public.pos` (column `v`)|5"
        ) && reject_counts(&dst).contains(
            "a|an element violates check constraint `pos_check` of domain `public.pos` (column `a`)|5"
        ),
        "{}",
        reject_counts(&dst)
    );
}

#[test]
fn a_domain_column_a_generated_column_uses_loads_as_its_domain_and_a_refused_value_stops_the_load()
{
    let src = ScratchDb::new("gen_domain_src");
    let dst = ScratchDb::new("gen_domain_dst");
    src.sql(
        "CREATE TABLE t (id int PRIMARY KEY, p int, q int);
         INSERT INTO t SELECT g, g, g FROM generate_series(1, 5) g;",
    );
    // PostgreSQL cannot change the type of `p` (`g` uses it), so it cannot be staged as int.
    dst.sql(
        "CREATE DOMAIN pos AS int CHECK (VALUE > 0);
         CREATE TABLE t (id int PRIMARY KEY, p pos, q pos, g int GENERATED ALWAYS AS (p * 2) STORED);",
    );
    let (s, d) = (src.url(), dst.url());
    let out = cutover(&["migrate", "full", "--source", &s, "--target", &d]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert!(
        shown(&out).contains(
            "t.p: generated column `g` uses this column, so it is loaded as its domain `public.pos`"
        ),
        "{}",
        shown(&out)
    );
    assert_eq!(
        dst.sql("SELECT string_agg(format('%s %s %s', id, p, g), ', ' ORDER BY id) FROM t"),
        "1 1 2, 2 2 4, 3 3 6, 4 4 8, 5 5 10"
    );
    // `q`, which no generated column uses, is still staged as int: its bad value is a reject.
    src.sql("UPDATE t SET q = 0 WHERE id = 2");
    let out = migrate(&s, &d, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(
        dst.sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM t"),
        "1,3,4,5"
    );
    // A value of `p` the domain refuses: the load stops, naming the domain, and the target
    // keeps what it had.
    src.sql("UPDATE t SET p = -1 WHERE id = 3");
    let out = migrate(&s, &d, &[]);
    assert_ne!(out.status.code(), Some(0), "{}", shown(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("value for domain pos violates check constraint"),
        "{}",
        shown(&out)
    );
    assert_eq!(
        dst.sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM t"),
        "1,3,4,5"
    );
    assert_eq!(dst.sql("SELECT p FROM t WHERE id = 3"), "3");
}

#[test]
fn a_label_the_target_enum_lacks_is_a_reject_not_a_failed_load() {
    let src = ScratchDb::new("bad_enum_src");
    let dst = ScratchDb::new("bad_enum_dst");
    src.sql(
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
         CREATE TABLE t (id int PRIMARY KEY, label text, m mood, ms mood[]);
         INSERT INTO t VALUES (1, 'open', 'ok', '{ok}'), (2, 'gone', 'sad', '{sad}'),
                              (3, 'closed', 'happy', '{happy}'), (4, 'open', 'sad', '{ok}'),
                              (5, 'open', 'ok', '{happy,sad}'), (6, 'open', 'ok', '{}'),
                              (7, 'open', 'ok', NULL), (8, 'open', 'ok', '{ok,NULL}'),
                              (9, 'open', 'ok', '{{ok,happy},{sad,ok}}');",
    );
    dst.sql(
        "CREATE TYPE state AS ENUM ('open', 'closed');
         CREATE TYPE mood AS ENUM ('ok', 'happy', 'sad');
         ALTER TYPE mood RENAME VALUE 'sad' TO 'blue';
         CREATE TABLE t (id int PRIMARY KEY, label state, m mood, ms mood[]);",
    );
    let out = migrate(&src.url(), &dst.url(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(
        dst.sql("SELECT string_agg(format('%s %s %s', key, column_name, reason), E'\\n' ORDER BY key) FROM _cutover.rejects"),
        "[\"2\"] label invalid input value for enum state: \"gone\"\n\
         [\"4\"] m invalid input value for enum mood: \"sad\"\n\
         [\"5\"] ms invalid input value for enum mood: \"sad\"\n\
         [\"9\"] ms invalid input value for enum mood: \"sad\""
    );
    assert_eq!(
        dst.sql(
            "SELECT string_agg(format('%s %s %s %s', id, label, m, ms), ', ' ORDER BY id) FROM t"
        ),
        "1 open ok {ok}, 3 closed happy {happy}, 6 open ok {}, 7 open ok , 8 open ok {ok,NULL}"
    );
    // The arrays' element type OIDs differ between the two databases: not a difference.
    reconciles(&src, &dst);
}

#[test]
fn text_a_sql_ascii_source_holds_in_another_encoding_is_rejected_not_a_failed_load() {
    let src = ScratchDb::with_options(
        "bad_ascii_src",
        "ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0",
    );
    let dst = ScratchDb::new("bad_ascii_dst");
    // Row 2 is UTF-8 (é), row 3 Latin-1 (é as 0xe9), row 4 a cut-off UTF-8 sequence.
    src.sql(
        "CREATE TABLE t (id int PRIMARY KEY, s text, v varchar(10), m timestamptz);
         INSERT INTO t VALUES (1, 'plain', 'a', '2024-01-01'),
           (2, convert_from('\\x68c3a9'::bytea, 'SQL_ASCII'), 'b', '2024-01-01'),
           (3, 'ok', convert_from('\\x6ce9'::bytea, 'SQL_ASCII'), '2024-01-01'),
           (4, convert_from('\\x78c3'::bytea, 'SQL_ASCII'), 'd', '2024-01-01');",
    );
    dst.sql("CREATE TABLE t (id int PRIMARY KEY, s text, v varchar(10), m timestamptz);");
    let out = migrate(&src.url(), &dst.url(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(
        dst.sql("SELECT string_agg(format('%s %s', key, reason), E'\\n' ORDER BY key) FROM _cutover.rejects"),
        "[\"3\"] source column `v` is not valid UTF-8 (byte 0xe9 at offset 1): the source database's \
         encoding is SQL_ASCII, which stores bytes of any encoding\n\
         [\"4\"] source column `s` is not valid UTF-8 (byte 0xc3 at offset 1): the source database's \
         encoding is SQL_ASCII, which stores bytes of any encoding"
    );
    assert_eq!(
        dst.sql("SELECT string_agg(format('%s %s %s', id, s, v), ', ' ORDER BY id) FROM t"),
        "1 plain a, 2 hé b"
    );
    reconciles(&src, &dst);

    src.sql(
        "INSERT INTO t VALUES (5, 'new', 'e', '2025-01-01'),
                              (6, convert_from('\\xff'::bytea, 'SQL_ASCII'), 'f', '2025-01-01');",
    );
    delta_syncs(&src, &dst, "m", "2024-06-01");
    assert_eq!(
        dst.sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM t"),
        "1,2,5"
    );
    reconciles(&src, &dst);
}

#[test]
fn rows_that_duplicate_a_unique_key_of_the_target_are_rejects_with_the_rows_that_need_them() {
    let src = ScratchDb::new("bad_dup_src");
    let dst = ScratchDb::new("bad_dup_dst");
    // The legacy system never enforced unique e-mail addresses; the new one does, case-blind.
    src.sql(
        "CREATE TABLE accounts (id int PRIMARY KEY, email text, region text);
         CREATE TABLE orders (id int PRIMARY KEY, account_id int REFERENCES accounts(id));
         INSERT INTO accounts VALUES (1, 'a@x', 'eu'), (2, 'b@x', 'eu'), (3, 'A@x', 'us'),
           (4, NULL, 'eu'), (5, NULL, 'eu'), (6, 'c@x', 'us'), (7, 'c@x', NULL), (8, 'b@x', 'us');
         INSERT INTO orders VALUES (10, 1), (11, 3), (12, 7), (13, 2);",
    );
    dst.sql(
        "CREATE TABLE accounts (id int PRIMARY KEY, email text, region text);
         CREATE UNIQUE INDEX accounts_email ON accounts (lower(email));
         CREATE UNIQUE INDEX accounts_region ON accounts (email, region) WHERE region IS NOT NULL;
         CREATE TABLE orders (id int PRIMARY KEY, account_id int REFERENCES accounts(id));",
    );
    let out = migrate(&src.url(), &dst.url(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(
        dst.sql("SELECT string_agg(format('%s %s %s', table_name, key, reason), E'\\n' ORDER BY table_name, key) FROM _cutover.rejects"),
        "accounts [\"3\"] unique index `accounts_email`: key (lower(email))=(a@x) is duplicated; the row first in key order is kept\n\
         accounts [\"7\"] unique index `accounts_email`: key (lower(email))=(c@x) is duplicated; the row first in key order is kept\n\
         accounts [\"8\"] unique index `accounts_email`: key (lower(email))=(b@x) is duplicated; the row first in key order is kept\n\
         orders [\"11\"] orphan reference: no `accounts` row with (id) = the value of (account_id)\n\
         orders [\"12\"] orphan reference: no `accounts` row with (id) = the value of (account_id)"
    );
    assert_eq!(
        dst.sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM accounts"),
        "1,2,4,5,6"
    );
    assert_eq!(
        dst.sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM orders"),
        "10,13"
    );
    reconciles(&src, &dst);
}

#[test]
fn oid_columns_naming_large_objects_are_warned_of_as_the_objects_stay_behind() {
    let src = ScratchDb::new("bad_lo_src");
    let dst = ScratchDb::new("bad_lo_dst");
    let ddl = "CREATE TABLE docs (id int PRIMARY KEY, body oid, name text);";
    src.sql(ddl);
    dst.sql(ddl);
    src.sql("INSERT INTO docs VALUES (1, NULL, 'a')");
    let dir = temp_dir();
    let identity = write(
        dir.path(),
        "docs.toml",
        "version = 1\n\n[[tables]]\nsource = \"docs\"\ncopy_unmapped = true\n",
    );
    let quiet = plan(&src.url(), &dst.url(), &identity);
    assert!(
        !String::from_utf8_lossy(&quiet.stdout).contains("large object"),
        "no large objects, no warning: {}",
        shown(&quiet)
    );
    src.sql("INSERT INTO docs VALUES (2, lo_from_bytea(0, 'hello'), 'b')");
    let out = plan(&src.url(), &dst.url(), &identity);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(
            "WARNING  docs: source column `docs.body` is of type oid and the source holds 1 large \
             object(s): the ids are copied, the objects are not"
        ),
        "{}",
        shown(&out)
    );
}
