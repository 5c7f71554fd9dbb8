//! Catalog queries: tables with their columns and keys, and for target tables the DDL of their
//! indexes and constraints (to rebuild them on staging tables after a bulk load).
use std::collections::HashMap;

use cutover_core::catalog::{ColumnInfo, Shape, TableInfo};
use cutover_core::pgtype::PgType;
use tokio_postgres::Client;

use crate::error::{PgError, Result};

/// The tables (`relkind` r or p) of `schema`, sorted by name, with columns and primary keys.
pub async fn tables(client: &Client, schema: &str) -> Result<Vec<TableInfo>> {
    let rows = client
        .query(
            "SELECT c.oid::int8, c.relname, c.reltuples::int8, c.relpages::int8, ts.spcname::text,
                    c.relpersistence = 'u'
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             LEFT JOIN pg_catalog.pg_tablespace ts ON ts.oid = c.reltablespace
             WHERE n.nspname = $1 AND c.relkind IN ('r','p') AND NOT c.relispartition
             ORDER BY c.relname COLLATE \"C\"",
            &[&schema],
        )
        .await
        .map_err(|e| PgError::db(format!("cannot list the tables of schema `{schema}`"), e))?;
    let oids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    let mut columns = columns_of(client, &oids).await?;
    let mut keys = primary_keys_of(client, &oids).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let oid: i64 = r.get(0);
            TableInfo {
                schema: schema.to_string(),
                name: r.get(1),
                columns: columns.remove(&oid).unwrap_or_default(),
                primary_key: keys.remove(&oid).unwrap_or_default(),
                estimated_rows: r.get(2),
                pages: r.get(3),
                tablespace: r.get(4),
                unlogged: r.get(5),
            }
        })
        .collect())
}

async fn columns_of(client: &Client, oids: &[i64]) -> Result<HashMap<i64, Vec<ColumnInfo>>> {
    let rows = client
        .query(
            "SELECT a.attrelid::int8, a.attname::text,
                    a.attnotnull OR base.not_null,
                    (a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> ''),
                    a.attgenerated <> '',
                    pg_catalog.format_type(a.atttypid, a.atttypmod),
                    base.typmod,
                    bt.typname::text, bt.typtype::text, bt.typcategory::text,
                    et.typname::text, et.typtype::text,
                    ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e
                          WHERE e.enumtypid = bt.oid ORDER BY e.enumsortorder),
                    ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e
                          WHERE e.enumtypid = et.oid ORDER BY e.enumsortorder),
                    bt.oid::int8, et.oid::int8
             FROM pg_catalog.pg_attribute a
             -- Through domains (over domains) to the type under them, with the innermost
             -- domain's modifier; NOT NULL when any of them is.
             CROSS JOIN LATERAL (
               WITH RECURSIVE d(oid, typmod, not_null, depth) AS (
                 SELECT a.atttypid, a.atttypmod, false, 0
                 UNION ALL
                 SELECT dt.typbasetype, dt.typtypmod, dt.typnotnull, d.depth + 1
                 FROM d JOIN pg_catalog.pg_type dt ON dt.oid = d.oid WHERE dt.typtype = 'd')
               SELECT (array_agg(oid ORDER BY depth DESC))[1] AS oid,
                      (array_agg(typmod ORDER BY depth DESC))[1] AS typmod,
                      bool_or(not_null) AS not_null
               FROM d) base
             JOIN pg_catalog.pg_type bt ON bt.oid = base.oid
             LEFT JOIN pg_catalog.pg_type et0 ON bt.typcategory = 'A' AND et0.oid = bt.typelem
             LEFT JOIN pg_catalog.pg_type et
               ON et.oid = CASE WHEN et0.typtype = 'd' THEN et0.typbasetype ELSE et0.oid END
             WHERE a.attrelid = ANY($1::int8[]::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attrelid, a.attnum",
            &[&oids],
        )
        .await
        .map_err(|e| PgError::db("cannot read column definitions", e))?;
    let mut out: HashMap<i64, Vec<ColumnInfo>> = HashMap::new();
    for r in rows {
        let typmod: i32 = r.get(6);
        let typtype = first_char(r.get(8));
        let category = first_char(r.get(9));
        let with_labels = |mut ty: PgType, col: usize| {
            if let PgType::Enum { labels, .. } = &mut ty {
                *labels = r.get(col);
            }
            ty
        };
        let elem = match (category, r.get::<_, Option<String>>(10)) {
            ('A', Some(et)) => Some(with_labels(
                PgType::from_catalog(
                    &et,
                    first_char(r.get::<_, Option<String>>(11).unwrap_or_default().as_str()),
                    -1,
                    None,
                ),
                13,
            )),
            _ => None,
        };
        let typname: String = r.get(7);
        let elem_typtype = r.get::<_, Option<String>>(11).map(|t| first_char(&t));
        let oid_shape = shape_of(
            client,
            (typtype, category, r.get(14)),
            elem_typtype.zip(r.get(15)),
            0,
        )
        .await?;
        out.entry(r.get(0)).or_default().push(ColumnInfo {
            name: r.get(1),
            ty: with_labels(PgType::from_catalog(&typname, typtype, typmod, elem), 12),
            type_sql: r.get(5),
            not_null: r.get(2),
            has_default: r.get(3),
            generated: r.get(4),
            oid_shape,
        });
    }
    Ok(out)
}

