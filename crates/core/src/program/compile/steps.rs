//! Compiling a column's transform steps, following the value's type through them.
use super::cast::{has_text, type_name};
use super::{Compiler, Typed};
use crate::catalog::ColumnInfo;
use crate::mapping::{ColumnSpec, Literal};
use crate::pgtype::PgType;
use crate::program::expr::{Case, Steps};
use crate::program::Severity;
use crate::transform::{parse_region, CodeMap, Region};

impl Compiler<'_> {
    /// Compiles the transform steps, following the value's type through them.
    pub(super) fn steps(
        &mut self,
        t: &ColumnInfo,
        col: &ColumnSpec,
        start: Typed,
    ) -> Option<(Steps, Typed)> {
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
    pub(super) fn step(
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
    pub(super) fn region(&mut self, t: &ColumnInfo, col: &ColumnSpec) -> Option<Option<Region>> {
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
}
