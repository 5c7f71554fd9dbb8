//! `scale`: numeric rescale on exact decimal text, rounding half away from zero as PostgreSQL's
//! `round(numeric, s)` and `numeric(p, s)` do. Never goes through a float.
use super::quote;

/// `num` (decimal text such as `-12.345`, `7`, `NaN`, `Infinity`) with exactly `scale` digits
/// after the point. NaN and ±Infinity are returned unchanged; `-0.001` at scale 2 is `0.00`
/// (PostgreSQL's numeric has no negative zero).
pub fn rescale(num: &str, scale: u16) -> Result<String, String> {
    if matches!(num, "NaN" | "Infinity" | "-Infinity") {
        return Ok(num.to_string());
    }
    let not_numeric = || format!("`{}` is not a number", quote(num));
    let (negative, body) = match num.as_bytes().first() {
        Some(b'-') => (true, &num[1..]),
        Some(b'+') => (false, &num[1..]),
        _ => (false, num),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
        return Err(not_numeric());
    }
    let scale = usize::from(scale);
    let kept = frac.len().min(scale);
    let mut digits = Vec::with_capacity(int.len() + scale + 1);
    digits.extend_from_slice(int.as_bytes());
    digits.extend_from_slice(&frac.as_bytes()[..kept]);
    digits.resize(int.len() + scale, b'0');
    if frac.len() > scale && frac.as_bytes()[scale] >= b'5' {
        let mut carry = true;
        for d in digits.iter_mut().rev() {
            if *d == b'9' {
                *d = b'0';
            } else {
                *d += 1;
                carry = false;
                break;
            }
        }
        if carry {
            digits.insert(0, b'1');
        }
    }
    let int_len = digits.len() - scale;
    let lead = digits[..int_len].iter().take_while(|&&d| d == b'0').count();
    let int_digits = &digits[lead..int_len];
    let frac_digits = &digits[int_len..];
    let is_zero = int_digits.is_empty() && frac_digits.iter().all(|&d| d == b'0');
    let mut out = String::with_capacity(digits.len() + 3);
    if negative && !is_zero {
        out.push('-');
    }
    if int_digits.is_empty() {
        out.push('0');
    } else {
        out.push_str(std::str::from_utf8(int_digits).expect("ascii digits"));
    }
    if scale > 0 {
        out.push('.');
        out.push_str(std::str::from_utf8(frac_digits).expect("ascii digits"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_half_away_from_zero_like_postgresql() {
        let cases: &[(&str, u16, &str)] = &[
            ("1.005", 2, "1.01"),
            ("1.004", 2, "1.00"),
            ("-1.005", 2, "-1.01"),
            ("2.5", 0, "3"),
            ("-2.5", 0, "-3"),
            ("0.5", 0, "1"),
            ("9.995", 2, "10.00"),
            ("-999.9999", 3, "-1000.000"),
            ("12", 2, "12.00"),
            ("12.", 1, "12.0"),
            (".25", 1, "0.3"),
            ("+3.14159", 4, "3.1416"),
            ("0007.10", 3, "7.100"),
            ("-0.001", 2, "0.00"),
            ("-0", 0, "0"),
            (
                "123456789012345678901234567890123456789.5",
                0,
                "123456789012345678901234567890123456790",
            ),
            (
                "0.000000000000000000000000000000000000000000015",
                44,
                "0.00000000000000000000000000000000000000000002",
            ),
            ("NaN", 2, "NaN"),
            ("Infinity", 2, "Infinity"),
            ("-Infinity", 0, "-Infinity"),
        ];
        for (input, scale, want) in cases {
            assert_eq!(
                rescale(input, *scale).unwrap(),
                *want,
                "rescale({input}, {scale})"
            );
        }
    }

    #[test]
    fn rejects_what_is_not_decimal_text() {
        for input in ["", "-", ".", "1e5", "1.2.3", "12a", " 1", "--1", "inf"] {
            let err = rescale(input, 2).unwrap_err();
            assert!(err.ends_with("is not a number"), "{input:?}: {err}");
        }
    }
}
