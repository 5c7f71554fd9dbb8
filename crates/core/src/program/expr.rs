//! How one target column is computed from a source row: where the value comes from, the
//! transform steps in their fixed order, and the final cast to the target type.
use std::fmt::Write as _;

use arrow_array::{Array, BinaryArray};
use chrono_tz::Tz;

use super::pii::{mask_reason, Pseudonym};
use crate::mapping::OnError;
use crate::pgtype::PgType;
use crate::transform::{self, CodeMap, Region};
use crate::value::{self, Value};

/// One output column.
#[derive(Clone, Debug)]
pub struct OutputColumn {
    /// Target column name.
    pub name: String,
    /// Target type (the final cast and typmod).
    pub ty: PgType,
    /// The target column is NOT NULL: a NULL here follows `on_error`.
    pub not_null: bool,
    /// What a failed (or NOT NULL-violating NULL) value becomes.
    pub on_error: OnError,
    /// `default` encoded in the target type, when `on_error = "default"`.
    pub default: Option<Vec<u8>>,
    /// How the value is computed.
    pub expr: Expr,
    /// `pii = true`: values are masked in failure reasons (see [`super::pii`]).
    pub pii: bool,
}

impl OutputColumn {
    pub fn is_pass(&self) -> bool {
        matches!(self.expr, Expr::Pass { .. })
    }
}

/// How a column's value is produced. Inputs are indices into the input batch.
#[derive(Clone, Debug)]
pub enum Expr {
    /// The source column's bytes, untouched (same type, no transform).
    Pass { input: usize },
    /// The same bytes in every row (a constant, computed when compiling).
    Const { bytes: Vec<u8> },
    /// Decode, transform, encode to the target type.
    Compute { origin: Origin, steps: Steps },
}

/// Where a computed value comes from.
#[derive(Clone, Debug)]
pub enum Origin {
    Column {
        input: usize,
        ty: PgType,
    },
    Concat {
        inputs: Vec<(usize, PgType)>,
        separator: String,
    },
    Uuid {
        names: Box<transform::UuidNames>,
        inputs: Vec<(usize, PgType)>,
        /// The ids are remembered ([`memo`]): one input that is not the table's own key,
        /// so a foreign key whose values repeat (many rows point at one parent).
        memo: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    Lower,
    Upper,
}

/// The transforms of a column, applied in the fixed order
/// trim → lower/upper → map → email → phone → scale → timezone.
#[derive(Clone, Debug, Default)]
pub struct Steps {
    pub trim: bool,
    pub case: Option<Case>,
    pub map: Option<CodeMap>,
    pub email: bool,
    /// `Some(region)` when `phone` is set.
    pub phone: Option<Option<Region>>,
    pub scale: Option<u16>,
    pub timezone: Option<Tz>,
    /// `--pseudonymise` on a pii column: the value's keyed pseudonym, after every other step.
    pub pseudonym: Option<Box<Pseudonym>>,
}

/// Buffers reused across rows.
#[derive(Default)]
pub struct Scratch {
    text: String,
    parts: Vec<String>,
    /// A computed text value's string, given back for the next value's decode.
    spare: String,
    /// The [`memo`] lookups and hits of the column being computed.
    memo_lookups: u32,
    memo_hits: u32,
}

/// A column's first lookups in the [`memo`]; after them it is used only while at least one
/// lookup in four finds the id (a foreign key to a table of millions repeats too seldom for
/// the memo to pay for its cache misses).
const MEMO_PROBE: u32 = 256;

impl Scratch {
    /// Called before each computed column of a batch.
    pub fn start_column(&mut self) {
        self.memo_lookups = 0;
        self.memo_hits = 0;
    }

    fn memo_pays(&self) -> bool {
        self.memo_lookups < MEMO_PROBE || self.memo_hits * 4 >= self.memo_lookups
    }