/// The [`Shape`] of a value of composite type `oid`: its fields' (through domains), nested
/// composites and arrays of them followed.
fn record_shape(
    client: &Client,
    oid: i64,
    depth: u32,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Shape>> + Send + '_>> {
    Box::pin(async move {
        // PostgreSQL refuses a composite that contains itself; the bound is for safety.
        if depth > 32 {
            return Ok(Shape::Plain);
        }
        let rows = client
            .query(
                "SELECT bt.oid::int8, bt.typtype::text, bt.typcategory::text, et.oid::int8, et.typtype::text
                 FROM pg_catalog.pg_type ct
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = ct.typrelid
                 CROSS JOIN LATERAL (
                   WITH RECURSIVE d(oid, depth) AS (
                     SELECT a.atttypid, 0
                     UNION ALL
                     SELECT dt.typbasetype, d.depth + 1
                     FROM d JOIN pg_catalog.pg_type dt ON dt.oid = d.oid WHERE dt.typtype = 'd')
                   SELECT (array_agg(oid ORDER BY depth DESC))[1] AS oid FROM d) base
                 JOIN pg_catalog.pg_type bt ON bt.oid = base.oid
                 LEFT JOIN pg_catalog.pg_type et0 ON bt.typcategory = 'A' AND et0.oid = bt.typelem
                 LEFT JOIN pg_catalog.pg_type et
                   ON et.oid = CASE WHEN et0.typtype = 'd' THEN et0.typbasetype ELSE et0.oid END
                 WHERE ct.oid = $1::int8::oid AND a.attnum > 0 AND NOT a.attisdropped
                 ORDER BY a.attnum",
                &[&oid],
            )
            .await
            .map_err(|e| PgError::db("cannot read the fields of a composite type", e))?;
        let mut fields = Vec::with_capacity(rows.len());
        for r in rows {
            let ty = (first_char(r.get(1)), first_char(r.get(2)), r.get(0));
            let elem = r.get::<_, Option<String>>(4).map(|t| first_char(&t));
            fields.push(shape_of(client, ty, elem.zip(r.get(3)), depth + 1).await?);
        }
        Ok(Shape::Record(fields))
    })
}

/// The [`Shape`] of a value of a type given as `(typtype, typcategory, oid)` (under its
/// domains), with its element type's `(typtype, oid)` for an array.
async fn shape_of(
    client: &Client,
    (typtype, category, oid): (char, char, i64),
    elem: Option<(char, i64)>,
    depth: u32,
) -> Result<Shape> {
    Ok(match (typtype, category, elem) {
        ('c', _, _) => record_shape(client, oid, depth).await?,
        (_, 'A', Some(('c', elem))) => {
            Shape::Array(Box::new(record_shape(client, elem, depth).await?))
        }
        (_, 'A', _) => Shape::Array(Box::new(Shape::Plain)),
        _ => Shape::Plain,
    })
}

fn first_char(s: &str) -> char {
    s.chars().next().unwrap_or('b')
}

