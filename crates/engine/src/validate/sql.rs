//! The SQL of validate. Every query reads one table aliased `t`, every identifier is quoted,
//! and every result column is text (or a count), so that rows come back through the simple
//! protocol without type mapping.
use cutover_core::catalog::quote_ident;

use super::TableScope;

/// Column `name` of the table being checked.
pub(super) fn col(name: &str) -> String {
    format!("t.{}", quote_ident(name))
}

/// The text of column `name` (as its output function prints it).
pub(super) fn text_of(name: &str) -> String {
    format!("CAST({} AS pg_catalog.text)", col(name))
}

/// The texts naming a row: its key columns, or its ctid when it has no key.
fn key_texts(t: &TableScope) -> Vec<String> {
    if t.key.is_empty() {
        vec!["CAST(t.ctid AS pg_catalog.text)".into()]
    } else {
        t.key.iter().map(|k| text_of(k)).collect()
    }
}

/// Number of leading columns of [`samples`] and [`orphans`] rows that name the row.
pub(super) fn key_width(t: &TableScope) -> usize {
    t.key.len().max(1)
}

/// THE scan: `count(*)`, one `count(*) FILTER` per row rule, then per sequence-fed column its
/// maximum (or minimum, for a descending sequence) as text.
pub(super) fn scan(t: &TableScope) -> String {
    let mut cols = vec!["count(*)".to_string()];
    for r in &t.rows {
        cols.push(format!("count(*) FILTER (WHERE {})", r.predicate));
    }
    for s in &t.sequences {
        let f = if s.state.increment < 0 { "min" } else { "max" };
        cols.push(format!(
            "CAST(pg_catalog.{f}({}) AS pg_catalog.text)",
            col(&s.state.column)
        ));
    }
    format!("SELECT {} FROM {} t", cols.join(", "), t.info.qualified())
}

/// The rows breaking any of the row rules `which`: key texts, then per rule in `which` a flag
/// (`t`/`f`) and the offending value's text.
pub(super) fn samples(t: &TableScope, which: &[usize]) -> String {
    let mut cols = key_texts(t);
    for &i in which {
        let r = &t.rows[i];
        cols.push(format!("COALESCE({}, false)", r.predicate));
        cols.push(r.value_sql.clone().unwrap_or_else(|| "NULL".into()));
    }
    let any = which
        .iter()
        .map(|&i| format!("({})", t.rows[i].predicate))
        .collect::<Vec<_>>()
        .join(" OR ");
    format!(
        "SELECT {} FROM {} t WHERE {any}",
        cols.join(", "),
        t.info.qualified()
    )
}

/// Keys of key check `k` shared by several rows: the key's texts and the number of rows.
/// Rows with a NULL in the key are not compared (NULLs are distinct, as in a unique index).
pub(super) fn duplicates(t: &TableScope, k: usize) -> String {
    let check = &t.keys[k];
    let cols: Vec<String> = check.columns.iter().map(|c| col(c)).collect();
    let mut conds: Vec<String> = cols.iter().map(|c| format!("{c} IS NOT NULL")).collect();
    if let Some(p) = &check.predicate {
        conds.push(format!("({p})"));
    }
    format!(
        "SELECT {}, count(*) FROM {} t WHERE {} GROUP BY {} HAVING count(*) > 1",
        check
            .columns
            .iter()
            .map(|c| text_of(c))
            .collect::<Vec<_>>()
            .join(", "),
        t.info.qualified(),
        conds.join(" AND "),
        cols.join(", ")
    )
}

/// Rows of orphan check `k` whose reference finds no parent row: key texts, then the
/// referencing columns' texts.
pub(super) fn orphans(t: &TableScope, k: usize) -> String {
    let check = &t.orphans[k];
    let refs: Vec<String> = check.columns.iter().map(|c| col(c)).collect();
    let join = refs
        .iter()
        .zip(&check.parent_columns)
        .map(|(c, p)| format!("p.{} = {c}", quote_ident(p)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let missing = format!("NOT EXISTS (SELECT 1 FROM {} p WHERE {join})", check.parent);
    let all_set = refs
        .iter()
        .map(|c| format!("{c} IS NOT NULL"))
        .collect::<Vec<_>>()
        .join(" AND ");
    // MATCH SIMPLE: a row with any NULL reference column is not checked. MATCH FULL: all NULL
    // or none; a partly NULL reference is an orphan too.
    let cond = if check.match_full && refs.len() > 1 {
        let all_null = refs
            .iter()
            .map(|c| format!("{c} IS NULL"))
            .collect::<Vec<_>>()
            .join(" AND ");
        format!("NOT ({all_null}) AND (NOT ({all_set}) OR {missing})")
    } else {
        format!("{all_set} AND {missing}")
    };
    let mut cols = key_texts(t);
    cols.extend(check.columns.iter().map(|c| text_of(c)));
    format!(
        "SELECT {} FROM {} t WHERE {cond}",
        cols.join(", "),
        t.info.qualified()
    )
}
