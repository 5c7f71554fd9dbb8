//! The rollback drill of a cutover runbook: a failed run leaves the target unchanged, a good run
//! replaces it, `cutover rollback` restores the earlier contents exactly (byte for byte, with
//! indexes, constraints and serial sequences), and `cutover finalize` drops what rollback needs.
mod common;
mod scratch_role;

use common::*;

const DDL: &str = "
CREATE TABLE parent (id serial PRIMARY KEY, name text NOT NULL CHECK (name <> ''));
CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent(id), note text,
                    UNIQUE (note));
CREATE INDEX child_parent ON child(parent_id);";

const TABLES: [&str; 2] = ["parent", "child"];

/// Binary COPY of every table, in key order.
fn dumps(db: &ScratchDb) -> Vec<Vec<u8>> {
    TABLES
        .iter()
        .map(|t| db.copy_binary(&format!("SELECT * FROM public.{t} ORDER BY id")))
        .collect()
}

/// Indexes, constraints (with their validity) and serial sequences of the public tables.
fn schema_shape(db: &ScratchDb) -> String {
    db.sql(
        "SELECT string_agg(x, E'\\n' ORDER BY x) FROM (
           SELECT 'index ' || tablename || ' ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
           UNION ALL
           SELECT 'valid index ' || c.relname || ' ' || (i.indisvalid AND i.indisready)
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
           WHERE c.relnamespace = 'public'::regnamespace
           UNION ALL
           SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' ||
                  pg_get_constraintdef(oid) || ' validated=' || convalidated
           FROM pg_constraint WHERE connamespace = 'public'::regnamespace
           UNION ALL
           SELECT 'sequence ' || coalesce(pg_get_serial_sequence('public.parent', 'id'), 'none')
         ) s(x)",
    )
}

fn run_id(manifest: &std::path::Path) -> String {
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(manifest).unwrap()).unwrap();
    m["run_id"].as_str().unwrap().to_string()
}

fn migrate(src: &ScratchDb, dst: &ScratchDb, manifest: &std::path::Path) -> String {
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
    run_id(manifest)
}

fn rollback(dst: &ScratchDb, run: &str) -> std::process::Output {
    cutover(&["rollback", "--target", &dst.url(), "--run", run])
}

fn finalize(dst: &ScratchDb, run: &str) -> std::process::Output {
    cutover(&["finalize", "--target", &dst.url(), "--run", run])
}

fn schemas(dst: &ScratchDb) -> String {
    dst.sql("SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace WHERE nspname LIKE '\\_cutover%'")
}

fn status(dst: &ScratchDb, run: &str) -> String {
    dst.sql(&format!(
        "SELECT status FROM _cutover.runs WHERE run_id = '{run}'"
    ))
}

fn refused(out: &std::process::Output, words: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", shown(out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: ") && err.contains(words),
        "expected `{words}`: {}",
        shown(out)
    );
}