    /// Keeps a finished value's string (not a long one) for the next decode.
    fn give_back(&mut self, v: Value) {
        if let Value::Text(t) = v {
            if t.capacity() <= 4096 {
                self.spare = t;
            }
        }
    }
}

impl Expr {
    /// True when the value is computed from input column `i`.
    pub fn reads(&self, i: usize) -> bool {
        match self {
            Expr::Pass { input } => *input == i,
            Expr::Const { .. } => false,
            Expr::Compute { origin, .. } => match origin {
                Origin::Column { input, .. } => *input == i,
                Origin::Concat { inputs, .. } | Origin::Uuid { inputs, .. } => {
                    inputs.iter().any(|(input, _)| *input == i)
                }
            },
        }
    }

    /// Renumbers input indices (from source attribute positions to batch positions).
    pub fn remap(&mut self, f: &impl Fn(usize) -> usize) {
        let all = |inputs: &mut Vec<(usize, PgType)>| {
            for (i, _) in inputs.iter_mut() {
                *i = f(*i);
            }
        };
        match self {
            Expr::Pass { input } => *input = f(*input),
            Expr::Const { .. } => {}
            Expr::Compute { origin, .. } => match origin {
                Origin::Column { input, .. } => *input = f(*input),
                Origin::Concat { inputs, .. } | Origin::Uuid { inputs, .. } => all(inputs),
            },
        }
    }
}

fn decode(ty: &PgType, raw: &[u8]) -> Result<Value, String> {
    value::decode(ty, raw).map_err(|e| e.0)
}

/// Appends the text of the non-NULL value at `row` of `col` to `out`; `Ok(false)` for NULL.
fn push_text(out: &mut String, col: &BinaryArray, ty: &PgType, row: usize) -> Result<bool, String> {
    if col.is_null(row) {
        return Ok(false);
    }
    match decode(ty, col.value(row))? {
        Value::Int(i) => write!(out, "{i}").expect("write to String"),
        v => out.push_str(
            &v.as_text()
                .ok_or_else(|| format!("a value of type {ty:?} has no text form"))?,
        ),
    }
    Ok(true)
}

impl Origin {
    /// The value at `row`, before the steps; `Value::Null` for NULL.
    #[inline(always)]
    pub fn value(
        &self,
        cols: &[&BinaryArray],
        row: usize,
        s: &mut Scratch,
    ) -> Result<Value, String> {
        match self {
            Origin::Column { input, ty } => {
                let col = cols[*input];
                if col.is_null(row) {
                    Ok(Value::Null)
                } else {
                    value::decode_reusing(ty, col.value(row), &mut s.spare).map_err(|e| e.0)
                }
            }
            Origin::Concat { inputs, separator } => {
                let mut out = String::new();
                let mut first = true;
                for (input, ty) in inputs {
                    s.text.clear();
                    if push_text(&mut s.text, cols[*input], ty, row)? {
                        if !first {
                            out.push_str(separator);
                        }
                        out.push_str(&s.text);
                        first = false;
                    }
                }
                Ok(Value::Text(out))
            }
            Origin::Uuid {
                names,
                inputs,
                memo: true,
            } if inputs.len() == 1 => {
                let (input, ty) = &inputs[0];
                let col = cols[*input];
                if col.is_null(row) {
                    return Ok(Value::Null);
                }
                let raw = col.value(row);
                let memo = s.memo_pays();
                if memo {
                    s.memo_lookups += 1;
                    if let Some(id) = memo::get(names.id(), raw) {
                        s.memo_hits += 1;
                        return Ok(Value::Uuid(id));
                    }
                }
                s.parts.resize(1, String::new());
                s.parts[0].clear();
                push_text(&mut s.parts[0], col, ty, row)?;
                let id = *names.uuid([s.parts[0].as_str()]).as_bytes();
                if memo {
                    memo::put(names.id(), raw, id);
                }
                Ok(Value::Uuid(id))
            }
            Origin::Uuid { names, inputs, .. } => {
                s.parts.resize(inputs.len(), String::new());
                for ((input, ty), part) in inputs.iter().zip(s.parts.iter_mut()) {
                    part.clear();
                    if !push_text(part, cols[*input], ty, row)? {
                        // A NULL (foreign) key stays NULL.
                        return Ok(Value::Null);
                    }
                }
                let id = names.uuid(s.parts.iter().map(String::as_str));
                Ok(Value::Uuid(*id.as_bytes()))
            }
        }
    }
}

/// The uuids this thread computed last for foreign keys, so that a parent's id is not hashed
/// again for each of its children: direct-mapped by the key's binary value (up to 8 bytes) and
/// the [`transform::UuidNames`] it was computed with, whose ids are never reused.
mod memo {
    use std::cell::RefCell;

