//! Deterministic pseudonyms for `pii = true` columns (`cutover migrate full --pseudonymise`), for
//! copies of production data into test environments.
//!
//! The pseudonym of a value is `blake3::keyed_hash(K, text)`, where `text` is the value's text
//! form (so `42` in an integer column and `'42'` in a text column get the same hash) and `K` is
//! `blake3::derive_key("cutover pii v1", key material)`. The same key and value always give
//! the same pseudonym, so joins and foreign keys between pii columns still match; another key
//! gives unrelated pseudonyms; without the key nothing leads back to the value. The hash is then
//! rendered to fit the target type:
//!
//! | target type                    | pseudonym                                                  |
//! |--------------------------------|------------------------------------------------------------|
//! | text, varchar(n), char(n), name | a value with `@`: `u_<16 hex>@example.invalid` (when it fits); else hex, 32 characters or the column's length |
//! | uuid                           | 16 hash bytes as a version-8 UUID                          |
//! | smallint, integer, bigint      | hash bits masked to the type's non-negative range          |
//! | numeric(p, s)                  | an integer with at most p − s digits (15 unconstrained)    |
//! | real, double precision         | an integer below 1 000 000                                 |
//! | boolean                        | one hash bit                                               |
//! | bytea                          | the 32 hash bytes                                          |
//! | date, timestamp(tz)            | a day from 1930 to 2009 (and a time of day)                |
//! | time                           | a time of day                                              |
//! | json, jsonb                    | a JSON string of 32 hex characters                         |
//!
//! Narrow targets (`char(4)`, `smallint`, `boolean`) cannot keep distinct values distinct:
//! collisions there are expected. Other types (enums, arrays, network, money, intervals) have no
//! pseudonym form: compiling a pii column of such a type under `--pseudonymise` is a BLOCKER.
use std::fmt;

use crate::pgtype::PgType;
use crate::value::Value;

/// blake3 `derive_key` context of hash_version 1 pseudonyms.
pub const KEY_CONTEXT: &str = "cutover pii v1";

/// Shortest key material accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 16;

/// Days from 2000-01-01 to 1930-01-01, and the span of pseudonymous dates (80 years).
const DATE_FROM: i64 = -25_567;
const DATE_SPAN: u64 = 29_220;
const DAY_MICROS: i64 = 86_400_000_000;

/// The 32-byte key derived from the user's key material. Its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct PseudonymKey([u8; 32]);

impl PseudonymKey {
    /// Derives the key; `Err` when the material is shorter than [`MIN_KEY_BYTES`].
    pub fn derive(material: &[u8]) -> Result<PseudonymKey, String> {
        if material.len() < MIN_KEY_BYTES {
            return Err(format!(
                "the pseudonymisation key must be at least {MIN_KEY_BYTES} bytes (e.g. \
                 `head -c 32 /dev/urandom | base64 > pii.key`)"
            ));
        }
        Ok(PseudonymKey(blake3::derive_key(KEY_CONTEXT, material)))
    }

    /// A short public fingerprint of the key (it reveals nothing of it), to tell runs made with
    /// different keys apart.
    pub fn fingerprint(&self) -> String {
        let f = blake3::derive_key("cutover pii v1 key fingerprint", &self.0);
        hex::encode(&f[..8])
    }

    fn hash(&self, text: &[u8]) -> [u8; 32] {
        *blake3::keyed_hash(&self.0, text).as_bytes()
    }
}

impl fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PseudonymKey(***)")
    }
}

/// True when values of `ty` have a pseudonym form.
pub fn can_pseudonymise(ty: &PgType) -> bool {
    use PgType as P;
    matches!(
        ty,
        P::Text
            | P::Varchar { .. }
            | P::Bpchar { .. }
            | P::Name
            | P::Uuid
            | P::Int2
            | P::Int4
            | P::Int8
            | P::Numeric { .. }
            | P::Float4
            | P::Float8
            | P::Bool
            | P::Bytea
            | P::Date
            | P::Timestamp { .. }
            | P::Timestamptz { .. }
            | P::Time { .. }
            | P::Json
            | P::Jsonb
    )
}