async fn primary_keys_of(client: &Client, oids: &[i64]) -> Result<HashMap<i64, Vec<String>>> {
    let rows = client
        .query(
            "SELECT con.conrelid::int8, a.attname::text
             FROM pg_catalog.pg_constraint con
             CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
             WHERE con.contype = 'p' AND con.conrelid = ANY($1::int8[]::oid[])
             ORDER BY con.conrelid, k.ord",
            &[&oids],
        )
        .await
        .map_err(|e| PgError::db("cannot read primary keys", e))?;
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    for r in rows {
        out.entry(r.get(0)).or_default().push(r.get(1));
    }
    Ok(out)
}

/// An index of a target table, as `pg_get_indexdef` prints it with an empty search_path.
#[derive(Clone, Debug)]
pub struct IndexDef {
    pub name: String,
    pub sql: String,
    /// The constraint (primary key, unique, exclusion) this index backs, if any.
    pub constraint: Option<String>,
    /// `p`, `u` or `x` when it backs a constraint.
    pub constraint_kind: Option<char>,
    /// For a unique index: what makes two rows duplicates of each other.
    pub unique: Option<UniqueKey>,
}

/// The key of a unique index: its key columns or expressions (as `pg_get_indexdef` prints
/// them), its predicate when partial, and whether NULLs count as equal (`NULLS NOT DISTINCT`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UniqueKey {
    pub keys: Vec<String>,
    pub predicate: Option<String>,
    pub nulls_not_distinct: bool,
}

/// A constraint of a target table that is not backed by an index (check, foreign key).
#[derive(Clone, Debug)]
pub struct ConstraintDef {
    pub name: String,
    /// `c` check, `f` foreign key.
    pub kind: char,
    /// `pg_get_constraintdef` with an empty search_path (names fully qualified).
    pub sql: String,
    /// For a foreign key: referenced schema and table, referencing and referenced columns.
    pub references: Option<ForeignKey>,
}

/// The two ends of a foreign key.
#[derive(Clone, Debug)]
pub struct ForeignKey {
    pub schema: String,
    pub table: String,
    pub columns: Vec<String>,
    pub ref_columns: Vec<String>,
}

/// A column whose values come from a sequence.
#[derive(Clone, Debug)]
pub struct SequenceDef {
    pub column: String,
    /// Qualified sequence name as `pg_get_serial_sequence` returns it.
    pub sequence: String,
    /// An identity column (its sequence belongs to the table); else a serial column.
    pub identity: bool,
}

/// Indexes, constraints and owned sequences of one target table.
#[derive(Clone, Debug, Default)]
pub struct TableDdl {
    pub indexes: Vec<IndexDef>,
    pub constraints: Vec<ConstraintDef>,
    /// Serial and identity columns with their sequences.
    pub sequences: Vec<SequenceDef>,
    /// Integer columns whose default draws from a sequence they do not own (one created on
    /// its own, or shared between tables, as Hibernate's `hibernate_sequence`): the swap and
    /// delta-sync move it past the loaded values, forward only.
    pub default_sequences: Vec<SequenceDef>,
    /// `pg_get_triggerdef` of each user trigger on the table.
    pub triggers: Vec<String>,
    /// Columns whose type is a domain with CHECK constraints (or an array of one), staged as
    /// the base type.
    pub domains: Vec<DomainColumn>,
    /// Such columns that a generated column uses: staged as the domain (see
    /// [`DomainColumn::generated`]).
    pub pinned_domains: Vec<DomainColumn>,
}

/// A column whose type is a domain with CHECK constraints (its own or its base domains'), or
/// an array of such a domain. `COPY` checks them as it reads each value and fails the whole
/// statement on the first violation, so the column is staged as the base type, the rows that
/// violate a check become rejects, and the column then gets its domain back.
#[derive(Clone, Debug, PartialEq)]
pub struct DomainColumn {
    pub column: String,
    /// The column's type, as `format_type` prints it (schema-qualified): the domain, or
    /// `domain[]`.
    pub domain: String,
    /// The type under the domain(s), with its modifier (`numeric(10,2)`; `numeric(10,2)[]`
    /// for an array).
    pub base: String,
    /// An array of the domain: its checks hold for each element.
    pub array: bool,
    /// A generated column whose expression uses this column. PostgreSQL cannot change the
    /// type of such a column, so it is staged as the domain: a value a check refuses stops
    /// the load (the whole `COPY`) rather than becoming a reject.
    pub generated: Option<String>,
    /// `(constraint name, pg_get_constraintdef)`: `CHECK ((VALUE > 0))`.
    pub checks: Vec<(String, String)>,
}

