//! `pii = true` columns in a compiled program: their values are masked in everything `cutover`
//! reports (reject reasons, rejected rows' keys, diff keys), always; and under
//! `migrate full --pseudonymise` they are replaced by keyed pseudonyms, as the last step of the
//! column's computation (after its transforms, before the cast to the target type).
use std::sync::Arc;

use super::expr::{Expr, Origin, Steps};
use super::{Finding, Severity, TableProgram};
use crate::pgtype::PgType;
use crate::transform::pseudonym::{can_pseudonymise, pseudonymise, PseudonymKey};
use crate::validation::MASKED;
use crate::value::Value;

/// The pseudonymisation step of one column: the key and the target type rendered into.
#[derive(Clone, Debug)]
pub struct Pseudonym {
    key: Arc<PseudonymKey>,
    ty: PgType,
}

impl Pseudonym {
    /// The pseudonym of a non-NULL value.
    pub fn apply(&self, v: &Value) -> Result<Value, String> {
        pseudonymise(&self.key, &self.ty, v)
    }
}

impl TableProgram {
    /// True when target column `i` (an index into `target_columns`) is marked `pii = true`.
    pub fn is_pii(&self, i: usize) -> bool {
        self.outputs.get(i).is_some_and(|o| o.pii)
    }

    /// True when source column `i` (an index into `source_columns`) feeds a pii column.
    pub fn source_is_pii(&self, i: usize) -> bool {
        self.outputs
            .iter()
            .filter(|o| o.pii)
            .any(|o| o.expr.reads(i))
    }

    /// Replaces the values of the pii columns by their pseudonyms under `key`. Untouched
    /// columns become computed ones; constants (written in the mapping, nobody's data) stay.
    /// A BLOCKER for each pii column whose target type has no pseudonym form.
    pub fn pseudonymise(&mut self, key: &Arc<PseudonymKey>) -> Vec<Finding> {
        let mut findings = Vec::new();
        for out in self.outputs.iter_mut().filter(|o| o.pii) {
            if !can_pseudonymise(&out.ty) {
                let type_sql = self
                    .target_columns
                    .iter()
                    .find(|c| c.name == out.name)
                    .map_or_else(|| format!("{:?}", out.ty), |c| c.type_sql.clone());
                findings.push(Finding {
                    severity: Severity::Blocker,
                    table: Some(self.target.name.clone()),
                    column: Some(out.name.clone()),
                    location: None,
                    message: format!(
                        "pii column `{}` ({type_sql}) has no pseudonym form: --pseudonymise \
                         handles text, numbers, uuid, bytea, boolean, dates, times and json; \
                         load it with `const` or leave it unmapped",
                        out.name
                    ),
                });
                continue;
            }
            let step = Box::new(Pseudonym {
                key: Arc::clone(key),
                ty: out.ty.clone(),
            });
            match &mut out.expr {
                Expr::Pass { input } => {
                    let input = *input;
                    let name = &self.source_columns[input];
                    let ty = self
                        .source
                        .column(name)
                        .expect("program reads a source column")
                        .ty
                        .clone();
                    out.expr = Expr::Compute {
                        origin: Origin::Column { input, ty },
                        steps: Steps {
                            pseudonym: Some(step),
                            ..Steps::default()
                        },
                    };
                }
                Expr::Compute { steps, .. } => steps.pseudonym = Some(step),
                Expr::Const { .. } => {}
            }
        }
        findings
    }
}

/// A failure reason of a pii column with the values taken out: the texts the value had along
/// the way (`values`) wherever they appear (as whole words when shorter than 3 characters),
/// and every quoted segment (`` `…` `` or `"…"`) except the column's own name, `map` and a
/// lone symbol such as `` `@` ``, become `***`; an unbalanced quote masks the rest of the reason.
pub fn mask_reason(reason: &str, column: &str, values: &[&str]) -> String {
    let mut text = reason.to_string();
    for v in values.iter().filter(|v| v.chars().count() >= 3) {
        text = text.replace(v, MASKED);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(open) = rest.find(['`', '"']) {
        let quote = rest.as_bytes()[open] as char;
        out.push_str(&rest[..open + 1]);
        let Some(len) = rest[open + 1..].find(quote) else {
            out.push_str(MASKED);
            rest = "";
            break;
        };
        let inner = &rest[open + 1..open + 1 + len];
        let symbol = inner.len() == 1 && inner.chars().all(|c| c.is_ascii_punctuation());
        let kept = inner == column || inner == "map" || inner == MASKED || symbol;
        out.push_str(if kept { inner } else { MASKED });
        out.push(quote);
        rest = &rest[open + len + 2..];
    }
    out.push_str(rest);
    out.split(' ')
        .map(|word| {
            if values.iter().any(|v| !v.is_empty() && *v == word) {
                MASKED
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_masked_and_names_kept() {
        let cases = [
            (
                "phone `call me` is not a valid number for region US",
                "phone `***` is not a valid number for region US",
            ),
            ("code `A ` is not in `map`", "code `***` is not in `map`"),
            (
                "value \"99999999999\" is out of range for type bigint",
                "value \"***\" is out of range for type bigint",
            ),
            (
                "70000 is out of range for type smallint",
                "*** is out of range for type smallint",
            ),
            (
                "NULL in NOT NULL column `email`",
                "NULL in NOT NULL column `email`",
            ),
            (
                "value too long for type character varying(10)",
                "value too long for type character varying(10)",
            ),
            ("unbalanced `quote and more", "unbalanced `***"),
            ("email `a`b@x.org` is not valid", "email `***` is not valid"),
            ("7 is out of range", "*** is out of range"),
            (
                "email `ada` is not a valid address: it has no `@`",
                "email `***` is not a valid address: it has no `@`",
            ),
        ];
        for (reason, want) in cases {
            let values = ["70000", "", "a`b@x.org", "7"];
            assert_eq!(mask_reason(reason, "email", &values), want, "{reason}");
        }
    }
}
