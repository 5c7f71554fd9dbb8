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
use crate::mapping::{Literal, Mapping, TableSpec};
use crate::pgtype::PgType;
use crate::program::{Finding, Severity};

mod compile;
mod de;
mod eval;
mod sql;
#[cfg(test)]
mod tests;

pub use eval::cmp_decimal;

/// The rules declared on `spec`'s columns, checked against the target table. A rule that
/// cannot apply to its column's type (`range` on text, `email` on an integer, a bound that is
/// not a value of the type…) is a BLOCKER finding pointing into the mapping, and is left out.
pub fn compile(
    mapping: &Mapping,
    spec: &TableSpec,
    file: &str,
    target: &TableInfo,
) -> (Vec<ColumnRule>, Vec<Finding>) {
    compile::compile(mapping, spec, file, target)
}

/// The target columns the mapping marks `pii = true`.
pub fn pii_columns(spec: &TableSpec) -> Vec<String> {
    compile::pii_columns(spec)
}

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
