//! The staging schema of a run: every target table is loaded into a bare copy of itself (no
//! indexes, no constraints but NOT NULL) in `_cutover_stage_<run>`, cleaned of rows the target's
//! constraints would refuse (orphans, CHECK violations: they become rejects), given its indexes
//! and constraints back, and only then swapped into place. Until the swap nothing the
//! application sees has changed.
use std::collections::HashMap;

use cutover_core::catalog::{quote_ident, quote_literal};
use cutover_core::program::{RowReject, TableProgram};
use cutover_postgres::catalog::{
    printed_name, ColumnDef, DomainColumn, SequenceDef, TableDdl, UniqueKey,
};
use cutover_postgres::PgError;
use tokio_postgres::Client;

use crate::error::Result;

/// Names of a run's schemas.
#[derive(Clone, Debug)]
pub struct Stage {
    /// Run id.
    pub run_id: String,
    /// Schema the new contents are built in.
    pub schema: String,
    /// Schema the previous contents are moved to at the swap (kept for rollback).
    pub prev: String,
    /// Target schema of the mapping.
    pub target_schema: String,
}

impl Stage {
    pub fn new(run_id: &str, target_schema: &str) -> Self {
        Stage {
            run_id: run_id.to_string(),
            schema: format!("_cutover_stage_{run_id}"),
            prev: format!("_cutover_prev_{run_id}"),
            target_schema: target_schema.to_string(),
        }
    }