/// Reads the DDL of `schema.table`. The session's search_path is set empty for the duration so
/// every name in the definitions comes out schema-qualified.
pub async fn table_ddl(client: &Client, schema: &str, table: &str) -> Result<TableDdl> {
    let ctx = |what: &str| format!("cannot read the {what} of table `{schema}.{table}`");
    client
        .batch_execute("SET search_path = ''")
        .await
        .map_err(|e| PgError::db(ctx("definition"), e))?;
    let rel = "(SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n
                ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2)";
    let idx = client
        .query(
            &format!(
                "SELECT ic.relname::text, pg_catalog.pg_get_indexdef(i.indexrelid),
                        con.conname::text, con.contype::text, i.indisunique,
                        ARRAY(SELECT pg_catalog.pg_get_indexdef(i.indexrelid, k, true)
                              FROM generate_series(1, i.indnkeyatts) k ORDER BY k),
                        pg_catalog.pg_get_expr(i.indpred, i.indrelid, true),
                        coalesce((pg_catalog.to_jsonb(i) ->> 'indnullsnotdistinct')::bool, false)
                 FROM pg_catalog.pg_index i
                 JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
                 LEFT JOIN pg_catalog.pg_constraint con
                   ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
                  AND con.contype IN ('p','u','x')
                 WHERE i.indrelid = {rel} ORDER BY ic.relname"
            ),
            &[&schema, &table],
        )
        .await
        .map_err(|e| PgError::db(ctx("indexes"), e))?;
    let cons = client
        .query(
            &format!(
                "SELECT con.conname::text, con.contype::text,
                        pg_catalog.pg_get_constraintdef(con.oid),
                        rn.nspname::text, rc.relname::text,
                        ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, o)
                              JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n
                              ORDER BY k.o),
                        ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, o)
                              JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n
                              ORDER BY k.o)
                 FROM pg_catalog.pg_constraint con
                 LEFT JOIN pg_catalog.pg_class rc ON rc.oid = con.confrelid
                 LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
                 WHERE con.conrelid = {rel} AND con.contype IN ('c','f')
                 ORDER BY con.contype, con.conname"
            ),
            &[&schema, &table],
        )
        .await
        .map_err(|e| PgError::db(ctx("constraints"), e))?;
    let seqs = client
        .query(
            &format!(
                "SELECT a.attname::text, pg_catalog.pg_get_serial_sequence($3, a.attname),
                        a.attidentity <> ''
                 FROM pg_catalog.pg_attribute a
                 WHERE a.attrelid = {rel} AND a.attnum > 0 AND NOT a.attisdropped
                   AND pg_catalog.pg_get_serial_sequence($3, a.attname) IS NOT NULL"
            ),
            &[
                &schema,
                &table,
                &format!(
                    "{}.{}",
                    cutover_core::catalog::quote_ident(schema),
                    cutover_core::catalog::quote_ident(table)
                ),
            ],
        )
        .await
        .map_err(|e| PgError::db(ctx("sequences"), e))?;
    let shared = client
        .query(
            &format!(
                "SELECT DISTINCT a.attname::text, s.oid::regclass::text
                 FROM pg_catalog.pg_attrdef ad
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
                 JOIN pg_catalog.pg_depend dep ON dep.classid = 'pg_catalog.pg_attrdef'::regclass
                  AND dep.objid = ad.oid AND dep.refclassid = 'pg_catalog.pg_class'::regclass
                 JOIN pg_catalog.pg_class s ON s.oid = dep.refobjid AND s.relkind = 'S'
                 JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
                 WHERE ad.adrelid = {rel} AND NOT a.attisdropped
                   AND t.typname IN ('int2', 'int4', 'int8')
                   AND pg_catalog.pg_get_serial_sequence($3, a.attname)
                       IS DISTINCT FROM s.oid::regclass::text
                 ORDER BY 1, 2"
            ),
            &[
                &schema,
                &table,
                &format!(
                    "{}.{}",
                    cutover_core::catalog::quote_ident(schema),
                    cutover_core::catalog::quote_ident(table)
                ),
            ],
        )
        .await
        .map_err(|e| PgError::db(ctx("column defaults"), e))?;
    let trg = client
        .query(
            &format!(
                "SELECT pg_catalog.pg_get_triggerdef(t.oid) FROM pg_catalog.pg_trigger t
                 WHERE t.tgrelid = {rel} AND NOT t.tgisinternal ORDER BY t.tgname"
            ),
            &[&schema, &table],
        )
        .await
        .map_err(|e| PgError::db(ctx("triggers"), e))?;
    let doms = client
        .query(
            &format!(
                "WITH RECURSIVE chain(attnum, dom, depth) AS (
                   SELECT a.attnum, CASE WHEN t.typtype = 'd' THEN a.atttypid ELSE t.typelem END, 0
                   FROM pg_catalog.pg_attribute a
                   JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
                   LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem
                   WHERE a.attrelid = {rel} AND a.attnum > 0 AND NOT a.attisdropped
                     AND a.attgenerated = ''
                     AND (t.typtype = 'd' OR (t.typcategory = 'A' AND e.typtype = 'd'))
                   UNION ALL
                   SELECT c.attnum, t.typbasetype, c.depth + 1 FROM chain c
                   JOIN pg_catalog.pg_type t ON t.oid = c.dom
                   JOIN pg_catalog.pg_type b ON b.oid = t.typbasetype
                   WHERE b.typtype = 'd')
                 SELECT a.attname::text, pg_catalog.format_type(a.atttypid, NULL),
                        (SELECT pg_catalog.format_type(t.typbasetype, t.typtypmod) FROM chain c
                         JOIN pg_catalog.pg_type t ON t.oid = c.dom
                         WHERE c.attnum = a.attnum ORDER BY c.depth DESC LIMIT 1),
                        (SELECT t.typtype <> 'd' FROM pg_catalog.pg_type t WHERE t.oid = a.atttypid),
                        (SELECT g.attname::text FROM pg_catalog.pg_depend dep
                         JOIN pg_catalog.pg_attrdef ad
                           ON dep.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass AND ad.oid = dep.objid
                         JOIN pg_catalog.pg_attribute g
                           ON g.attrelid = ad.adrelid AND g.attnum = ad.adnum AND g.attgenerated <> ''
                         WHERE dep.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
                           AND dep.refobjid = a.attrelid AND dep.refobjsubid = a.attnum
                         ORDER BY g.attnum LIMIT 1),
                        ARRAY(SELECT con.conname::text FROM chain c JOIN pg_catalog.pg_constraint con
                              ON con.contypid = c.dom AND con.contype = 'c'
                              WHERE c.attnum = a.attnum ORDER BY c.depth, con.conname),
                        ARRAY(SELECT pg_catalog.pg_get_constraintdef(con.oid) FROM chain c
                              JOIN pg_catalog.pg_constraint con ON con.contypid = c.dom AND con.contype = 'c'
                              WHERE c.attnum = a.attnum ORDER BY c.depth, con.conname)
                 FROM pg_catalog.pg_attribute a
                 WHERE a.attrelid = {rel} AND a.attnum IN (SELECT attnum FROM chain WHERE depth = 0)
                 ORDER BY a.attnum"
            ),
            &[&schema, &table],
        )
        .await
        .map_err(|e| PgError::db(ctx("domain columns"), e))?;
    client
        .batch_execute("RESET search_path")
        .await
        .map_err(|e| PgError::db(ctx("definition"), e))?;
    let (domains, pinned_domains) = doms
        .iter()
        .filter_map(|r| {
            let array: bool = r.get(3);
            let generated: Option<String> = r.get(4);
            let names: Vec<String> = r.get(5);
            let defs: Vec<String> = r.get(6);
            let base: String = r.get(2);
            (!names.is_empty()).then(|| DomainColumn {
                column: r.get(0),
                domain: r.get(1),
                base: if array { format!("{base}[]") } else { base },
                array,
                generated,
                checks: names.into_iter().zip(defs).collect(),
            })
        })
        .partition(|d| d.generated.is_none());
    Ok(TableDdl {
        domains,
        pinned_domains,
        indexes: idx
            .iter()
            .map(|r| IndexDef {
                name: r.get(0),
                sql: r.get(1),
                constraint: r.get(2),
                constraint_kind: r.get::<_, Option<String>>(3).map(|s| first_char(&s)),
                unique: r.get::<_, bool>(4).then(|| UniqueKey {
                    keys: r.get(5),
                    predicate: r.get(6),
                    nulls_not_distinct: r.get(7),
                }),
            })
            .collect(),
        constraints: cons
            .iter()
            .map(|r| {
                let kind = first_char(r.get(1));
                ConstraintDef {
                    name: r.get(0),
                    kind,
                    sql: r.get(2),
                    references: (kind == 'f').then(|| ForeignKey {
                        schema: r.get(3),
                        table: r.get(4),
                        columns: r.get(5),
                        ref_columns: r.get(6),
                    }),
                }
            })
            .collect(),
        sequences: seqs
            .iter()
            .map(|r| SequenceDef {
                column: r.get(0),
                sequence: r.get(1),
                identity: r.get(2),
            })
            .collect(),
        triggers: trg.iter().map(|r| r.get(0)).collect(),
        default_sequences: shared
            .iter()
            .map(|r| SequenceDef {
                column: r.get(0),
                sequence: r.get(1),
                identity: false,
            })
            .collect(),
    })
}

