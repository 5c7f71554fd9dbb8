//! Column rules declared in the mapping (`checks = { … }` in a column section), shared by both
//! places that enforce them so that they can never disagree:
//!
//! - `cutover validate` evaluates them in PostgreSQL on the target, with the SQL predicate of
//!   [`ColumnRule::violation_sql`];
//! - `cutover plan` evaluates them in Rust on the transformed source rows, with
//!   [`ColumnRule::violated_by`].
//!
//! Both predicates are written side by side (`sql.rs`, `eval.rs`) from one definition: the same
//! regular expression for `email`, `e164`, `url`, `regex` and `not_empty`, the same text form of a
//! value for `one_of` (as PostgreSQL's output function prints it, `char(n)` without its padding),
//! the same ordering for `range` (exact decimals, never through f64, for integer and numeric
//! columns), and the display scale for `max_scale`. A NULL passes every rule but `not_empty`.
//!
//! [`parse`](crate::mapping::parse) reads the rules (`de.rs`, errors at `FILE:LINE:COL`);
//! [`compile`] checks them against the target column's type.
use regex::Regex;
use serde::Serialize;
use serde_spanned::Spanned;

use crate::catalog::TableInfo;
use crate::mapping::{Literal, Mapping, Span, TableSpec};
use crate::pgtype::PgType;
use crate::program::{Finding, Severity};
use crate::value::{self, Value};

mod de;
mod eval;
mod sql;
#[cfg(test)]
mod tests;

pub use eval::cmp_decimal;

/// Severity of a rule written without one (`max_scale = 2`, `regex = "…"`, …).
pub const DEFAULT_SEVERITY: Severity = Severity::Blocker;

// The patterns spell out their character classes in ASCII (no `[:space:]`, no `\s`): POSIX
// classes follow the database's locale in PostgreSQL (U+2003 is a space under C.UTF-8) but are
// ASCII in the `regex` crate, and both sides must accept exactly the same texts.

/// `local@domain.tld`: one `@`, something before it, a domain of at least two non-empty
/// dot-separated labels, no spaces or control characters.
pub const EMAIL_PATTERN: &str =
    r"^[^@ \x01-\x1f\x7f]+@[^@. \x01-\x1f\x7f]+(\.[^@. \x01-\x1f\x7f]+)+$";
/// E.164: `+`, a country code not starting with 0, 7 to 15 digits in all.
pub const E164_PATTERN: &str = r"^\+[1-9][0-9]{6,14}$";
/// `http://` or `https://`, a host with a dot, an optional port, an optional path, query or
/// fragment; no spaces or control characters anywhere.
pub const URL_PATTERN: &str = r"^https?://[^/?#:@ \x01-\x1f\x7f]+\.[^/?#:@ \x01-\x1f\x7f]+(:[0-9]{1,5})?([/?#][^ \x01-\x1f\x7f]*)?$";
/// A text that is empty once ASCII blanks (space, tab, line breaks, form feed) are ignored.
pub const BLANK_PATTERN: &str = r"^[ \t\n\v\f\r]*$";

/// The `checks = { … }` table of a column section: each rule at most once.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checks {
    /// NULL, `''` and blank texts break it.
    #[serde(default)]
    pub not_empty: Option<Spanned<Level>>,
    /// The text must look like an e-mail address ([`EMAIL_PATTERN`]).
    #[serde(default)]
    pub email: Option<Spanned<Level>>,
    /// The text must be an E.164 phone number ([`E164_PATTERN`]).
    #[serde(default)]
    pub e164: Option<Spanned<Level>>,
    /// The text must be an http(s) URL ([`URL_PATTERN`]).
    #[serde(default)]
    pub url: Option<Spanned<Level>>,
    /// The text must match a regular expression (unanchored, like `~`).
    #[serde(default)]
    pub regex: Option<Spanned<RegexSpec>>,
    /// The value's text must be one of a list.
    #[serde(default)]
    pub one_of: Option<Spanned<OneOfSpec>>,
    /// A number, date, time or timestamp within `[min, max]` (both inclusive, either optional).
    #[serde(default)]
    pub range: Option<Spanned<RangeSpec>>,
    /// A numeric with at most this many digits after the decimal point (its display scale).
    #[serde(default)]
    pub max_scale: Option<Spanned<MaxScaleSpec>>,
}