    /// `"stage"."table"`.
    pub fn table(&self, name: &str) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(name))
    }

    /// The table that holds this run's rejects until the swap.
    pub fn rejects_table(&self) -> String {
        self.table("_cutover_rejects")
    }

    /// Creates the staging schema and its rejects table.
    pub async fn create(&self, client: &Client) -> Result<()> {
        client
            .batch_execute(&format!(
                "CREATE SCHEMA {s};
                 CREATE TABLE {r} (table_name text NOT NULL, key text NOT NULL,
                                   column_name text, reason text NOT NULL,
                                   phase text NOT NULL, key_hash text);",
                s = quote_ident(&self.schema),
                r = self.rejects_table()
            ))
            .await
            .map_err(|e| {
                PgError::db(
                    format!("cannot create the staging schema `{}`", self.schema),
                    e,
                )
            })?;
        Ok(())
    }

    /// Drops the staging schema and everything in it (after a failure, or after the swap).
    pub async fn drop(&self, client: &Client) -> Result<()> {
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                quote_ident(&self.schema)
            ))
            .await
            .map_err(|e| {
                PgError::db(
                    format!("cannot drop the staging schema `{}`", self.schema),
                    e,
                )
            })?;
        Ok(())
    }

    /// `CREATE TABLE` of the bare staging copy of a target table: columns, defaults, identity,
    /// generated columns, storage and NOT NULL; no index, no other constraint.
    /// Columns of a domain with CHECK constraints (`domains`) are staged as the domain's base
    /// type: `COPY` would fail on the first value a check refuses (see [`DomainColumn`]).
    /// `unlogged` for a table that never goes live (a delta's rows, merged then dropped): its
    /// rows are not written to the WAL.
    pub fn create_table_sql(
        &self,
        program: &TableProgram,
        domains: &[DomainColumn],
        unlogged: bool,
    ) -> String {
        let staged = self.table(&program.target.name);
        let mut sql = format!(
            "CREATE {}TABLE {staged} (LIKE {} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING GENERATED \
             INCLUDING STORAGE INCLUDING COMPRESSION INCLUDING COMMENTS){}",
            if unlogged { "UNLOGGED " } else { "" },
            program.target.qualified(),
            tablespace_clause(program.target.tablespace.as_deref())
        );
        if let Some(alter) = retype_sql(&staged, domains, |d| &d.base) {
            sql.push_str("; ");
            sql.push_str(&alter);
        }
        sql
    }

    /// The statements creating the staging table of a table that does not exist in the target
    /// yet (`--create-tables`), from the source's column definitions. Serial columns get their
    /// own sequence, owned by the staged column so it moves with the table at the swap.
    pub fn create_new_table_sql(
        &self,
        name: &str,
        cols: &[ColumnDef],
        sequences: &[SequenceDef],
    ) -> String {
        let mut pre = Vec::new();
        let mut post = Vec::new();
        let defs: Vec<String> = cols
            .iter()
            .map(|c| {
                let mut d = format!("{} {}", quote_ident(&c.name), c.type_sql);
                if let Some(g) = &c.generated {
                    d.push_str(&format!(" GENERATED ALWAYS AS ({g}) STORED"));
                } else if let Some(kind) = c.identity {
                    d.push_str(if kind == 'a' {
                        " GENERATED ALWAYS AS IDENTITY"
                    } else {
                        " GENERATED BY DEFAULT AS IDENTITY"
                    });
                } else if let Some(seq) =
                    sequences.iter().find(|s| s.column == c.name && !s.identity)
                {
                    let bare = seq
                        .sequence
                        .rsplit_once('.')
                        .map(|(_, n)| n)
                        .unwrap_or(&seq.sequence)
                        .trim_matches('"')
                        .to_string();
                    let q = self.table(&bare);
                    pre.push(format!("CREATE SEQUENCE {q}"));
                    d.push_str(&format!(
                        " DEFAULT nextval({}::regclass)",
                        quote_literal(&q)
                    ));
                    post.push(format!(
                        "ALTER SEQUENCE {q} OWNED BY {}.{}",
                        self.table(name),
                        quote_ident(&c.name)
                    ));
                } else if let Some(def) = &c.default {
                    d.push_str(&format!(" DEFAULT {def}"));
                }
                if c.not_null {
                    d.push_str(" NOT NULL");
                }
                d
            })
            .collect();
        pre.push(format!(
            "CREATE TABLE {} ({})",
            self.table(name),
            defs.join(", ")
        ));
        pre.extend(post);
        pre.join(";\n")
    }

    /// `COPY … FROM STDIN (FORMAT binary)` into the staging table; `FREEZE` when the table was
    /// created in the same transaction.
    pub fn copy_in_sql(&self, program: &TableProgram, freeze: bool) -> String {
        let cols = column_list(program);
        format!(
            "COPY {} ({cols}) FROM STDIN (FORMAT binary{})",
            self.table(&program.target.name),
            if freeze { ", FREEZE" } else { "" }
        )
    }

    /// Records rows the mapping rejected (in the caller's transaction).
    pub async fn write_rejects(
        &self,
        client: &Client,
        table: &str,
        rejects: &[RowReject],
    ) -> Result<()> {
        let entries: Vec<Adjustment> = rejects
            .iter()
            .map(|r| Adjustment {
                key: r.key.clone(),
                column: r.column.clone(),
                reason: r.reason.clone(),
                phase: "transform",
                key_hash: None,
            })
            .collect();
        self.write_adjustments(client, table, &entries).await
    }

    /// Records rejected or altered rows (in the caller's transaction).
    pub async fn write_adjustments(
        &self,
        client: &Client,
        table: &str,
        entries: &[Adjustment],
    ) -> Result<()> {
        for part in entries.chunks(10_000) {
            let keys: Vec<&str> = part.iter().map(|r| r.key.as_str()).collect();
            let cols: Vec<&str> = part.iter().map(|r| r.column.as_str()).collect();
            let reasons: Vec<&str> = part.iter().map(|r| r.reason.as_str()).collect();
            let phases: Vec<&str> = part.iter().map(|r| r.phase).collect();
            let hashes: Vec<Option<String>> = part.iter().map(|r| r.key_hash.clone()).collect();
            client
                .execute(
                    &format!(
                        "INSERT INTO {} (table_name, key, column_name, reason, phase, key_hash)
                         SELECT $1, k, NULLIF(c, ''), r, p, h
                         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS u(k, c, r, p, h)",
                        self.rejects_table()
                    ),
                    &[&table, &keys, &cols, &reasons, &phases, &hashes],
                )
                .await
                .map_err(|e| PgError::db(format!("cannot record the rejected rows of `{table}`"), e))?;
        }
        Ok(())
    }
}

/// A row the run rejected or altered, as filed in the state schema's `rejects` table.
#[derive(Clone, Debug)]
pub struct Adjustment {
    /// Key as a JSON array of texts (source key for `transform`, target key otherwise).
    pub key: String,
    /// Column(s) concerned, comma-separated; empty when none.
    pub column: String,
    pub reason: String,
    /// `transform`, `constraint` or `nulled`.
    pub phase: &'static str,
    /// Hex blake3 of the target key bytes (constraint and nulled rows).
    pub key_hash: Option<String>,
}

