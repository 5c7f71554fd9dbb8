//! Column transforms on decoded values: trim/lower/upper, code maps, email check, phone to E.164,
//! numeric rescale, timezone conversion, UUIDv5 ids, concatenation, and the keyed pseudonyms of
//! `pii = true` columns ([`pseudonym`]).
//!
//! Pure functions, no I/O. A transform that can fail returns `Err(reason)`, a sentence naming
//! the value and what is wrong with it; it is stored with a rejected row (never logged).
use std::borrow::Cow;

use uuid::Uuid;

mod code_map;
mod email;
mod phone;
pub mod pseudonym;
mod rescale;
mod timezone;

pub use code_map::CodeMap;
pub use email::check_email;
pub use phone::{parse_region, phone_e164, Region};
pub use rescale::rescale;
pub use timezone::local_to_utc;

/// Longest value quoted in a reason, in characters; longer ones are cut with `…`.
const QUOTE_MAX: usize = 64;

/// `value` for a reason message, cut to [`QUOTE_MAX`] characters.
pub(crate) fn quote(value: &str) -> Cow<'_, str> {
    match value.char_indices().nth(QUOTE_MAX) {
        None => Cow::Borrowed(value),
        Some((end, _)) => Cow::Owned(format!("{}…", &value[..end])),
    }
}

/// Strips leading and trailing whitespace (Unicode `White_Space`, so tabs, newlines and no-break
/// spaces too), in place.
pub fn trim(s: &mut String) {
    let end = s.trim_end().len();
    s.truncate(end);
    let start = s.len() - s.trim_start().len();
    s.drain(..start);
}

/// Lower case (Unicode), borrowing when there is nothing to change.
pub fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) {
        Cow::Owned(s.to_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// Upper case (Unicode), borrowing when there is nothing to change.
pub fn upper(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_lowercase() || !b.is_ascii()) {
        Cow::Owned(s.to_uppercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// Appends the non-NULL `parts` to `out` joined by `separator`, like PostgreSQL's `concat_ws`
/// (all parts NULL gives the empty string).
pub fn concat<'a, I>(parts: I, separator: &str, out: &mut String)
where
    I: IntoIterator<Item = Option<&'a str>>,
{
    let mut first = true;
    for part in parts.into_iter().flatten() {
        if !first {
            out.push_str(separator);
        }
        out.push_str(part);
        first = false;
    }
}

/// `UUIDv5(namespace, "table:k1[:k2…]")`: the id a legacy key maps to. A foreign key passes the
/// *referenced* table's name, so both sides get the same id without a lookup table.
pub fn uuid_v5(namespace: &Uuid, table: &str, key_parts: &[&str]) -> Uuid {
    let mut name = String::new();
    uuid_v5_with(&mut name, namespace, table, key_parts.iter().copied())
}

/// [`uuid_v5`] building the name in `buf` (cleared first), to reuse one buffer across rows.
pub fn uuid_v5_with<'a, I>(buf: &mut String, namespace: &Uuid, table: &str, key_parts: I) -> Uuid
where
    I: IntoIterator<Item = &'a str>,
{
    buf.clear();
    buf.push_str(table);
    for part in key_parts {
        buf.push(':');
        buf.push_str(part);
    }
    Uuid::new_v5(namespace, buf.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_strips_unicode_whitespace_both_sides() {
        for (input, want) in [
            ("  a b  ", "a b"),
            ("\t\na\r\n", "a"),
            ("\u{a0}x\u{3000}", "x"),
            ("   ", ""),
            ("", ""),
            ("é ", "é"),
        ] {
            let mut s = input.to_string();
            trim(&mut s);
            assert_eq!(s, want, "trim({input:?})");
        }
    }

    #[test]
    fn case_changes_are_unicode_and_borrow_when_unchanged() {
        for (input, lo, up) in [
            ("MiXeD", "mixed", "MIXED"),
            ("ÉCOLE", "école", "ÉCOLE"),
            ("straße", "straße", "STRASSE"),
            ("123-x", "123-x", "123-X"),
        ] {
            assert_eq!(lower(input), lo, "lower({input:?})");
            assert_eq!(upper(input), up, "upper({input:?})");
        }
        assert!(matches!(lower("abc"), Cow::Borrowed(_)));
        assert!(matches!(upper("ABC"), Cow::Borrowed(_)));
    }

    #[test]
    fn concat_skips_nulls_like_concat_ws() {
        let cases: &[(&[Option<&str>], &str, &str)] = &[
            (&[Some("Ada"), Some("Lovelace")], " ", "Ada Lovelace"),
            (&[Some("Ada"), None, Some("Lovelace")], " ", "Ada Lovelace"),
            (&[None, Some("Lovelace")], " ", "Lovelace"),
            (&[None, None], " ", ""),
            (&[Some(""), Some("x")], "-", "-x"),
            (&[Some("a"), Some("b"), Some("c")], "", "abc"),
        ];
        for (parts, sep, want) in cases {
            let mut out = String::new();
            concat(parts.iter().copied(), sep, &mut out);
            assert_eq!(out, *want, "concat({parts:?}, {sep:?})");
        }
    }

    #[test]
    fn uuid_v5_hashes_table_colon_key() {
        let ns = Uuid::parse_str("6f0d5b4e-8a53-4c1e-9d2b-3c4a5e6f7a8b").unwrap();
        let cases: &[(&str, &[&str], &str)] = &[
            ("accounts", &["42"], "accounts:42"),
            ("order_lines", &["7", "3"], "order_lines:7:3"),
            ("users", &["a:b"], "users:a:b"),
        ];
        for (table, parts, name) in cases {
            let got = uuid_v5(&ns, table, parts);
            assert_eq!(got, Uuid::new_v5(&ns, name.as_bytes()), "{name}");
            assert_eq!(got.get_version_num(), 5);
        }
        // Reference value computed independently (Python: uuid.uuid5(ns, "accounts:42")).
        assert_eq!(
            uuid_v5(&Uuid::NAMESPACE_DNS, "accounts", &["42"]).to_string(),
            "f2b4b5ed-6ebf-57e6-9690-c15c35b2940a"
        );
        assert_ne!(
            uuid_v5(&ns, "users", &["42"]),
            uuid_v5(&ns, "accounts", &["42"])
        );
    }

    #[test]
    fn quote_cuts_long_values() {
        assert_eq!(quote("short"), "short");
        let long = "x".repeat(100);
        assert_eq!(quote(&long).chars().count(), QUOTE_MAX + 1);
    }
}