    const BITS: u32 = 14;

    #[derive(Clone, Copy, Default)]
    struct Slot {
        /// `names id << 4 | key length`; 0: empty.
        tag: u64,
        key: u64,
        id: [u8; 16],
    }

    thread_local! {
        static SLOTS: RefCell<Vec<Slot>> = const { RefCell::new(Vec::new()) };
    }

    fn tag_key(names: u64, raw: &[u8]) -> Option<(u64, u64)> {
        let key = match *raw {
            [a, b, c, d] => u64::from(u32::from_le_bytes([a, b, c, d])),
            [a, b, c, d, e, f, g, h] => u64::from_le_bytes([a, b, c, d, e, f, g, h]),
            _ if raw.len() < 8 => raw
                .iter()
                .enumerate()
                .fold(0, |k, (i, &b)| k | u64::from(b) << (8 * i)),
            _ => return None,
        };
        Some((names << 4 | raw.len() as u64, key))
    }

    fn index(tag: u64, key: u64) -> usize {
        ((key ^ tag.rotate_left(32)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - BITS)) as usize
    }

    pub fn get(names: u64, raw: &[u8]) -> Option<[u8; 16]> {
        let (tag, key) = tag_key(names, raw)?;
        SLOTS.with_borrow(|slots| {
            let slot = slots.get(index(tag, key))?;
            (slot.tag == tag && slot.key == key).then_some(slot.id)
        })
    }

    pub fn put(names: u64, raw: &[u8], id: [u8; 16]) {
        let Some((tag, key)) = tag_key(names, raw) else {
            return;
        };
        SLOTS.with_borrow_mut(|slots| {
            if slots.is_empty() {
                slots.resize(1 << BITS, Slot::default());
            }
            slots[index(tag, key)] = Slot { tag, key, id };
        });
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn an_id_is_found_only_for_its_own_names_and_key_bytes() {
            let (key, id) = (7i32.to_be_bytes(), [1u8; 16]);
            put(1, &key, id);
            assert_eq!(get(1, &key), Some(id));
            assert_eq!(get(1, &7i64.to_be_bytes()), None, "other bytes");
            assert_eq!(get(1, &key[1..]), None, "other length");
            // Other names whose slot is the same one.
            let (tag, k) = tag_key(1, &key).unwrap();
            let other = (2..)
                .find(|&n| {
                    let (t, k2) = tag_key(n, &key).unwrap();
                    index(t, k2) == index(tag, k)
                })
                .unwrap();
            assert_eq!(get(other, &key), None, "names {other} share the slot");
            put(other, &key, [2u8; 16]);
            assert_eq!(get(other, &key), Some([2u8; 16]));
            assert_eq!(get(1, &key), None, "replaced");
            assert_eq!(get(1, &[0u8; 9]), None, "longer than 8 bytes");
        }
    }
}

impl Steps {
    pub fn is_empty(&self) -> bool {
        !self.trim
            && self.case.is_none()
            && self.map.is_none()
            && !self.email
            && self.phone.is_none()
            && self.scale.is_none()
            && self.timezone.is_none()
            && self.pseudonym.is_none()
    }

