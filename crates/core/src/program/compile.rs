//! Compiling a [`TableSpec`] against the catalogs: resolve names, follow each column's type
//! through its transforms, and report what cannot work as [`Finding`]s.
use crate::batch::binary_schema;
use crate::catalog::{ColumnInfo, TableInfo};
use crate::mapping::{ColumnSpec, Literal, Mapping, OnError, Span, TableSpec};
use crate::pgtype::PgType;
use crate::transform::{parse_region, CodeMap};
use crate::value::{self, Value};

use super::expr::{Case, Expr, Origin, OutputColumn, Steps};
use super::suggest::did_you_mean;
use super::{Finding, Severity, TableProgram};

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
                self.column(t, col)
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

    /// `copy_unmapped`: the same-named source column, cast when the types differ.
    fn copy(&mut self, t: &ColumnInfo, s: &ColumnInfo) -> Option<OutputColumn> {
        let attr = self.source.columns.iter().position(|c| c.name == s.name)?;
        let expr = if same_bytes(&s.ty, &t.ty) {
            Expr::Pass { input: attr }
        } else if value::can_cast(&s.ty, &t.ty) {
            Expr::Compute {
                origin: Origin::Column {
                    input: attr,
                    ty: s.ty.clone(),
                },
                steps: Steps::default(),
            }
        } else {
            let message = format!(
                "copy_unmapped: source column `{}` ({}) cannot be cast to target column `{}` ({})",
                s.name, s.type_sql, t.name, t.type_sql
            );
            let spec = self.spec;
            self.blocker(&t.name, &spec.span, message);
            return None;
        };
        self.used[attr] = true;
        Some(output(t, OnError::Reject, None, expr))
    }

    /// A source column by name, marked used; a BLOCKER at `span` when it does not exist.
    fn source_column(
        &mut self,
        name: &str,
        column: &str,
        span: &Span,
    ) -> Option<(usize, &'a ColumnInfo)> {
        let source = self.source;
        match source.columns.iter().position(|c| c.name == name) {
            Some(i) => {
                self.used[i] = true;
                Some((i, &source.columns[i]))
            }
            None => {
                let hint = did_you_mean(name, source.columns.iter().map(|c| c.name.as_str()));
                let message = format!(
                    "unknown column `{name}` in source table `{}`{hint}",
                    source.name
                );
                self.blocker(column, span, message);
                None
            }
        }
    }

    /// Source columns whose texts feed `concat` or `uuid`.
    fn text_inputs(
        &mut self,
        names: &[String],
        key: &str,
        column: &str,
        span: &Span,
    ) -> Option<Vec<(usize, PgType)>> {
        let mut inputs = Vec::new();
        let mut ok = true;
        for name in names {
            let Some((i, s)) = self.source_column(name, column, span) else {
                ok = false;
                continue;
            };
            let (ty, type_sql) = (s.ty.clone(), s.type_sql.clone());
            if !has_text(&ty) {
                let message =
                    format!("`{key}` needs columns with a text form, but `{name}` is {type_sql}");
                self.blocker(column, span, message);
                ok = false;
            }
            inputs.push((i, ty));
        }
        ok.then_some(inputs)
    }

    /// A column with a section in the mapping.
    fn column(&mut self, t: &ColumnInfo, col: &ColumnSpec) -> Option<OutputColumn> {
        let name = t.name.as_str();
        let span = &col.span;
        let default = self.default_bytes(t, col);
        if let Some(lit) = &col.constant {
            let start = Typed {
                ty: lit.pg_type(),
                what: format!("the constant {lit}"),
            };
            let (steps, typed) = self.steps(t, col, start)?;
            let bytes = steps
                .apply(lit.to_value())
                .and_then(|v| encode(&t.ty, &v))
                .map_err(|e| {
                    let message = format!(
                        "the constant {lit} cannot be stored in `{name}` ({}): {e}",
                        t.type_sql
                    );
                    self.blocker(name, span, message);
                })
                .ok()?;
            self.cast(t, span, &typed)?;
            return Some(output(t, col.on_error, default?, Expr::Const { bytes }));
        }
        let (origin, start) = if let Some(from) = &col.from {
            let (i, s) = self.source_column(from.get_ref(), name, &from.span())?;
            let typed = Typed {
                ty: s.ty.clone(),
                what: format!("source column `{}` ({})", s.name, s.type_sql),
            };
            (
                Origin::Column {
                    input: i,
                    ty: s.ty.clone(),
                },
                typed,
            )
        } else if let Some(concat) = &col.concat {
            let inputs = self.text_inputs(concat.get_ref(), "concat", name, &concat.span())?;
            let separator = col.separator.clone().unwrap_or_default();
            let typed = Typed {
                ty: PgType::Text,
                what: "the `concat` (text)".into(),
            };
            (Origin::Concat { inputs, separator }, typed)
        } else if let Some(uuid) = &col.uuid {
            let inputs = self.text_inputs(uuid.from.get_ref(), "uuid", name, &uuid.from.span());
            let Some(namespace) = self.mapping.uuid_namespace else {
                self.blocker(
                    name,
                    span,
                    "`uuid` needs `uuid_namespace` in the mapping".into(),
                );
                return None;
            };
            let typed = Typed {
                ty: PgType::Uuid,
                what: "the `uuid` (uuid)".into(),
            };
            (
                Origin::Uuid {
                    namespace,
                    table: uuid.table.clone(),
                    inputs: inputs?,
                },
                typed,
            )
        } else {
            let message = "give exactly one of `from`, `const`, `concat` or `uuid`".to_string();
            self.blocker(name, span, message);
            return None;
        };
        let (steps, typed) = self.steps(t, col, start)?;
        self.cast(t, span, &typed)?;
        let expr = match origin {
            Origin::Column { input, ty } if steps.is_empty() && same_bytes(&ty, &t.ty) => {
                Expr::Pass { input }
            }
            origin => Expr::Compute { origin, steps },
        };
        Some(output(t, col.on_error, default?, expr))
    }

    /// `on_error = "default"`: the default encoded in the target type (`Some(None)` otherwise).
    fn default_bytes(&mut self, t: &ColumnInfo, col: &ColumnSpec) -> Option<Option<Vec<u8>>> {
        let (OnError::Default, Some(lit)) = (col.on_error, &col.default) else {
            return Some(None);
        };
        let stored = if value::can_cast(&lit.pg_type(), &t.ty) {
            encode(&t.ty, &lit.to_value())
        } else {
            Err(format!(
                "a {} cannot be cast to it",
                type_name(&lit.pg_type())
            ))
        };
        match stored {
            Ok(bytes) => Some(Some(bytes)),
            Err(e) => {
                let message = format!(
                    "default {lit} cannot be stored in `{}` ({}): {e}",
                    t.name, t.type_sql
                );
                self.blocker(&t.name, &col.span, message);
                None
            }
        }
    }

    /// The final cast to the target type must be possible.
    fn cast(&mut self, t: &ColumnInfo, span: &Span, typed: &Typed) -> Option<()> {
        if value::can_cast(&typed.ty, &t.ty) {
            return Some(());
        }
        let message = format!(
            "{} cannot be cast to the type of target column `{}` ({})",
            typed.what, t.name, t.type_sql
        );
        self.blocker(&t.name, span, message);
        None
    }

    /// Compiles the transform steps, following the value's type through them.
    fn steps(&mut self, t: &ColumnInfo, col: &ColumnSpec, start: Typed) -> Option<(Steps, Typed)> {
        let mut steps = Steps::default();
        let mut typed = start;
        let mut ok = true;
        if col.trim || col.lower || col.upper {
            let name = if col.trim {
                "trim"
            } else if col.lower {
                "lower"
            } else {
                "upper"
            };
            ok &= self.step(
                t,
                col,
                name,
                typed.ty.is_textual(),
                "text",
                PgType::Text,
                &mut typed,
            );
            steps.trim = col.trim;
            steps.case = match (col.lower, col.upper) {
                (true, _) => Some(Case::Lower),
                (_, true) => Some(Case::Upper),
                _ => None,
            };
        }
        if let Some(entries) = &col.map {
            let kinds: Vec<PgType> = entries
                .values()
                .chain(&col.default)
                .map(Literal::pg_type)
                .collect();
            let out = kinds.first().cloned().unwrap_or(PgType::Text);
            if kinds.iter().any(|k| *k != out) {
                let message = "`map` values (and `default`) must all be of one kind: all strings, \
                               all integers, all floats or all booleans"
                    .to_string();
                self.blocker(&t.name, &col.span, message);
                ok = false;
            }
            let blank_padded = matches!(typed.ty, PgType::Bpchar { .. });
            let needs = "a value with a text form";
            ok &= self.step(t, col, "map", has_text(&typed.ty), needs, out, &mut typed);
            steps.map = Some(CodeMap::new(entries, col.default.as_ref(), blank_padded));
        }
        if col.email {
            ok &= self.step(
                t,
                col,
                "email",
                typed.ty.is_textual(),
                "text",
                PgType::Text,
                &mut typed,
            );
            steps.email = true;
        }
        if col.phone {
            let accepts = typed.ty.is_textual() || typed.ty.is_integer();
            ok &= self.step(
                t,
                col,
                "phone",
                accepts,
                "text or integer",
                PgType::Text,
                &mut typed,
            );
            steps.phone = Some(self.region(t, col)?);
        }
        if let Some(scale) = col.scale {
            let accepts = typed.ty.is_integer()
                || matches!(
                    typed.ty,
                    PgType::Numeric { .. } | PgType::Float4 | PgType::Float8
                );
            let out = PgType::Numeric {
                precision: None,
                scale: Some(scale),
            };
            ok &= self.step(t, col, "scale", accepts, "a number", out, &mut typed);
            steps.scale = Some(scale);
        }
        if let Some(tz) = col.timezone {
            let (accepts, precision) = match typed.ty {
                PgType::Timestamp { precision } => (true, precision),
                _ => (false, None),
            };
            let out = PgType::Timestamptz { precision };
            let needs = "a timestamp without time zone";
            ok &= self.step(t, col, "timezone", accepts, needs, out, &mut typed);
            steps.timezone = Some(tz);
        }
        ok.then_some((steps, typed))
    }

    /// One step: a BLOCKER when it does not accept the value's type; the value's type after it.
    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        t: &ColumnInfo,
        col: &ColumnSpec,
        name: &str,
        accepts: bool,
        needs: &str,
        out: PgType,
        typed: &mut Typed,
    ) -> bool {
        if !accepts {
            let message = format!("`{name}` needs {needs}, but {} is not", typed.what);
            self.blocker(&t.name, &col.span, message);
        }
        typed.what = format!("the value after `{name}` ({})", type_name(&out));
        typed.ty = out;
        accepts
    }

    /// The region for `phone`: the column's, else the mapping's default (a WARNING when none).
    fn region(
        &mut self,
        t: &ColumnInfo,
        col: &ColumnSpec,
    ) -> Option<Option<crate::transform::Region>> {
        let Some(code) = col
            .region
            .as_deref()
            .or(self.mapping.default_region.as_deref())
        else {
            let message = format!(
                "`phone` of `{}` has no region: only numbers written with +CC will load; set \
                 `default_region` or `region`",
                t.name
            );
            self.finding(Severity::Warning, Some(&t.name), Some(&col.span), message);
            return Some(None);
        };
        match parse_region(code) {
            Some(r) => Some(Some(r)),
            None => {
                let message = format!("region `{code}` is not known to the phone number metadata");
                self.blocker(&t.name, &col.span, message);
                None
            }
        }
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

fn output(t: &ColumnInfo, on_error: OnError, default: Option<Vec<u8>>, expr: Expr) -> OutputColumn {
    OutputColumn {
        name: t.name.clone(),
        ty: t.ty.clone(),
        not_null: t.not_null,
        on_error,
        default,
        expr,
    }
}

fn encode(ty: &PgType, v: &Value) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    value::encode(ty, v, &mut out).map_err(|e| e.0)?;
    Ok(out)
}

