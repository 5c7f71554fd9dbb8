//! `migrate full` with the identity mapping: every type of DESIGN.md's lossless list survives
//! the trip value for value, and a rollback drill leaves the target exactly as it was.
mod common;

use common::*;

const ALL_TYPES: &str = r#"
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);
CREATE TABLE all_types (
  id int8 PRIMARY KEY,
  i2 int2, i4 int4, i8 int8,
  n numeric, n2 numeric(12,2),
  f4 float4, f8 float8,
  t text, vc varchar(10), c char(5),
  b bytea, bo bool,
  d date, ts timestamp, tstz timestamptz, tm time, tmtz timetz, iv interval,
  u uuid, j json, jb jsonb,
  ip inet, cidr_ cidr, mac macaddr, m money,
  ai int4[], at text[], an numeric[], ats timestamptz[],
  e mood, dom posint
);
"#;

const ROWS: &str = r#"
INSERT INTO all_types VALUES
 (1, -32768, -2147483648, -9223372036854775808,
  'NaN', -0.01, 'NaN', '-0',
  '', '', '', '\x', false,
  '4713-01-01 BC', '-infinity', '-infinity', '00:00', '00:00+14', '-178000000 years',
  '00000000-0000-0000-0000-000000000000', '{"a": 1e400}', '{"big": 12345678901234567890.123456789}',
  '::1', '10.0.0.0/8', '00:00:00:00:00:00', '-92233720368547758.08',
  '{}', '{}', '{}', '{}', 'sad', 1),
 (2, 32767, 2147483647, 9223372036854775807,
  'Infinity', 9999999999.99, 'Infinity', 'Infinity',
  'trailing space ', 'ten chars!', 'ab', '\xdeadbeef00', true,
  '294276-12-31', 'infinity', 'infinity', '23:59:59.999999', '24:00:00-15:59', '178000000 years',
  'ffffffff-ffff-ffff-ffff-ffffffffffff', '[1, 2.50, "x"]', '[]',
  '2001:db8::ff00:42:8329', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff', '92233720368547758.07',
  '{1,NULL,3}', '{"a,b","",NULL,"quote\""}', '{NaN,-Infinity,1.5}', '{infinity,"2020-01-01 00:00+00"}', 'happy', 2147483647),
 (3, 0, 0, 0,
  '-Infinity', 0, '-Infinity', '-Infinity',
  'ünïcødé ✓', 'x', 'x', '\x00', NULL,
  '2000-01-01', '1999-12-31 23:59:59.999999', '1970-01-01 00:00:00+00', '12:34:56', '12:34:56+05:30', '1 mon 2 days 03:04:05.000006',
  '123e4567-e89b-12d3-a456-426614174000', '{"k":"v" , "dup":1, "dup":2}', '{"nested": {"arr": [1, {"x": null}]}}',
  '192.168.1.1/24', '192.168.0.0/16', '08:00:2b:01:02:03', '0',
  '{{1,2},{3,4}}', '{x}', '{1234567890123456789012345678901234567890.123456789}', '{NULL}', 'ok', 5),
 (4, NULL, NULL, NULL, '-1234567890123456789012345678901234567890.0000000001', NULL, 1.17549435e-38, 2.2250738585072014e-308,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL),
 (5, 1, 1, 1, '0.000000000000000000000000000000000001', 0.5, 3.4028235e38, 1.7976931348623157e308,
  repeat('long ', 2000), 'a', 'abcde', decode(repeat('ff', 5000), 'hex'), true,
  '0001-01-01', '0001-01-01 00:00:00', '0001-01-01 00:00:00+00 BC', '00:00:00.000001', '00:00:00.000001+00', '-1 days -00:00:00.000001',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'null', '"string"', '0.0.0.0', '0.0.0.0/0', '01:23:45:67:89:ab', '1.23',
  '{-1}', '{"\\\\"}', '{-0.0}', '{-infinity}', 'happy', 42);
"#;

fn dump(db: &ScratchDb, table: &str) -> String {
    db.sql(&format!(
        "COPY (SELECT * FROM {table} ORDER BY 1) TO STDOUT"
    ))
}

