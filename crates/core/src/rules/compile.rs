//! Checking declared rules against the target column's type: which rules apply to which
//! types, and `range` bounds read as values of the column's type (exact decimals for numbers,
//! days or microseconds for dates and times), with their SQL form.
use serde_spanned::Spanned;

use super::{Bound, Check, Checks, ColumnRule, Level, Ordered, RangeSpec};
use crate::catalog::TableInfo;
use crate::mapping::{Literal, Mapping, Span, TableSpec};
use crate::pgtype::PgType;
use crate::program::{Finding, Severity};
use crate::value::{self, Value};

impl Checks {
    /// The rules in a fixed order, each with its level, its span and its unchecked form.
    fn entries(&self) -> Vec<(Span, Level, Pending<'_>)> {
        let mut out = Vec::new();
        let mut simple = |r: &Option<Spanned<Level>>, p: Pending<'static>| {
            if let Some(r) = r {
                out.push((r.span(), *r.get_ref(), p));
            }
        };
        simple(&self.not_empty, Pending::Ready(Check::NotEmpty));
        simple(&self.email, Pending::Ready(Check::Email));
        simple(&self.e164, Pending::Ready(Check::E164));
        simple(&self.url, Pending::Ready(Check::Url));
        if let Some(r) = &self.regex {
            let s = r.get_ref();
            let check = Check::Regex {
                pattern: s.pattern.clone(),
                regex: s.regex.clone(),
            };
            out.push((r.span(), s.level, Pending::Ready(check)));
        }
        if let Some(r) = &self.one_of {
            let check = Check::OneOf(r.get_ref().values.clone());
            out.push((r.span(), r.get_ref().level, Pending::Ready(check)));
        }
        if let Some(r) = &self.range {
            out.push((r.span(), r.get_ref().level, Pending::Range(r.get_ref())));
        }
        if let Some(r) = &self.max_scale {
            let check = Check::MaxScale(r.get_ref().scale);
            out.push((r.span(), r.get_ref().level, Pending::Ready(check)));
        }
        out
    }
}

/// A rule before its bounds are read in the column's type.
enum Pending<'a> {
    Ready(Check),
    Range(&'a RangeSpec),
}

/// The rules declared on `spec`'s columns, checked against the target table. A rule that
/// cannot apply to its column's type (`range` on text, `email` on an integer, a bound that is
/// not a value of the type…) is a BLOCKER finding pointing into the mapping, and is left out.
pub(super) fn compile(
    mapping: &Mapping,
    spec: &TableSpec,
    file: &str,
    target: &TableInfo,
) -> (Vec<ColumnRule>, Vec<Finding>) {
    let mut rules = Vec::new();
    let mut findings = Vec::new();
    for (name, col) in spec.columns.iter() {
        let Some(checks) = &col.checks else { continue };
        let locate = |span: &Span| mapping.locate(file, span).map(|l| l.to_string());
        let blocker = |span: &Span, message: String| Finding {
            severity: Severity::Blocker,
            table: Some(target.name.clone()),
            column: Some(name.to_string()),
            location: locate(span),
            message,
        };
        let Some(info) = target.column(name) else {
            let message = format!(
                "rules on `{name}`: no such column in target table `{}`",
                target.name
            );
            findings.push(blocker(&col.span, message));
            continue;
        };
        for (span, level, pending) in checks.entries() {
            let check = match pending {
                Pending::Ready(c) => c,
                Pending::Range(r) => match range(r, &info.ty) {
                    Ok(c) => c,
                    Err(why) => {
                        let message =
                            format!("rule `range` on `{name}` ({}): {why}", info.type_sql);
                        findings.push(blocker(&span, message));
                        continue;
                    }
                },
            };
            if let Err(why) = applies_to(&check, &info.ty) {
                let message = format!(
                    "rule `{}` cannot check column `{name}` ({}): {why}",
                    check.name(),
                    info.type_sql
                );
                findings.push(blocker(&span, message));
                continue;
            }
            rules.push(ColumnRule {
                column: name.to_string(),
                ty: info.ty.clone(),
                check,
                severity: level.severity,
                tolerance: level.tolerance,
                location: locate(&span),
            });
        }
    }
    (rules, findings)
}