/// True when every value of type `from` is stored in `to` with the very same binary bytes (a
/// cast that changes nothing), so the column can pass through untouched: equal types, and
/// widenings that keep the bytes (`varchar(n)` → `text`, `numeric(p,s)` → `numeric`,
/// `timestamp(3)` → `timestamp`, an enum label → `text`).
fn same_bytes(from: &PgType, to: &PgType) -> bool {
    use PgType as P;
    /// A precision typmod `b` holds every value of precision `a` (`None` = the maximum).
    fn wider(a: &Option<u8>, b: &Option<u8>) -> bool {
        match (a, b) {
            (_, None) => true,
            (Some(a), Some(b)) => a <= b,
            (None, Some(_)) => false,
        }
    }
    match (from, to) {
        _ if from == to => true,
        (P::Text | P::Varchar { .. } | P::Enum { .. }, P::Text | P::Varchar { len: None }) => true,
        (P::Varchar { len: Some(a) }, P::Varchar { len: Some(b) }) => a <= b,
        (
            P::Numeric { .. },
            P::Numeric {
                precision: None,
                scale: None,
            },
        ) => true,
        (
            P::Numeric {
                precision: Some(p1),
                scale: s1,
            },
            P::Numeric {
                precision: Some(p2),
                scale: s2,
            },
        ) => s1 == s2 && p1 <= p2,
        (P::Timestamp { precision: a }, P::Timestamp { precision: b })
        | (P::Timestamptz { precision: a }, P::Timestamptz { precision: b })
        | (P::Time { precision: a }, P::Time { precision: b }) => wider(a, b),
        _ => false,
    }
}

