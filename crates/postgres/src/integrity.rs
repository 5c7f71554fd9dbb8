//! Catalog reads for `cutover validate`: every integrity rule PostgreSQL knows of a table —
//! unique indexes (valid or not) and the constraints they back, foreign keys and CHECK
//! constraints (validated or `NOT VALID`), domain constraints and enum labels of its columns,
//! and the sequences feeding its columns with their current position.
//!
//! Expressions are printed with an empty `search_path`, so every name in them is qualified and
//! they mean the same in any session.
use tokio_postgres::Client;

use crate::error::{PgError, Result};

mod domain;

use domain::domain_rules;
pub use domain::substitute_value;

/// A unique index, or the primary key / unique constraint it backs.
#[derive(Clone, Debug)]
pub struct UniqueDef {
    /// Constraint name, or the index name for a unique index without a constraint.
    pub name: String,
    /// `p` primary key, `u` unique constraint, `i` unique index only.
    pub kind: char,
    /// Key columns, in index order (`INCLUDE` columns left out).
    pub columns: Vec<String>,
    /// False when the index is invalid or not ready (a failed `CREATE INDEX CONCURRENTLY`):
    /// PostgreSQL does not guarantee uniqueness then.
    pub valid: bool,
    /// The predicate of a partial unique index.
    pub predicate: Option<String>,
}

/// A foreign key of the table.
#[derive(Clone, Debug)]
pub struct ForeignKeyDef {
    pub name: String,
    /// False for a constraint added `NOT VALID` and never validated.
    pub validated: bool,
    /// `MATCH FULL` (else MATCH SIMPLE: a row with any NULL column is not checked).
    pub match_full: bool,
    pub columns: Vec<String>,
    pub ref_schema: String,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
}

/// A CHECK constraint of the table.
#[derive(Clone, Debug)]
pub struct CheckDef {
    pub name: String,
    pub validated: bool,
    /// The boolean expression (`pg_get_expr`), on the table's columns.
    pub expr: String,
    /// Columns the expression reads.
    pub columns: Vec<String>,
}

/// A constraint of the domain a column is declared with (or of a domain under it).
#[derive(Clone, Debug)]
pub struct DomainRule {
    pub column: String,
    /// The domain, qualified.
    pub domain: String,
    /// Constraint name; `None` for the domain's NOT NULL.
    pub name: Option<String>,
    /// The expression on `VALUE`; `None` for the domain's NOT NULL.
    pub expr: Option<String>,
}

/// A column of an enum type (or of a domain over one).
#[derive(Clone, Debug)]
pub struct EnumColumn {
    pub column: String,
    /// The enum type, qualified.
    pub type_name: String,
    pub labels: Vec<String>,
}

/// A sequence feeding a column (identity, serial, or a `nextval` default).
#[derive(Clone, Debug)]
pub struct SequenceState {
    pub column: String,
    /// Qualified sequence name.
    pub sequence: String,
    pub last_value: i64,
    pub is_called: bool,
    pub increment: i64,
    pub min_value: i64,
    pub max_value: i64,
}

impl SequenceState {
    /// The value `nextval` returns next (`None` when the sequence is exhausted).
    pub fn next_value(&self) -> Option<i64> {
        if !self.is_called {
            return Some(self.last_value);
        }
        self.last_value
            .checked_add(self.increment)
            .filter(|n| (self.min_value..=self.max_value).contains(n))
    }
}

/// Everything validate checks of one table besides NOT NULL (which [`crate::catalog::tables`]
/// already reports per column).
#[derive(Clone, Debug, Default)]
pub struct Integrity {
    pub uniques: Vec<UniqueDef>,
    pub foreign_keys: Vec<ForeignKeyDef>,
    pub checks: Vec<CheckDef>,
    pub domains: Vec<DomainRule>,
    pub enums: Vec<EnumColumn>,
    pub sequences: Vec<SequenceState>,
}

const REL: &str = "(SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n
                    ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2)";

/// Names of `attnums` of relation `rel` (SQL expressions), in order, as a text array.
fn names(rel: &str, attnums: &str) -> String {
    format!(
        "ARRAY(SELECT a.attname::text FROM unnest({attnums}) WITH ORDINALITY k(n, o)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = {rel} AND a.attnum = k.n
               ORDER BY k.o)"
    )
}