#[test]
fn every_lossless_type_round_trips_through_the_identity_mapping() {
    let src = ScratchDb::new("types_src");
    let dst = ScratchDb::new("types_dst");
    for db in [&src, &dst] {
        db.sql(ALL_TYPES);
    }
    src.sql(ROWS);
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
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    // The summary says how long each phase took, in the order they ran.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let phases: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("phase "))
        .skip(2)
        .take_while(|l| !l.is_empty())
        .collect();
    let named = |p: &str| phases.iter().position(|l| l.starts_with(p));
    let order = [
        "reading catalogs",
        "loading 1 tables",
        "building indexes",
        "swapping the new tables in",
    ]
    .map(|p| named(p).unwrap_or_else(|| panic!("no phase `{p}` in:\n{stdout}")));
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{stdout}");
    assert!(
        phases.iter().all(|l| l
            .rsplit(' ')
            .next()
            .and_then(|s| s.parse::<f64>().ok())
            .is_some()),
        "{stdout}"
    );
    // Text output of every type is exact (floats print shortest-exact), so equal dumps mean
    // equal values; the binary forms are compared too.
    assert_eq!(dump(&src, "all_types"), dump(&dst, "all_types"));
    let bin = |db: &ScratchDb| db.copy_binary("SELECT * FROM all_types ORDER BY id");
    assert_eq!(bin(&src), bin(&dst));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    assert_eq!(m["tables"][0]["loaded_rows"], 5);
    assert_eq!(m["tables"][0]["rejected_rows"], 0);
    assert_eq!(m["hash_version"], 1);
    // Constraints and indexes of the target are in place and valid.
    assert_eq!(dst.sql("SELECT count(*) FROM pg_constraint WHERE conrelid = 'public.all_types'::regclass AND contype = 'p' AND convalidated"), "1");
}

