//! The Rust side of the rules: is a decoded value of the column's type broken? Mirrors `sql.rs`
//! clause by clause (see the module doc of [`super`]).
use std::borrow::Cow;
use std::cmp::Ordering;
use std::sync::OnceLock;

use regex::Regex;

use super::{
    Bound, Check, ColumnRule, Ordered, BLANK_PATTERN, E164_PATTERN, EMAIL_PATTERN, URL_PATTERN,
};
use crate::pgtype::PgType;
use crate::value::{self, Value};

fn builtin(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("built-in patterns compile"))
}

static EMAIL: OnceLock<Regex> = OnceLock::new();
static E164: OnceLock<Regex> = OnceLock::new();
static URL: OnceLock<Regex> = OnceLock::new();
static BLANK: OnceLock<Regex> = OnceLock::new();

impl ColumnRule {
    /// True when the value, in the binary form of the column's type (`None` for NULL), breaks
    /// the rule. A value that does not decode breaks it too (it is not what the column holds).
    pub fn violated_by_raw(&self, raw: Option<&[u8]>) -> bool {
        match raw {
            None => self.violated_by(&Value::Null),
            Some(raw) => match value::decode(&self.ty, raw) {
                Ok(v) => self.violated_by(&v),
                Err(_) => true,
            },
        }
    }

    /// True when a decoded value of the column's type breaks the rule.
    pub fn violated_by(&self, v: &Value) -> bool {
        if matches!(v, Value::Null) {
            return matches!(self.check, Check::NotEmpty);
        }
        let matches = |re: &Regex| self.text(v).is_some_and(|t| re.is_match(&t));
        match &self.check {
            Check::NotEmpty => self.ty.is_textual() && matches(builtin(&BLANK, BLANK_PATTERN)),
            Check::Email => !matches(builtin(&EMAIL, EMAIL_PATTERN)),
            Check::E164 => !matches(builtin(&E164, E164_PATTERN)),
            Check::Url => !matches(builtin(&URL, URL_PATTERN)),
            Check::Regex { regex, .. } => !matches(regex),
            Check::OneOf(values) => match self.text(v) {
                Some(t) => !values.iter().any(|x| *x == t),
                None => true,
            },
            Check::Range { min, max } => {
                let below = min
                    .as_ref()
                    .is_some_and(|b| compare(v, b) == Some(Ordering::Less));
                let above = max
                    .as_ref()
                    .is_some_and(|b| compare(v, b) == Some(Ordering::Greater));
                below || above
            }
            Check::MaxScale(n) => match v {
                Value::Numeric(s) => display_scale(s) > usize::from(*n),
                _ => false,
            },
        }
    }

    /// The value's text as `value::text` gives it in PostgreSQL: `char(n)` loses its trailing
    /// blanks (`bpchar` → `text` strips them).
    fn text<'v>(&self, v: &'v Value) -> Option<Cow<'v, str>> {
        let t = v.as_text()?;
        if matches!(self.ty, PgType::Bpchar { .. }) {
            let trimmed = t.trim_end_matches(' ');
            if trimmed.len() != t.len() {
                return Some(Cow::Owned(trimmed.to_string()));
            }
        }
        Some(t)
    }
}

/// Digits after the decimal point of a numeric's text (`NaN` and infinities have none).
fn display_scale(s: &str) -> usize {
    s.split_once('.').map_or(0, |(_, frac)| frac.len())
}

/// How a value orders against a bound, like PostgreSQL orders the column's type: NaN above
/// everything. `None` when the value's kind does not match the bound's (not a value of the
/// column's type).
fn compare(v: &Value, b: &Bound) -> Option<Ordering> {
    match (v, &b.value) {
        (Value::Int(i), Ordered::Decimal(d)) => Some(cmp_decimal(&i.to_string(), d)),
        (Value::Numeric(n), Ordered::Decimal(d)) => Some(match n.as_str() {
            "NaN" | "Infinity" => Ordering::Greater,
            "-Infinity" => Ordering::Less,
            n => cmp_decimal(n, d),
        }),
        (Value::Float(f), Ordered::Float(x)) => Some(if f.is_nan() {
            Ordering::Greater
        } else {
            f.partial_cmp(x).expect("bounds are finite")
        }),
        (Value::Date(d), Ordered::Int(x)) => Some(i64::from(*d).cmp(x)),
        (Value::Time(t) | Value::Timestamp(t) | Value::TimestampTz(t), Ordered::Int(x)) => {
            Some(t.cmp(x))
        }
        _ => None,
    }
}

/// Orders two bounds of the same column.
pub(super) fn cmp_ordered(a: &Ordered, b: &Ordered) -> Ordering {
    match (a, b) {
        (Ordered::Decimal(a), Ordered::Decimal(b)) => cmp_decimal(a, b),
        (Ordered::Float(a), Ordered::Float(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
        (Ordered::Int(a), Ordered::Int(b)) => a.cmp(b),
        _ => Ordering::Equal,
    }
}

/// Compares two plain decimal texts exactly (`-12.50`, `7`, `0.001`; no exponent), as
/// PostgreSQL compares numerics: `1.50` equals `1.5`, `-0` equals `0`.
pub fn cmp_decimal(a: &str, b: &str) -> Ordering {
    let (na, ia, fa) = parts(a);
    let (nb, ib, fb) = parts(b);
    let zero = |i: &str, f: &str| i.is_empty() && f.is_empty();
    let na = na && !zero(ia, fa);
    let nb = nb && !zero(ib, fb);
    let magnitude = ia
        .len()
        .cmp(&ib.len())
        .then_with(|| ia.cmp(ib))
        .then_with(|| fa.cmp(fb));
    match (na, nb) {
        (false, true) => Ordering::Greater,
        (true, false) => Ordering::Less,
        (false, false) => magnitude,
        (true, true) => magnitude.reverse(),
    }
}

/// Sign, integer digits without leading zeros, fraction digits without trailing zeros.
fn parts(s: &str) -> (bool, &str, &str) {
    let s = s.trim();
    let (neg, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    (neg, int.trim_start_matches('0'), frac.trim_end_matches('0'))
}
