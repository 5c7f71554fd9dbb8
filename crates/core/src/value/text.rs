//! Text forms of the small scalar types and the character typmods: `varchar(n)` and `char(n)`
//! length rules, `name` truncation, `bool`/`int`/`uuid` input, `bytea` hex output.
use std::borrow::Cow;

use super::ValueError;

fn err(msg: impl Into<String>) -> ValueError {
    ValueError(msg.into())
}

/// Applies `varchar(n)`: longer values are an error unless everything past `n` characters is
/// spaces, which are cut (like `varchar()`).
pub(crate) fn varchar(s: &str, n: Option<u32>) -> Result<&str, ValueError> {
    let Some(n) = n else { return Ok(s) };
    match s.char_indices().nth(n as usize) {
        None => Ok(s),
        Some((cut, _)) if s[cut..].bytes().all(|b| b == b' ') => Ok(&s[..cut]),
        Some(_) => Err(err(format!(
            "value too long for type character varying({n})"
        ))),
    }
}

/// Applies `char(n)`: blank-pads to `n` characters; longer values are an error unless
/// everything past `n` characters is spaces, which are cut (like `bpchar()`).
pub(crate) fn bpchar(s: &str, n: Option<u32>) -> Result<Cow<'_, str>, ValueError> {
    let Some(n) = n else {
        return Ok(Cow::Borrowed(s));
    };
    match s.char_indices().nth(n as usize) {
        Some((cut, _)) if s[cut..].bytes().all(|b| b == b' ') => Ok(Cow::Borrowed(&s[..cut])),
        Some(_) => Err(err(format!("value too long for type character({n})"))),
        None => {
            let len = s.chars().count();
            if len == n as usize {
                return Ok(Cow::Borrowed(s));
            }
            let mut padded = String::with_capacity(s.len() + n as usize - len);
            padded.push_str(s);
            padded.push_str(&" ".repeat(n as usize - len));
            Ok(Cow::Owned(padded))
        }
    }
}

/// Truncates to `name`'s 63 bytes at a character boundary (like `namein`).
pub(crate) fn name(s: &str) -> &str {
    if s.len() <= 63 {
        return s;
    }
    let mut cut = 63;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

/// Parses `boolin` input: `t`/`true`/`yes`/`on`/`1` and `f`/`false`/`no`/`off`/`0`, any unique
/// prefix, any case, surrounding blanks.
pub(crate) fn parse_bool(text: &str) -> Result<bool, ValueError> {
    let s = text.trim().to_ascii_lowercase();
    let prefix_of = |word: &str| !s.is_empty() && word.starts_with(s.as_str());
    if prefix_of("true") || prefix_of("yes") || s == "on" || s == "1" {
        Ok(true)
    } else if prefix_of("false") || prefix_of("no") || s == "off" || s == "of" || s == "0" {
        Ok(false)
    } else {
        Err(err(format!(
            "invalid input syntax for type boolean: \"{text}\""
        )))
    }
}

/// Parses an integer like `int8in`: surrounding blanks, optional sign, decimal digits.
pub(crate) fn parse_int(text: &str) -> Result<i64, ValueError> {
    let s = text.trim();
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(format!(
            "invalid input syntax for type integer: \"{text}\""
        )));
    }
    s.strip_prefix('+')
        .unwrap_or(s)
        .parse()
        .map_err(|_| err(format!("value \"{text}\" is out of range for type bigint")))
}

/// Parses `uuid_in` input: 32 hex digits, optionally in braces, with an optional hyphen after
/// any group of four digits.
pub(crate) fn parse_uuid(text: &str) -> Result<[u8; 16], ValueError> {
    let bad = || err(format!("invalid input syntax for type uuid: \"{text}\""));
    let b = text.as_bytes();
    let braced = b.first() == Some(&b'{');
    let mut i = usize::from(braced);
    let mut out = [0u8; 16];
    for k in 0..32 {
        let nibble = (*b.get(i).ok_or_else(bad)? as char)
            .to_digit(16)
            .ok_or_else(bad)? as u8;
        out[k / 2] |= nibble << if k % 2 == 0 { 4 } else { 0 };
        i += 1;
        if k % 4 == 3 && k < 31 && b.get(i) == Some(&b'-') {
            i += 1;
        }
    }
    if braced && b.get(i) == Some(&b'}') {
        i += 1;
    }
    if i != b.len() {
        return Err(bad());
    }
    Ok(out)
}

/// A uuid hyphenated in lower case, as `uuid_out` prints it.
pub(crate) fn uuid_text(u: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, byte) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{byte:02x}"));
    }
    s
}

/// Bytes as `byteaout` prints them with `bytea_output = hex`.
pub(crate) fn bytea_text(b: &[u8]) -> String {
    let mut s = String::with_capacity(2 + 2 * b.len());
    s.push_str("\\x");
    for byte in b {
        s.push_str(&format!("{byte:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varchar_and_bpchar_follow_postgres_length_rules() {
        assert_eq!(varchar("abc", Some(3)), Ok("abc"));
        assert_eq!(varchar("abc   ", Some(3)), Ok("abc"));
        assert_eq!(varchar("ab  ", Some(3)), Ok("ab "));
        assert!(varchar("abcd", Some(3)).is_err());
        assert_eq!(varchar("ééé", Some(3)), Ok("ééé"));
        assert_eq!(varchar("abcd", None), Ok("abcd"));
        assert_eq!(bpchar("ab", Some(4)).unwrap(), "ab  ");
        assert_eq!(bpchar("é", Some(2)).unwrap(), "é ");
        assert_eq!(bpchar("abcd  ", Some(4)).unwrap(), "abcd");
        assert!(bpchar("abcde", Some(4)).is_err());
        assert_eq!(bpchar("", Some(1)).unwrap(), " ");
    }

    #[test]
    fn name_truncates_at_a_character_boundary() {
        let long = "é".repeat(40);
        assert_eq!(name(&long).len(), 62);
        assert_eq!(name("short"), "short");
    }

    #[test]
    fn bool_input() {
        for (s, v) in [
            ("t", true),
            ("TRUE", true),
            (" yes ", true),
            ("on", true),
            ("1", true),
        ] {
            assert_eq!(parse_bool(s), Ok(v), "{s}");
        }
        for (s, v) in [
            ("f", false),
            ("fal", false),
            ("no", false),
            ("off", false),
            ("0", false),
        ] {
            assert_eq!(parse_bool(s), Ok(v), "{s}");
        }
        for s in ["", "o", "2", "truex"] {
            assert!(parse_bool(s).is_err(), "{s}");
        }
    }

    #[test]
    fn int_input() {
        assert_eq!(parse_int(" -42 "), Ok(-42));
        assert_eq!(parse_int("+7"), Ok(7));
        for s in ["", "-", "1.0", "1e3", "9223372036854775808", "+-1"] {
            assert!(parse_int(s).is_err(), "{s}");
        }
    }

    #[test]
    fn uuid_input_and_output() {
        let want = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
        for s in [
            want,
            "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
        ] {
            assert_eq!(uuid_text(&parse_uuid(s).unwrap()), want, "{s}");
        }
        for s in [
            "",
            "a0eebc99",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g",
            "-a0eebc999c0b4ef8bb6d6bb9bd380a11",
        ] {
            assert!(parse_uuid(s).is_err(), "{s}");
        }
    }
}
