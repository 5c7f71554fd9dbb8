//! Decoding, casting and encoding single values in PostgreSQL's binary (`typsend`) format.
//!
//! The encoder's output for a type must be byte-for-byte what PostgreSQL's send function
//! returns for the value as the target would store it (after typmod coercion), because
//! digests are computed over these bytes on the source side and compared with bytes read back
//! from the target.
//!
//! [`encode`] and [`can_cast`] live in `cast`; the type families in `numeric` (exact decimal ⇄
//! base 10000), `datetime` (civil dates by hand, ISO text, typmod rounding), `text` (character
//! typmods, small scalars), `float_out` (`float8out`'s exact digits) and `json` (`json`
//! validation, canonical `jsonb` text).
use std::borrow::Cow;

use crate::pgtype::PgType;

mod cast;
mod datetime;
mod float_out;
mod json;
mod numeric;
#[cfg(test)]
mod tests;
mod text;

pub use cast::{can_cast, encode};
use numeric::Num;

/// A decoded value, for transforms. Values that need no transform never get decoded.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Exact decimal text: `-123.4500`, `NaN`, `Infinity`, `-Infinity`. Never through f64.
    Numeric(String),
    Text(String),
    Bytes(Vec<u8>),
    Uuid([u8; 16]),
    /// Days since 2000-01-01; `i32::MIN` / `i32::MAX` are -infinity / infinity.
    Date(i32),
    /// Microseconds since midnight.
    Time(i64),
    /// Microseconds since 2000-01-01 00:00:00 (local, no zone); `i64::MIN/MAX` = ∓infinity.
    Timestamp(i64),
    /// Microseconds since 2000-01-01 00:00:00 UTC; `i64::MIN/MAX` = ∓infinity.
    TimestampTz(i64),
    /// Binary bytes of a type that is not decoded (passed through as is).
    Raw(Vec<u8>),
}

/// Why a value could not be decoded, cast or encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

/// The type as SQL spells it, for messages.
/// The elements of a binary array (`array_send`'s form: the number of dimensions, a has-NULLs
/// flag, the element type's OID at bytes 8..12, each dimension's length and lower bound, then
/// each element as its length, -1 for NULL, and its bytes), as byte ranges of `raw` (`None`:
/// NULL), in storage order; `None` when the bytes are not such an array.
pub(crate) fn array_elements(raw: &[u8]) -> Option<Vec<Option<std::ops::Range<usize>>>> {
    let int = |at: usize| {
        raw.get(at..at.checked_add(4)?)
            .map(|b| i32::from_be_bytes(b.try_into().expect("4 bytes")))
    };
    let ndim = usize::try_from(int(0)?).ok()?;
    let mut at: usize = 12;
    let mut count: usize = usize::from(ndim > 0);
    for _ in 0..ndim {
        count = count.checked_mul(usize::try_from(int(at)?).ok()?)?;
        at = at.checked_add(8)?;
    }
    // Each element takes at least its 4-byte length.
    if count > raw.len() / 4 {
        return None;
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let len = int(at)?;
        at += 4;
        match usize::try_from(len) {
            Ok(len) => {
                let end = at.checked_add(len).filter(|&e| e <= raw.len())?;
                out.push(Some(at..end));
                at = end;
            }
            Err(_) => out.push(None),
        }
    }
    (at == raw.len()).then_some(out)
}

pub(crate) fn sql_name(ty: &PgType) -> String {
    let with = |name: &str, m: Option<String>| match m {
        Some(m) => format!("{name}({m})"),
        None => name.to_string(),
    };
    match ty {
        PgType::Numeric {
            precision: Some(p),
            scale,
        } => format!("numeric({p},{})", scale.unwrap_or(0)),
        PgType::Varchar { len } => with("varchar", len.map(|n| n.to_string())),
        PgType::Bpchar { len } => with("char", len.map(|n| n.to_string())),
        PgType::Time { precision } => with("time", precision.map(|n| n.to_string())),
        PgType::TimeTz { precision } => with("timetz", precision.map(|n| n.to_string())),
        PgType::Timestamp { precision } => with("timestamp", precision.map(|n| n.to_string())),
        PgType::Timestamptz { precision } => with("timestamptz", precision.map(|n| n.to_string())),
        PgType::Enum { name, .. } | PgType::Other { name } => name.clone(),
        PgType::Array(elem) => format!("{}[]", sql_name(elem)),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn fixed<const N: usize>(ty: &PgType, raw: &[u8]) -> Result<[u8; N], ValueError> {
    raw.try_into().map_err(|_| {
        ValueError(format!(
            "invalid binary {}: {} bytes, expected {N}",
            sql_name(ty),
            raw.len()
        ))
    })
}

fn utf8(ty: &PgType, raw: &[u8]) -> Result<String, ValueError> {
    utf8_str(ty, raw).map(str::to_string)
}

fn utf8_str<'a>(ty: &PgType, raw: &'a [u8]) -> Result<&'a str, ValueError> {
    std::str::from_utf8(raw)
        .map_err(|e| ValueError(format!("invalid UTF-8 in binary {}: {e}", sql_name(ty))))
}

