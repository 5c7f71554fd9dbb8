//! `numeric`: exact decimal text ⇄ PostgreSQL's binary form (`numeric_send` / `numeric_recv`),
//! and the `numeric(p, s)` typmod (`apply_typmod`). Never through f64: values of any length.
//!
//! Binary: `ndigits i16, weight i16, sign u16, dscale u16`, then `ndigits` base-10000 digits,
//! the first worth 10000^weight. Stored values have no leading or trailing zero digit groups; a
//! zero has no digits, weight 0 and a positive sign.
use super::ValueError;

const SIGN_POS: u16 = 0x0000;
const SIGN_NEG: u16 = 0x4000;
const SIGN_NAN: u16 = 0xC000;
const SIGN_PINF: u16 = 0xD000;
const SIGN_NINF: u16 = 0xF000;
/// Largest display scale PostgreSQL stores (`NUMERIC_DSCALE_MAX`).
const DSCALE_MAX: i32 = 0x3FFF;
/// Largest exponent `numeric_in` accepts (`NUMERIC_MAX_PRECISION`).
const EXPONENT_MAX: i64 = 1000;

/// A numeric value: special or finite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Num {
    NaN,
    PosInf,
    NegInf,
    Finite(Decimal),
}

/// A finite decimal `digits × 10^exp` shown with `dscale` fraction digits. `digits` (0–9) has
/// no leading or trailing zeros; it is empty for zero, which is never negative.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Decimal {
    neg: bool,
    digits: Vec<u8>,
    exp: i64,
    dscale: i64,
}

fn err(msg: impl Into<String>) -> ValueError {
    ValueError(msg.into())
}

