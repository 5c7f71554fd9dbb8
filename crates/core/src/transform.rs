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
    UuidNames::new(namespace, table).uuid(key_parts.iter().copied())
}

/// The [`uuid_v5`] ids of one table's keys: SHA-1 of the namespace and `table` is started once,
/// each key adds only `:k1[:k2…]`. SHA-1 runs on the CPU's SHA extensions where it has them
/// (`sha1` detects them at run time), the uuid crate's own SHA-1 is portable code.
#[derive(Clone, Debug)]
pub struct UuidNames {
    prefix: sha1::Sha1,
    /// Distinct for each `new` (a clone keeps it: it computes the same ids), never 0.
    id: u64,
}

impl UuidNames {
    pub fn new(namespace: &Uuid, table: &str) -> Self {
        use sha1::Digest;
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let mut prefix = sha1::Sha1::new();
        prefix.update(namespace.as_bytes());
        prefix.update(table.as_bytes());
        UuidNames {
            prefix,
            id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Which namespace and table these ids are of, as a number no other `new` gives.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The id of the key whose parts (as text) are `key_parts`.
    pub fn uuid<'a, I>(&self, key_parts: I) -> Uuid
    where
        I: IntoIterator<Item = &'a str>,
    {
        use sha1::Digest;
        let mut h = self.prefix.clone();
        for part in key_parts {
            h.update(b":");
            h.update(part.as_bytes());
        }
        let digest = h.finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_sha1_bytes(bytes).into_uuid()
    }
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
    fn uuid_names_equal_the_uuid_crates_v5_for_every_name_length() {
        // Keys of 0 to 299 bytes: the names cross SHA-1's 55/64-byte block boundaries.
        let ns = Uuid::parse_str("6f0d5b4e-8a53-4c1e-9d2b-3c4a5e6f7a8b").unwrap();
        for table in ["t", "accounts", &"x".repeat(70)] {
            let names = UuidNames::new(&ns, table);
            for len in 0..300 {
                let key: String = (0..len)
                    .map(|i| char::from(b'0' + (i % 10) as u8))
                    .collect();
                let two = [key.as_str(), "é"];
                assert_eq!(
                    names.uuid([key.as_str()]),
                    Uuid::new_v5(&ns, format!("{table}:{key}").as_bytes()),
                    "{table}:{key}"
                );
                assert_eq!(
                    names.uuid(two),
                    Uuid::new_v5(&ns, format!("{table}:{key}:é").as_bytes())
                );
            }
        }
    }

    #[test]
    fn quote_cuts_long_values() {
        assert_eq!(quote("short"), "short");
        let long = "x".repeat(100);
        assert_eq!(quote(&long).chars().count(), QUOTE_MAX + 1);
    }
}