#[test]
fn rollback_drill_leaves_the_target_unchanged() {
    let src = ScratchDb::new("drill_src");
    let dst = ScratchDb::new("drill_dst");
    let ddl = "CREATE TABLE parent (id int PRIMARY KEY, name text NOT NULL);
               CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent(id), note text);
               CREATE INDEX child_parent ON child(parent_id);";
    src.sql(ddl);
    dst.sql(ddl);
    src.sql(
        "INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 500) g;
             INSERT INTO child SELECT g, 1 + g % 500, 'c' || g FROM generate_series(1, 3000) g;",
    );
    dst.sql("INSERT INTO parent VALUES (1, 'old'); INSERT INTO child VALUES (7, 1, 'old child');");
    let before = (dump(&dst, "parent"), dump(&dst, "child"));
    let out = cutover(&[
        "migrate",
        "full",
        "--overwrite",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--drill-fail-after",
        "parent",
        "--quiet",
    ]);
    assert_ne!(out.status.code(), Some(0), "{}", shown(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("drill"),
        "{}",
        shown(&out)
    );
    assert_eq!((dump(&dst, "parent"), dump(&dst, "child")), before);
    // Nothing of the failed run is left beside the target tables, and the run is recorded failed.
    assert_eq!(
        dst.sql("SELECT count(*) FROM pg_namespace WHERE nspname LIKE '\\_cutover\\_stage%'"),
        "0"
    );
    assert_eq!(dst.sql("SELECT status FROM _cutover.runs"), "failed");

    // A real run then replaces the contents; the indexes and foreign key are back and valid.
    let out = cutover(&[
        "migrate",
        "full",
        "--overwrite",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(dump(&dst, "child"), dump(&src, "child"));
    assert_eq!(
        dst.sql("SELECT count(*) FROM pg_constraint WHERE conrelid = 'public.child'::regclass AND convalidated"),
        "2"
    );
    assert_eq!(
        dst.sql(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'child'"
        ),
        "2"
    );
}

#[test]
fn chunked_tables_load_every_row_once_whatever_the_jobs() {
    let src = ScratchDb::new("chunk_src");
    let dst = ScratchDb::new("chunk_dst");
    let ddl = "CREATE TABLE big (id int PRIMARY KEY, payload text)";
    src.sql(ddl);
    dst.sql(ddl);
    src.sql("INSERT INTO big SELECT g, repeat('x', g % 300) FROM generate_series(1, 40000) g; DELETE FROM big WHERE id % 7 = 0;");
    src.sql("VACUUM ANALYZE big");
    let mut roots = Vec::new();
    for jobs in ["1", "3"] {
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
            "--jobs",
            jobs,
            "--chunk-pages",
            "40",
            "--manifest",
            manifest.to_str().unwrap(),
            "--quiet",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
        assert_eq!(dump(&dst, "big"), dump(&src, "big"));
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
        roots.push(m["tables"][0]["root"].as_str().unwrap().to_string());
    }
    assert_eq!(
        roots[0], roots[1],
        "roots must not depend on --jobs or chunking"
    );
}

#[test]
fn create_tables_builds_missing_target_tables_from_the_source_catalog() {
    let src = ScratchDb::new("create_src");
    let dst = ScratchDb::new("create_dst");
    src.sql(
        "CREATE TYPE level AS ENUM ('low', 'high');
         CREATE SEQUENCE ticket_seq;
         CREATE TABLE parent (id serial PRIMARY KEY, code text NOT NULL UNIQUE,
                              lvl level NOT NULL DEFAULT 'low', n numeric(8,2) CHECK (n >= 0),
                              seen level[]);
         CREATE TABLE child (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                             parent_id int NOT NULL REFERENCES parent(id) ON DELETE CASCADE,
                             note text DEFAULT 'none', twice int GENERATED ALWAYS AS (parent_id * 2) STORED,
                             ticket bigint NOT NULL DEFAULT nextval('ticket_seq'));
         CREATE INDEX child_note ON child (lower(note));
         INSERT INTO parent (code, lvl, n, seen) SELECT 'c' || g, 'high', g, '{low,high}' FROM generate_series(1, 300) g;
         INSERT INTO child (parent_id, note) SELECT 1 + g % 300, 'n' || g FROM generate_series(1, 1000) g;",
    );
    // Without the enum type in the target, the plan is blocked with a clear reason.
    let out = cutover(&[
        "migrate",
        "full",
        "--overwrite",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--create-tables",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    for blocker in [
        "parent.lvl: --create-tables: type `public.level` does not exist",
        "parent.seen: --create-tables: type `public.level` does not exist",
        "child.ticket: --create-tables: the default of `ticket` draws from sequence `public.ticket_seq`, \
         which the column does not own and the target lacks",
    ] {
        assert!(err.contains(blocker), "{blocker}\n{}", shown(&out));
    }
    // A serial column's own sequence is created with its table: not a blocker.
    assert!(!err.contains("parent_id_seq"), "{}", shown(&out));

    dst.sql("CREATE TYPE level AS ENUM ('low', 'high'); CREATE SEQUENCE ticket_seq");
    let out = cutover(&[
        "migrate",
        "full",
        "--overwrite",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--create-tables",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    for t in ["parent", "child"] {
        assert_eq!(dump(&dst, t), dump(&src, t), "table {t}");
    }
    let shape = |db: &ScratchDb| {
        db.sql(
            "SELECT string_agg(conname || ':' || contype::text || ':' || convalidated::text, ',' ORDER BY conname)
             FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND contype <> 'n'",
        ) + &db.sql("SELECT string_agg(indexdef, ',' ORDER BY indexname) FROM pg_indexes WHERE schemaname = 'public'")
    };
    assert_eq!(shape(&dst), shape(&src));
    // Sequences continue after the loaded data.
    assert_eq!(
        dst.sql("INSERT INTO parent (code) VALUES ('new') RETURNING id"),
        "301"
    );
    assert_eq!(
        dst.sql("INSERT INTO child (parent_id) VALUES (1) RETURNING id"),
        "1001"
    );
    assert_eq!(dst.sql("SELECT twice FROM child WHERE id = 1001"), "2");
    // The sequence no column owns moved past the loaded values too.
    assert_eq!(dst.sql("SELECT ticket FROM child WHERE id = 1001"), "1001");
    // The loaded enum arrays reconcile with the source's (their element type OIDs differ).
    dst.sql("DELETE FROM child WHERE id = 1001; DELETE FROM parent WHERE id = 301");
    reconciles(&src, &dst);
}

#[test]
fn views_and_foreign_keys_outside_the_mapping_follow_the_new_tables() {
    let src = ScratchDb::new("dep_src");
    let dst = ScratchDb::new("dep_dst");
    src.sql("CREATE TABLE parent (id int PRIMARY KEY, name text); INSERT INTO parent SELECT g, 'new' || g FROM generate_series(1, 10) g;");
    dst.sql(
        "CREATE TABLE parent (id int PRIMARY KEY, name text); INSERT INTO parent VALUES (1, 'old');
         CREATE SCHEMA app;
         CREATE TABLE app.notes (id int PRIMARY KEY, parent_id int REFERENCES public.parent(id));
         INSERT INTO app.notes VALUES (1, 1);
         CREATE VIEW app.parent_names AS SELECT name FROM public.parent;",
    );
    let mapping = temp_dir();
    let m = mapping.path().join("m.toml");
    std::fs::write(
        &m,
        "version = 1\n\n[[tables]]\nsource = \"parent\"\ncopy_unmapped = true\n",
    )
    .unwrap();
    let out = cutover(&[
        "migrate",
        "full",
        "--overwrite",
        "--source",
        &src.url(),
        "--target",
        &dst.url(),
        "--mapping",
        m.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(
        dst.sql("SELECT count(*) FROM app.parent_names"),
        "10",
        "the view reads the new table"
    );
    // The foreign key now checks the new table: id 10 exists only there, id 99 nowhere.
    dst.sql("INSERT INTO app.notes VALUES (2, 10)");
    let bad = std::process::Command::new("psql")
        .arg(dst.url())
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "INSERT INTO app.notes VALUES (3, 99)",
        ])
        .output()
        .unwrap();
    assert!(
        !bad.status.success(),
        "the foreign key is enforced against the new table"
    );
    // After a rollback they follow the restored table again.
    dst.sql("DELETE FROM app.notes WHERE id = 2");
    let run = dst.sql("SELECT run_id FROM _cutover.runs WHERE status = 'complete'");
    let out = cutover(&["rollback", "--target", &dst.url(), "--run", &run]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(
        dst.sql("SELECT string_agg(name, ',') FROM app.parent_names"),
        "old"
    );
}

#[test]
fn orphans_are_rejected_with_their_first_reference_before_any_is_set_null() {
    // `item` references three tables; its orphans reject the row (NOT NULL references) or
    // become NULL (`tag_id`, on_error = "null"). Constraints go in name order: the nulling
    // one first, to show that a row rejected is never also reported nulled.
    let src = ScratchDb::new("orph_src");
    let dst = ScratchDb::new("orph_dst");
    let tables = "CREATE TABLE owner (id int PRIMARY KEY);
                  CREATE TABLE region (id int PRIMARY KEY);
                  CREATE TABLE tag (id int PRIMARY KEY);";
    src.sql(&format!(
        "{tables}
         CREATE TABLE item (id int PRIMARY KEY, owner_id int NOT NULL, region_id int NOT NULL,
                            tag_id int);
         INSERT INTO owner VALUES (1), (2); INSERT INTO region VALUES (10), (20);
         INSERT INTO tag VALUES (100);
         INSERT INTO item VALUES (1, 1, 10, 100), (2, 9, 10, 100), (3, 1, 99, 100),
                                 (4, 9, 99, 100), (5, 2, 20, 999), (6, 2, 99, 999),
                                 (7, 2, 20, NULL);"
    ));
    dst.sql(&format!(
        "{tables}
         CREATE TABLE item (id int PRIMARY KEY, owner_id int NOT NULL, region_id int NOT NULL,
                            tag_id int,
                            CONSTRAINT a_tag FOREIGN KEY (tag_id) REFERENCES tag(id),
                            CONSTRAINT b_owner FOREIGN KEY (owner_id) REFERENCES owner(id),
                            CONSTRAINT c_region FOREIGN KEY (region_id) REFERENCES region(id));"
    ));
    let dir = temp_dir();
    let mapping = dir.path().join("m.toml");
    let mut toml = String::from("version = 1\n");
    for t in ["owner", "region", "tag", "item"] {
        toml.push_str(&format!(
            "\n[[tables]]\nsource = \"{t}\"\ncopy_unmapped = true\n"
        ));
    }
    toml.push_str("\n[tables.columns.tag_id]\nfrom = \"tag_id\"\non_error = \"null\"\n");
    std::fs::write(&mapping, toml).unwrap();
    let manifest = dir.path().join("run.json");
    migrate_mapped(&src, &dst, &mapping, &manifest);
    assert_eq!(
        dst.sql("SELECT string_agg(i::text, ';' ORDER BY id) FROM item i"),
        "(1,1,10,100);(5,2,20,);(7,2,20,)"
    );
    let no =
        |t: &str, c: &str| format!("orphan reference: no `{t}` row with (id) = the value of ({c})");
    let filed = dst.sql(
        "SELECT string_agg(key || '|' || column_name || '|' || reason || '|' || phase, E'\\n' ORDER BY key)
         FROM _cutover.rejects WHERE table_name = 'item'",
    );
    let expected = [
        format!("[\"2\"]|owner_id|{}|constraint", no("owner", "owner_id")),
        format!("[\"3\"]|region_id|{}|constraint", no("region", "region_id")),
        // Orphaned twice: the first reference in constraint order is the reason.
        format!("[\"4\"]|owner_id|{}|constraint", no("owner", "owner_id")),
        "[\"5\"]|tag_id|orphan reference set to NULL: no `tag` row matches|nulled".to_string(),
        format!("[\"6\"]|region_id|{}|constraint", no("region", "region_id")),
    ];
    assert_eq!(filed, expected.join("\n"));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let item = m["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == "public.item")
        .unwrap();
    assert_eq!(
        (
            item["loaded_rows"].as_u64(),
            item["rejected_rows"].as_u64(),
            item["nulled_values"].as_u64()
        ),
        (Some(3), Some(4), Some(1)),
        "{item}"
    );
    assert_eq!(
        dst.sql("SELECT count(*) FROM pg_constraint WHERE conrelid = 'public.item'::regclass AND contype = 'f' AND convalidated"),
        "3"
    );
    // The tables went live with planner statistics (only ANALYZE fills pg_statistic).
    assert_eq!(
        dst.sql(
            "SELECT string_agg(tablename || ':' || n, ',' ORDER BY tablename) FROM (
                   SELECT tablename, count(*) n FROM pg_stats WHERE schemaname = 'public'
                   GROUP BY tablename) s"
        ),
        "item:4,owner:1,region:1,tag:1"
    );
}