impl Num {
    /// Parses `numeric_in` syntax: surrounding blanks, sign, digits with one optional point,
    /// an optional exponent, or `NaN` / `Infinity` / `inf` in any case and with a sign.
    pub(crate) fn parse(text: &str) -> Result<Num, ValueError> {
        let bad = || err(format!("invalid input syntax for type numeric: \"{text}\""));
        let s = text.trim_matches(|c: char| c.is_ascii_whitespace());
        let (neg, body) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        if body.eq_ignore_ascii_case("infinity") || body.eq_ignore_ascii_case("inf") {
            return Ok(if neg { Num::NegInf } else { Num::PosInf });
        }
        if s.eq_ignore_ascii_case("nan") {
            return Ok(Num::NaN);
        }
        let b = body.as_bytes();
        let mut i = 0;
        let mut digits = Vec::with_capacity(b.len());
        let mut frac: i64 = 0;
        let mut seen_point = false;
        while i < b.len() {
            match b[i] {
                c @ b'0'..=b'9' => {
                    digits.push(c - b'0');
                    if seen_point {
                        frac += 1;
                    }
                }
                b'.' if !seen_point => seen_point = true,
                _ => break,
            }
            i += 1;
        }
        if digits.is_empty() {
            return Err(bad());
        }
        let mut exponent: i64 = 0;
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            i += 1;
            let eneg = match b.get(i) {
                Some(b'-') => {
                    i += 1;
                    true
                }
                Some(b'+') => {
                    i += 1;
                    false
                }
                _ => false,
            };
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                exponent = (exponent * 10 + i64::from(b[i] - b'0')).min(EXPONENT_MAX + 1);
                i += 1;
            }
            if i == start {
                return Err(bad());
            }
            if exponent > EXPONENT_MAX {
                return Err(err(format!("value overflows numeric format: \"{text}\"")));
            }
            if eneg {
                exponent = -exponent;
            }
        }
        if i != b.len() {
            return Err(bad());
        }
        let d = Decimal::new(neg, digits, exponent - frac, (frac - exponent).max(0));
        d.check_storable()?;
        Ok(Num::Finite(d))
    }

    /// Decodes `numeric_send` bytes, validating them like `numeric_recv` (which also drops
    /// digits hidden by the display scale).
    pub(crate) fn from_binary(raw: &[u8]) -> Result<Num, ValueError> {
        let bad = |what: &str| err(format!("invalid binary numeric: {what}"));
        if raw.len() < 8 {
            return Err(bad("shorter than its 8-byte header"));
        }
        let word = |i: usize| u16::from_be_bytes([raw[i], raw[i + 1]]);
        let ndigits = usize::from(word(0));
        let weight = i64::from(word(2) as i16);
        let sign = word(4);
        let dscale = word(6);
        if ndigits > 0x7FFF || raw.len() != 8 + 2 * ndigits {
            return Err(bad("length does not match its digit count"));
        }
        if i32::from(dscale) > DSCALE_MAX {
            return Err(bad("display scale out of range"));
        }
        let mut digits = Vec::with_capacity(4 * ndigits);
        for k in 0..ndigits {
            let g = word(8 + 2 * k);
            if g > 9999 {
                return Err(bad("digit out of range"));
            }
            digits.extend_from_slice(&[
                (g / 1000) as u8,
                (g / 100 % 10) as u8,
                (g / 10 % 10) as u8,
                (g % 10) as u8,
            ]);
        }
        match sign {
            SIGN_NAN => return Ok(Num::NaN),
            SIGN_PINF => return Ok(Num::PosInf),
            SIGN_NINF => return Ok(Num::NegInf),
            SIGN_POS | SIGN_NEG => {}
            _ => return Err(bad("unknown sign")),
        }
        let exp = (weight + 1 - ndigits as i64) * 4;
        let mut d = Decimal::new(sign == SIGN_NEG, digits, exp, i64::from(dscale));
        d.truncate_to_dscale();
        Ok(Num::Finite(d))
    }

    /// Applies `numeric(precision, scale)` (the raw typmod fields; a scale above 1000 is a
    /// negative scale in 11-bit two's complement): rounds half away from zero to the scale and
    /// rejects values with more than `precision - scale` integer digits, and infinities.
    pub(crate) fn apply_typmod(self, precision: u16, scale: u16) -> Result<Num, ValueError> {
        let p = i64::from(precision);
        let s = if scale > 1000 {
            i64::from(((scale & 0x7FF) ^ 0x400) as i16 - 0x400)
        } else {
            i64::from(scale)
        };
        match self {
            Num::NaN => Ok(Num::NaN),
            Num::PosInf | Num::NegInf => Err(err(format!(
                "numeric field overflow: a field with precision {p}, scale {s} cannot hold an \
                 infinite value"
            ))),
            Num::Finite(mut d) => {
                d.round_to(s);
                if !d.digits.is_empty() && d.digits.len() as i64 + d.exp > p - s {
                    return Err(err(format!(
                        "numeric field overflow: a field with precision {p}, scale {s} must \
                         round to an absolute value less than 10^{}",
                        p - s
                    )));
                }
                Ok(Num::Finite(d))
            }
        }
    }

    /// Appends the bytes `numeric_send` gives for this value once stored.
    pub(crate) fn write_binary(&self, out: &mut Vec<u8>) {
        let header = |out: &mut Vec<u8>, ndigits: u16, weight: i16, sign: u16, dscale: u16| {
            out.extend_from_slice(&ndigits.to_be_bytes());
            out.extend_from_slice(&weight.to_be_bytes());
            out.extend_from_slice(&sign.to_be_bytes());
            out.extend_from_slice(&dscale.to_be_bytes());
        };
        // Special values carry the display scale their short on-disk header implies.
        let d = match self {
            Num::NaN => return header(out, 0, 0, SIGN_NAN, 0),
            Num::PosInf => return header(out, 0, 0, SIGN_PINF, 0x20),
            Num::NegInf => return header(out, 0, 0, SIGN_NINF, 0x20),
            Num::Finite(d) => d,
        };
        if d.digits.is_empty() {
            return header(out, 0, 0, SIGN_POS, d.dscale as u16);
        }
        let hi = d.exp + d.digits.len() as i64 - 1;
        let weight = hi.div_euclid(4);
        let low = d.exp.div_euclid(4);
        let sign = if d.neg { SIGN_NEG } else { SIGN_POS };
        header(
            out,
            (weight - low + 1) as u16,
            weight as i16,
            sign,
            d.dscale as u16,
        );
        for g in (low..=weight).rev() {
            let mut group: u16 = 0;
            for e in (4 * g..4 * g + 4).rev() {
                let idx = hi - e;
                let digit = if (0..d.digits.len() as i64).contains(&idx) {
                    d.digits[idx as usize]
                } else {
                    0
                };
                group = group * 10 + u16::from(digit);
            }
            out.extend_from_slice(&group.to_be_bytes());
        }
    }

    /// The value as `numeric_out` prints it.
    pub(crate) fn to_text(&self) -> String {
        match self {
            Num::NaN => "NaN".into(),
            Num::PosInf => "Infinity".into(),
            Num::NegInf => "-Infinity".into(),
            Num::Finite(d) => d.to_text(),
        }
    }

    /// The value as an integer, when it is finite and integral and fits in an i64.
    pub(crate) fn to_i64(&self) -> Result<i64, ValueError> {
        let d = match self {
            Num::Finite(d) => d,
            other => {
                return Err(err(format!(
                    "cannot convert {} to integer",
                    other.to_text()
                )))
            }
        };
        if d.exp < 0 {
            return Err(err(format!("numeric {} is not an integer", d.to_text())));
        }
        let out_of_range = || err(format!("numeric {} out of range for integer", d.to_text()));
        if d.digits.len() as i64 + d.exp > 19 {
            return Err(out_of_range());
        }
        let mut v: i128 = 0;
        for &digit in &d.digits {
            v = v * 10 + i128::from(digit);
        }
        v *= 10i128.pow(d.exp as u32);
        if d.neg {
            v = -v;
        }
        i64::try_from(v).map_err(|_| out_of_range())
    }
}

