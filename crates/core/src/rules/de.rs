//! Reading the rules of `checks = { … }`. Each rule has a short form and a table form:
//!
//! | rule | short form | table form |
//! |---|---|---|
//! | `not_empty`, `email`, `e164`, `url` | `"BLOCKER"` | `{ severity, tolerance }` |
//! | `regex` | `"^[A-Z]{3}$"` | `{ pattern, severity, tolerance }` |
//! | `one_of` | `["a", "b"]` | `{ values, severity, tolerance }` |
//! | `range` | `[min, max]` | `{ min, max, severity, tolerance }` |
//! | `max_scale` | `2` | `{ scale, severity, tolerance }` |
//!
//! Table forms are strict (unknown keys are errors); values are checked as they are read, so an
//! error points at the offending value.
use std::fmt;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::{Level, MaxScaleSpec, OneOfSpec, RangeSpec, RegexSpec, Tolerance, DEFAULT_SEVERITY};
use crate::mapping::Literal;
use crate::program::Severity;

/// Largest `max_scale` (PostgreSQL's numeric scale limit).
const MAX_SCALE: i64 = 1000;

/// `"BLOCKER"` or `"WARNING"`.
struct Sev(Severity);

impl<'de> Deserialize<'de> for Sev {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        severity(&s).map(Sev)
    }
}

fn severity<E: de::Error>(s: &str) -> Result<Severity, E> {
    match s {
        "BLOCKER" => Ok(Severity::Blocker),
        "WARNING" => Ok(Severity::Warning),
        _ => Err(E::custom(format!(
            "unknown severity `{s}`: use \"BLOCKER\" or \"WARNING\""
        ))),
    }
}

fn level(severity: Option<Sev>, tolerance: Option<Tolerance>) -> Level {
    Level {
        severity: severity.map_or(DEFAULT_SEVERITY, |s| s.0),
        tolerance: tolerance.unwrap_or_default(),
    }
}

