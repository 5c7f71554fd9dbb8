//! `json` and `jsonb` text. `json` stores its text as given, once validated (`json_in`);
//! `jsonb` stores a parsed form and prints it back canonically (`jsonb_out`): object keys
//! sorted by length then bytes with the last duplicate winning, `", "` and `": "` separators,
//! numbers as `numeric_out` prints them (exactly: `1e400` stays exact, never through f64),
//! strings re-escaped. Encoding text as jsonb must give those canonical bytes, because the
//! target sends them back and digests compare them.
use super::numeric::Num;
use super::ValueError;

/// Deepest nesting accepted (recursion guard for hostile input).
const MAX_DEPTH: usize = 1000;

enum Json {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

/// Checks that `text` is valid `json` input.
pub(crate) fn validate(text: &str) -> Result<(), ValueError> {
    Parser::new(text, false).document().map(drop)
}

/// The text `jsonb_out` prints for `text` read as `jsonb`.
pub(crate) fn jsonb_canonical(text: &str) -> Result<String, ValueError> {
    let doc = Parser::new(text, true).document()?;
    let mut out = String::with_capacity(text.len());
    write(&doc, &mut out);
    Ok(out)
}

struct Parser<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
    /// jsonb: numbers become numeric text and `\u0000` is refused.
    jsonb: bool,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, jsonb: bool) -> Self {
        Parser {
            text,
            b: text.as_bytes(),
            i: 0,
            jsonb,
        }
    }

    fn fail(&self, what: &str) -> ValueError {
        let kind = if self.jsonb { "jsonb" } else { "json" };
        ValueError(format!(
            "invalid input syntax for type {kind} at byte {}: {what}",
            self.i
        ))
    }

    fn document(mut self) -> Result<Json, ValueError> {
        let v = self.value(0)?;
        self.ws();
        if self.i != self.b.len() {
            return Err(self.fail("data after the JSON value"));
        }
        Ok(v)
    }

    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn literal(&mut self, word: &str, v: Json) -> Result<Json, ValueError> {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            if !self.b.get(self.i).is_some_and(u8::is_ascii_alphanumeric) {
                return Ok(v);
            }
        }
        Err(self.fail("unknown token"))
    }

    fn value(&mut self, depth: usize) -> Result<Json, ValueError> {
        if depth > MAX_DEPTH {
            return Err(self.fail("nested more than 1000 levels deep"));
        }
        self.ws();
        match self.b.get(self.i) {
            None => Err(self.fail("unexpected end of input")),
            Some(b'{') => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(fields));
                }
                loop {
                    self.ws();
                    if self.b.get(self.i) != Some(&b'"') {
                        return Err(self.fail("expected a string key"));
                    }
                    let key = self.string()?;
                    self.ws();
                    if self.b.get(self.i) != Some(&b':') {
                        return Err(self.fail("expected ':'"));
                    }
                    self.i += 1;
                    fields.push((key, self.value(depth + 1)?));
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(fields));
                        }
                        _ => return Err(self.fail("expected ',' or '}'")),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(items));
                        }
                        _ => return Err(self.fail("expected ',' or ']'")),
                    }
                }
            }
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.fail("unexpected character")),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<Json, ValueError> {
        let start = self.i;
        self.i += usize::from(self.b[self.i] == b'-');
        let int_start = self.i;
        let n = self.digits();
        if n == 0 || (n > 1 && self.b[int_start] == b'0') {
            return Err(self.fail("invalid number"));
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.fail("invalid number"));
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.fail("invalid number"));
            }
        }
        if self
            .b
            .get(self.i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'.')
        {
            return Err(self.fail("invalid number"));
        }
        let token = &self.text[start..self.i];
        if self.jsonb {
            Ok(Json::Num(Num::parse(token)?.to_text()))
        } else {
            Ok(Json::Num(String::new()))
        }
    }

    fn hex4(&mut self) -> Result<u32, ValueError> {
        let h = self
            .b
            .get(self.i..self.i + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .filter(|_| self.b[self.i..self.i + 4].iter().all(u8::is_ascii_hexdigit))
            .ok_or_else(|| self.fail("\\u must be followed by four hex digits"))?;
        self.i += 4;
        Ok(h)
    }

    fn string(&mut self) -> Result<String, ValueError> {
        self.i += 1;
        let mut s = String::new();
        let mut high: Option<u32> = None;
        loop {
            let start = self.i;
            while self
                .b
                .get(self.i)
                .is_some_and(|c| *c >= 0x20 && *c != b'"' && *c != b'\\')
            {
                self.i += 1;
            }
            if self.i > start && high.is_some() {
                return Err(self.fail("Unicode high surrogate must be followed by a low one"));
            }
            s.push_str(&self.text[start..self.i]);
            match self.b.get(self.i) {
                None => return Err(self.fail("unterminated string")),
                Some(b'"') => {
                    if high.is_some() {
                        return Err(
                            self.fail("Unicode high surrogate must be followed by a low one")
                        );
                    }
                    self.i += 1;
                    return Ok(s);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let esc = self.b.get(self.i).copied();
                    self.i += 1;
                    let ch = match esc {
                        Some(b'u') => {
                            let u = self.hex4()?;
                            match (u, high.take()) {
                                (0xD800..=0xDBFF, None) => {
                                    high = Some(u);
                                    continue;
                                }
                                (0xDC00..=0xDFFF, Some(h)) => {
                                    0x10000 + ((h - 0xD800) << 10) + (u - 0xDC00)
                                }
                                (0xD800..=0xDFFF, _) | (_, Some(_)) => {
                                    return Err(self.fail("invalid Unicode surrogate pair"))
                                }
                                (0, None) if self.jsonb => {
                                    return Err(self.fail("\\u0000 cannot be converted to text"))
                                }
                                (u, None) => u,
                            }
                        }
                        _ if high.is_some() => {
                            return Err(self.fail("invalid Unicode surrogate pair"));
                        }
                        Some(b'"') => 0x22,
                        Some(b'\\') => 0x5C,
                        Some(b'/') => 0x2F,
                        Some(b'b') => 0x08,
                        Some(b'f') => 0x0C,
                        Some(b'n') => 0x0A,
                        Some(b'r') => 0x0D,
                        Some(b't') => 0x09,
                        _ => return Err(self.fail("invalid escape sequence")),
                    };
                    s.push(char::from_u32(ch).unwrap_or(char::REPLACEMENT_CHARACTER));
                }
                Some(_) => return Err(self.fail("control character in string must be escaped")),
            }
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write(v: &Json, out: &mut String) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Num(n) => out.push_str(n),
        Json::Str(s) => write_string(s, out),
        Json::Arr(items) => {
            out.push('[');
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                write(item, out);
            }
            out.push(']');
        }
        Json::Obj(fields) => {
            // Sort by (length, bytes); among equal keys the last one wins.
            let mut order: Vec<usize> = (0..fields.len()).collect();
            order.sort_by(|&a, &b| {
                let (ka, kb) = (&fields[a].0, &fields[b].0);
                (ka.len(), ka.as_bytes(), std::cmp::Reverse(a)).cmp(&(
                    kb.len(),
                    kb.as_bytes(),
                    std::cmp::Reverse(b),
                ))
            });
            order.dedup_by(|later, kept| fields[*later].0 == fields[*kept].0);
            out.push('{');
            for (k, &idx) in order.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                write_string(&fields[idx].0, out);
                out.push_str(": ");
                write(&fields[idx].1, out);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonb_text_is_canonical_like_jsonb_out() {
        // Expected strings from PostgreSQL 15's `select '…'::jsonb`.
        let cases = [
            ("1e400", format!("1{}", "0".repeat(400))),
            (
                "12345678901234567890.123456789",
                "12345678901234567890.123456789".into(),
            ),
            ("-0", "0".into()),
            ("1.50", "1.50".into()),
            ("1E-3", "0.001".into()),
            (
                r#"{"bb":1,"a":2,"c":[],"a":3}"#,
                r#"{"a": 3, "c": [], "bb": 1}"#.into(),
            ),
            (
                r#" [ true,false , null,{} ] "#,
                "[true, false, null, {}]".into(),
            ),
            (
                r#""\u00e9\/\n\u001f\ud83d\ude00""#,
                "\"é/\\n\\u001f😀\"".into(),
            ),
            (r#"{"é":1,"z":2}"#, r#"{"z": 2, "é": 1}"#.into()),
        ];
        for (input, want) in cases {
            assert_eq!(jsonb_canonical(input).unwrap(), want, "{input}");
            assert_eq!(
                jsonb_canonical(&want).unwrap(),
                want,
                "idempotent on {want}"
            );
        }
    }

    #[test]
    fn invalid_json_is_refused() {
        for bad in [
            "",
            "{",
            "[1,]",
            "01",
            "+1",
            "1.",
            ".5",
            "tru",
            "truex",
            "\"a",
            "\"\\x\"",
            "{1:2}",
            "\"\u{1}\"",
            "[1 2]",
            "\"\\ud83d\"",
            "\"\\ude00\"",
            "NaN",
            "1e",
            "{\"a\" 1}",
        ] {
            assert!(validate(bad).is_err(), "json {bad:?}");
            assert!(jsonb_canonical(bad).is_err(), "jsonb {bad:?}");
        }
        assert!(validate(r#""\u0000""#).is_ok());
        assert!(jsonb_canonical(r#""\u0000""#).is_err());
        let deep = "[".repeat(5000);
        assert!(validate(&deep).is_err());
    }
}
