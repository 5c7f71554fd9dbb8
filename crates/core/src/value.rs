//! Decoding, casting and encoding single values in PostgreSQL's binary (`typsend`) format.
//!
//! The encoder's output for a type must be byte-for-byte what PostgreSQL's send function
//! returns for the value as the target would store it (after typmod coercion), because
//! digests are computed over these bytes on the source side and compared with bytes read back
//! from the target.
use crate::pgtype::PgType;

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

/// Decodes binary bytes of type `ty` into a [`Value`].
pub fn decode(ty: &PgType, raw: &[u8]) -> Result<Value, ValueError> {
    let _ = (ty, raw);
    Err(ValueError("decode: not implemented".into()))
}

/// Encodes `v` as binary bytes of type `ty` into `out` (appending), casting when the value's
/// kind differs from the type (int→numeric, text→uuid, text→int, timestamp precision…) and
/// applying the typmod (numeric scale rounding and precision check, varchar length check, char
/// padding, timestamp precision rounding). `Value::Null` is an error: callers handle NULL.
pub fn encode(ty: &PgType, v: &Value, out: &mut Vec<u8>) -> Result<(), ValueError> {
    let _ = (ty, v, out);
    Err(ValueError("encode: not implemented".into()))
}

/// True when a value of type `from` can be cast to `to` by [`encode`] (it may still fail at run
/// time for a particular value, e.g. a too-long string).
pub fn can_cast(from: &PgType, to: &PgType) -> bool {
    from == to
}

impl Value {
    /// The value as text, as PostgreSQL's output function would print it, for `map` lookups,
    /// `concat`, `uuid` name strings and messages (ints as decimal, numeric exact, uuid hyphenated,
    /// bool `true`/`false`). `None` for NULL and raw bytes.
    pub fn as_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Value::Text(s) | Value::Numeric(s) => Some(std::borrow::Cow::Borrowed(s)),
            Value::Int(i) => Some(std::borrow::Cow::Owned(i.to_string())),
            _ => None,
        }
    }
}
