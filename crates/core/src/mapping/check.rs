//! Checks of a parsed mapping that involve more than one key. The first problem in file order is
//! returned with the span it is reported at.
use super::{ColumnSpec, Mapping, OnError, Span, TableSpec};

type Problem = (Span, String);

pub fn check(mapping: &Mapping) -> Result<(), Problem> {
    let mut problems = Vec::new();
    for table in &mapping.tables {
        check_table(mapping, table, &mut problems);
    }
    match problems.into_iter().min_by_key(|(span, _)| span.start) {
        Some(p) => Err(p),
        None => Ok(()),
    }
}

fn check_table(mapping: &Mapping, table: &TableSpec, problems: &mut Vec<Problem>) {
    if table.source.is_empty() {
        problems.push((table.span.clone(), "`source` must name a table".into()));
    }
    if let Some(key) = &table.key {
        if key.get_ref().is_empty() {
            problems.push((
                key.span(),
                format!(
                    "table `{}`: `key` must name at least one column (or leave it out to use the \
                     target's primary key)",
                    table.source
                ),
            ));
        }
    }
    for (name, column) in table.columns.iter() {
        let what = format!("column `{name}` of table `{}`", table.target_name());
        if let Some(message) = check_column(mapping, column) {
            problems.push((column.span.clone(), format!("{what}: {message}")));
        }
        if let Some(concat) = &column.concat {
            if concat.get_ref().is_empty() {
                problems.push((concat.span(), format!("{what}: `concat` names no column")));
            }
        }
        if let Some(uuid) = &column.uuid {
            if uuid.from.get_ref().is_empty() {
                problems.push((
                    uuid.from.span(),
                    format!("{what}: `uuid.from` names no column"),
                ));
            }
        }
    }
}

fn check_column(mapping: &Mapping, c: &ColumnSpec) -> Option<String> {
    let sources = c.value_sources();
    match sources.len() {
        0 => {
            return Some(
                "give exactly one of `from`, `const`, `concat` or `uuid` to say where the value \
                 comes from"
                    .into(),
            )
        }
        1 => {}
        _ => {
            let found = sources
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(" and ");
            return Some(format!(
                "{found} both say where the value comes from: keep exactly one"
            ));
        }
    }
    if c.on_error == OnError::Default && c.default.is_none() {
        return Some("on_error = \"default\" needs a `default` value".into());
    }
    if c.lower && c.upper {
        return Some("`lower` and `upper` cannot both be set".into());
    }
    if c.separator.is_some() && c.concat.is_none() {
        return Some("`separator` is only used with `concat`".into());
    }
    if c.uuid.is_some() && mapping.uuid_namespace.is_none() {
        return Some(
            "`uuid` needs `uuid_namespace` at the top of the file (any fixed UUID, e.g. from \
             `uuidgen`; never change it after the first load)"
                .into(),
        );
    }
    None
}