/// Types whose decoded values have a text form (`Value::as_text`) for `map`, `concat` and
/// `uuid`: all but those passed through as raw bytes.
fn has_text(ty: &PgType) -> bool {
    !matches!(
        ty,
        PgType::Money
            | PgType::TimeTz { .. }
            | PgType::Interval
            | PgType::Inet
            | PgType::Cidr
            | PgType::Macaddr
            | PgType::Array(_)
            | PgType::Other { .. }
    )
}

/// SQL name of a type a value can have between transforms.
fn type_name(ty: &PgType) -> String {
    match ty {
        PgType::Text => "text".into(),
        PgType::Int8 => "bigint".into(),
        PgType::Float8 => "double precision".into(),
        PgType::Bool => "boolean".into(),
        PgType::Uuid => "uuid".into(),
        PgType::Numeric { scale: Some(s), .. } => format!("numeric with scale {s}"),
        PgType::Numeric { .. } => "numeric".into(),
        PgType::Timestamptz { .. } => "timestamp with time zone".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_only_for_casts_that_change_nothing() {
        let vc = |n| PgType::Varchar { len: n };
        let num = |p, s| PgType::Numeric {
            precision: p,
            scale: s,
        };
        let ts = |p| PgType::Timestamp { precision: p };
        let cases = [
            (PgType::Int4, PgType::Int4, true),
            (vc(Some(10)), PgType::Text, true),
            (PgType::Text, vc(None), true),
            (vc(Some(10)), vc(Some(20)), true),
            (PgType::Enum { name: "s".into() }, PgType::Text, true),
            (num(Some(12), Some(2)), num(None, None), true),
            (num(Some(12), Some(2)), num(Some(14), Some(2)), true),
            (ts(Some(3)), ts(None), true),
            (ts(Some(3)), ts(Some(6)), true),
            // Each of these may change or refuse a value.
            (vc(Some(20)), vc(Some(10)), false),
            (PgType::Text, vc(Some(10)), false),
            (PgType::Text, PgType::Bpchar { len: Some(3) }, false),
            (PgType::Bpchar { len: Some(3) }, PgType::Text, false),
            (PgType::Text, PgType::Enum { name: "s".into() }, false),
            (PgType::Int4, PgType::Int8, false),
            (num(Some(12), Some(2)), num(Some(12), Some(3)), false),
            (num(None, None), num(Some(12), Some(2)), false),
            (ts(None), ts(Some(3)), false),
            (ts(None), PgType::Timestamptz { precision: None }, false),
            (PgType::Jsonb, PgType::Text, false),
        ];
        for (from, to, want) in cases {
            assert_eq!(same_bytes(&from, &to), want, "{from:?} → {to:?}");
        }
    }
}