impl<'de> Deserialize<'de> for Tolerance {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Tolerance;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an allowed count (integer) or ratio (float below 1)")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Tolerance, E> {
                u64::try_from(v).map(Tolerance::Count).map_err(|_| {
                    E::custom(format!(
                        "tolerance {v} is negative: give a count of rows ≥ 0"
                    ))
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Tolerance, E> {
                Ok(Tolerance::Count(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Tolerance, E> {
                if (0.0..1.0).contains(&v) {
                    Ok(Tolerance::Ratio(v))
                } else {
                    Err(E::custom(format!(
                        "tolerance {v}: a ratio must be at least 0 and below 1 (write a count of \
                         rows as an integer)"
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LevelTable {
    #[serde(default)]
    severity: Option<Sev>,
    #[serde(default)]
    tolerance: Option<Tolerance>,
}

impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Level;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a severity (\"BLOCKER\" or \"WARNING\") or { severity, tolerance }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Level, E> {
                Ok(level(Some(Sev(severity(v)?)), None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Level, A::Error> {
                let t = LevelTable::deserialize(MapAccessDeserializer::new(map))?;
                Ok(level(t.severity, t.tolerance))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegexTable {
    pattern: String,
    #[serde(default)]
    severity: Option<Sev>,
    #[serde(default)]
    tolerance: Option<Tolerance>,
}

fn regex_spec<E: de::Error>(pattern: String, level: Level) -> Result<RegexSpec, E> {
    let regex = regex::Regex::new(&pattern)
        .map_err(|e| E::custom(format!("regex `{pattern}` is not a valid pattern: {e}")))?;
    Ok(RegexSpec {
        pattern,
        regex,
        level,
    })
}

impl<'de> Deserialize<'de> for RegexSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RegexSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a pattern or { pattern, severity, tolerance }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RegexSpec, E> {
                regex_spec(v.to_string(), Level::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RegexSpec, A::Error> {
                let t = RegexTable::deserialize(MapAccessDeserializer::new(map))?;
                regex_spec(t.pattern, level(t.severity, t.tolerance))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OneOfTable {
    values: Vec<Literal>,
    #[serde(default)]
    severity: Option<Sev>,
    #[serde(default)]
    tolerance: Option<Tolerance>,
}

fn one_of<E: de::Error>(values: Vec<Literal>, level: Level) -> Result<OneOfSpec, E> {
    if values.is_empty() {
        return Err(E::custom("`one_of` lists no value"));
    }
    let values = values
        .into_iter()
        .map(|v| match v {
            Literal::Text(s) => Ok(s),
            Literal::Int(i) => Ok(i.to_string()),
            Literal::Bool(b) => Ok(b.to_string()),
            Literal::Float(f) => Err(E::custom(format!(
                "`one_of` value {f}: write decimals as strings, as PostgreSQL prints them \
                 (e.g. \"{f}\")"
            ))),
        })
        .collect::<Result<_, E>>()?;
    Ok(OneOfSpec { values, level })
}

impl<'de> Deserialize<'de> for OneOfSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOfSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of values or { values, severity, tolerance }")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<OneOfSpec, A::Error> {
                let values = Vec::<Literal>::deserialize(SeqAccessDeserializer::new(seq))?;
                one_of(values, Level::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<OneOfSpec, A::Error> {
                let t = OneOfTable::deserialize(MapAccessDeserializer::new(map))?;
                one_of(t.values, level(t.severity, t.tolerance))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeTable {
    #[serde(default)]
    min: Option<Literal>,
    #[serde(default)]
    max: Option<Literal>,
    #[serde(default)]
    severity: Option<Sev>,
    #[serde(default)]
    tolerance: Option<Tolerance>,
}

fn range<E: de::Error>(
    min: Option<Literal>,
    max: Option<Literal>,
    level: Level,
) -> Result<RangeSpec, E> {
    if min.is_none() && max.is_none() {
        return Err(E::custom("`range` needs `min`, `max` or both"));
    }
    for b in min.iter().chain(max.iter()) {
        match b {
            Literal::Bool(_) => return Err(E::custom("a `range` bound cannot be a boolean")),
            Literal::Float(f) if !f.is_finite() => {
                return Err(E::custom(format!(
                    "a `range` bound must be finite, not {f}"
                )))
            }
            _ => {}
        }
    }
    if let (Some(lo), Some(hi)) = (&min, &max) {
        let number = |l: &Literal| match l {
            Literal::Int(i) => Some(*i as f64),
            Literal::Float(f) => Some(*f),
            _ => None,
        };
        if let (Some(lo), Some(hi)) = (number(lo), number(hi)) {
            if lo > hi {
                return Err(E::custom(format!("`range` min {lo} is above max {hi}")));
            }
        }
    }
    Ok(RangeSpec { min, max, level })
}

impl<'de> Deserialize<'de> for RangeSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RangeSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[min, max] or { min, max, severity, tolerance }")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<RangeSpec, A::Error> {
                let b = Vec::<Literal>::deserialize(SeqAccessDeserializer::new(seq))?;
                let [min, max]: [Literal; 2] = b.try_into().map_err(|b: Vec<Literal>| {
                    de::Error::custom(format!(
                        "`range = [min, max]` takes two bounds, not {} (use {{ min = … }} or \
                         {{ max = … }} for one)",
                        b.len()
                    ))
                })?;
                range(Some(min), Some(max), Level::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RangeSpec, A::Error> {
                let t = RangeTable::deserialize(MapAccessDeserializer::new(map))?;
                range(t.min, t.max, level(t.severity, t.tolerance))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MaxScaleTable {
    scale: i64,
    #[serde(default)]
    severity: Option<Sev>,
    #[serde(default)]
    tolerance: Option<Tolerance>,
}

fn max_scale<E: de::Error>(scale: i64, level: Level) -> Result<MaxScaleSpec, E> {
    if !(0..=MAX_SCALE).contains(&scale) {
        return Err(E::custom(format!(
            "max_scale {scale} is out of range: use 0 to {MAX_SCALE}"
        )));
    }
    Ok(MaxScaleSpec {
        scale: scale as u16,
        level,
    })
}

impl<'de> Deserialize<'de> for MaxScaleSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MaxScaleSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of decimal digits or { scale, severity, tolerance }")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<MaxScaleSpec, E> {
                max_scale(v, Level::default())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<MaxScaleSpec, E> {
                max_scale(i64::try_from(v).unwrap_or(i64::MAX), Level::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<MaxScaleSpec, A::Error> {
                let t = MaxScaleTable::deserialize(MapAccessDeserializer::new(map))?;
                max_scale(t.scale, level(t.severity, t.tolerance))
            }
        }
        d.deserialize_any(V)
    }
}
