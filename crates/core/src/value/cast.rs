//! [`encode`] with casts: which value kinds each target type accepts ([`can_cast`] answers from
//! the same table), and the typmod applied on the way out.
use super::numeric::{Decimal, Num};
use super::{datetime, decode, json, sql_name, text, Value, ValueError};
use crate::pgtype::PgType;

/// The kind of [`Value`] that [`decode`] produces for a type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Bool,
    Int,
    Float,
    Numeric,
    Text,
    Bytes,
    Uuid,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Raw,
}

fn kind_of(ty: &PgType) -> Kind {
    match ty {
        PgType::Bool => Kind::Bool,
        PgType::Int2 | PgType::Int4 | PgType::Int8 => Kind::Int,
        PgType::Float4 | PgType::Float8 => Kind::Float,
        PgType::Numeric { .. } => Kind::Numeric,
        PgType::Text
        | PgType::Varchar { .. }
        | PgType::Bpchar { .. }
        | PgType::Name
        | PgType::Enum { .. }
        | PgType::Json
        | PgType::Jsonb => Kind::Text,
        PgType::Bytea => Kind::Bytes,
        PgType::Uuid => Kind::Uuid,
        PgType::Date => Kind::Date,
        PgType::Time { .. } => Kind::Time,
        PgType::Timestamp { .. } => Kind::Timestamp,
        PgType::Timestamptz { .. } => Kind::TimestampTz,
        PgType::Money
        | PgType::TimeTz { .. }
        | PgType::Interval
        | PgType::Inet
        | PgType::Cidr
        | PgType::Macaddr
        | PgType::Array(_)
        | PgType::Other { .. } => Kind::Raw,
    }
}

/// Which value kinds [`encode`] accepts for a target type, besides `Raw`.
fn accepts(to: &PgType, kind: Kind) -> bool {
    use Kind as K;
    let has_text = !matches!(kind, K::Raw);
    match to {
        PgType::Bool => matches!(kind, K::Bool | K::Text),
        PgType::Int2 | PgType::Int4 | PgType::Int8 => matches!(kind, K::Int | K::Numeric | K::Text),
        PgType::Float4 | PgType::Float8 => {
            matches!(kind, K::Float | K::Int | K::Numeric | K::Text)
        }
        PgType::Numeric { .. } => matches!(kind, K::Numeric | K::Int | K::Text),
        PgType::Text | PgType::Varchar { .. } | PgType::Bpchar { .. } | PgType::Name => has_text,
        PgType::Enum { .. } | PgType::Json | PgType::Jsonb => kind == K::Text,
        PgType::Bytea => kind == K::Bytes,
        PgType::Uuid => matches!(kind, K::Uuid | K::Text),
        PgType::Date => matches!(kind, K::Date | K::Text),
        PgType::Time { .. } => matches!(kind, K::Time | K::Text),
        PgType::Timestamp { .. } => matches!(kind, K::Timestamp | K::Date | K::Text),
        PgType::Timestamptz { .. } => matches!(kind, K::TimestampTz | K::Text),
        _ => false,
    }
}

fn kind_of_value(v: &Value) -> Option<Kind> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Numeric(_) => Kind::Numeric,
        Value::Text(_) => Kind::Text,
        Value::Bytes(_) => Kind::Bytes,
        Value::Uuid(_) => Kind::Uuid,
        Value::Date(_) => Kind::Date,
        Value::Time(_) => Kind::Time,
        Value::Timestamp(_) => Kind::Timestamp,
        Value::TimestampTz(_) => Kind::TimestampTz,
        Value::Raw(_) => Kind::Raw,
    })
}

