//! Objects outside a swap that depend on the swapped tables: views over them and foreign keys
//! from tables the run does not replace. Moving tables between schemas keeps such objects bound
//! to the *moved* table (they follow its OID), so after a swap or a rollback they would still
//! point at the tables set aside. Their definitions are captured, schema-qualified, before the
//! move and replayed after it, inside the same transaction, so they bind to the tables now in
//! place. (A foreign key replayed this way is validated: an orphan fails the whole swap.)
use cutover_postgres::PgError;
use tokio_postgres::GenericClient;

use crate::error::Result;

/// The statements that re-point the dependents after the move.
#[derive(Clone, Debug, Default)]
pub struct Dependents {
    pub statements: Vec<String>,
    /// Dependents that cannot be re-pointed (materialized views), for a warning.
    pub left: Vec<String>,
}

/// Captures the dependents of `tables` (`(schema, name)`), excluding those among the tables.
pub async fn capture<C: GenericClient>(tx: &C, tables: &[(String, String)]) -> Result<Dependents> {
    let schemas: Vec<&str> = tables.iter().map(|(s, _)| s.as_str()).collect();
    let names: Vec<&str> = tables.iter().map(|(_, n)| n.as_str()).collect();
    let err = |e| {
        PgError::db(
            "cannot read the views and foreign keys that depend on the swapped tables",
            e,
        )
    };
    let saved = empty_search_path(tx).await.map_err(err)?;
    let rels = "SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                JOIN unnest($1::text[], $2::text[]) AS t(s, r) ON t.s = n.nspname AND t.r = c.relname";
    let views = tx
        .query(
            &format!(
                "SELECT DISTINCT v.oid::int8, pg_catalog.quote_ident(vn.nspname) || '.' || pg_catalog.quote_ident(v.relname),
                        v.relkind::text, pg_catalog.pg_get_viewdef(v.oid)
                 FROM pg_catalog.pg_depend d
                 JOIN pg_catalog.pg_rewrite rw ON rw.oid = d.objid AND d.classid = 'pg_catalog.pg_rewrite'::regclass
                 JOIN pg_catalog.pg_class v ON v.oid = rw.ev_class
                 JOIN pg_catalog.pg_namespace vn ON vn.oid = v.relnamespace
                 WHERE d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid IN ({rels})
                   AND v.oid NOT IN ({rels})
                 ORDER BY 1"
            ),
            &[&schemas, &names],
        )
        .await
        .map_err(err)?;
    let fks = tx
        .query(
            &format!(
                "SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),
                        pg_catalog.quote_ident(con.conname), pg_catalog.pg_get_constraintdef(con.oid)
                 FROM pg_catalog.pg_constraint con
                 JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                 WHERE con.contype = 'f' AND con.confrelid IN ({rels}) AND con.conrelid NOT IN ({rels})
                 ORDER BY 1, 2"
            ),
            &[&schemas, &names],
        )
        .await
        .map_err(err)?;
    set_search_path(tx, &saved).await.map_err(err)?;
    let mut out = Dependents::default();
    for v in &views {
        let name: String = v.get(1);
        let kind: String = v.get(2);
        let def: String = v.get(3);
        if kind == "v" {
            out.statements.push(format!(
                "CREATE OR REPLACE VIEW {name} AS {}",
                def.trim_end().trim_end_matches(';')
            ));
        } else {
            out.left.push(format!("materialized view {name}"));
        }
    }
    for f in &fks {
        let (table, name, def): (String, String, String) = (f.get(0), f.get(1), f.get(2));
        out.statements
            .push(format!("ALTER TABLE {table} DROP CONSTRAINT {name}"));
        out.statements
            .push(format!("ALTER TABLE {table} ADD CONSTRAINT {name} {def}"));
    }
    Ok(out)
}

/// Empties the transaction's `search_path`, so that definitions and expressions come out
/// schema-qualified; returns the one to put back with [`set_search_path`].
pub(crate) async fn empty_search_path<C: GenericClient>(
    tx: &C,
) -> std::result::Result<String, tokio_postgres::Error> {
    let saved: String = tx
        .query_one("SELECT current_setting('search_path')", &[])
        .await?
        .get(0);
    set_search_path(tx, "").await?;
    Ok(saved)
}

/// Sets the transaction's `search_path`.
pub(crate) async fn set_search_path<C: GenericClient>(
    tx: &C,
    path: &str,
) -> std::result::Result<(), tokio_postgres::Error> {
    tx.execute("SELECT set_config('search_path', $1, true)", &[&path])
        .await
        .map(|_| ())
}

/// Replays the captured statements (after the move, in the same transaction).
pub async fn apply<C: GenericClient>(tx: &C, deps: &Dependents) -> Result<()> {
    for s in &deps.statements {
        tx.batch_execute(s)
            .await
            .map_err(|e| PgError::db(format!("cannot re-point a dependent object (`{s}`)"), e))?;
    }
    Ok(())
}