#[test]
fn rollback_drill_restores_the_earlier_target_exactly() {
    let src = ScratchDb::new("rb_src");
    let dst = ScratchDb::new("rb_dst");
    src.sql(DDL);
    dst.sql(DDL);
    src.sql(
        "INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 500) g;
             SELECT setval('parent_id_seq', 500);
             INSERT INTO child SELECT g, 1 + g % 500, 'c' || g FROM generate_series(1, 3000) g;",
    );
    dst.sql(
        "INSERT INTO parent (name) VALUES ('old one'), ('old two');
             INSERT INTO child VALUES (7, 1, 'old child'), (8, 2, NULL), (9, NULL, 'orphan-free');",
    );
    let before = dumps(&dst);
    let shape = schema_shape(&dst);
    let dir = temp_dir();
    let manifest = dir.path().join("run.json");

    // 1. The drill: a run failing after `parent` leaves the target as it was.
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
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert_eq!(dumps(&dst), before);
    assert_eq!(schema_shape(&dst), shape);
    let failed = dst.sql("SELECT run_id FROM _cutover.runs WHERE status = 'failed'");
    refused(&rollback(&dst, &failed), "failed before its swap");
    refused(&finalize(&dst, &failed), "failed before its swap");

    // 2. A real run replaces the contents.
    let run1 = migrate(&src, &dst, &manifest);
    assert_eq!(dumps(&dst), dumps(&src));
    assert_eq!(schemas(&dst), format!("_cutover,_cutover_prev_{run1}"));

    // 3. Rollback restores the earlier contents, byte for byte, with every index and constraint
    //    back and valid, and the serial sequence owned by the restored column again.
    let out = rollback(&dst, &run1);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("restored")
            && said.contains("public.parent")
            && said.contains("public.child"),
        "{said}"
    );
    assert_eq!(dumps(&dst), before);
    assert_eq!(schema_shape(&dst), shape);
    assert_eq!(status(&dst, &run1), "rolled back");
    assert_eq!(
        schemas(&dst),
        format!("_cutover,_cutover_rolledback_{run1}")
    );
    // The sequence never goes backwards: ids handed out by the run are not handed out again.
    assert_eq!(dst.sql("SELECT last_value FROM parent_id_seq"), "500");
    refused(&rollback(&dst, &run1), "already rolled back");
    refused(&rollback(&dst, "no-such-run"), "unknown run");

    // 4. Two runs in a row: the earlier one cannot be rolled back before the later one.
    let run2 = migrate(&src, &dst, &manifest);
    let run3 = migrate(&src, &dst, &manifest);
    refused(
        &rollback(&dst, &run2),
        &format!("run `{run3}` replaced the same tables"),
    );
    assert_eq!(dumps(&dst), dumps(&src));
    let out = rollback(&dst, &run3);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let out = rollback(&dst, &run2);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(dumps(&dst), before);
    assert_eq!(schema_shape(&dst), shape);
    dst.sql("INSERT INTO parent (name) VALUES ('after rollback')"); // the sequence is usable

    // 5. Finalize after a new run drops the previous contents; rollback is then refused.
    let run4 = migrate(&src, &dst, &manifest);
    let out = finalize(&dst, &run4);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("_cutover_prev_{run4}")),
        "{}",
        shown(&out)
    );
    assert_eq!(status(&dst, &run4), "finalized");
    refused(&rollback(&dst, &run4), "finalized");
    refused(&finalize(&dst, &run4), "already finalized");
    assert_eq!(dumps(&dst), dumps(&src));
    assert_eq!(schema_shape(&dst), shape);
    // Finalizing the rolled-back runs drops their tables; the target is untouched.
    for run in [&run1, &run2, &run3] {
        let out = finalize(&dst, run);
        assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
        assert_eq!(status(&dst, run), "rolled back");
    }
    assert_eq!(schemas(&dst), "_cutover");
    assert_eq!(dumps(&dst), dumps(&src));
}

#[test]
fn finalize_refuses_while_a_view_still_reads_the_previous_tables() {
    let src = ScratchDb::new("rbv_src");
    let dst = ScratchDb::new("rbv_dst");
    src.sql(DDL);
    dst.sql(DDL);
    src.sql("INSERT INTO parent VALUES (1, 'new')");
    dst.sql("INSERT INTO parent VALUES (1, 'old'); CREATE VIEW parent_names AS SELECT name FROM parent;");
    let dir = temp_dir();
    let run = migrate(&src, &dst, &dir.path().join("run.json"));
    // The swap re-points the view to the new table.
    assert_eq!(dst.sql("SELECT name FROM parent_names"), "new");
    // Someone builds a view on the contents kept aside: dropping them would drop it too.
    dst.sql(&format!(
        "CREATE VIEW old_parent_names AS SELECT name FROM _cutover_prev_{run}.parent"
    ));
    refused(&finalize(&dst, &run), "view old_parent_names");
    assert_eq!(status(&dst, &run), "complete");
    // Rollback brings the earlier table back, and the re-pointed view with it.
    let out = rollback(&dst, &run);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(dst.sql("SELECT name FROM parent"), "old");
    assert_eq!(dst.sql("SELECT name FROM parent_names"), "old");
    let out = finalize(&dst, &run);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(dst.sql("SELECT name FROM parent_names"), "old");
}

#[test]
fn rollback_moves_aside_a_table_the_run_created() {
    let src = ScratchDb::new("rbc_src");
    let dst = ScratchDb::new("rbc_dst");
    src.sql(DDL);
    dst.sql(DDL);
    src.sql("CREATE TABLE extra (id serial PRIMARY KEY, v text); INSERT INTO extra (v) VALUES ('a'), ('b');");
    // The earlier ids run higher than the source's: the swap sets the sequence back to the new
    // rows, and the rollback must move it forward again.
    dst.sql("INSERT INTO parent VALUES (1000, 'old'); SELECT setval('parent_id_seq', 1000);");
    let before = dumps(&dst);
    let relations = |db: &ScratchDb| {
        db.sql("SELECT string_agg(relname || ':' || relkind::text, ',' ORDER BY relname) FROM pg_class WHERE relnamespace = 'public'::regnamespace")
    };
    let shape = relations(&dst);
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
        "--create-tables",
        "--manifest",
        manifest.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(
        dst.sql("SELECT string_agg(v, ',' ORDER BY id) FROM extra"),
        "a,b"
    );
    let run = run_id(&manifest);
    let out = rollback(&dst, &run);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("public.extra") && said.contains("removed"),
        "{said}"
    );
    assert_eq!(dumps(&dst), before);
    assert_eq!(
        relations(&dst),
        shape,
        "the created table and its sequence are gone"
    );
    let out = finalize(&dst, &run);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(schemas(&dst), "_cutover");
}

