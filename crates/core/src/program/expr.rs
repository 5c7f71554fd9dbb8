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
                    decode(ty, col.value(row))
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
            Origin::Uuid { names, inputs } => {
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

    /// Applies the steps to a non-NULL value.
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
            v = map.lookup(&v)?;
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
        if self.pii {
            return self.eval_pii(v, steps, out);
        }
        let v = steps.apply(v)?;
        value::encode(&self.ty, &v, out).map_err(|e| e.0)?;
        Ok(true)
    }

    /// [`OutputColumn::eval`] of a pii column: a failure reason never holds the value.
    fn eval_pii(&self, v: Value, steps: &Steps, out: &mut Vec<u8>) -> Result<bool, String> {
        let before = v.as_text().map(|t| t.into_owned()).unwrap_or_default();
        let mask =
            |reason: String, after: &str| mask_reason(&reason, &self.name, &[&before, after]);
        let v = steps.apply(v).map_err(|e| mask(e, ""))?;
        value::encode(&self.ty, &v, out).map_err(|e| {
            let after = v.as_text().map(|t| t.into_owned()).unwrap_or_default();
            mask(e.0, &after)
        })?;
        Ok(true)
    }
}