    /// Applies the steps to a non-NULL value. (Inlined: its value then stays in registers
    /// rather than being stored and reloaded in pieces on the way back.)
    #[inline(always)]
    pub fn apply(&self, mut v: Value) -> Result<Value, String> {
        if self.trim || self.case.is_some() {
            let Value::Text(s) = &mut v else {
                return Err(unexpected("trim/lower/upper", &v));
            };
            if self.trim {
                transform::trim(s);
            }
            match self.case {
                Some(Case::Lower) => {
                    if let std::borrow::Cow::Owned(l) = transform::lower(s) {
                        *s = l;
                    }
                }
                Some(Case::Upper) => {
                    if let std::borrow::Cow::Owned(u) = transform::upper(s) {
                        *s = u;
                    }
                }
                None => {}
            }
        }
        if let Some(map) = &self.map {
            v = map.lookup_into(v)?;
        }
        if self.email {
            let Value::Text(s) = &v else {
                return Err(unexpected("email", &v));
            };
            transform::check_email(s)?;
        }
        if let Some(region) = self.phone {
            let text = v.as_text().ok_or_else(|| unexpected("phone", &v))?;
            v = Value::Text(transform::phone_e164(&text, region)?);
        }
        if let Some(scale) = self.scale {
            v = Value::Numeric(match &v {
                Value::Numeric(n) => transform::rescale(n, scale)?,
                Value::Int(i) => transform::rescale(&i.to_string(), scale)?,
                Value::Float(f) if f.is_nan() => "NaN".to_string(),
                Value::Float(f) if f.is_infinite() => {
                    if *f > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
                }
                // Rust prints floats without exponent, shortest round-trip digits.
                Value::Float(f) => transform::rescale(&f.to_string(), scale)?,
                other => return Err(unexpected("scale", other)),
            });
        }
        if let Some(tz) = self.timezone {
            let Value::Timestamp(t) = v else {
                return Err(unexpected("timezone", &v));
            };
            v = Value::TimestampTz(transform::local_to_utc(t, tz)?);
        }
        if let Some(p) = &self.pseudonym {
            v = p.apply(&v)?;
        }
        Ok(v)
    }
}

fn unexpected(step: &str, v: &Value) -> String {
    let kind = format!("{v:?}");
    let kind = kind.split('(').next().unwrap_or("value");
    format!("`{step}` cannot apply to a {kind} value")
}

impl OutputColumn {
    /// Computes the value at `row` into `out` (cleared first). `Ok(false)` for NULL.
    pub fn eval(
        &self,
        cols: &[&BinaryArray],
        row: usize,
        s: &mut Scratch,
        out: &mut Vec<u8>,
    ) -> Result<bool, String> {
        out.clear();
        let Expr::Compute { origin, steps } = &self.expr else {
            unreachable!("eval is only called on computed columns");
        };
        let v = origin.value(cols, row, s)?;
        if v == Value::Null {
            return Ok(false);
        }
        if !self.pii {
            let v = steps.apply(v)?;
            value::encode(&self.ty, &v, out).map_err(|e| e.0)?;
            s.give_back(v);
            return Ok(true);
        }
        // A pii column's failure reason never holds the value: the value the steps started
        // from is read again to mask it (only when a value fails, so no copy is kept).
        let mask = |reason: String, after: &str, s: &mut Scratch| {
            let before = origin.value(cols, row, s).unwrap_or(Value::Null);
            let before = before.as_text().unwrap_or_default();
            mask_reason(&reason, &self.name, &[&before, after])
        };
        let v = steps.apply(v).map_err(|e| mask(e, "", s))?;
        value::encode(&self.ty, &v, out).map_err(|e| {
            let after = v.as_text().unwrap_or_default();
            mask(e.0, &after, s)
        })?;
        s.give_back(v);
        Ok(true)
    }
}