#[test]
fn rollback_clears_the_delta_sync_watermarks_the_run_recorded() {
    let src = ScratchDb::new("rbw_src");
    let dst = ScratchDb::new("rbw_dst");
    let ddl = "CREATE TABLE events (id int PRIMARY KEY, updated_at timestamptz NOT NULL)";
    src.sql(ddl);
    dst.sql(ddl);
    src.sql("INSERT INTO events SELECT g, now() FROM generate_series(1, 10) g");
    let dir = temp_dir();
    let mapping = dir.path().join("cursor.toml");
    std::fs::write(
        &mapping,
        "version = 1\n\n[[tables]]\nsource = \"events\"\ncursor = \"updated_at\"\ncopy_unmapped = true\n",
    )
    .unwrap();
    let manifest = dir.path().join("run.json");
    let with_cursor = |manifest: &std::path::Path| {
        let out = cutover(&[
            "migrate",
            "full",
            "--overwrite",
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
        run_id(manifest)
    };
    let marks = || {
        dst.sql("SELECT coalesce(string_agg(table_name || ':' || run_id, ','), '') FROM _cutover.watermarks")
    };
    // run1 records the watermark; run2 (identity mapping, no cursor) leaves it as it is.
    let run1 = with_cursor(&manifest);
    assert_eq!(marks(), format!("events:{run1}"));
    let run2 = migrate(&src, &dst, &manifest);
    assert_eq!(marks(), format!("events:{run1}"));
    // Rolling run2 back restores run1's contents, which run1's watermark still describes.
    let out = rollback(&dst, &run2);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(marks(), format!("events:{run1}"));
    // Rolling run1 back removes the contents its watermark described, and the watermark.
    let out = rollback(&dst, &run1);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("watermark"),
        "{}",
        shown(&out)
    );
    assert_eq!(marks(), "");
    assert_eq!(dst.sql("SELECT count(*) FROM events"), "0");
}

/// Regression: finalize marked the run `finalized`, and reconcile, which looked for the last
/// `complete` full load, lost its ledger of load-time rejects and reported them as missing.
#[test]
fn reconcile_after_finalize_still_counts_the_load_rejects() {
    let src = ScratchDb::new("rbr_src");
    let dst = ScratchDb::new("rbr_dst");
    src.sql("CREATE TABLE parent (id int PRIMARY KEY); CREATE TABLE child (id int PRIMARY KEY, parent_id int);
             INSERT INTO parent VALUES (1); INSERT INTO child VALUES (1, 1), (2, 99);");
    dst.sql(
        "CREATE TABLE parent (id int PRIMARY KEY);
             CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent(id));",
    );
    let dir = temp_dir();
    let run = migrate(&src, &dst, &dir.path().join("run.json"));
    let report = dir.path().join("report.csv");
    let reconcile = || {
        cutover(&[
            "reconcile",
            "--source",
            &src.url(),
            "--target",
            &dst.url(),
            "--output",
            report.to_str().unwrap(),
            "--quiet",
        ])
    };
    let out = reconcile();
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let out = finalize(&dst, &run);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let out = reconcile();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        shown(&out),
        std::fs::read_to_string(&report).unwrap_or_default()
    );
}

