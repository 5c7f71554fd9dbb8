//! Compiling one target column: where its value comes from, its default, the final cast.
use super::cast::{has_text, same_bytes, type_name};
use super::{Compiler, Typed};
use crate::catalog::ColumnInfo;
use crate::mapping::{ColumnSpec, OnError, Span};
use crate::pgtype::PgType;
use crate::program::expr::{Expr, Origin, OutputColumn, Steps};
use crate::program::suggest::did_you_mean;
use crate::value::{self, Value};

impl<'a> Compiler<'a> {
    /// `copy_unmapped`: the same-named source column, cast when the types differ.
    pub(super) fn copy(&mut self, t: &ColumnInfo, s: &ColumnInfo) -> Option<OutputColumn> {
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
    pub(super) fn source_column(
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
    pub(super) fn text_inputs(
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
    pub(super) fn column(&mut self, t: &ColumnInfo, col: &ColumnSpec) -> Option<OutputColumn> {
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
            let memo =
                uuid.from.get_ref().len() == 1 && *uuid.from.get_ref() != self.source.primary_key;
            (
                Origin::Uuid {
                    names: Box::new(crate::transform::UuidNames::new(&namespace, &uuid.table)),
                    inputs: inputs?,
                    memo,
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
    pub(super) fn default_bytes(
        &mut self,
        t: &ColumnInfo,
        col: &ColumnSpec,
    ) -> Option<Option<Vec<u8>>> {
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
    pub(super) fn cast(&mut self, t: &ColumnInfo, span: &Span, typed: &Typed) -> Option<()> {
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
}

pub(super) fn output(
    t: &ColumnInfo,
    on_error: OnError,
    default: Option<Vec<u8>>,
    expr: Expr,
) -> OutputColumn {
    OutputColumn {
        name: t.name.clone(),
        ty: t.ty.clone(),
        not_null: t.not_null,
        on_error,
        default,
        expr,
        pii: false,
    }
}

pub(super) fn encode(ty: &PgType, v: &Value) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    value::encode(ty, v, &mut out).map_err(|e| e.0)?;
    Ok(out)
}
