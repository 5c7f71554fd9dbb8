//! Rules the mapping declares: the column rules of `checks = { … }` (their SQL comes from
//! `cutover_core::rules`, the same definitions `plan` evaluates in Rust), the mapping's `key`
//! (unique and never NULL, even where no index says so), and the relationships its `uuid`
//! columns imply (`uuid = { table = "accounts", … }` in `contacts.account_id` refers to the
//! table whose key is `uuid = { table = "accounts", … }`) where the schema has no foreign key.
use cutover_core::catalog::TableInfo;
use cutover_core::mapping::{Mapping, Span, TableSpec};
use cutover_core::program::Severity;
use cutover_core::rules;
use cutover_core::validation::RuleOutcome;
use cutover_postgres::integrity::Integrity;

use super::catalog_rules::{outcome, scope as catalog_scope};
use super::sql::{col, text_of};
use super::{KeyCheck, OrphanCheck, RowCheck, TableScope};

/// The table with its catalog rules and the mapping's; `Err` lists what makes the mapping
/// unusable against this table (unknown columns, rules that cannot check their column).
pub(super) fn scope(
    m: &Mapping,
    spec: &TableSpec,
    file: &str,
    info: &TableInfo,
    integrity: &Integrity,
) -> Result<TableScope, Vec<String>> {
    let mut problems = Vec::new();
    let at = |span: &Span| -> String {
        m.locate(file, span)
            .map(|l| format!("{l}: "))
            .unwrap_or_default()
    };
    let key = spec
        .key_columns()
        .map(<[String]>::to_vec)
        .unwrap_or_else(|| info.primary_key.clone());
    for k in key.iter().filter(|k| info.column(k).is_none()) {
        let span = spec.key.as_ref().map_or(spec.span.clone(), |k| k.span());
        problems.push(format!(
            "{}key column `{k}` is not a column of target table `{}`",
            at(&span),
            info.name
        ));
    }
    let pii = rules::pii_columns(spec);
    for (name, c) in spec.columns.iter().filter(|(_, c)| c.pii) {
        if info.column(name).is_none() {
            problems.push(format!(
                "{}`pii` on `{name}`: no such column in target table `{}`",
                at(&c.span),
                info.name
            ));
        }
    }
    let (declared, findings) = rules::compile(m, spec, file, info);
    problems.extend(
        findings
            .iter()
            .filter(|f| f.severity == Severity::Blocker)
            .map(|f| match &f.location {
                Some(l) => format!("{l}: {}", f.message),
                None => f.message.clone(),
            }),
    );
    if !problems.is_empty() {
        return Err(problems);
    }

    let mut t = catalog_scope(info, integrity, key.clone(), pii);
    for k in key
        .iter()
        .filter(|k| info.column(k).is_some_and(|c| !c.not_null))
    {
        t.rows.push(RowCheck {
            outcome: outcome("key_not_null", Some(k.clone()), None),
            predicate: format!("{} IS NULL", col(k)),
            value_sql: None,
            mask: false,
        });
    }
    let mut sorted_key = key.clone();
    sorted_key.sort();
    let indexed = integrity.uniques.iter().any(|u| {
        let mut cols = u.columns.clone();
        cols.sort();
        cols == sorted_key && u.predicate.is_none()
    });
    if !key.is_empty() && !indexed {
        let mut o = outcome("key", Some(key.join(",")), None);
        o.detail = Some("the mapping's key: no unique index or constraint covers it".into());
        t.keys.push(KeyCheck {
            outcome: o,
            columns: key,
            predicate: None,
        });
    }
    for r in declared {
        let mut o = RuleOutcome::new(r.check.name(), r.severity, r.tolerance);
        o.column = Some(r.column.clone());
        o.location = r.location.clone();
        let mask = t.is_pii(&r.column);
        t.rows.push(RowCheck {
            outcome: o,
            predicate: r.violation_sql(&col(&r.column)),
            value_sql: Some(text_of(&r.column)),
            mask,
        });
    }
    Ok(t)
}

/// Adds a `mapping_reference` check for each relationship the mapping's `uuid` columns declare
/// that no foreign key of the schema covers.
pub(super) fn references(m: &Mapping, file: &str, scopes: &mut [TableScope]) {
    // (uuid table, target table, key column) of every table keyed by one uuid column.
    let parents: Vec<(String, String, String)> = m
        .tables
        .iter()
        .filter_map(|spec| {
            let scope = scopes.iter().find(|s| s.info.name == spec.target_name())?;
            let [key] = scope.key.as_slice() else {
                return None;
            };
            let uuid = spec.columns.get(key)?.uuid.as_ref()?;
            Some((uuid.table.clone(), scope.info.name.clone(), key.clone()))
        })
        .collect();
    for spec in &m.tables {
        let Some(child) = scopes
            .iter()
            .position(|s| s.info.name == spec.target_name())
        else {
            continue;
        };
        for (column, c) in spec.columns.iter() {
            let Some(uuid) = &c.uuid else { continue };
            let Some((_, parent, parent_key)) = parents
                .iter()
                .find(|(t, p, k)| *t == uuid.table && !(p == spec.target_name() && k == column))
            else {
                continue;
            };
            let Some(parent_info) = scopes.iter().find(|s| s.info.name == *parent) else {
                continue;
            };
            let qualified = parent_info.info.qualified();
            let t = &mut scopes[child];
            let covered = t.orphans.iter().any(|o| {
                o.columns == [column.to_string()]
                    && o.parent == qualified
                    && o.parent_columns == [parent_key.clone()]
            });
            if covered || t.info.column(column).is_none() {
                continue;
            }
            let mut o = outcome("mapping_reference", Some(column.to_string()), None);
            o.location = m.locate(file, &c.span).map(|l| l.to_string());
            o.detail = Some(format!(
                "the mapping's `uuid = {{ table = \"{}\" }}` refers to `{parent}.{parent_key}`; \
                 the schema has no foreign key for it",
                uuid.table
            ));
            let mask = t.is_pii(column);
            t.orphans.push(OrphanCheck {
                outcome: o,
                columns: vec![column.to_string()],
                parent: qualified,
                parent_columns: vec![parent_key.clone()],
                match_full: false,
                mask,
            });
        }
    }
}