/// Everything a table carries besides its columns and data that a swap must not lose: owner,
/// privileges, row-level security and policies, storage parameters, replica identity, column
/// statistics settings, extended statistics, publications, comments.
fn attributes(db: &ScratchDb) -> String {
    db.sql(
        "SELECT concat_ws(E'\\n',
           (SELECT relacl::text || ' owner ' || pg_get_userbyid(relowner) || ' ' || coalesce(reloptions::text, '')
                   || ' rls ' || relrowsecurity || relforcerowsecurity || ' identity ' || relreplident::text
            FROM pg_class WHERE oid = 'public.u'::regclass),
           (SELECT string_agg(attname || ' ' || attstattarget || ' ' || coalesce(attacl::text, '') || ' '
                   || coalesce(array_to_string(ARRAY(SELECT o FROM unnest(attoptions) o WHERE o LIKE 'n_distinct%'), ','), ''),
                   '; ' ORDER BY attnum)
            FROM pg_attribute WHERE attrelid = 'public.u'::regclass AND attnum > 0 AND NOT attisdropped),
           (SELECT string_agg(polname || ' ' || polpermissive || polcmd::text || ' ' || polroles::regrole[]::text || ' '
                   || coalesce(pg_get_expr(polqual, polrelid), '') || ' ' || coalesce(pg_get_expr(polwithcheck, polrelid), ''),
                   '; ' ORDER BY polname)
            FROM pg_policy WHERE polrelid = 'public.u'::regclass),
           (SELECT string_agg(stxnamespace::regnamespace || '.' || stxname || ' ' || pg_get_statisticsobjdef(oid), '; ')
            FROM pg_statistic_ext WHERE stxrelid = 'public.u'::regclass),
           (SELECT string_agg(p.pubname, '; ') FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid
            WHERE r.prrelid = 'public.u'::regclass),
           'table comment ' || obj_description('public.u'::regclass, 'pg_class'),
           (SELECT string_agg(tgname || ' ' || tgenabled::text, '; ' ORDER BY tgname) FROM pg_trigger
            WHERE tgrelid = 'public.u'::regclass AND NOT tgisinternal),
           (SELECT string_agg('clustered on ' || ic.relname, '; ') FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
            WHERE i.indrelid = 'public.u'::regclass AND i.indisclustered),
           (SELECT string_agg(ic.relname || ' ' || coalesce(obj_description(ic.oid, 'pg_class'), '-'), '; ' ORDER BY ic.relname)
            FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = 'public.u'::regclass),
           (SELECT string_agg(conname || ' ' || coalesce(obj_description(oid, 'pg_constraint'), '-'), '; ' ORDER BY conname)
            FROM pg_constraint WHERE conrelid = 'public.u'::regclass))",
    )
}

#[test]
fn a_swap_keeps_the_tables_privileges_security_and_settings_and_rollback_too() {
    let owner = scratch_role::ScratchRole::new("att_own", None, "");
    let reader = scratch_role::ScratchRole::new("att_read", None, "");
    let src = ScratchDb::new("att_src");
    let dst = ScratchDb::new("att_dst");
    let ddl =
        "CREATE TABLE u (id int PRIMARY KEY, email text NOT NULL CONSTRAINT u_email_key UNIQUE,
                               score int CHECK (score >= 0));
               CREATE INDEX u_score ON u (score);";
    src.sql(ddl);
    dst.sql(ddl);
    src.sql("INSERT INTO u SELECT g, 'u' || g || '@x', g FROM generate_series(1, 100) g");
    dst.sql(&format!(
        "INSERT INTO u VALUES (1, 'old@x', 0);
         ALTER TABLE u OWNER TO {o};
         GRANT SELECT, INSERT, UPDATE ON u TO {r} WITH GRANT OPTION;
         GRANT SELECT ON u TO PUBLIC;
         GRANT UPDATE (score) ON u TO {r};
         ALTER TABLE u SET (fillfactor = 90, autovacuum_enabled = false);
         ALTER TABLE u ENABLE ROW LEVEL SECURITY;
         ALTER TABLE u FORCE ROW LEVEL SECURITY;
         CREATE POLICY own_rows ON u AS RESTRICTIVE FOR SELECT TO {r} USING (lower(email) <> 'hidden@x');
         CREATE POLICY new_rows ON u FOR INSERT WITH CHECK (score > 0);
         ALTER TABLE u REPLICA IDENTITY USING INDEX u_email_key;
         CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
         CREATE TRIGGER u_audit BEFORE UPDATE ON u FOR EACH ROW EXECUTE FUNCTION touch();
         CREATE TRIGGER u_touch BEFORE INSERT ON u FOR EACH ROW EXECUTE FUNCTION touch();
         ALTER TABLE u DISABLE TRIGGER u_audit;
         ALTER TABLE u CLUSTER ON u_score;
         ALTER TABLE u ALTER COLUMN email SET STATISTICS 500;
         ALTER TABLE u ALTER COLUMN id SET (n_distinct = -1);
         CREATE STATISTICS u_stats ON id, score FROM u;
         SET client_min_messages = error;
         CREATE PUBLICATION u_pub FOR TABLE u;
         COMMENT ON TABLE u IS 'accounts';
         COMMENT ON INDEX u_score IS 'by score';
         COMMENT ON CONSTRAINT u_email_key ON u IS 'one account per address';
         COMMENT ON CONSTRAINT u_score_check ON u IS 'no negative scores';",
        o = owner.name,
        r = reader.name
    ));
    let before = attributes(&dst);
    assert!(
        before.contains("u_stats") && before.contains("own_rows"),
        "{before}"
    );
    let dir = temp_dir();
    let run = migrate(&src, &dst, &dir.path().join("run.json"));
    assert_eq!(
        dst.sql("SELECT count(*) FROM u"),
        "100",
        "the run's table is in place"
    );
    assert_eq!(attributes(&dst), before, "after the swap");
    let out = rollback(&dst, &run);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(
        dst.sql("SELECT count(*) FROM u"),
        "1",
        "the earlier table is back"
    );
    assert_eq!(attributes(&dst), before, "after the rollback");
}