impl Decimal {
    fn new(neg: bool, mut digits: Vec<u8>, mut exp: i64, dscale: i64) -> Decimal {
        let lead = digits.iter().take_while(|&&d| d == 0).count();
        digits.drain(..lead);
        while digits.last() == Some(&0) {
            digits.pop();
            exp += 1;
        }
        let neg = neg && !digits.is_empty();
        Decimal {
            neg,
            digits,
            exp,
            dscale,
        }
    }

    /// From an integer, with display scale 0.
    pub(crate) fn from_i64(v: i64) -> Decimal {
        let digits = v
            .unsigned_abs()
            .to_string()
            .bytes()
            .map(|b| b - b'0')
            .collect();
        Decimal::new(v < 0, digits, 0, 0)
    }

    /// Rejects what PostgreSQL cannot store or send: weight or digit-group count beyond i16,
    /// display scale beyond 0x3FFF.
    fn check_storable(&self) -> Result<(), ValueError> {
        let (weight, low) = (
            (self.exp + self.digits.len() as i64 - 1).div_euclid(4),
            self.exp.div_euclid(4),
        );
        let too_big = self.dscale > i64::from(DSCALE_MAX)
            || (!self.digits.is_empty()
                && (weight > i64::from(i16::MAX)
                    || low < i64::from(i16::MIN)
                    || weight - low >= i64::from(i16::MAX)));
        if too_big {
            return Err(err("value overflows numeric format"));
        }
        Ok(())
    }

    /// Drops digits beyond the display scale (`trunc_var`).
    fn truncate_to_dscale(&mut self) {
        let keep_from = -self.dscale;
        if self.exp < keep_from {
            let drop = (keep_from - self.exp).min(self.digits.len() as i64) as usize;
            self.digits.truncate(self.digits.len() - drop);
            *self = Decimal::new(
                self.neg,
                std::mem::take(&mut self.digits),
                keep_from,
                self.dscale,
            );
        }
    }

    /// Rounds half away from zero to `scale` fraction digits (negative: to tens, hundreds…)
    /// and sets the display scale to `max(scale, 0)` (`round_var`).
    fn round_to(&mut self, scale: i64) {
        let keep_from = -scale;
        if self.exp < keep_from {
            let drop = keep_from - self.exp;
            let len = self.digits.len() as i64;
            let mut digits = std::mem::take(&mut self.digits);
            if drop > len {
                digits.clear();
            } else {
                let round_up = digits[(len - drop) as usize] >= 5;
                digits.truncate((len - drop) as usize);
                if round_up {
                    let mut i = digits.len();
                    loop {
                        if i == 0 {
                            digits.insert(0, 1);
                            break;
                        }
                        i -= 1;
                        if digits[i] == 9 {
                            digits[i] = 0;
                        } else {
                            digits[i] += 1;
                            break;
                        }
                    }
                }
            }
            *self = Decimal::new(self.neg, digits, keep_from, 0);
        }
        self.dscale = scale.max(0);
    }