/// [`decode`], with a text value written into `spare` (taken, cleared) rather than a new
/// allocation: give the string back (`Value::Text`) and the next value reuses it.
pub fn decode_reusing(ty: &PgType, raw: &[u8], spare: &mut String) -> Result<Value, ValueError> {
    if !(ty.is_textual() || *ty == PgType::Json) {
        return decode(ty, raw);
    }
    let text = utf8_str(ty, raw)?;
    let mut out = std::mem::take(spare);
    out.clear();
    out.push_str(text);
    Ok(Value::Text(out))
}

/// Decodes binary bytes of type `ty` into a [`Value`].
pub fn decode(ty: &PgType, raw: &[u8]) -> Result<Value, ValueError> {
    Ok(match ty {
        PgType::Bool => Value::Bool(fixed::<1>(ty, raw)?[0] != 0),
        PgType::Int2 => Value::Int(i16::from_be_bytes(fixed(ty, raw)?).into()),
        PgType::Int4 => Value::Int(i32::from_be_bytes(fixed(ty, raw)?).into()),
        PgType::Int8 => Value::Int(i64::from_be_bytes(fixed(ty, raw)?)),
        PgType::Float4 => Value::Float(f32::from_be_bytes(fixed(ty, raw)?).into()),
        PgType::Float8 => Value::Float(f64::from_be_bytes(fixed(ty, raw)?)),
        PgType::Numeric { .. } => Value::Numeric(Num::from_binary(raw)?.to_text()),
        PgType::Text
        | PgType::Varchar { .. }
        | PgType::Bpchar { .. }
        | PgType::Name
        | PgType::Enum { .. }
        | PgType::Json => Value::Text(utf8(ty, raw)?),
        PgType::Jsonb => match raw.split_first() {
            Some((1, text)) => Value::Text(utf8(ty, text)?),
            _ => return Err(ValueError("invalid binary jsonb: unknown version".into())),
        },
        PgType::Bytea => Value::Bytes(raw.to_vec()),
        PgType::Uuid => Value::Uuid(fixed(ty, raw)?),
        PgType::Date => Value::Date(i32::from_be_bytes(fixed(ty, raw)?)),
        PgType::Time { .. } => Value::Time(i64::from_be_bytes(fixed(ty, raw)?)),
        PgType::Timestamp { .. } => Value::Timestamp(i64::from_be_bytes(fixed(ty, raw)?)),
        PgType::Timestamptz { .. } => Value::TimestampTz(i64::from_be_bytes(fixed(ty, raw)?)),
        PgType::Money
        | PgType::TimeTz { .. }
        | PgType::Interval
        | PgType::Inet
        | PgType::Cidr
        | PgType::Macaddr
        | PgType::Array(_)
        | PgType::Other { .. } => Value::Raw(raw.to_vec()),
    })
}

impl Value {
    /// The value as text, as PostgreSQL's output function would print it, for `map` lookups,
    /// `concat`, `uuid` name strings and messages (ints as decimal, numeric exact, uuid hyphenated,
    /// bool `true`/`false`). `None` for NULL and raw bytes.
    ///
    /// Floats print like `float8out` (a float4 widened to f64 prints its f64 digits), bytes as
    /// `\x…` hex, dates and timestamps in ISO style with `infinity` and ` BC`, timestamptz in
    /// UTC (`+00`).
    pub fn as_text(&self) -> Option<Cow<'_, str>> {
        Some(match self {
            Value::Null | Value::Raw(_) => return None,
            Value::Text(s) | Value::Numeric(s) => Cow::Borrowed(s),
            Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Value::Int(i) => Cow::Owned(i.to_string()),
            Value::Float(x) => Cow::Owned(float_out::float8_text(*x)),
            Value::Bytes(b) => Cow::Owned(text::bytea_text(b)),
            Value::Uuid(u) => Cow::Owned(text::uuid_text(u)),
            Value::Date(d) => Cow::Owned(datetime::date_text(*d)),
            Value::Time(t) => Cow::Owned(datetime::time_text(*t)),
            Value::Timestamp(t) => Cow::Owned(datetime::timestamp_text(*t, false)),
            Value::TimestampTz(t) => Cow::Owned(datetime::timestamp_text(*t, true)),
        })
    }

    /// The variant's name, for messages.
    fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Bool(_) => "bool",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Numeric(_) => "numeric",
            Value::Text(_) => "text",
            Value::Bytes(_) => "bytea",
            Value::Uuid(_) => "uuid",
            Value::Date(_) => "date",
            Value::Time(_) => "time",
            Value::Timestamp(_) => "timestamp",
            Value::TimestampTz(_) => "timestamptz",
            Value::Raw(_) => "raw bytes",
        }
    }
}
