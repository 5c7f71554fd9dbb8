//! The SQL side of the rules: a boolean expression that is TRUE exactly when a row breaks the
//! rule, and never NULL. Mirrors `eval.rs` clause by clause (see the module doc of [`super`]).
//!
//! The expressions assume the session settings `cutover validate` uses: `TimeZone = UTC`,
//! `DateStyle = ISO`, `extra_float_digits = 1`, `bytea_output = hex` and
//! `standard_conforming_strings = on` (so that value texts are those of [`crate::value`]).
use super::{Check, ColumnRule, BLANK_PATTERN, E164_PATTERN, EMAIL_PATTERN, URL_PATTERN};
use crate::catalog::quote_literal;
use crate::pgtype::PgType;

impl ColumnRule {
    /// The violation predicate, with the column written as `col` (an already quoted
    /// identifier or any expression of the column's type).
    pub fn violation_sql(&self, col: &str) -> String {
        let text = self.text_sql(col);
        let not_matching = |pattern: &str| {
            format!(
                "({col} IS NOT NULL AND {text} OPERATOR(pg_catalog.!~) {})",
                quote_literal(pattern)
            )
        };
        match &self.check {
            Check::NotEmpty if self.ty.is_textual() => format!(
                "({col} IS NULL OR {text} OPERATOR(pg_catalog.~) {})",
                quote_literal(BLANK_PATTERN)
            ),
            Check::NotEmpty => format!("({col} IS NULL)"),
            Check::Email => not_matching(EMAIL_PATTERN),
            Check::E164 => not_matching(E164_PATTERN),
            Check::Url => not_matching(URL_PATTERN),
            Check::Regex { pattern, .. } => not_matching(pattern),
            Check::OneOf(values) => {
                let list = values
                    .iter()
                    .map(|v| quote_literal(v))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "({col} IS NOT NULL AND {text} OPERATOR(pg_catalog.<>) ALL (ARRAY[{list}]::pg_catalog.text[]))"
                )
            }
            Check::Range { min, max } => {
                let mut outside = Vec::new();
                if let Some(b) = min {
                    outside.push(format!("{col} < {}", b.sql));
                }
                if let Some(b) = max {
                    outside.push(format!("{col} > {}", b.sql));
                }
                format!("({col} IS NOT NULL AND ({}))", outside.join(" OR "))
            }
            Check::MaxScale(n) => {
                format!("COALESCE(pg_catalog.scale({col}) > {n}, false)")
            }
        }
    }

    /// The column's text as compared by the rules (`char(n)` → `text` drops trailing blanks).
    fn text_sql(&self, col: &str) -> String {
        match self.ty {
            PgType::Text => col.to_string(),
            _ => format!("CAST({col} AS pg_catalog.text)"),
        }
    }
}