    fn to_text(&self) -> String {
        let len = self.digits.len() as i64;
        let digit_at = |e: i64| -> u8 {
            let idx = self.exp + len - 1 - e;
            if (0..len).contains(&idx) {
                b'0' + self.digits[idx as usize]
            } else {
                b'0'
            }
        };
        let hi = self.exp + len - 1;
        let mut s = Vec::with_capacity((hi.max(0) + self.dscale + 3) as usize);
        if self.neg {
            s.push(b'-');
        }
        if self.digits.is_empty() || hi < 0 {
            s.push(b'0');
        } else {
            s.extend((0..=hi).rev().map(digit_at));
        }
        if self.dscale > 0 {
            s.push(b'.');
            s.extend((1..=self.dscale).map(|k| digit_at(-k)));
        }
        String::from_utf8(s).expect("ASCII digits")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn send(text: &str) -> String {
        let mut out = Vec::new();
        Num::parse(text).unwrap().write_binary(&mut out);
        hex(&out)
    }

    #[test]
    fn binary_matches_numeric_send() {
        // Expected bytes from `select numeric_send('…')` on PostgreSQL 15.
        let cases = [
            ("0", "0000000000000000"),
            ("0.00", "0000000000000002"),
            ("-0.00", "0000000000000002"),
            ("1", "00010000000000000001"),
            ("-1.5", "000200004000000100011388"),
            ("10000", "00010001000000000001"),
            ("0.0001", "0001ffff000000040001"),
            ("123456.789", "0003000100000003000c0d801ed2"),
            ("1e3", "000100000000000003e8"),
            ("NaN", "00000000c0000000"),
            ("Infinity", "00000000d0000020"),
            ("-inf", "00000000f0000020"),
        ];
        for (text, want) in cases {
            assert_eq!(send(text), want, "numeric_send({text})");
        }
    }

    #[test]
    fn text_round_trips_through_binary() {
        let cases = [
            ("0", "0"),
            ("0.00", "0.00"),
            ("-0.000", "0.000"),
            ("  +12.50 ", "12.50"),
            ("1e3", "1000"),
            ("1.5E-3", "0.0015"),
            ("12.3e1", "123"),
            ("-0.001", "-0.001"),
            (".5", "0.5"),
            ("5.", "5"),
            (
                "1234567890123456789012345678901234567890.0123456789",
                "1234567890123456789012345678901234567890.0123456789",
            ),
            (
                "-99999999999999999999999999999999999999999",
                "-99999999999999999999999999999999999999999",
            ),
            ("nan", "NaN"),
            ("+Infinity", "Infinity"),
            ("-Infinity", "-Infinity"),
        ];
        for (input, want) in cases {
            let num = Num::parse(input).unwrap();
            assert_eq!(num.to_text(), want, "parse({input:?})");
            let mut bin = Vec::new();
            num.write_binary(&mut bin);
            let back = Num::from_binary(&bin).unwrap();
            assert_eq!(back.to_text(), want, "binary round trip of {input:?}");
            let mut again = Vec::new();
            back.write_binary(&mut again);
            assert_eq!(bin, again, "stable bytes for {input:?}");
        }
    }

    #[test]
    fn typmod_rounds_half_away_from_zero_and_checks_precision() {
        let cases: [(&str, u16, u16, Result<&str, ()>); 14] = [
            ("0.005", 10, 2, Ok("0.01")),
            ("-0.005", 10, 2, Ok("-0.01")),
            ("0.004", 10, 2, Ok("0.00")),
            ("-0.004", 10, 2, Ok("0.00")),
            ("999.995", 5, 2, Err(())),
            ("999.994", 5, 2, Ok("999.99")),
            ("5", 10, 2, Ok("5.00")),
            ("99.5", 2, 0, Err(())),
            ("0.099", 2, 3, Ok("0.099")),
            ("0.1", 2, 3, Err(())),
            // numeric(4,-2): the catalog keeps the scale as 11-bit two's complement.
            ("1234.5", 4, 0x7FE, Ok("1200")),
            ("NaN", 5, 2, Ok("NaN")),
            ("Infinity", 5, 2, Err(())),
            ("0.0000", 1, 0, Ok("0")),
        ];
        for (input, p, s, want) in cases {
            let got = Num::parse(input)
                .unwrap()
                .apply_typmod(p, s)
                .map(|n| n.to_text());
            assert_eq!(
                got.map_err(|_| ()),
                want.map(String::from),
                "{input}::numeric({p},{s})"
            );
        }
    }

    #[test]
    fn malformed_binary_is_an_error() {
        let cases: [&[u8]; 5] = [
            &[0, 1],
            &[0, 1, 0, 0, 0, 0, 0, 0],
            &[0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x10],
            &[0, 0, 0, 0, 0x12, 0x34, 0, 0],
            &[0, 0, 0, 0, 0, 0, 0xff, 0xff],
        ];
        for raw in cases {
            assert!(Num::from_binary(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn hidden_digits_are_truncated_like_numeric_recv() {
        // 1.2345 sent with dscale 2 is stored as 1.23.
        let raw = [0, 2, 0, 0, 0, 0, 0, 2, 0, 1, 0x09, 0x29];
        let n = Num::from_binary(&raw).unwrap();
        assert_eq!(n.to_text(), "1.23");
    }

    #[test]
    fn to_i64_requires_an_integral_value_in_range() {
        assert_eq!(Num::parse("-42.000").unwrap().to_i64(), Ok(-42));
        assert_eq!(
            Num::parse("9223372036854775807").unwrap().to_i64(),
            Ok(i64::MAX)
        );
        assert_eq!(
            Num::parse("-9223372036854775808").unwrap().to_i64(),
            Ok(i64::MIN)
        );
        assert!(Num::parse("9223372036854775808").unwrap().to_i64().is_err());
        assert!(Num::parse("1.5").unwrap().to_i64().is_err());
        assert!(Num::parse("NaN").unwrap().to_i64().is_err());
        assert_eq!(Num::parse("1e3").unwrap().to_i64(), Ok(1000));
    }

    #[test]
    fn syntax_errors_and_limits() {
        for bad in [
            "", "-", ".", "1..2", "1e", "1e+", "abc", "1 2", "1e1001", "0x10",
        ] {
            assert!(Num::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Num::parse("1e1000").is_ok());
        assert!(Num::parse("1e-1000").is_ok());
    }
}
