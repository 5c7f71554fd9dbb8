//! Domain constraints as row rules: one rule per constraint of every domain under a column's
//! type, and the `VALUE` placeholder of their expressions replaced by the column.
use super::DomainRule;

/// Domain rules from rows of (column, domain, constraint, expression, domain NOT NULL): one
/// per constraint, and one per domain declared NOT NULL.
pub(super) fn domain_rules(rows: &[tokio_postgres::Row]) -> Vec<DomainRule> {
    let mut out: Vec<DomainRule> = Vec::new();
    for r in rows {
        let (column, domain): (String, String) = (r.get(0), r.get(1));
        if let Some(name) = r.get::<_, Option<String>>(2) {
            out.push(DomainRule {
                column: column.clone(),
                domain: domain.clone(),
                name: Some(name),
                expr: r.get(3),
            });
        }
        let listed = |x: &DomainRule| x.name.is_none() && x.column == column && x.domain == domain;
        if r.get::<_, bool>(4) && !out.iter().any(listed) {
            out.push(DomainRule {
                column,
                domain,
                name: None,
                expr: None,
            });
        }
    }
    out
}

/// Replaces the `VALUE` placeholder of a domain constraint's expression with `column` (an
/// expression), outside string literals and quoted identifiers.
pub fn substitute_value(expr: &str, column: &str) -> String {
    let mut out = String::with_capacity(expr.len() + column.len());
    let b = expr.as_bytes();
    let mut i = 0;
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$';
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                // Copy the quoted text whole (a doubled quote stays inside).
                let start = i;
                i += 1;
                while i < b.len() {
                    if b[i] == q {
                        if b.get(i + 1) == Some(&q) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i = (i + 1).min(b.len());
                out.push_str(&expr[start..i]);
            }
            c if ident(c) => {
                let start = i;
                while i < b.len() && ident(b[i]) {
                    i += 1;
                }
                let word = &expr[start..i];
                if word == "VALUE" {
                    out.push('(');
                    out.push_str(column);
                    out.push(')');
                } else {
                    out.push_str(word);
                }
            }
            _ => {
                let ch = expr[i..].chars().next().expect("in bounds");
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_is_replaced_outside_quotes_only() {
        assert_eq!(
            substitute_value("(VALUE > 0) AND (VALUE <> 'VALUE'::text)", "\"c\""),
            "((\"c\") > 0) AND ((\"c\") <> 'VALUE'::text)"
        );
        assert_eq!(
            substitute_value("(\"VALUE\" = VALUE_X) OR (VALUE ~ 'it''s VALUE')", "c"),
            "(\"VALUE\" = VALUE_X) OR ((c) ~ 'it''s VALUE')"
        );
        assert_eq!(
            substitute_value("lower(VALUE) = 'é'", "c"),
            "lower((c)) = 'é'"
        );
    }
}