/// The pseudonym of a non-NULL value, as a value of target type `ty` (see the module table).
pub fn pseudonymise(key: &PseudonymKey, ty: &PgType, v: &Value) -> Result<Value, String> {
    use PgType as P;
    let text = match v {
        Value::Raw(raw) => return Err(format!("a raw {} value has no pseudonym", raw.len())),
        v => v.as_text().unwrap_or_default(),
    };
    let h = key.hash(text.as_bytes());
    let n = u64::from_le_bytes(h[..8].try_into().expect("8 bytes"));
    let n2 = u64::from_le_bytes(h[8..16].try_into().expect("8 bytes"));
    Ok(match ty {
        P::Text | P::Varchar { .. } | P::Bpchar { .. } | P::Name => {
            let len = match ty {
                P::Varchar { len } | P::Bpchar { len } => len.map(|l| l as usize),
                P::Name => Some(63),
                _ => None,
            };
            Value::Text(text_pseudonym(&h, text.contains('@'), len))
        }
        P::Uuid => {
            let mut b: [u8; 16] = h[..16].try_into().expect("16 bytes");
            b[6] = (b[6] & 0x0f) | 0x80; // version 8 (custom)
            b[8] = (b[8] & 0x3f) | 0x80; // RFC 9562 variant
            Value::Uuid(b)
        }
        P::Int2 => Value::Int((n & 0x7fff) as i64),
        P::Int4 => Value::Int((n & 0x7fff_ffff) as i64),
        P::Int8 => Value::Int((n & 0x7fff_ffff_ffff_ffff) as i64),
        P::Numeric { precision, scale } => {
            let digits = match precision {
                Some(p) => p.saturating_sub(scale.unwrap_or(0)).min(18),
                None => 15,
            };
            Value::Numeric((n % 10u64.pow(u32::from(digits))).to_string())
        }
        P::Float4 | P::Float8 => Value::Float((n % 1_000_000) as f64),
        P::Bool => Value::Bool(n & 1 == 1),
        P::Bytea => Value::Bytes(h.to_vec()),
        P::Date => Value::Date(day(n) as i32),
        P::Timestamp { .. } | P::Timestamptz { .. } => {
            let micros = day(n) * DAY_MICROS + (n2 % 86_400) as i64 * 1_000_000;
            match ty {
                P::Timestamp { .. } => Value::Timestamp(micros),
                _ => Value::TimestampTz(micros),
            }
        }
        P::Time { .. } => Value::Time((n % 86_400) as i64 * 1_000_000),
        P::Json | P::Jsonb => Value::Text(format!("\"{}\"", hex::encode(&h[..16]))),
        other => return Err(format!("a value of type {other:?} has no pseudonym")),
    })
}

fn day(n: u64) -> i64 {
    DATE_FROM + (n % DATE_SPAN) as i64
}