/// The target columns the mapping marks `pii = true`.
pub(super) fn pii_columns(spec: &TableSpec) -> Vec<String> {
    spec.columns
        .iter()
        .filter(|(_, c)| c.pii)
        .map(|(n, _)| n.to_string())
        .collect()
}

/// Whether a rule can check values of type `ty`.
fn applies_to(check: &Check, ty: &PgType) -> Result<(), &'static str> {
    let has_text = !matches!(
        ty,
        PgType::Money
            | PgType::TimeTz { .. }
            | PgType::Interval
            | PgType::Inet
            | PgType::Cidr
            | PgType::Macaddr
            | PgType::Array(_)
            | PgType::Other { .. }
    );
    match check {
        Check::NotEmpty => Ok(()),
        Check::Email | Check::E164 | Check::Url | Check::Regex { .. } if !ty.is_textual() => {
            Err("it checks text columns only")
        }
        Check::OneOf(_) if !has_text => Err("values of this type have no text form to compare"),
        Check::MaxScale(_) if !matches!(ty, PgType::Numeric { .. }) => {
            Err("it checks numeric columns only")
        }
        _ => Ok(()),
    }
}

/// Reads `range` bounds in the column's type.
fn range(r: &RangeSpec, ty: &PgType) -> Result<Check, String> {
    let bound = |lit: &Option<Literal>, which: &str| -> Result<Option<Bound>, String> {
        let Some(lit) = lit else { return Ok(None) };
        bound(lit, ty)
            .map(Some)
            .map_err(|e| format!("`{which}` {lit}: {e}"))
    };
    let min = bound(&r.min, "min")?;
    let max = bound(&r.max, "max")?;
    if let (Some(lo), Some(hi)) = (&min, &max) {
        if super::eval::cmp_ordered(&lo.value, &hi.value) == std::cmp::Ordering::Greater {
            return Err("`min` is above `max`".into());
        }
    }
    Ok(Check::Range { min, max })
}

fn bound(lit: &Literal, ty: &PgType) -> Result<Bound, String> {
    let number = match lit {
        Literal::Int(i) => Some(i.to_string()),
        Literal::Float(f) => Some(f.to_string()),
        _ => None,
    };
    match (ty, number) {
        (t, Some(n)) if t.is_integer() || matches!(t, PgType::Numeric { .. }) => Ok(Bound {
            sql: format!("({n})"),
            value: Ordered::Decimal(n),
        }),
        (PgType::Float4 | PgType::Float8, Some(n)) => Ok(Bound {
            sql: format!("CAST('{n}' AS pg_catalog.float8)"),
            value: Ordered::Float(n.parse().expect("a formatted float parses")),
        }),
        (
            PgType::Date
            | PgType::Time { .. }
            | PgType::Timestamp { .. }
            | PgType::Timestamptz { .. },
            _,
        ) => {
            let Literal::Text(text) = lit else {
                return Err("write dates and times as quoted ISO strings".into());
            };
            // The base type without typmod: a bound is never rounded to the column's precision.
            let (base, sql_type) = match ty {
                PgType::Date => (PgType::Date, "date"),
                PgType::Time { .. } => (PgType::Time { precision: None }, "time"),
                PgType::Timestamp { .. } => (PgType::Timestamp { precision: None }, "timestamp"),
                _ => (PgType::Timestamptz { precision: None }, "timestamptz"),
            };
            let mut raw = Vec::new();
            value::encode(&base, &Value::Text(text.clone()), &mut raw).map_err(|e| e.0)?;
            let v = value::decode(&base, &raw).map_err(|e| e.0)?;
            let (n, canonical) = match &v {
                Value::Date(d) => (i64::from(*d), v.as_text()),
                Value::Time(t) | Value::Timestamp(t) | Value::TimestampTz(t) => (*t, v.as_text()),
                _ => unreachable!("date and time types decode to dates and times"),
            };
            let canonical = canonical.expect("dates and times have a text form");
            Ok(Bound {
                sql: format!(
                    "CAST({} AS pg_catalog.{sql_type})",
                    crate::catalog::quote_literal(&canonical)
                ),
                value: Ordered::Int(n),
            })
        }
        (t, _)
            if t.is_integer()
                || matches!(t, PgType::Numeric { .. } | PgType::Float4 | PgType::Float8) =>
        {
            Err("a bound of a number column must be a number".into())
        }
        _ => Err("`range` checks numbers, dates, times and timestamps only".into()),
    }
}
