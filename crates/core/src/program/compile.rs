//! Compiling a [`TableSpec`] against the catalogs: resolve names, follow each column's type
//! through its transforms, and report what cannot work as [`Finding`]s.
use crate::batch::binary_schema;
use crate::catalog::{ColumnInfo, TableInfo};
use crate::mapping::{Mapping, Span, TableSpec};
use crate::pgtype::PgType;

use super::expr::OutputColumn;
use super::suggest::did_you_mean;
use super::{Finding, Severity, TableProgram};

mod cast;
mod column;
mod steps;

pub fn compile(
    mapping: &Mapping,
    spec: &TableSpec,
    file: &str,
    source: &TableInfo,
    target: &TableInfo,
) -> (Option<TableProgram>, Vec<Finding>) {
    let mut c = Compiler {
        mapping,
        spec,
        file,
        source,
        target,
        findings: Vec::new(),
        used: vec![false; source.columns.len()],
    };
    let outputs = c.outputs();
    let key = c.key(&outputs);
    c.cursor();
    if source.primary_key.is_empty() {
        c.finding(
            Severity::Warning,
            None,
            Some(&spec.span),
            format!(
                "source table `{}` has no primary key: rejected rows cannot be named by key",
                source.name
            ),
        );
    }
    let findings = c.findings;
    if findings.iter().any(|f| f.severity == Severity::Blocker) {
        return (None, findings);
    }

    // Read the used source columns and the source key, in source attribute order.
    let mut used = c.used;
    for k in &source.primary_key {
        if let Some(i) = source.columns.iter().position(|col| &col.name == k) {
            used[i] = true;
        }
    }
    let attrs: Vec<usize> = (0..used.len()).filter(|&i| used[i]).collect();
    let position = |attr: usize| attrs.iter().position(|&a| a == attr).expect("used column");
    let source_columns: Vec<String> = attrs
        .iter()
        .map(|&a| source.columns[a].name.clone())
        .collect();
    let source_key = source
        .primary_key
        .iter()
        .filter_map(|k| source_columns.iter().position(|c| c == k))
        .collect();
    let (target_columns, mut outputs): (Vec<ColumnInfo>, Vec<OutputColumn>) =
        outputs.into_iter().unzip();
    for out in &mut outputs {
        out.expr.remap(&position);
    }
    let names: Vec<&str> = target_columns.iter().map(|c| c.name.as_str()).collect();
    let program = TableProgram {
        source: source.clone(),
        target: target.clone(),
        schema: binary_schema(&names),
        source_columns,
        source_key,
        key,
        on_error: outputs.iter().map(|o| o.on_error).collect(),
        target_columns,
        cursor: spec.cursor_column().map(str::to_string),
        filter: spec.filter.clone(),
        utf8_inputs: Vec::new(),
        outputs,
    };
    (Some(program), findings)
}

struct Compiler<'a> {
    mapping: &'a Mapping,
    spec: &'a TableSpec,
    file: &'a str,
    source: &'a TableInfo,
    target: &'a TableInfo,
    findings: Vec<Finding>,
    /// Per source attribute: read by some output column.
    used: Vec<bool>,
}

/// A value and the type it has at some point of a column's computation.
struct Typed {
    ty: PgType,
    /// For messages: "source column `x` (integer)", "the value after `map` (text)".
    what: String,
}

impl<'a> Compiler<'a> {
    fn finding(
        &mut self,
        severity: Severity,
        column: Option<&str>,
        span: Option<&Span>,
        message: String,
    ) {
        self.findings.push(Finding {
            severity,
            table: Some(self.target.name.clone()),
            column: column.map(str::to_string),
            location: span
                .and_then(|s| self.mapping.locate(self.file, s))
                .map(|l| l.to_string()),
            message,
        });
    }

    fn blocker(&mut self, column: &str, span: &Span, message: String) {
        self.finding(Severity::Blocker, Some(column), Some(span), message);
    }

    /// The output columns, in target attribute order.
    fn outputs(&mut self) -> Vec<(ColumnInfo, OutputColumn)> {
        let spec = self.spec;
        let target = self.target;
        for (name, col) in spec.columns.iter() {
            match target.column(name) {
                None => {
                    let hint = did_you_mean(name, target.columns.iter().map(|c| c.name.as_str()));
                    let message = format!(
                        "unknown column `{name}` in target table `{}`{hint}",
                        target.name
                    );
                    self.blocker(name, &col.span, message);
                }
                Some(t) if t.generated => {
                    let message = format!("target column `{name}` is generated and cannot be written: remove its section");
                    self.blocker(name, &col.span, message);
                }
                Some(_) => {}
            }
        }
        let mut outputs = Vec::new();
        for t in target.columns.iter().filter(|t| !t.generated) {
            let out = if let Some(col) = spec.columns.get(&t.name) {
                self.column(t, col).map(|out| OutputColumn {
                    pii: col.pii,
                    ..out
                })
            } else if let Some(s) = spec
                .copy_unmapped
                .then(|| self.source.column(&t.name))
                .flatten()
            {
                self.copy(t, s)
            } else {
                if t.not_null && !t.has_default {
                    let message = format!(
                        "target column `{}` is NOT NULL without a default and nothing fills it: add a \
                         [tables.columns.{}] section{}",
                        t.name,
                        t.name,
                        if spec.copy_unmapped { "" } else { " or set copy_unmapped = true" }
                    );
                    self.blocker(&t.name, &spec.span, message);
                }
                None
            };
            if let Some(out) = out {
                outputs.push((t.clone(), out));
            }
        }
        outputs
    }

    /// Indices into the outputs of the target key.
    fn key(&mut self, outputs: &[(ColumnInfo, OutputColumn)]) -> Vec<usize> {
        let spec = self.spec;
        let (names, span) = match &spec.key {
            Some(k) => (k.get_ref().clone(), k.span()),
            None => (self.target.primary_key.clone(), spec.span.clone()),
        };
        if names.is_empty() {
            let message = format!(
                "target table `{}` has no key: set `key` in the mapping or add a primary key",
                self.target.name
            );
            self.finding(Severity::Blocker, None, Some(&spec.span), message);
        }
        let mut key = Vec::new();
        for name in &names {
            if let Some(i) = outputs.iter().position(|(t, _)| &t.name == name) {
                key.push(i);
                continue;
            }
            let message = if self.target.column(name).is_some() {
                format!("key column `{name}` is not written by the mapping")
            } else {
                let hint = did_you_mean(name, self.target.columns.iter().map(|c| c.name.as_str()));
                format!(
                    "key column `{name}` is not a column of target table `{}`{hint}",
                    self.target.name
                )
            };
            self.finding(Severity::Blocker, Some(name), Some(&span), message);
        }
        key
    }

    /// `cursor` must be a source column.
    fn cursor(&mut self) {
        let Some(cursor) = &self.spec.cursor else {
            return;
        };
        let name = cursor.get_ref();
        if self.source.column(name).is_none() {
            let hint = did_you_mean(name, self.source.columns.iter().map(|c| c.name.as_str()));
            let message = format!(
                "cursor `{name}` is not a column of source table `{}`{hint}",
                self.source.name
            );
            self.finding(Severity::Blocker, None, Some(&cursor.span()), message);
        }
    }
}