/// How bad a broken rule is, and how many broken rows are acceptable.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Level {
    /// BLOCKER or WARNING (default [`DEFAULT_SEVERITY`]).
    pub severity: Severity,
    /// Broken rows accepted before the rule fails (default none).
    pub tolerance: Tolerance,
}

/// Broken rows a rule accepts: a count, or a ratio of the rows checked.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Tolerance {
    /// At most this many rows (`tolerance = 5`).
    Count(u64),
    /// At most this fraction of the rows checked, rounded down (`tolerance = 0.001`).
    Ratio(f64),
}

/// `regex = "…"` or `regex = { pattern = "…", … }`.
#[derive(Clone, Debug)]
pub struct RegexSpec {
    pub pattern: String,
    pub regex: Regex,
    pub level: Level,
}

/// `one_of = [...]` or `one_of = { values = [...], … }`; values compared as texts.
#[derive(Clone, Debug)]
pub struct OneOfSpec {
    pub values: Vec<String>,
    pub level: Level,
}

/// `range = [min, max]` or `range = { min = …, max = …, … }`.
#[derive(Clone, Debug)]
pub struct RangeSpec {
    pub min: Option<Literal>,
    pub max: Option<Literal>,
    pub level: Level,
}

/// `max_scale = 2` or `max_scale = { scale = 2, … }`.
#[derive(Clone, Debug)]
pub struct MaxScaleSpec {
    pub scale: u16,
    pub level: Level,
}

/// One rule on one target column, checked against the column's type.
#[derive(Clone, Debug)]
pub struct ColumnRule {
    /// Target column.
    pub column: String,
    /// Its type (domains resolved to their base type).
    pub ty: PgType,
    /// What the rule requires.
    pub check: Check,
    pub severity: Severity,
    pub tolerance: Tolerance,
    /// `FILE:LINE:COL` of the rule in the mapping.
    pub location: Option<String>,
}

/// What a rule requires of a value.
#[derive(Clone, Debug)]
pub enum Check {
    NotEmpty,
    Email,
    E164,
    Url,
    Regex {
        pattern: String,
        regex: Regex,
    },
    OneOf(Vec<String>),
    Range {
        min: Option<Bound>,
        max: Option<Bound>,
    },
    MaxScale(u16),
}

/// A `range` bound in the column's type.
#[derive(Clone, Debug, PartialEq)]
pub struct Bound {
    /// The bound as compared in Rust.
    pub value: Ordered,
    /// The bound as a SQL expression of the column's base type.
    pub sql: String,
}

/// A bound value, ordered like PostgreSQL orders the column's type.
#[derive(Clone, Debug, PartialEq)]
pub enum Ordered {
    /// Exact decimal text, for integer and numeric columns.
    Decimal(String),
    /// For float4 / float8 columns.
    Float(f64),
    /// Days (date) or microseconds (time, timestamp, timestamptz).
    Int(i64),
}

impl Check {
    /// The rule's name as written in the mapping and reported in findings.
    pub fn name(&self) -> &'static str {
        match self {
            Check::NotEmpty => "not_empty",
            Check::Email => "email",
            Check::E164 => "e164",
            Check::Url => "url",
            Check::Regex { .. } => "regex",
            Check::OneOf(_) => "one_of",
            Check::Range { .. } => "range",
            Check::MaxScale(_) => "max_scale",
        }
    }
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance::Count(0)
    }
}

impl Tolerance {
    /// Broken rows allowed among `rows` checked.
    pub fn allowed(&self, rows: u64) -> u64 {
        match *self {
            Tolerance::Count(n) => n,
            Tolerance::Ratio(r) => (r * rows as f64).floor() as u64,
        }
    }
}

impl Default for Level {
    fn default() -> Self {
        Level {
            severity: DEFAULT_SEVERITY,
            tolerance: Tolerance::default(),
        }
    }
}

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
pub fn compile(
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
pub fn pii_columns(spec: &TableSpec) -> Vec<String> {
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
        if eval::cmp_ordered(&lo.value, &hi.value) == std::cmp::Ordering::Greater {
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
