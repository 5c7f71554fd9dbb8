//! Deserializers for the mapping's fields that check their value as they read it, so the error
//! points at the offending value (toml attaches the value's span to a custom error).
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_spanned::Spanned;
use uuid::Uuid;

use super::{ColumnSpec, Columns, Literal, TableSpec};

/// Largest `scale` accepted (PostgreSQL's numeric limit).
pub const MAX_SCALE: u16 = 1000;

pub fn version<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = i64::deserialize(d)?;
    if v != 1 {
        return Err(de::Error::custom(format!(
            "unsupported mapping version {v}: this cutover reads version 1"
        )));
    }
    Ok(1)
}

pub fn namespace<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Uuid>, D::Error> {
    let s = String::deserialize(d)?;
    Uuid::parse_str(&s)
        .map(Some)
        .map_err(|e| de::Error::custom(format!("uuid_namespace `{s}` is not a UUID: {e}")))
}

pub fn region<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    if s.len() != 2 || !s.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(de::Error::custom(format!(
            "region `{s}` must be two upper-case letters (ISO 3166 alpha-2, e.g. \"US\")"
        )));
    }
    Ok(Some(s))
}

pub fn scale<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    let v = i64::deserialize(d)?;
    if !(0..=i64::from(MAX_SCALE)).contains(&v) {
        return Err(de::Error::custom(format!(
            "scale {v} is out of range: use 0 to {MAX_SCALE}"
        )));
    }
    Ok(Some(v as u16))
}

pub fn timezone<'de, D: Deserializer<'de>>(d: D) -> Result<Option<chrono_tz::Tz>, D::Error> {
    let s = String::deserialize(d)?;
    s.parse::<chrono_tz::Tz>().map(Some).map_err(|_| {
        de::Error::custom(format!(
            "unknown time zone `{s}`: use an IANA name such as \"America/New_York\""
        ))
    })
}

/// `[[tables]]` entries, each remembering its span.
pub fn tables<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<TableSpec>, D::Error> {
    let tables = Vec::<Spanned<TableSpec>>::deserialize(d)?;
    Ok(tables
        .into_iter()
        .map(|t| {
            let span = t.span();
            let mut t = t.into_inner();
            t.span = span;
            t
        })
        .collect())
}

/// A column name or an array of column names.
pub fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Spanned<Vec<String>>, D::Error> {
    struct Names;
    impl<'de> Visitor<'de> for Names {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a column name or an array of column names")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut names = Vec::new();
            while let Some(n) = seq.next_element::<String>()? {
                names.push(n);
            }
            Ok(names)
        }
    }
    struct OneOrMany(Vec<String>);
    impl<'de> Deserialize<'de> for OneOrMany {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(Names).map(OneOrMany)
        }
    }
    let names = Spanned::<OneOrMany>::deserialize(d)?;
    let span = names.span();
    Ok(Spanned::new(span, names.into_inner().0))
}

impl<'de> Deserialize<'de> for Literal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Lit;
        impl<'de> Visitor<'de> for Lit {
            type Value = Literal;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, integer, float or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Literal, E> {
                Ok(Literal::Text(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Literal, E> {
                Ok(Literal::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Literal, E> {
                i64::try_from(v)
                    .map(Literal::Int)
                    .map_err(|_| E::custom(format!("integer {v} is too large")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Literal, E> {
                Ok(Literal::Float(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Literal, E> {
                Ok(Literal::Bool(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Literal, A::Error> {
                Err(de::Error::custom(
                    "expected a string, integer, float or boolean (write dates and times as \
                     quoted strings)",
                ))
            }
        }
        d.deserialize_any(Lit)
    }
}

impl<'de> Deserialize<'de> for Columns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Sections;
        impl<'de> Visitor<'de> for Sections {
            type Value = Columns;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of column sections")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Columns, A::Error> {
                let mut columns = Vec::new();
                while let Some(name) = map.next_key::<Spanned<String>>()? {
                    let mut spec: ColumnSpec = map.next_value()?;
                    spec.span = name.span();
                    columns.push((name.into_inner(), spec));
                }
                // Declaration order, whatever order the deserializer visits keys in.
                columns.sort_by_key(|(_, c): &(String, ColumnSpec)| c.span.start);
                Ok(Columns(columns))
            }
        }
        d.deserialize_map(Sections)
    }
}