/// Encodes `v` as binary bytes of type `ty` into `out` (appending), casting when the value's
/// kind differs from the type (int→numeric, text→uuid, text→int, timestamp precision…) and
/// applying the typmod (numeric scale rounding and precision check, varchar length check, char
/// padding, timestamp precision rounding). `Value::Null` is an error: callers handle NULL.
///
/// `Value::Raw` is taken as bytes already of type `ty`: decoded types are decoded and
/// re-encoded (so the typmod applies), other types are checked for length where it is fixed and
/// copied as they are.
pub fn encode(ty: &PgType, v: &Value, out: &mut Vec<u8>) -> Result<(), ValueError> {
    let cannot = || ValueError(format!("cannot cast {} to {}", v.kind_name(), sql_name(ty)));
    if let Value::Raw(raw) = v {
        return encode_raw(ty, raw, out);
    }
    let kind = kind_of_value(v).ok_or_else(|| ValueError("NULL has no binary form".into()))?;
    if !accepts(ty, kind) {
        return Err(cannot());
    }
    match ty {
        PgType::Bool => {
            let b = match v {
                Value::Bool(b) => *b,
                Value::Text(s) => text::parse_bool(s)?,
                _ => return Err(cannot()),
            };
            out.push(u8::from(b));
        }
        PgType::Int2 | PgType::Int4 | PgType::Int8 => {
            let i = match v {
                Value::Int(i) => *i,
                Value::Numeric(s) => Num::parse(s)?.to_i64()?,
                Value::Text(s) => text::parse_int(s)?,
                _ => return Err(cannot()),
            };
            let range = || ValueError(format!("{i} is out of range for type {}", sql_name(ty)));
            match ty {
                PgType::Int2 => out.extend(i16::try_from(i).map_err(|_| range())?.to_be_bytes()),
                PgType::Int4 => out.extend(i32::try_from(i).map_err(|_| range())?.to_be_bytes()),
                _ => out.extend(i.to_be_bytes()),
            }
        }
        PgType::Float4 | PgType::Float8 => {
            let x = match v {
                Value::Float(x) => *x,
                Value::Int(i) => *i as f64,
                Value::Numeric(s) | Value::Text(s) => parse_float(s, ty)?,
                _ => return Err(cannot()),
            };
            if *ty == PgType::Float4 {
                let y = x as f32;
                let overflow = y.is_infinite() && x.is_finite();
                if overflow || (y == 0.0 && x != 0.0) {
                    return Err(ValueError(format!("{x} is out of range for type real")));
                }
                out.extend(y.to_be_bytes());
            } else {
                out.extend(x.to_be_bytes());
            }
        }
        PgType::Numeric { precision, scale } => {
            let mut n = match v {
                Value::Numeric(s) | Value::Text(s) => Num::parse(s)?,
                Value::Int(i) => Num::Finite(Decimal::from_i64(*i)),
                _ => return Err(cannot()),
            };
            if let Some(p) = precision {
                n = n.apply_typmod(*p, scale.unwrap_or(0))?;
            }
            n.write_binary(out);
        }
        PgType::Text
        | PgType::Varchar { .. }
        | PgType::Bpchar { .. }
        | PgType::Name
        | PgType::Enum { .. } => {
            let s = v.as_text().ok_or_else(cannot)?;
            if s.contains('\0') {
                return Err(ValueError(format!(
                    "{} cannot hold a NUL character (0x00)",
                    sql_name(ty)
                )));
            }
            match ty {
                PgType::Varchar { len } => {
                    out.extend_from_slice(text::varchar(&s, *len)?.as_bytes())
                }
                PgType::Bpchar { len } => out.extend_from_slice(text::bpchar(&s, *len)?.as_bytes()),
                PgType::Name => out.extend_from_slice(text::name(&s).as_bytes()),
                PgType::Enum { name, labels }
                    if !labels.is_empty() && !labels.iter().any(|l| *l == *s) =>
                {
                    return Err(ValueError(format!(
                        "invalid input value for enum {name}: \"{s}\""
                    )));
                }
                _ => out.extend_from_slice(s.as_bytes()),
            }
        }
        PgType::Json | PgType::Jsonb => {
            let Value::Text(s) = v else {
                return Err(cannot());
            };
            if *ty == PgType::Json {
                json::validate(s)?;
                out.extend_from_slice(s.as_bytes());
            } else {
                out.push(1);
                out.extend_from_slice(json::jsonb_canonical(s)?.as_bytes());
            }
        }
        PgType::Bytea => match v {
            Value::Bytes(b) => out.extend_from_slice(b),
            _ => return Err(cannot()),
        },
        PgType::Uuid => match v {
            Value::Uuid(u) => out.extend_from_slice(u),
            Value::Text(s) => out.extend_from_slice(&text::parse_uuid(s)?),
            _ => return Err(cannot()),
        },
        PgType::Date => {
            let d = match v {
                Value::Date(d) => *d,
                Value::Text(s) => datetime::parse_date(s)?,
                _ => return Err(cannot()),
            };
            out.extend(datetime::check_date(d)?.to_be_bytes());
        }
        PgType::Time { precision } => {
            let t = match v {
                Value::Time(t) => *t,
                Value::Text(s) => datetime::parse_time(s)?,
                _ => return Err(cannot()),
            };
            out.extend(datetime::adjust_time(t, *precision)?.to_be_bytes());
        }
        PgType::Timestamp { precision } | PgType::Timestamptz { precision } => {
            let zoned = matches!(ty, PgType::Timestamptz { .. });
            let t = match v {
                Value::Timestamp(t) | Value::TimestampTz(t) => *t,
                Value::Date(d) => datetime::date_to_timestamp(*d)?,
                Value::Text(s) => datetime::parse_timestamp(s, zoned)?,
                _ => return Err(cannot()),
            };
            out.extend(datetime::adjust_timestamp(t, *precision)?.to_be_bytes());
        }
        _ => return Err(cannot()),
    }
    Ok(())
}

