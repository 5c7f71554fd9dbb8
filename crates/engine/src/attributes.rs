//! What a table carries besides its columns, indexes, constraints and triggers: owner,
//! privileges (table and column), row-level security and its policies, storage parameters,
//! replica identity, disabled triggers, the CLUSTER index, per-column statistics settings,
//! extended statistics, publications and comments. A swap puts a new table in place of the old one, and all of these stay with the old
//! table's OID: without them the application's role finds "permission denied" after the flip,
//! and row-level security is off. They are read from each replaced table before the move and
//! replayed on the new table after it, inside the swap's transaction.
use cutover_core::catalog::{quote_ident, quote_literal};
use cutover_postgres::PgError;
use tokio_postgres::GenericClient;

use crate::error::Result;

/// The statements that give the new tables their predecessors' attributes.
#[derive(Clone, Debug, Default)]
pub struct Attributes {
    pub statements: Vec<String>,
    /// What is not carried over (filtered publication members), for a warning.
    pub left: Vec<String>,
}

/// A role as SQL names it in GRANT and CREATE POLICY (`0` is PUBLIC).
const GRANTEE: &str = "CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END";

/// Reads the attributes of `tables` (`(schema, name, staged)`: each is about to be replaced by
/// the staged table, qualified name `staged`, whose indexes and constraints have the old ones'
/// names); `prev` is the schema the old tables move to.
pub async fn capture<C: GenericClient>(
    tx: &C,
    tables: &[(String, String, String)],
    prev: &str,
) -> Result<Attributes> {
    let err = |e| {
        PgError::db(
            "cannot read the privileges and settings of the swapped tables",
            e,
        )
    };
    // Expressions (policies) and definitions (statistics) come out schema-qualified.
    let saved = crate::dependents::empty_search_path(tx)
        .await
        .map_err(err)?;
    let user: String = tx
        .query_one("SELECT current_user::text", &[])
        .await
        .map_err(err)?
        .get(0);
    let mut out = Attributes::default();
    for (schema, name, staged) in tables {
        let t = format!("{}.{}", quote_ident(schema), quote_ident(name));
        let Some(rel) = tx
            .query_opt(
                "SELECT c.oid, pg_catalog.pg_get_userbyid(c.relowner) <> current_user
                          AND ((SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)
                               OR pg_catalog.has_schema_privilege(c.relowner, c.relnamespace, 'CREATE')),
                        pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(c.relowner)),
                        c.reloptions, c.relrowsecurity, c.relforcerowsecurity, c.relreplident::text,
                        (SELECT pg_catalog.quote_ident(ic.relname) FROM pg_catalog.pg_index i
                         JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
                         WHERE i.indrelid = c.oid AND i.indisreplident
                           AND ic.relname IN (SELECT sc.relname FROM pg_catalog.pg_index si
                                              JOIN pg_catalog.pg_class sc ON sc.oid = si.indexrelid
                                              WHERE si.indrelid = $3::text::regclass))
                 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = $1 AND c.relname = $2",
                &[schema, name, staged],
            )
            .await
            .map_err(err)?
        else {
            continue;
        };
        let oid: u32 = rel.get(0);
        let s = &mut out.statements;
        // Privileges, in the old list's order, granted by the new table's owner (this session),
        // then the owner itself: changing owner hands the grants over as the old owner's.
        let grants = tx
            .query(
                &format!(
                    "SELECT {GRANTEE}, a.privilege_type, a.is_grantable
                     FROM pg_catalog.pg_class c, LATERAL pg_catalog.aclexplode(c.relacl) a
                     WHERE c.oid = $1 AND a.grantee <> c.relowner"
                ),
                &[&oid],
            )
            .await
            .map_err(err)?;
        for g in &grants {
            s.push(grant(
                &g.get::<_, String>(1),
                &t,
                &g.get::<_, String>(0),
                g.get(2),
            ));
        }
        let column_grants = tx
            .query(
                &format!(
                    "SELECT pg_catalog.quote_ident(att.attname), {GRANTEE}, a.privilege_type, a.is_grantable
                     FROM pg_catalog.pg_attribute att, LATERAL pg_catalog.aclexplode(att.attacl) a
                     WHERE att.attrelid = $1 AND att.attnum > 0 AND NOT att.attisdropped
                     ORDER BY 1, 2, 3"
                ),
                &[&oid],
            )
            .await
            .map_err(err)?;
        for g in &column_grants {
            let privilege = format!("{} ({})", g.get::<_, String>(2), g.get::<_, String>(0));
            s.push(grant(&privilege, &t, &g.get::<_, String>(1), g.get(3)));
        }
        let owner: String = rel.get(2);
        if rel.get::<_, bool>(1) {
            s.push(format!("ALTER TABLE {t} OWNER TO {owner}"));
        } else if owner != quote_ident(&user) {
            // Only a superuser may give a table to a role without CREATE on its schema.
            out.left.push(format!(
                "owner of {t}: {owner} lacks CREATE on the schema, so the new table stays owned by \
                 {user} (the privileges are carried over)"
            ));
        }
        if let Some(options) = rel.get::<_, Option<Vec<String>>>(3) {
            s.push(format!("ALTER TABLE {t} SET ({})", options.join(", ")));
        }
        if rel.get::<_, bool>(4) {
            s.push(format!("ALTER TABLE {t} ENABLE ROW LEVEL SECURITY"));
        }
        if rel.get::<_, bool>(5) {
            s.push(format!("ALTER TABLE {t} FORCE ROW LEVEL SECURITY"));
        }
        let policies = tx
            .query(
                "SELECT pg_catalog.quote_ident(p.polname), p.polpermissive, p.polcmd::text,
                        (SELECT string_agg(CASE WHEN r = 0 THEN 'PUBLIC'
                                ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r)) END, ', ')
                         FROM unnest(p.polroles) r),
                        pg_catalog.pg_get_expr(p.polqual, p.polrelid),
                        pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)
                 FROM pg_catalog.pg_policy p WHERE p.polrelid = $1 ORDER BY 1",
                &[&oid],
            )
            .await
            .map_err(err)?;
        for p in &policies {
            let command = match p.get::<_, String>(2).as_str() {
                "r" => "SELECT",
                "a" => "INSERT",
                "w" => "UPDATE",
                "d" => "DELETE",
                _ => "ALL",
            };
            let mut sql = format!(
                "CREATE POLICY {} ON {t} AS {} FOR {command} TO {}",
                p.get::<_, String>(0),
                if p.get::<_, bool>(1) {
                    "PERMISSIVE"
                } else {
                    "RESTRICTIVE"
                },
                p.get::<_, Option<String>>(3)
                    .unwrap_or_else(|| "PUBLIC".into())
            );
            if let Some(using) = p.get::<_, Option<String>>(4) {
                sql.push_str(&format!(" USING ({using})"));
            }
            if let Some(check) = p.get::<_, Option<String>>(5) {
                sql.push_str(&format!(" WITH CHECK ({check})"));
            }
            s.push(sql);
        }
        match (
            rel.get::<_, String>(6).as_str(),
            rel.get::<_, Option<String>>(7),
        ) {
            ("f", _) => s.push(format!("ALTER TABLE {t} REPLICA IDENTITY FULL")),
            ("n", _) => s.push(format!("ALTER TABLE {t} REPLICA IDENTITY NOTHING")),
            ("i", Some(index)) => s.push(format!(
                "ALTER TABLE {t} REPLICA IDENTITY USING INDEX {index}"
            )),
            _ => {}
        }
        // Triggers are recreated enabled: those disabled (or set to fire only on replicas, or
        // always) get that state back. And the index CLUSTER uses.
        let states = tx
            .query(
                "SELECT 'ALTER TABLE ' || $2 || CASE t.tgenabled WHEN 'D' THEN ' DISABLE'
                        WHEN 'R' THEN ' ENABLE REPLICA' ELSE ' ENABLE ALWAYS' END
                        || ' TRIGGER ' || pg_catalog.quote_ident(t.tgname)
                 FROM pg_catalog.pg_trigger t
                 WHERE t.tgrelid = $1 AND NOT t.tgisinternal AND t.tgenabled <> 'O'
                 UNION ALL
                 SELECT 'ALTER TABLE ' || $2 || ' CLUSTER ON ' || pg_catalog.quote_ident(ic.relname)
                 FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
                 WHERE i.indrelid = $1 AND i.indisclustered
                   AND ic.relname IN (SELECT sc.relname FROM pg_catalog.pg_index si
                                      JOIN pg_catalog.pg_class sc ON sc.oid = si.indexrelid
                                      WHERE si.indrelid = $3::text::regclass)",
                &[&oid, &t, staged],
            )
            .await
            .map_err(err)?;
        s.extend(states.iter().map(|r| r.get::<_, String>(0)));
        let columns = tx
            .query(
                "SELECT pg_catalog.quote_ident(attname), coalesce(attstattarget::int4, -1), attoptions
                 FROM pg_catalog.pg_attribute
                 WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped
                   AND (attstattarget >= 0 OR attoptions IS NOT NULL)
                 ORDER BY attnum",
                &[&oid],
            )
            .await
            .map_err(err)?;
        for c in &columns {
            let column: String = c.get(0);
            let target: i32 = c.get(1);
            if target >= 0 {
                s.push(format!(
                    "ALTER TABLE {t} ALTER COLUMN {column} SET STATISTICS {target}"
                ));
            }
            if let Some(options) = c.get::<_, Option<Vec<String>>>(2) {
                s.push(format!(
                    "ALTER TABLE {t} ALTER COLUMN {column} SET ({})",
                    options.join(", ")
                ));
            }
        }
        // Extended statistics stay with the old table, under their names: moved aside first.
        let stats = tx
            .query(
                "SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(s.stxname),
                        pg_catalog.pg_get_statisticsobjdef(s.oid)
                 FROM pg_catalog.pg_statistic_ext s
                 JOIN pg_catalog.pg_namespace n ON n.oid = s.stxnamespace
                 WHERE s.stxrelid = $1 ORDER BY 1",
                &[&oid],
            )
            .await
            .map_err(err)?;
        for st in &stats {
            s.push(format!(
                "ALTER STATISTICS {} SET SCHEMA {}",
                st.get::<_, String>(0),
                quote_ident(prev)
            ));
            s.push(st.get(1));
        }
        let publications = tx
            .query(
                "SELECT pg_catalog.quote_ident(p.pubname),
                        -- row filters and column lists exist from PostgreSQL 15 on
                        to_jsonb(pr) ->> 'prqual' IS NULL AND to_jsonb(pr) ->> 'prattrs' IS NULL
                 FROM pg_catalog.pg_publication_rel pr
                 JOIN pg_catalog.pg_publication p ON p.oid = pr.prpubid
                 WHERE pr.prrelid = $1 ORDER BY 1",
                &[&oid],
            )
            .await
            .map_err(err)?;
        for p in &publications {
            let publication: String = p.get(0);
            if p.get::<_, bool>(1) {
                s.push(format!("ALTER PUBLICATION {publication} ADD TABLE {t}"));
            } else {
                out.left.push(format!(
                    "{t} in publication {publication} (with a row filter or column list)"
                ));
            }
        }
        // Comments of the table, and of its indexes and constraints that the new table has.
        let comments = tx
            .query(
                "SELECT 'TABLE ' || $2, pg_catalog.obj_description($1, 'pg_class')
                 UNION ALL
                 SELECT 'INDEX ' || $3 || '.' || pg_catalog.quote_ident(ic.relname),
                        pg_catalog.obj_description(ic.oid, 'pg_class')
                 FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
                 WHERE i.indrelid = $1
                   AND ic.relname IN (SELECT sc.relname FROM pg_catalog.pg_index si
                                      JOIN pg_catalog.pg_class sc ON sc.oid = si.indexrelid
                                      WHERE si.indrelid = $4::text::regclass)
                 UNION ALL
                 SELECT 'CONSTRAINT ' || pg_catalog.quote_ident(con.conname) || ' ON ' || $2,
                        pg_catalog.obj_description(con.oid, 'pg_constraint')
                 FROM pg_catalog.pg_constraint con
                 WHERE con.conrelid = $1
                   AND con.conname IN (SELECT conname FROM pg_catalog.pg_constraint
                                       WHERE conrelid = $4::text::regclass)",
                &[&oid, &t, &quote_ident(schema), staged],
            )
            .await
            .map_err(err)?;
        for c in &comments {
            if let Some(text) = c.get::<_, Option<String>>(1) {
                s.push(format!(
                    "COMMENT ON {} IS {}",
                    c.get::<_, String>(0),
                    quote_literal(&text)
                ));
            }
        }
    }
    crate::dependents::set_search_path(tx, &saved)
        .await
        .map_err(err)?;
    Ok(out)
}