fn persistence(db: &ScratchDb) -> String {
    db.sql(
        "SELECT string_agg(relname || ' ' || relpersistence::text, ', ' ORDER BY relname)
         FROM pg_class WHERE relnamespace = 'public'::regnamespace",
    )
}

#[test]
fn unlogged_tables_stay_unlogged_through_the_swap_and_the_rollback() {
    let src = ScratchDb::new("unl_src");
    let dst = ScratchDb::new("unl_dst");
    src.sql(
        "CREATE TABLE sessions (id int PRIMARY KEY, token text);
         CREATE TABLE hits (id int PRIMARY KEY, session_id int REFERENCES sessions(id));
         INSERT INTO sessions SELECT g, 't' || g FROM generate_series(1, 100) g;
         INSERT INTO hits SELECT g, g FROM generate_series(1, 50) g;",
    );
    // The referencing table too: a logged table may not reference an unlogged one.
    dst.sql(
        "CREATE UNLOGGED TABLE sessions (id int PRIMARY KEY, token text);
         CREATE UNLOGGED TABLE hits (id int PRIMARY KEY, session_id int REFERENCES sessions(id));
         CREATE INDEX hits_session ON hits (session_id);
         INSERT INTO sessions VALUES (1000, 'old');",
    );
    let before = persistence(&dst);
    assert_eq!(
        before,
        "hits u, hits_pkey u, hits_session u, sessions u, sessions_pkey u"
    );
    let dir = temp_dir();
    let run = migrate(&src, &dst, &dir.path().join("run.json"));
    assert_eq!(dst.sql("SELECT count(*) FROM sessions"), "100");
    assert_eq!(dst.sql("SELECT count(*) FROM hits"), "50");
    assert_eq!(persistence(&dst), before, "after the swap");
    let out = rollback(&dst, &run);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(dst.sql("SELECT token FROM sessions"), "old");
    assert_eq!(persistence(&dst), before, "after the rollback");
}

#[test]
fn a_migrating_role_that_cannot_give_the_table_to_its_owner_keeps_it_and_says_so() {
    // Least privilege: the tables belong to `owner`, which may not create in the schema; the
    // migration runs as `migrator`, a member of `owner` allowed to create there.
    let owner = scratch_role::ScratchRole::new("own_nocreate", None, "");
    let migrator = scratch_role::ScratchRole::new("migrator", None, "");
    let src = ScratchDb::new("own_src");
    let dst = ScratchDb::new("own_dst");
    let ddl = "CREATE TABLE u (id int PRIMARY KEY, email text)";
    src.sql(ddl);
    dst.sql(ddl);
    src.sql("INSERT INTO u SELECT g, 'u' || g FROM generate_series(1, 10) g");
    dst.sql(&format!(
        "GRANT {o} TO {m};
         GRANT CREATE ON DATABASE {db} TO {m};
         GRANT USAGE, CREATE ON SCHEMA public TO {m};
         ALTER TABLE u OWNER TO {o};
         GRANT SELECT ON u TO PUBLIC;",
        o = owner.name,
        m = migrator.name,
        db = dst.name
    ));
    let out = cutover(&[
        "migrate",
        "full",
        "--overwrite",
        "--source",
        &src.url(),
        "--target",
        &migrator.url(&dst.name, false),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert!(
        shown(&out).contains(&format!(
            "{} lacks CREATE on the schema, so the new table stays owned by {}",
            owner.name, migrator.name
        )),
        "{}",
        shown(&out)
    );
    assert_eq!(dst.sql("SELECT count(*) FROM u"), "10");
    assert_eq!(
        dst.sql("SELECT has_table_privilege('public', 'public.u', 'SELECT')"),
        "t",
        "the privileges came over"
    );
    assert_eq!(
        dst.sql("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'public.u'::regclass"),
        migrator.name
    );
}