/// Number of rows in a table (exact, `count(*)`).
pub async fn count_rows(client: &Client, qualified: &str) -> Result<i64> {
    let row = client
        .query_one(&format!("SELECT count(*) FROM {qualified}"), &[])
        .await
        .map_err(|e| PgError::db(format!("cannot count the rows of {qualified}"), e))?;
    Ok(row.get(0))
}

/// The qualified name of a table exactly as PostgreSQL's deparsers print it
/// (`quote_ident(schema).quote_ident(table)`), for rewriting their output.
pub async fn printed_name(client: &Client, schema: &str, table: &str) -> Result<String> {
    let row = client
        .query_one(
            "SELECT pg_catalog.quote_ident($1) || '.' || pg_catalog.quote_ident($2)",
            &[&schema, &table],
        )
        .await
        .map_err(|e| PgError::db("cannot quote a table name", e))?;
    Ok(row.get(0))
}

/// A column as `CREATE TABLE` needs it (for `--create-tables`).
#[derive(Clone, Debug)]
pub struct ColumnDef {
    pub name: String,
    /// `format_type` with an empty search_path: user types come out schema-qualified.
    pub type_sql: String,
    pub not_null: bool,
    /// Default expression (`pg_get_expr`), not for identity or generated columns.
    pub default: Option<String>,
    /// `a` (always) or `d` (by default) for identity columns.
    pub identity: Option<char>,
    /// Expression of a stored generated column.
    pub generated: Option<String>,
    /// Schema and name of the column's type (of an array's element type) when it is a
    /// user-defined type (not pg_catalog).
    pub user_type: Option<(String, String)>,
    /// Schema and name of each sequence the column's default draws from that the column does
    /// not own (one created on its own, or another column's): `--create-tables` creates only
    /// the sequences of serial and identity columns.
    pub shared_sequences: Vec<(String, String)>,
}