fn grant(privilege: &str, table: &str, grantee: &str, grantable: bool) -> String {
    format!(
        "GRANT {privilege} ON {table} TO {grantee}{}",
        if grantable { " WITH GRANT OPTION" } else { "" }
    )
}

/// Replays the captured statements on the new tables (after the move, in the same transaction).
pub async fn apply<C: GenericClient>(tx: &C, attributes: &Attributes) -> Result<()> {
    for s in &attributes.statements {
        tx.batch_execute(s).await.map_err(|e| {
            PgError::db(
                format!("cannot give a swapped-in table its predecessor's settings (`{s}`)"),
                e,
            )
        })?;
    }
    Ok(())
}

/// `ALTER STATISTICS … SET SCHEMA to` for the extended statistics objects on `table`
/// (qualified) that live in `from` (any schema when `None`): they do not move with their
/// table, and the swap moved the old ones aside to free their names (a rollback moves them back).
pub async fn move_statistics<C: GenericClient>(
    tx: &C,
    table: &str,
    from: Option<&str>,
    to: &str,
) -> Result<Vec<String>> {
    let rows = tx
        .query(
            "SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(s.stxname)
             FROM pg_catalog.pg_statistic_ext s
             JOIN pg_catalog.pg_namespace n ON n.oid = s.stxnamespace
             WHERE s.stxrelid = $1::text::regclass AND ($2::text IS NULL OR n.nspname = $2)
             ORDER BY 1",
            &[&table, &from],
        )
        .await
        .map_err(|e| PgError::db(format!("cannot read the extended statistics of {table}"), e))?;
    Ok(rows
        .iter()
        .map(|r| {
            format!(
                "ALTER STATISTICS {} SET SCHEMA {}",
                r.get::<_, String>(0),
                quote_ident(to)
            )
        })
        .collect())
}