/// `u_<hex>@example.invalid` for e-mail-like values when it fits `len`, else hex (32
/// characters, or `len` when shorter; at most 64).
fn text_pseudonym(h: &[u8; 32], email: bool, len: Option<usize>) -> String {
    let hex = hex::encode(h);
    let email_form = format!("u_{}@example.invalid", &hex[..16]);
    let fits = match len {
        Some(l) => l >= email_form.len(),
        None => true,
    };
    if email && fits {
        return email_form;
    }
    let n = len.unwrap_or(32).clamp(1, 64);
    hex[..n].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(material: &str) -> PseudonymKey {
        PseudonymKey::derive(material.as_bytes()).unwrap()
    }

    #[test]
    fn the_same_key_and_value_give_the_same_pseudonym_and_another_key_another() {
        let (k1, k2) = (
            key("first key, long enough"),
            key("second key, long enough"),
        );
        let v = Value::Text("ada@example.com".into());
        let a = pseudonymise(&k1, &PgType::Text, &v).unwrap();
        assert_eq!(a, pseudonymise(&k1, &PgType::Text, &v).unwrap());
        assert_ne!(a, pseudonymise(&k2, &PgType::Text, &v).unwrap());
        assert_ne!(a, v);
        let other = Value::Text("bob@example.com".into());
        assert_ne!(a, pseudonymise(&k1, &PgType::Text, &other).unwrap());
    }

    /// The key derivation and hash are part of the format: pseudonyms must not change between
    /// versions, or copies made at different times stop joining.
    #[test]
    fn hash_version_1_is_stable() {
        let k = key("0123456789abcdef");
        let want = blake3::keyed_hash(
            &blake3::derive_key("cutover pii v1", b"0123456789abcdef"),
            b"42",
        );
        let got = pseudonymise(&k, &PgType::Bytea, &Value::Int(42)).unwrap();
        assert_eq!(got, Value::Bytes(want.as_bytes().to_vec()));
        // The same text in an integer and a text column hashes alike (joins across types).
        let as_text = pseudonymise(&k, &PgType::Bytea, &Value::Text("42".into())).unwrap();
        assert_eq!(got, as_text);
    }

    #[test]
    fn text_pseudonyms_fit_the_column() {
        let k = key("0123456789abcdef");
        let email = Value::Text("Ada.Lovelace@example.com".into());
        let Value::Text(e) = pseudonymise(&k, &PgType::Text, &email).unwrap() else {
            panic!()
        };
        assert!(
            e.starts_with("u_") && e.ends_with("@example.invalid") && e.len() == 34,
            "{e}"
        );
        let short = PgType::Varchar { len: Some(20) };
        let Value::Text(s) = pseudonymise(&k, &short, &email).unwrap() else {
            panic!()
        };
        assert_eq!(s.len(), 20);
        assert!(s.chars().all(|c| c.is_ascii_hexdigit()), "{s}");
        let name = Value::Text("Ada Lovelace".into());
        let Value::Text(n) = pseudonymise(&k, &PgType::Text, &name).unwrap() else {
            panic!()
        };
        assert_eq!(n.len(), 32);
        let wide = PgType::Bpchar { len: Some(100) };
        let Value::Text(w) = pseudonymise(&k, &wide, &name).unwrap() else {
            panic!()
        };
        assert_eq!(w.len(), 64);
    }

    #[test]
    fn numbers_stay_in_their_types_range() {
        let k = key("0123456789abcdef");
        for i in 0..200 {
            let v = Value::Int(i);
            let Value::Int(s) = pseudonymise(&k, &PgType::Int2, &v).unwrap() else {
                panic!()
            };
            assert!((0..=i16::MAX as i64).contains(&s));
            let Value::Int(l) = pseudonymise(&k, &PgType::Int4, &v).unwrap() else {
                panic!()
            };
            assert!((0..=i32::MAX as i64).contains(&l));
            let num = PgType::Numeric {
                precision: Some(5),
                scale: Some(2),
            };
            let Value::Numeric(t) = pseudonymise(&k, &num, &v).unwrap() else {
                panic!()
            };
            assert!(t.len() <= 3 && t.parse::<u32>().unwrap() < 1000, "{t}");
        }
    }

    #[test]
    fn uuids_dates_and_json_are_valid_values_of_their_type() {
        let k = key("0123456789abcdef");
        let v = Value::Text("x".into());
        let Value::Uuid(u) = pseudonymise(&k, &PgType::Uuid, &v).unwrap() else {
            panic!()
        };
        assert_eq!((u[6] >> 4, u[8] >> 6), (8, 2));
        let Value::Date(d) = pseudonymise(&k, &PgType::Date, &Value::Date(1)).unwrap() else {
            panic!()
        };
        assert!((-25_567..3_653).contains(&d));
        let Value::Text(j) = pseudonymise(&k, &PgType::Jsonb, &v).unwrap() else {
            panic!()
        };
        assert!(serde_json::from_str::<String>(&j).is_ok(), "{j}");
    }

    #[test]
    fn short_keys_are_refused_and_keys_never_print() {
        assert!(PseudonymKey::derive(b"short").is_err());
        let k = key("a secret key material");
        assert_eq!(format!("{k:?}"), "PseudonymKey(***)");
        assert_eq!(k.fingerprint().len(), 16);
        assert!(!can_pseudonymise(&PgType::Inet));
        assert!(!can_pseudonymise(&PgType::Enum {
            name: "e".into(),
            labels: vec![]
        }));
    }
}