/// Text to float like `float8in`: Rust's parser is correctly rounded, as strtod is; overflow
/// of a finite literal is an error rather than infinity.
fn parse_float(s: &str, ty: &PgType) -> Result<f64, ValueError> {
    let t = s.trim();
    let x: f64 = t.parse().map_err(|_| {
        ValueError(format!(
            "invalid input syntax for type {}: \"{s}\"",
            sql_name(ty)
        ))
    })?;
    let literal_inf = t
        .trim_start_matches(['+', '-'])
        .to_ascii_lowercase()
        .starts_with("inf");
    if x.is_infinite() && !literal_inf {
        return Err(ValueError(format!(
            "\"{s}\" is out of range for type {}",
            sql_name(ty)
        )));
    }
    Ok(x)
}

/// `Value::Raw` into `ty`: see [`encode`].
fn encode_raw(ty: &PgType, raw: &[u8], out: &mut Vec<u8>) -> Result<(), ValueError> {
    let expect_len = |n: usize| {
        if raw.len() == n {
            Ok(())
        } else {
            Err(ValueError(format!(
                "invalid binary {}: {} bytes, expected {n}",
                sql_name(ty),
                raw.len()
            )))
        }
    };
    match ty {
        PgType::TimeTz { precision } => {
            expect_len(12)?;
            let t = i64::from_be_bytes(raw[..8].try_into().expect("8 bytes"));
            out.extend(datetime::adjust_time(t, *precision)?.to_be_bytes());
            out.extend_from_slice(&raw[8..]);
            return Ok(());
        }
        PgType::Money => expect_len(8)?,
        PgType::Interval => expect_len(16)?,
        PgType::Macaddr => expect_len(6)?,
        PgType::Array(elem) => {
            if let PgType::Enum { name, labels } = elem.as_ref() {
                if !labels.is_empty() {
                    check_enum_array(name, labels, raw)?;
                }
            }
        }
        PgType::Inet | PgType::Cidr | PgType::Other { .. } => {}
        decoded => return encode(decoded, &decode(decoded, raw)?, out),
    }
    out.extend_from_slice(raw);
    Ok(())
}

/// Checks that each element of a binary array of enum `name` is one of `labels` (what
/// `enum_recv` in the target would refuse, failing the whole `COPY`).
fn check_enum_array(name: &str, labels: &[String], raw: &[u8]) -> Result<(), ValueError> {
    let elements = super::array_elements(raw)
        .ok_or_else(|| ValueError(format!("invalid binary array of enum {name}")))?;
    for label in elements.into_iter().flatten().map(|r| &raw[r]) {
        if !labels.iter().any(|l| l.as_bytes() == label) {
            return Err(ValueError(format!(
                "invalid input value for enum {name}: \"{}\"",
                String::from_utf8_lossy(label)
            )));
        }
    }
    Ok(())
}

/// True when a value of type `from` can be cast to `to` by [`encode`] (it may still fail at run
/// time for a particular value, e.g. a too-long string).
///
/// `timestamp` ⇄ `timestamptz` and `date` → `timestamptz` are refused: they need a time zone,
/// which only an explicit timezone transform supplies.
pub fn can_cast(from: &PgType, to: &PgType) -> bool {
    if from == to {
        return true;
    }
    match (from, to) {
        (PgType::TimeTz { .. }, PgType::TimeTz { .. }) => true,
        // An array of one enum into that enum's array of the target: each label is checked.
        (PgType::Array(a), PgType::Array(b)) => matches!(
            (a.as_ref(), b.as_ref()),
            (PgType::Enum { name: x, .. }, PgType::Enum { name: y, .. }) if x == y
        ),
        _ => accepts(to, kind_of(from)),
    }
}