/// Reads the integrity rules of `schema.table`. Sets the session's `search_path` to empty for
/// the duration.
pub async fn integrity(client: &Client, schema: &str, table: &str) -> Result<Integrity> {
    let ctx = |what: &str| format!("cannot read the {what} of table `{schema}.{table}`");
    let q = |sql: String, what: &'static str| async move {
        client
            .query(&sql, &[&schema, &table])
            .await
            .map_err(|e| PgError::db(ctx(what), e))
    };
    client
        .batch_execute("SET search_path = ''")
        .await
        .map_err(|e| PgError::db(ctx("definition"), e))?;
    let uniques = q(
        format!(
            "SELECT coalesce(con.conname, ic.relname)::text, coalesce(con.contype::text, 'i'),
                    {}, i.indisvalid AND i.indisready AND i.indislive,
                    pg_catalog.pg_get_expr(i.indpred, i.indrelid),
                    0 = ANY (i.indkey::int2[])
             FROM pg_catalog.pg_index i
             JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
             LEFT JOIN pg_catalog.pg_constraint con
               ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u')
             WHERE i.indrelid = {REL} AND i.indisunique
             ORDER BY coalesce(con.contype::text, 'i') <> 'p', 1",
            "ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, o)
                   JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n
                   WHERE k.o <= i.indnkeyatts ORDER BY k.o)"
        ),
        "unique indexes",
    )
    .await?;
    let fks = q(
        format!(
            "SELECT con.conname::text, con.convalidated, con.confmatchtype = 'f',
                    {}, rn.nspname::text, rc.relname::text, {}
             FROM pg_catalog.pg_constraint con
             JOIN pg_catalog.pg_class rc ON rc.oid = con.confrelid
             JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
             WHERE con.conrelid = {REL} AND con.contype = 'f' ORDER BY 1",
            names("con.conrelid", "con.conkey"),
            names("con.confrelid", "con.confkey")
        ),
        "foreign keys",
    )
    .await?;
    let checks = q(
        format!(
            "SELECT con.conname::text, con.convalidated,
                    pg_catalog.pg_get_expr(con.conbin, con.conrelid), {}
             FROM pg_catalog.pg_constraint con
             WHERE con.conrelid = {REL} AND con.contype = 'c' ORDER BY 1",
            names("con.conrelid", "con.conkey")
        ),
        "check constraints",
    )
    .await?;
    // Every domain under each column's type (domains over domains), with its constraints.
    let domains = q(
        format!(
            "WITH RECURSIVE d(attnum, attname, typid) AS (
                 SELECT a.attnum, a.attname::text, a.atttypid FROM pg_catalog.pg_attribute a
                 WHERE a.attrelid = {REL} AND a.attnum > 0 AND NOT a.attisdropped
               UNION ALL
                 SELECT d.attnum, d.attname, t.typbasetype FROM d
                 JOIN pg_catalog.pg_type t ON t.oid = d.typid WHERE t.typtype = 'd')
             SELECT d.attname, pg_catalog.format_type(t.oid, NULL), con.conname::text,
                    pg_catalog.pg_get_expr(con.conbin, 0), t.typnotnull
             FROM d JOIN pg_catalog.pg_type t ON t.oid = d.typid AND t.typtype = 'd'
             LEFT JOIN pg_catalog.pg_constraint con ON con.contypid = t.oid AND con.contype = 'c'
             ORDER BY d.attnum, 2, 3"
        ),
        "domain constraints",
    )
    .await?;
    let enums = q(
        format!(
            "WITH RECURSIVE d(attnum, attname, typid) AS (
                 SELECT a.attnum, a.attname::text, a.atttypid FROM pg_catalog.pg_attribute a
                 WHERE a.attrelid = {REL} AND a.attnum > 0 AND NOT a.attisdropped
               UNION ALL
                 SELECT d.attnum, d.attname, t.typbasetype FROM d
                 JOIN pg_catalog.pg_type t ON t.oid = d.typid WHERE t.typtype = 'd')
             SELECT d.attname, pg_catalog.format_type(t.oid, NULL),
                    ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e
                          WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder)
             FROM d JOIN pg_catalog.pg_type t ON t.oid = d.typid AND t.typtype = 'e'
             ORDER BY d.attnum"
        ),
        "enum columns",
    )
    .await?;
    // Sequences owned by a column (identity: 'i', serial / OWNED BY: 'a') or used by its default.
    let seqs = q(
        format!(
            "SELECT DISTINCT a.attname::text, s.oid::pg_catalog.regclass::text,
                    sq.seqincrement, sq.seqmin, sq.seqmax, a.attnum
             FROM pg_catalog.pg_attribute a
             JOIN pg_catalog.pg_depend dep ON dep.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
                   AND dep.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                   AND dep.refobjid = a.attrelid AND dep.refobjsubid = a.attnum AND dep.deptype IN ('i', 'a')
             JOIN pg_catalog.pg_class s ON s.oid = dep.objid AND s.relkind = 'S'
             JOIN pg_catalog.pg_sequence sq ON sq.seqrelid = s.oid
             WHERE a.attrelid = {REL} AND a.attnum > 0 AND NOT a.attisdropped
             UNION
             SELECT a.attname::text, s.oid::pg_catalog.regclass::text,
                    sq.seqincrement, sq.seqmin, sq.seqmax, a.attnum
             FROM pg_catalog.pg_attribute a
             JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
             JOIN pg_catalog.pg_depend dep ON dep.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass
                   AND dep.objid = ad.oid AND dep.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
             JOIN pg_catalog.pg_class s ON s.oid = dep.refobjid AND s.relkind = 'S'
             JOIN pg_catalog.pg_sequence sq ON sq.seqrelid = s.oid
             WHERE a.attrelid = {REL} AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY 6, 2"
        ),
        "sequences",
    )
    .await?;
    let mut sequences = Vec::new();
    for r in &seqs {
        let sequence: String = r.get(1);
        // Not transactional: the position now, whatever the snapshot.
        let pos = client
            .query_one(
                &format!("SELECT last_value, is_called FROM {sequence}"),
                &[],
            )
            .await
            .map_err(|e| PgError::db(format!("cannot read sequence {sequence}"), e))?;
        sequences.push(SequenceState {
            column: r.get(0),
            sequence,
            last_value: pos.get(0),
            is_called: pos.get(1),
            increment: r.get(2),
            min_value: r.get(3),
            max_value: r.get(4),
        });
    }
    client
        .batch_execute("RESET search_path")
        .await
        .map_err(|e| PgError::db(ctx("definition"), e))?;
    Ok(Integrity {
        uniques: uniques
            .iter()
            // Expression indexes have no columns to group by: left to PostgreSQL.
            .filter(|r| !r.get::<_, bool>(5))
            .map(|r| UniqueDef {
                name: r.get(0),
                kind: r.get::<_, String>(1).chars().next().unwrap_or('i'),
                columns: r.get(2),
                valid: r.get(3),
                predicate: r.get(4),
            })
            .collect(),
        foreign_keys: fks
            .iter()
            .map(|r| ForeignKeyDef {
                name: r.get(0),
                validated: r.get(1),
                match_full: r.get(2),
                columns: r.get(3),
                ref_schema: r.get(4),
                ref_table: r.get(5),
                ref_columns: r.get(6),
            })
            .collect(),
        checks: checks
            .iter()
            .map(|r| CheckDef {
                name: r.get(0),
                validated: r.get(1),
                expr: r.get(2),
                columns: r.get(3),
            })
            .collect(),
        domains: domain_rules(&domains),
        enums: enums
            .iter()
            .map(|r| EnumColumn {
                column: r.get(0),
                type_name: r.get(1),
                labels: r.get(2),
            })
            .collect(),
        sequences,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_value_follows_is_called_and_the_limits() {
        let s = |last, called| SequenceState {
            column: "id".into(),
            sequence: "s".into(),
            last_value: last,
            is_called: called,
            increment: 1,
            min_value: 1,
            max_value: 10,
        };
        assert_eq!(s(1, false).next_value(), Some(1));
        assert_eq!(s(1, true).next_value(), Some(2));
        assert_eq!(s(10, true).next_value(), None);
    }
}
