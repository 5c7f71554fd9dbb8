//! Rules taken from the catalog: what PostgreSQL says the table must satisfy, re-checked on the
//! rows actually there — the guarantees a bulk load can bypass (dropped or invalid indexes,
//! `NOT VALID` constraints, triggers disabled during a restore, sequences left behind). Every
//! one of them is a BLOCKER with no tolerance.
use cutover_core::catalog::{quote_ident, quote_literal, TableInfo};
use cutover_core::program::Severity;
use cutover_core::rules::Tolerance;
use cutover_core::validation::RuleOutcome;
use cutover_postgres::integrity::{substitute_value, Integrity};

use super::sql::{col, text_of};
use super::{KeyCheck, OrphanCheck, RowCheck, SequenceCheck, TableScope};

/// A BLOCKER outcome of a catalog rule.
pub(super) fn outcome(
    rule: &str,
    column: Option<String>,
    constraint: Option<String>,
) -> RuleOutcome {
    let mut o = RuleOutcome::new(rule, Severity::Blocker, Tolerance::default());
    o.column = column;
    o.constraint = constraint;
    o
}

fn not_valid(o: &mut RuleOutcome, valid: bool, what: &str) {
    if !valid {
        o.detail = Some(format!(
            "{what}: PostgreSQL does not guarantee it for existing rows"
        ));
    }
}

/// The table with every rule its catalog declares; `key` names rows in findings, `pii`
/// columns are masked.
pub(super) fn scope(
    info: &TableInfo,
    rules: &Integrity,
    key: Vec<String>,
    pii: Vec<String>,
) -> TableScope {
    let mut t = TableScope {
        info: info.clone(),
        key,
        pii,
        rows: Vec::new(),
        keys: Vec::new(),
        orphans: Vec::new(),
        sequences: Vec::new(),
    };
    for u in &rules.uniques {
        let rule = if u.kind == 'p' {
            "primary_key"
        } else {
            "unique"
        };
        let mut o = outcome(rule, Some(u.columns.join(",")), Some(u.name.clone()));
        not_valid(&mut o, u.valid, "index not valid");
        t.keys.push(KeyCheck {
            outcome: o,
            columns: u.columns.clone(),
            predicate: u.predicate.clone(),
        });
    }
    for c in info.columns.iter().filter(|c| c.not_null) {
        t.rows.push(RowCheck {
            outcome: outcome("not_null", Some(c.name.clone()), None),
            predicate: format!("{} IS NULL", col(&c.name)),
            value_sql: None,
            mask: false,
        });
    }
    for c in &rules.checks {
        let mut o = outcome("check", Some(c.columns.join(",")), Some(c.name.clone()));
        not_valid(&mut o, c.validated, "NOT VALID");
        t.rows.push(RowCheck {
            outcome: o,
            predicate: format!("(({}) IS FALSE)", c.expr),
            value_sql: Some(values_sql(&c.columns)),
            mask: c.columns.iter().any(|c| t.is_pii(c)),
        });
    }
    for d in &rules.domains {
        let column = col(&d.column);
        let (predicate, constraint) = match &d.expr {
            Some(expr) => (
                format!("(({}) IS FALSE)", substitute_value(expr, &column)),
                format!("{}.{}", d.domain, d.name.as_deref().unwrap_or_default()),
            ),
            None => (
                format!("{column} IS NULL"),
                format!("{} NOT NULL", d.domain),
            ),
        };
        t.rows.push(RowCheck {
            outcome: outcome("domain", Some(d.column.clone()), Some(constraint)),
            predicate,
            value_sql: Some(text_of(&d.column)),
            mask: t.is_pii(&d.column),
        });
    }
    for e in &rules.enums {
        let labels = e
            .labels
            .iter()
            .map(|l| quote_literal(l))
            .collect::<Vec<_>>()
            .join(", ");
        t.rows.push(RowCheck {
            outcome: outcome("enum", Some(e.column.clone()), Some(e.type_name.clone())),
            predicate: format!(
                "({c} IS NOT NULL AND {text} OPERATOR(pg_catalog.<>) ALL (ARRAY[{labels}]::pg_catalog.text[]))",
                c = col(&e.column),
                text = text_of(&e.column),
            ),
            value_sql: Some(text_of(&e.column)),
            mask: t.is_pii(&e.column),
        });
    }
    for f in &rules.foreign_keys {
        let mut o = outcome(
            "foreign_key",
            Some(f.columns.join(",")),
            Some(f.name.clone()),
        );
        not_valid(&mut o, f.validated, "NOT VALID");
        t.orphans.push(OrphanCheck {
            outcome: o,
            columns: f.columns.clone(),
            parent: format!(
                "{}.{}",
                quote_ident(&f.ref_schema),
                quote_ident(&f.ref_table)
            ),
            parent_columns: f.ref_columns.clone(),
            match_full: f.match_full,
            mask: f.columns.iter().any(|c| t.is_pii(c)),
        });
    }
    for s in &rules.sequences {
        t.sequences.push(SequenceCheck {
            outcome: outcome("sequence", Some(s.column.clone()), Some(s.sequence.clone())),
            state: s.clone(),
        });
    }
    t
}

/// The text of some columns for findings: the value of one column, `a=…, b=…` of several.
pub(super) fn values_sql(columns: &[String]) -> String {
    match columns {
        [one] => text_of(one),
        many => format!(
            "pg_catalog.concat_ws(', ', {})",
            many.iter()
                .map(|c| format!(
                    "{} || '=' || COALESCE({}, 'NULL')",
                    quote_literal(c),
                    text_of(c)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