/// The columns of `schema.table` as `CREATE TABLE` needs them.
pub async fn column_defs(client: &Client, schema: &str, table: &str) -> Result<Vec<ColumnDef>> {
    let ctx = || format!("cannot read the columns of table `{schema}.{table}`");
    client
        .batch_execute("SET search_path = ''")
        .await
        .map_err(|e| PgError::db(ctx(), e))?;
    let rows = client
        .query(
            "SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
                    CASE WHEN a.attgenerated = '' THEN pg_catalog.pg_get_expr(d.adbin, d.adrelid) END,
                    NULLIF(a.attidentity, '')::text,
                    CASE WHEN a.attgenerated <> '' THEN pg_catalog.pg_get_expr(d.adbin, d.adrelid) END,
                    CASE WHEN tn.nspname <> 'pg_catalog' THEN tn.nspname::text END, t.typname::text,
                    COALESCE(shared.schemas, '{}'), COALESCE(shared.names, '{}')
             FROM pg_catalog.pg_attribute a
             JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_catalog.pg_type at ON at.oid = a.atttypid
             JOIN pg_catalog.pg_type t
               ON t.oid = CASE WHEN at.typcategory = 'A' AND at.typelem <> 0 THEN at.typelem ELSE at.oid END
             JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace
             LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             -- Sequences the default draws from that the column does not own.
             LEFT JOIN LATERAL (
               SELECT array_agg(sn.nspname::text ORDER BY sq.oid) AS schemas,
                      array_agg(sq.relname::text ORDER BY sq.oid) AS names
               FROM pg_catalog.pg_depend dep
               JOIN pg_catalog.pg_class sq ON sq.oid = dep.refobjid AND sq.relkind = 'S'
               JOIN pg_catalog.pg_namespace sn ON sn.oid = sq.relnamespace
               WHERE dep.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass
                 AND dep.objid = d.oid AND a.attgenerated = ''
                 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend o
                                 WHERE o.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                                   AND o.objid = sq.oid AND o.refobjid = a.attrelid
                                   AND o.refobjsubid = a.attnum AND o.deptype IN ('a', 'i'))) shared ON true
             WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum",
            &[&schema, &table],
        )
        .await
        .map_err(|e| PgError::db(ctx(), e))?;
    client
        .batch_execute("RESET search_path")
        .await
        .map_err(|e| PgError::db(ctx(), e))?;
    Ok(rows
        .iter()
        .map(|r| ColumnDef {
            name: r.get(0),
            type_sql: r.get(1),
            not_null: r.get(2),
            default: r.get(3),
            identity: r.get::<_, Option<String>>(4).map(|s| first_char(&s)),
            generated: r.get(5),
            user_type: r
                .get::<_, Option<String>>(6)
                .map(|s| (s, r.get::<_, String>(7))),
            shared_sequences: r
                .get::<_, Vec<String>>(8)
                .into_iter()
                .zip(r.get::<_, Vec<String>>(9))
                .collect(),
        })
        .collect())
}

