//! `map`: replace a code by its new value, looked up by the code's text.
use std::collections::{BTreeMap, HashMap};

use super::quote;
use crate::mapping::Literal;
use crate::value::Value;

/// A compiled `map` (and its `default`).
#[derive(Clone, Debug)]
pub struct CodeMap {
    by_text: HashMap<String, Value>,
    /// Entries whose key is an integer's canonical text, so integer codes need no formatting.
    by_int: HashMap<i64, Value>,
    default: Option<Value>,
    /// Compare as `char(n)` does: trailing blanks do not count.
    ignore_trailing_blanks: bool,
}

impl CodeMap {
    /// `entries` maps a code's text to its new value; `default` is used for codes not in it.
    /// With `ignore_trailing_blanks` (for `char(n)` input) `"A  "` finds the entry `"A"`.
    pub fn new(
        entries: &BTreeMap<String, Literal>,
        default: Option<&Literal>,
        ignore_trailing_blanks: bool,
    ) -> CodeMap {
        let by_text: HashMap<String, Value> = entries
            .iter()
            .map(|(k, v)| {
                let k = if ignore_trailing_blanks {
                    k.trim_end_matches(' ')
                } else {
                    k
                };
                (k.to_string(), v.to_value())
            })
            .collect();
        let by_int = by_text
            .iter()
            .filter_map(|(k, v)| {
                let i: i64 = k.parse().ok()?;
                (i.to_string() == *k).then(|| (i, v.clone()))
            })
            .collect();
        CodeMap {
            by_text,
            by_int,
            default: default.map(Literal::to_value),
            ignore_trailing_blanks,
        }
    }

    /// The new value for `code` (not NULL: callers keep NULL as NULL).
    pub fn lookup(&self, code: &Value) -> Result<Value, String> {
        self.find(code).cloned()
    }

    /// [`CodeMap::lookup`] of a value no longer needed: a text result is written into the
    /// code's own string rather than a new one.
    pub fn lookup_into(&self, code: Value) -> Result<Value, String> {
        match (self.find(&code)?, code) {
            (Value::Text(new), Value::Text(mut s)) => {
                s.clear();
                s.push_str(new);
                Ok(Value::Text(s))
            }
            (new, _) => Ok(new.clone()),
        }
    }

    fn find(&self, code: &Value) -> Result<&Value, String> {
        let found = match code {
            Value::Int(i) => self.by_int.get(i),
            other => {
                let text = other
                    .as_text()
                    .ok_or_else(|| "value has no text form to look up in `map`".to_string())?;
                let key = if self.ignore_trailing_blanks {
                    text.trim_end_matches(' ')
                } else {
                    &text
                };
                self.by_text.get(key)
            }
        };
        match (found, &self.default) {
            (Some(v), _) | (None, Some(v)) => Ok(v),
            (None, None) => Err(format!(
                "code `{}` is not in `map` and there is no `default`",
                quote(&code.as_text().unwrap_or_default())
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, Literal)]) -> BTreeMap<String, Literal> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn lookup_by_text_int_and_default() {
        let entries = map(&[
            ("A", Literal::Text("active".into())),
            ("3", Literal::Text("suspended".into())),
            ("-1", Literal::Int(0)),
            ("007", Literal::Bool(true)),
        ]);
        let strict = CodeMap::new(&entries, None, false);
        let lenient = CodeMap::new(&entries, Some(&Literal::Text("unknown".into())), false);
        let cases: &[(Value, Result<Value, &str>, Value)] = &[
            (text("A"), Ok(text("active")), text("active")),
            (Value::Int(3), Ok(text("suspended")), text("suspended")),
            (text("3"), Ok(text("suspended")), text("suspended")),
            (Value::Int(-1), Ok(Value::Int(0)), Value::Int(0)),
            (text("007"), Ok(Value::Bool(true)), Value::Bool(true)),
            // 7 prints as "7", not "007".
            (
                Value::Int(7),
                Err("code `7` is not in `map`"),
                text("unknown"),
            ),
            (text("a"), Err("code `a` is not in `map`"), text("unknown")),
            (
                text("A "),
                Err("code `A ` is not in `map`"),
                text("unknown"),
            ),
        ];
        for (code, want_strict, want_lenient) in cases {
            match (strict.lookup(code), want_strict) {
                (Ok(got), Ok(want)) => assert_eq!(&got, want, "{code:?}"),
                (Err(got), Err(want)) => assert!(got.starts_with(want), "{got}"),
                (got, want) => panic!("{code:?}: got {got:?}, want {want:?}"),
            }
            assert_eq!(&lenient.lookup(code).unwrap(), want_lenient, "{code:?}");
            assert_eq!(
                strict.lookup_into(code.clone()),
                strict.lookup(code),
                "{code:?}"
            );
            assert_eq!(
                lenient.lookup_into(code.clone()),
                lenient.lookup(code),
                "{code:?}"
            );
        }
    }

    #[test]
    fn char_n_codes_ignore_trailing_blanks() {
        let entries = map(&[("A", Literal::Text("active".into()))]);
        let m = CodeMap::new(&entries, None, true);
        assert_eq!(m.lookup(&text("A    ")).unwrap(), text("active"));
        assert!(m.lookup(&text(" A")).is_err());
    }
}
