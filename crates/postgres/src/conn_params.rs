//! Takes the libpq TLS parameters out of a connection string before the driver sees it:
//! tokio-postgres knows `sslmode` only as disable/prefer/require and refuses `sslrootcert`,
//! `sslcert` and `sslkey` as unknown options, so `cutover` reads them itself (see [`crate::tls`])
//! and hands the driver the rest of the string unchanged.
//!
//! Both libpq forms are understood: URLs (`postgres://…?sslmode=verify-full&sslrootcert=ca.pem`,
//! split the way tokio-postgres splits them: the query starts at the first `?` after the user
//! info) and `key=value` strings (`host=h sslmode='verify-ca'`, values unquoted or single-quoted
//! with backslash escapes).
use std::collections::BTreeMap;

/// The parameters taken out, by name (later occurrences win, as in libpq).
pub type TlsParams = BTreeMap<String, String>;

/// The parameter names taken out of the string.
pub const TLS_KEYS: [&str; 5] = ["sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword"];

/// Returns the connection string without the TLS parameters, and those parameters. `Err` holds
/// a message for a string that cannot be split (it never quotes the string: it may hold a
/// password).
pub fn split_tls_params(text: &str) -> Result<(String, TlsParams), String> {
    let url = ["postgres://", "postgresql://"]
        .iter()
        .any(|p| text.starts_with(p));
    if url {
        Ok(split_url(text))
    } else {
        split_keywords(text)
    }
}

fn split_url(text: &str) -> (String, TlsParams) {
    let after_scheme = text.find("://").map_or(0, |i| i + 3);
    let after_userinfo = text[after_scheme..]
        .find('@')
        .map_or(after_scheme, |at| after_scheme + at + 1);
    let Some(q) = text[after_userinfo..].find('?').map(|q| after_userinfo + q) else {
        return (text.to_string(), TlsParams::new());
    };
    let mut params = TlsParams::new();
    let mut kept = Vec::new();
    for pair in text[q + 1..].split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key);
        if TLS_KEYS.contains(&key.as_str()) {
            params.insert(key, percent_decode(value));
        } else {
            kept.push(pair);
        }
    }
    let mut rest = text[..q].to_string();
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    (rest, params)
}

/// `%XX` decoding (invalid escapes are kept as written).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a `key=value …` string into pairs and puts the others back together, each value
/// single-quoted so that any character survives.
fn split_keywords(text: &str) -> Result<(String, TlsParams), String> {
    let mut params = TlsParams::new();
    let mut kept = Vec::new();
    for (key, value) in keyword_pairs(text)? {
        if TLS_KEYS.contains(&key.as_str()) {
            params.insert(key, value);
        } else {
            let quoted = value.replace('\\', "\\\\").replace('\'', "\\'");
            kept.push(format!("{key}='{quoted}'"));
        }
    }
    Ok((kept.join(" "), params))
}

/// The `key = value` pairs of a libpq keyword string, values unquoted.
fn keyword_pairs(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=') {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!("missing `=` after `{key}`"));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => return Err(format!("unterminated quoted value of `{key}`")),
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> (String, Vec<(String, String)>) {
        let (rest, params) = split_tls_params(text).unwrap();
        (rest, params.into_iter().collect())
    }

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn url_tls_parameters_are_taken_out_and_the_rest_kept() {
        assert_eq!(
            split("postgres://u:p@h:5/db?sslmode=verify-full&application_name=x&sslrootcert=%2Ftmp%2Fca.pem"),
            (
                "postgres://u:p@h:5/db?application_name=x".into(),
                kv(&[("sslmode", "verify-full"), ("sslrootcert", "/tmp/ca.pem")])
            )
        );
        assert_eq!(
            split("postgresql://h/db?sslcert=c.pem&sslkey=k.pem"),
            (
                "postgresql://h/db".into(),
                kv(&[("sslcert", "c.pem"), ("sslkey", "k.pem")])
            )
        );
        assert_eq!(
            split("postgres://h/db"),
            ("postgres://h/db".into(), kv(&[]))
        );
    }

    /// A `?` in the (unencoded) password is not the start of the query.
    #[test]
    fn url_query_starts_after_the_user_info() {
        assert_eq!(
            split("postgres://u:p?w@h/db?sslmode=require"),
            (
                "postgres://u:p?w@h/db".into(),
                kv(&[("sslmode", "require")])
            )
        );
    }

    #[test]
    fn keyword_tls_parameters_are_taken_out_and_the_rest_requoted() {
        assert_eq!(
            split("host=h  sslmode = verify-ca password='a b\\'c' sslrootcert='/x y/ca.pem'"),
            (
                "host='h' password='a b\\'c'".into(),
                kv(&[("sslmode", "verify-ca"), ("sslrootcert", "/x y/ca.pem")])
            )
        );
    }

    #[test]
    fn broken_keyword_strings_are_errors_that_do_not_quote_values() {
        let err = split_tls_params("host=h password='secret").unwrap_err();
        assert!(
            err.contains("unterminated") && !err.contains("secret"),
            "{err}"
        );
        assert!(split_tls_params("host").is_err());
    }

    #[test]
    fn percent_decoding_keeps_invalid_escapes() {
        assert_eq!(percent_decode("a%20b%zz%4"), "a b%zz%4");
    }
}