/// True when the sequence `schema.name` exists in this database.
pub async fn sequence_exists(client: &Client, schema: &str, name: &str) -> Result<bool> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n
                            ON n.oid = c.relnamespace
                            WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind = 'S')",
            &[&schema, &name],
        )
        .await
        .map_err(|e| PgError::db("cannot look up a sequence", e))?;
    Ok(row.get(0))
}

/// True when the type `schema.name` exists in this database.
pub async fn type_exists(client: &Client, schema: &str, name: &str) -> Result<bool> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n
                            ON n.oid = t.typnamespace WHERE n.nspname = $1 AND t.typname = $2)",
            &[&schema, &name],
        )
        .await
        .map_err(|e| PgError::db("cannot look up a type", e))?;
    Ok(row.get(0))
}

/// The plain tables of `schema` that other tables inherit from (`INHERITS`, the partitioning of
/// PostgreSQL before 10), each with its children, qualified. A read of such a table includes
/// its children's rows; declaratively partitioned tables are not listed.
pub async fn inheritance_parents(
    client: &Client,
    schema: &str,
) -> Result<HashMap<String, Vec<String>>> {
    let rows = client
        .query(
            "SELECT p.relname::text,
                    array_agg(child.oid::regclass::text ORDER BY child.oid::regclass::text)
             FROM pg_catalog.pg_inherits i
             JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
             JOIN pg_catalog.pg_namespace n ON n.oid = p.relnamespace
             JOIN pg_catalog.pg_class child ON child.oid = i.inhrelid
             WHERE n.nspname = $1 AND p.relkind = 'r'
             GROUP BY p.relname",
            &[&schema],
        )
        .await
        .map_err(|e| PgError::db(format!("cannot list the inherited tables of `{schema}`"), e))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// The declaratively partitioned tables of `schema`.
pub async fn partitioned_tables(client: &Client, schema: &str) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_catalog.pg_class c
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relkind = 'p'",
            &[&schema],
        )
        .await
        .map_err(|e| {
            PgError::db(
                format!("cannot list the partitioned tables of `{schema}`"),
                e,
            )
        })?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