/// ` TABLESPACE x` when the target table lives outside the default tablespace: the staged copy
/// is built where the table will live (and fails there, not elsewhere, when that space is full).
pub fn tablespace_clause(tablespace: Option<&str>) -> String {
    tablespace
        .map(|t| format!(" TABLESPACE {}", quote_ident(t)))
        .unwrap_or_default()
}

/// The quoted target column list of a program, in batch order.
pub fn column_list(program: &TableProgram) -> String {
    program
        .target_columns
        .iter()
        .map(|c| quote_ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// DDL statements to give a staging table its target's indexes and constraints back.
#[derive(Clone, Debug, Default)]
pub struct Rebuild {
    /// `CREATE INDEX` statements (independent: may run in parallel).
    pub indexes: Vec<String>,
    /// `ALTER TABLE … ADD CONSTRAINT` for primary keys, unique and exclusion constraints
    /// (after the indexes).
    pub constraints: Vec<String>,
    /// `ALTER TABLE … ADD CONSTRAINT … FOREIGN KEY … NOT VALID` (after every table's keys
    /// exist; validated by `validations`).
    pub foreign_keys: Vec<String>,
    /// `ALTER TABLE … VALIDATE CONSTRAINT` for every foreign key: each scans its table, and
    /// they may run in parallel (a validation locks its table against other validations of
    /// it only, and the referenced table against nothing they take).
    pub validations: Vec<String>,
    /// CHECK expressions by constraint name (to find the rows that violate them; added by
    /// [`Rebuild::add_checks`]).
    pub checks: Vec<(String, String)>,
    /// Per column of a domain with checks: `(column, [(reason, condition true on a violating
    /// row)])`.
    pub domain_checks: Vec<(String, Vec<(String, String)>)>,
    /// `ALTER TABLE … ALTER COLUMN c TYPE domain, …`: the domain columns get their type back
    /// (a rewrite, which checks every value) once the rows that violate them are rejects.
    pub retype: Option<String>,
    /// Per unique index: `(condition, reason)` of the rows that duplicate the key of a row
    /// before them in key order (only searched when building the index failed: a sort of
    /// the table each).
    pub duplicates: Vec<(String, String)>,
    /// For a delta: per unique index, `(condition, reason)` of the staged rows whose key the
    /// merged table would hold twice: a target row the delta does not replace holds it, or
    /// a staged row before it in key order does. (Looked up through the index itself: a probe
    /// per staged row.)
    pub delta_duplicates: Vec<(String, String)>,
    /// The staging table.
    staged_name: String,
}

impl Rebuild {
    /// One `ALTER TABLE … ADD CONSTRAINT a CHECK (…), ADD CONSTRAINT b CHECK (…)` for the
    /// table's checks not in `existing`, validated as they are added: PostgreSQL checks all
    /// the new checks of one statement in a single scan of the table, where a `VALIDATE
    /// CONSTRAINT` each would scan it once per check. A check that already exists (a resumed
    /// run, possibly of an older version that added checks `NOT VALID`) gets a `VALIDATE
    /// CONSTRAINT`, which does nothing when it is valid.
    pub fn add_checks(&self, existing: &[String]) -> Vec<String> {
        let (present, missing): (Vec<_>, Vec<_>) = self
            .checks
            .iter()
            .partition(|(name, _)| existing.contains(name));
        let mut out: Vec<String> = present
            .iter()
            .map(|(name, _)| {
                format!(
                    "ALTER TABLE {} VALIDATE CONSTRAINT {}",
                    self.staged_name,
                    quote_ident(name)
                )
            })
            .collect();
        if !missing.is_empty() {
            let adds: Vec<String> = missing
                .iter()
                .map(|(name, expr)| format!("ADD CONSTRAINT {} CHECK {expr}", quote_ident(name)))
                .collect();
            out.push(format!(
                "ALTER TABLE {} {}",
                self.staged_name,
                adds.join(", ")
            ));
        }
        out
    }
}

/// Rewrites a target table's DDL to apply to its staging copy. `staged` maps every target table
/// of the run to nothing: references to those go to their staging copies too.
pub async fn rebuild_sql(
    client: &Client,
    stage: &Stage,
    program: &TableProgram,
    ddl: &TableDdl,
    staged: &HashMap<String, ()>,
) -> Result<Rebuild> {
    let schema = &program.target.schema;
    let table = &program.target.name;
    let printed = printed_name(client, schema, table).await?;
    let staged_name = stage.table(table);
    let mut out = Rebuild {
        staged_name: staged_name.clone(),
        ..Rebuild::default()
    };
    for idx in &ddl.indexes {
        if idx.constraint_kind == Some('x') {
            continue; // created by its constraint below
        }
        out.indexes.push(
            idx.sql
                .replacen(
                    &format!(" ON {printed} "),
                    &format!(" ON {staged_name} "),
                    1,
                )
                .replacen(
                    &format!(" ON ONLY {printed} "),
                    &format!(" ON ONLY {staged_name} "),
                    1,
                ),
        );
        if let (Some(con), Some(kind)) = (&idx.constraint, idx.constraint_kind) {
            let what = if kind == 'p' { "PRIMARY KEY" } else { "UNIQUE" };
            out.constraints.push(format!(
                "ALTER TABLE {staged_name} ADD CONSTRAINT {} {what} USING INDEX {}",
                quote_ident(con),
                quote_ident(&idx.name)
            ));
        }
    }
    for con in &ddl.constraints {
        let def = con.sql.trim_end_matches(" NOT VALID").to_string();
        match con.kind {
            'c' => {
                let expr = def.trim_start_matches("CHECK ").to_string();
                out.checks.push((con.name.clone(), expr));
            }
            'f' => {
                let mut def = def;
                if let Some(fk) = &con.references {
                    if fk.schema == *schema && staged.contains_key(&fk.table) {
                        let parent = printed_name(client, &fk.schema, &fk.table).await?;
                        def = def.replacen(
                            &format!("REFERENCES {parent}("),
                            &format!("REFERENCES {}(", stage.table(&fk.table)),
                            1,
                        );
                    }
                }
                out.foreign_keys.push(format!(
                    "ALTER TABLE {staged_name} ADD CONSTRAINT {} {def} NOT VALID",
                    quote_ident(&con.name)
                ));
                out.validations.push(format!(
                    "ALTER TABLE {staged_name} VALIDATE CONSTRAINT {}",
                    quote_ident(&con.name)
                ));
            }
            _ => {}
        }
    }
    let key_names: Vec<String> = program
        .key
        .iter()
        .map(|&k| quote_ident(&program.target_columns[k].name))
        .collect();
    for idx in &ddl.indexes {
        if let Some(u) = idx.unique.as_ref().filter(|u| !u.keys.is_empty()) {
            let (full, delta) = duplicate_searches(program, &staged_name, &idx.name, u, &key_names);
            out.duplicates.push(full);
            out.delta_duplicates.extend(delta);
        }
    }
    for d in &ddl.domains {
        let col = quote_ident(&d.column);
        let checks = d
            .checks
            .iter()
            .map(|(name, def)| {
                let cond = if d.array {
                    format!(
                        "EXISTS (SELECT 1 FROM pg_catalog.unnest({col}) AS \"_e\"(\"_v\") WHERE ({}) IS FALSE)",
                        domain_check_on(def, "\"_e\".\"_v\"")
                    )
                } else {
                    format!("({}) IS FALSE", domain_check_on(def, &col))
                };
                let what = if d.array { "an element " } else { "" };
                (
                    format!(
                        "{what}violates check constraint `{name}` of domain `{}` (column `{}`)",
                        d.domain.trim_end_matches("[]"),
                        d.column
                    ),
                    cond,
                )
            })
            .collect();
        out.domain_checks.push((d.column.clone(), checks));
    }
    out.retype = retype_sql(&staged_name, &ddl.domains, |d| &d.domain);
    for idx in &ddl.indexes {
        if idx.constraint_kind == Some('x') {
            if let Some(con) = &idx.constraint {
                let def = client
                    .query_one(
                        "SELECT pg_catalog.pg_get_constraintdef(c.oid) FROM pg_catalog.pg_constraint c
                         JOIN pg_catalog.pg_class t ON t.oid = c.conrelid
                         JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
                         WHERE n.nspname = $1 AND t.relname = $2 AND c.conname = $3",
                        &[schema, table, con],
                    )
                    .await
                    .map_err(|e| PgError::db("cannot read an exclusion constraint", e))?;
                let def: String = def.get(0);
                out.constraints.push(format!(
                    "ALTER TABLE {staged_name} ADD CONSTRAINT {} {def}",
                    quote_ident(con)
                ));
            }
        }
    }
    Ok(out)
}

/// `ALTER TABLE staged ALTER COLUMN c TYPE t, …` giving each domain column the type `ty`
/// picks (its base type, or the domain); `None` without domain columns.
fn retype_sql(
    staged: &str,
    domains: &[DomainColumn],
    ty: impl Fn(&DomainColumn) -> &String,
) -> Option<String> {
    if domains.is_empty() {
        return None;
    }
    let alters: Vec<String> = domains
        .iter()
        .map(|d| format!("ALTER COLUMN {} TYPE {}", quote_ident(&d.column), ty(d)))
        .collect();
    Some(format!("ALTER TABLE {staged} {}", alters.join(", ")))
}

/// `items` formatted by `f` and joined with ", ".
fn list<T>(items: impl IntoIterator<Item = T>, f: impl Fn(T) -> String) -> String {
    items.into_iter().map(f).collect::<Vec<_>>().join(", ")
}

/// The searches for the rows that hold the key of unique index `index` (key `u`) twice, as
/// `(condition, reason)` on the staging table: for a full load, the rows after the first of
/// each key in key order; for a delta, also the staged rows whose key a target row the delta
/// does not replace holds, looked up through the index (for the merge key itself only the
/// staged duplicates: a staged row updates the target row with its key or inserts one that
/// is not there).
fn duplicate_searches(
    program: &TableProgram,
    staged: &str,
    index: &str,
    u: &UniqueKey,
    key_names: &[String],
) -> ((String, String), Option<(String, String)>) {
    let keys = u.keys.join(", ");
    let mut filter: Vec<String> = u.predicate.iter().map(|p| format!("({p})")).collect();
    if !u.nulls_not_distinct {
        filter.extend(u.keys.iter().map(|k| format!("({k}) IS NOT NULL")));
    }
    let filter = if filter.is_empty() {
        "true".to_string()
    } else {
        filter.join(" AND ")
    };
    // Key order, then the whole row: which duplicate is kept does not depend on load order.
    let order = list(
        key_names
            .iter()
            .map(|k| format!("s.{k}"))
            .chain(["s::text".to_string()]),
        |k| k,
    );
    let values = list(&u.keys, |k| format!("coalesce(({k})::text, 'NULL')"));
    let reason = |tail: &str| {
        format!(
            "{} || concat_ws(', ', {values}) || {}",
            quote_literal(&format!("unique index `{index}`: key ({keys})=(")),
            quote_literal(tail)
        )
    };
    let full = (
        format!(
            "ctid = ANY (ARRAY(SELECT d.ctid FROM (SELECT s.ctid, row_number() OVER \
             (PARTITION BY {keys} ORDER BY {order}) AS n FROM {staged} s WHERE {filter}) d \
             WHERE d.n > 1))"
        ),
        reason(") is duplicated; the row first in key order is kept"),
    );
    // PostgreSQL prints an index's columns quoted only where they need it.
    let merge_key = u.predicate.is_none()
        && u.keys.len() == program.key.len()
        && u.keys.iter().zip(&program.key).all(|(k, &i)| {
            let name = &program.target_columns[i].name;
            *k == *name || *k == quote_ident(name)
        });
    if merge_key {
        // A staged row replaces the target row with its key or is inserted: only two staged
        // rows with one key are a duplicate, and the search for them runs only when a
        // count finds some (the window sorts every staged row by its text).
        let guarded = format!(
            "EXISTS (SELECT 1 FROM {staged} s WHERE {filter} GROUP BY {keys} \
             HAVING count(*) > 1) AND {}",
            full.0
        );
        return (full.clone(), Some((guarded, full.1)));
    }
    let target = program.target.qualified();
    let ks: Vec<String> = (1..=u.keys.len()).map(|i| format!("_k{i}")).collect();
    let ps: Vec<String> = (1..=key_names.len()).map(|i| format!("_p{i}")).collect();
    let same_key = u
        .keys
        .iter()
        .zip(&ks)
        .map(|(k, x)| format!("({k}) = x.{x}"))
        .collect::<Vec<_>>()
        .join(" AND ");
    let t0_pk = list(key_names, |c| format!("t0.{c}"));
    let delta = (
        format!(
            "ctid = ANY (ARRAY(SELECT x._c FROM (SELECT s.ctid AS _c, {}, {}, row_number() OVER \
             (PARTITION BY {keys} ORDER BY {order}) AS _n FROM {staged} s WHERE {filter}) x \
             WHERE x._n > 1 OR EXISTS (SELECT 1 FROM {target} t0 WHERE {filter} AND {same_key} \
             AND ROW({t0_pk}) IS DISTINCT FROM ROW({}) AND NOT EXISTS (SELECT 1 FROM \
             {staged} s2 WHERE ROW({}) = ROW({t0_pk})))))",
            list(u.keys.iter().zip(&ks), |(k, x)| format!("({k}) AS {x}")),
            list(key_names.iter().zip(&ps), |(c, p)| format!("s.{c} AS {p}")),
            list(&ps, |p| format!("x.{p}")),
            list(key_names, |c| format!("s2.{c}")),
        ),
        reason(
            ") is held by another row of the target, or of this run (the row first in key \
             order is kept)",
        ),
    );
    (full, Some(delta))
}

/// A domain's check (`CHECK ((VALUE > 0))`, as `pg_get_constraintdef` prints it) as an
/// expression on `column` (quoted): the keyword `VALUE`, outside string literals and quoted
/// identifiers, becomes the column.
pub fn domain_check_on(def: &str, column: &str) -> String {
    let expr = def.trim_end_matches(" NOT VALID");
    let expr = expr.strip_prefix("CHECK ").unwrap_or(expr);
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$';
    let chars: Vec<char> = expr.chars().collect();
    let mut out = String::with_capacity(expr.len() + column.len());
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None; // a doubled quote reopens at the next character
                }
            }
            None if c == '\'' || c == '"' => {
                out.push(c);
                quote = Some(c);
            }
            None if chars[i..].starts_with(&['V', 'A', 'L', 'U', 'E'])
                && (i == 0 || !word(chars[i - 1]))
                && chars.get(i + 5).is_none_or(|&n| !word(n)) =>
            {
                out.push_str(column);
                i += 5;
                continue;
            }
            None => out.push(c),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_check_applies_to_the_column_and_leaves_literals_and_names_alone() {
        assert_eq!(
            domain_check_on("CHECK ((VALUE > 0))", "\"v\""),
            "((\"v\" > 0))"
        );
        assert_eq!(
            domain_check_on(
                "CHECK (((VALUE)::text ~ '^VALUE [a-z]+$'::text) AND (\"VALUE\"(VALUE) <> 'it''s VALUE')) NOT VALID",
                "c"
            ),
            "(((c)::text ~ '^VALUE [a-z]+$'::text) AND (\"VALUE\"(c) <> 'it''s VALUE'))"
        );
        assert_eq!(
            domain_check_on("CHECK ((VALUES_x(VALUE) AND xVALUE))", "c"),
            "((VALUES_x(c) AND xVALUE))"
        );
    }

    #[test]
    fn checks_are_added_in_one_statement_and_existing_ones_validated() {
        let r = Rebuild {
            checks: vec![
                ("a".into(), "((x > 0))".into()),
                ("B c".into(), "((y > 0))".into()),
            ],
            staged_name: "\"s\".\"t\"".into(),
            ..Rebuild::default()
        };
        assert_eq!(
            r.add_checks(&[]),
            ["ALTER TABLE \"s\".\"t\" ADD CONSTRAINT \"a\" CHECK ((x > 0)), ADD CONSTRAINT \"B c\" CHECK ((y > 0))"]
        );
        // A resumed run: what exists is validated (a no-op when valid), the rest added.
        assert_eq!(
            r.add_checks(&["a".into()]),
            [
                "ALTER TABLE \"s\".\"t\" VALIDATE CONSTRAINT \"a\"",
                "ALTER TABLE \"s\".\"t\" ADD CONSTRAINT \"B c\" CHECK ((y > 0))"
            ]
        );
        assert_eq!(r.add_checks(&["a".into(), "B c".into()]).len(), 2);
        assert!(Rebuild::default().add_checks(&[]).is_empty());
    }
}
