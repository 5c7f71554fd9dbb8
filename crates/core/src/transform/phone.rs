//! `phone`: normalise to E.164 with libphonenumber's metadata (the `phonenumber` crate).
//!
//! The crate's `parse` costs ~17 µs a number, most of it in its shared regex cache (a lock
//! and a hash of the pattern's text per regex use, and recompiles when the cache turns over).
//! The common case — a North American number spelled with digits, spaces, `()-.` and at most a
//! leading `+` — is read here directly and checked against the same metadata patterns,
//! compiled once ([`nanp`]), valid or not; any other spelling goes through the crate. A test
//! compares both on thousands of spellings, area codes and regions: the results are the
//! crate's either way.
use std::sync::OnceLock;

use phonenumber::country::Id;
use phonenumber::metadata::{Descriptor, Metadata, DATABASE};
use regex::{Regex, RegexBuilder};

use super::quote;

/// A region known to the phone number metadata (ISO 3166 alpha-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region(Id);

/// The region for an ISO 3166 alpha-2 code (`"US"`, `"GB"`); `None` when the phone metadata
/// does not know it.
pub fn parse_region(code: &str) -> Option<Region> {
    code.parse::<Id>().ok().map(Region)
}

impl Region {
    /// The ISO 3166 alpha-2 code.
    pub fn code(&self) -> &str {
        self.0.as_ref()
    }
}

/// The number in E.164 (`+14155550123`). Numbers written without `+CC` (or an international
/// prefix) are read as numbers of `region`; with no region only international numbers parse.
/// The number must be valid (not merely of a possible length) for its country.
pub fn phone_e164(s: &str, region: Option<Region>) -> Result<String, String> {
    let invalid = || match region {
        Some(r) => format!(
            "phone `{}` is not a valid number for region {}",
            quote(s),
            r.code()
        ),
        None => format!(
            "phone `{}` is not a valid international number (no region: set `default_region` or \
             `region` for numbers without +CC)",
            quote(s)
        ),
    };
    match nanp::fast_e164(s, region.map(|r| r.0)) {
        Some(Some(e164)) => return Ok(e164),
        Some(None) => return Err(invalid()),
        None => {}
    }
    let number = phonenumber::parse(region.map(|r| r.0), s).map_err(|_| invalid())?;
    if !phonenumber::is_valid(&number) {
        return Err(invalid());
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

/// North American numbers (country code 1) without the crate's parser.
mod nanp {
    use super::*;

    /// One metadata descriptor, its pattern compiled once: the crate's `Descriptor::is_match`.
    struct Pattern {
        lengths: Vec<u16>,
        regex: Regex,
    }

    impl Pattern {
        fn of(d: &Descriptor) -> Option<Self> {
            let regex = RegexBuilder::new(d.national_number().as_str())
                .ignore_whitespace(true)
                .build()
                .ok()?;
            Some(Pattern {
                lengths: d.possible_length().to_vec(),
                regex,
            })
        }

        fn is_match(&self, value: &str) -> bool {
            if !self.lengths.is_empty() && !self.lengths.contains(&(value.len() as u16)) {
                return false;
            }
            self.regex.find(value).is_some_and(|m| m.start() == 0)
        }
    }

    /// A region of country code 1: its leading-digits pattern, its general pattern and the
    /// patterns of every number type.
    struct Region {
        leading: Option<Regex>,
        general: Pattern,
        types: Vec<Pattern>,
    }

    impl Region {
        fn of(meta: &Metadata) -> Option<Self> {
            let d = meta.descriptors();
            let types = [
                d.premium_rate(),
                d.toll_free(),
                d.shared_cost(),
                d.voip(),
                d.personal_number(),
                d.pager(),
                d.uan(),
                d.voicemail(),
                d.fixed_line(),
                d.mobile(),
            ];
            let leading = match meta.leading_digits() {
                Some(r) => Some(
                    RegexBuilder::new(r.as_str())
                        .ignore_whitespace(true)
                        .build()
                        .ok()?,
                ),
                None => None,
            };
            Some(Region {
                leading,
                general: Pattern::of(d.general())?,
                types: types
                    .into_iter()
                    .flatten()
                    .map(Pattern::of)
                    .collect::<Option<_>>()?,
            })
        }

        /// The crate's `number_type(…) != Type::Unknown`.
        fn has_type(&self, national: &str) -> bool {
            self.general.is_match(national) && self.types.iter().any(|t| t.is_match(national))
        }
    }

    /// The regions of country code 1 in the metadata's order; `None` if any pattern does not
    /// compile (then every number takes the crate's path).
    fn regions() -> Option<&'static [Region]> {
        static REGIONS: OnceLock<Option<Vec<Region>>> = OnceLock::new();
        REGIONS
            .get_or_init(|| {
                DATABASE
                    .region(&1)?
                    .iter()
                    .map(|id| DATABASE.by_id(*id).and_then(Region::of))
                    .collect()
            })
            .as_deref()
    }

    /// The crate's `is_valid` for a number of country code 1: the region is the first whose
    /// leading digits match (or, without leading digits, that gives the number a type), and the
    /// number must have a type there.
    fn is_valid(national: &str) -> bool {
        let Some(regions) = regions() else {
            return false;
        };
        regions
            .iter()
            .find(|r| match &r.leading {
                Some(re) => re.find(national).is_some_and(|m| m.start() == 0),
                None => r.has_type(national),
            })
            .is_some_and(|r| r.has_type(national))
    }

    /// `s` without a trailing extension of up to 6 digits after `ext.`, `ext` or `x` (E.164
    /// has no place for one, and the crate's validity does not depend on it); `s` itself when
    /// it has none in these spellings.
    fn without_extension(s: &str) -> &str {
        let digits = s.bytes().rev().take_while(u8::is_ascii_digit).count();
        if !(1..=6).contains(&digits) {
            return s;
        }
        let head = s[..s.len() - digits].trim_end();
        ["ext.", "ext", "x"]
            .iter()
            .find_map(|marker| head.strip_suffix(marker))
            .unwrap_or(s)
    }

    /// A North American number in a plain spelling — `+1` and 10 digits, or (region US)
    /// 10 digits, or `1` and 10 digits; digits may be grouped with spaces, `()`, `-` and `.`;
    /// an extension may follow — is decided here: `Some(Some("+1…"))` when valid, `Some(None)`
    /// when not. `None` for any other spelling, for the crate to decide.
    pub(super) fn fast_e164(s: &str, region: Option<Id>) -> Option<Option<String>> {
        let s = without_extension(s.trim());
        let (plus, body) = match s.strip_prefix('+') {
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => (true, rest),
            Some(_) => return None,
            None => (false, s),
        };
        let mut digits = [0u8; 11];
        let mut n = 0;
        for b in body.bytes() {
            match b {
                b'0'..=b'9' if n < digits.len() => {
                    digits[n] = b;
                    n += 1;
                }
                b' ' | b'(' | b')' | b'-' | b'.' => {}
                _ => return None,
            }
        }
        let national = match (plus, n, digits[0]) {
            (true, 11, b'1') => &digits[1..11],
            (false, 11, b'1') if region == Some(Id::US) => &digits[1..11],
            (false, 10, _) if region == Some(Id::US) => &digits[..10],
            _ => return None,
        };
        let national = std::str::from_utf8(national).ok()?;
        Some(is_valid(national).then(|| format!("+1{national}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_become_e164() {
        let us = parse_region("US");
        let gb = parse_region("GB");
        let cases: &[(&str, Option<Region>, Result<&str, &str>)] = &[
            ("(415) 555-0132", us, Ok("+14155550132")),
            ("415.555.0132", us, Ok("+14155550132")),
            ("1-415-555-0132", us, Ok("+14155550132")),
            ("+1 415 555 0132", gb, Ok("+14155550132")),
            ("020 7946 0018", gb, Ok("+442079460018")),
            ("+44 20 7946 0018", None, Ok("+442079460018")),
            ("+49 30 901820", us, Ok("+4930901820")),
            (
                "call me",
                us,
                Err("phone `call me` is not a valid number for region US"),
            ),
            (
                "555-0132",
                us,
                Err("phone `555-0132` is not a valid number for region US"),
            ),
            (
                "(415) 555-0132",
                None,
                Err("phone `(415) 555-0132` is not a valid international"),
            ),
            ("", us, Err("phone `` is not a valid number for region US")),
        ];
        for (input, region, want) in cases {
            let got = phone_e164(input, *region);
            match (&got, want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{input:?}"),
                (Err(got), Err(want)) => assert!(got.starts_with(want), "{input:?}: {got}"),
                _ => panic!("{input:?} {region:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn regions_are_checked_against_the_metadata() {
        assert_eq!(parse_region("US").unwrap().code(), "US");
        assert!(parse_region("ZZ").is_none());
        assert!(parse_region("us").is_none());
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;

    /// The crate's answer alone (the function before the fast path).
    fn crate_e164(s: &str, region: Option<Region>) -> Option<String> {
        let number = phonenumber::parse(region.map(|r| r.0), s).ok()?;
        phonenumber::is_valid(&number)
            .then(|| number.format().mode(phonenumber::Mode::E164).to_string())
    }

    #[test]
    fn the_fast_path_gives_the_crates_answer_whatever_the_spelling() {
        let regions = [
            parse_region("US"),
            parse_region("CA"),
            parse_region("GB"),
            None,
        ];
        let spellings = [
            "(A) E-L",
            "A.E.L",
            "A-E-L",
            "1-A-E-L",
            "+1 A E L",
            "+1AEL",
            "AEL",
            "1 (A) E L",
            " +1 (A) E-L ",
            "1AEL",
            "+ 1 A E L",
            "+1 A E L x12",
            "A/E/L",
            "(+1) A E L",
            "A E L 9",
            "(A) E-L ext. 42",
            "A-E-L ext 7",
            "A.E.L x123456",
            "AELx9",
            "1-A-E-L ext.1234567",
            "A-E-L  ext.  42 ",
            "A-E-L ext. 42#",
            "A-E-L, ext. 42",
            "A-E-L ext",
            "A-E-L xt 42",
            "+1 A E L extension 3",
            "A-E-L - 42",
        ];
        // A fixed linear congruential sequence: every area code class (valid, 0xx, 1xx, 555,
        // toll-free 8xx, premium 900, Caribbean, Canadian), exchange and line.
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = |m: u64| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) % m
        };
        let (mut fast_hits, mut fast_invalid, mut checked) = (0, 0, 0);
        let mut extensions = 0;
        for _ in 0..3000 {
            let area = format!("{:03}", next(1000));
            let exchange = format!("{:03}", next(1000));
            let line = format!("{:04}", next(10000));
            let spelling = spellings[next(spellings.len() as u64) as usize];
            let s = spelling
                .replace('A', &area)
                .replace('E', &exchange)
                .replace('L', &line);
            for region in regions {
                let want = crate_e164(&s, region);
                if let Some(fast) = nanp::fast_e164(&s, region.map(|r| r.0)) {
                    assert_eq!(fast, want, "{s:?} in {region:?}");
                    fast_hits += 1;
                    fast_invalid += usize::from(fast.is_none());
                    extensions += usize::from(s.contains('x'));
                }
                assert_eq!(phone_e164(&s, region).ok(), want, "{s:?} in {region:?}");
                checked += 1;
            }
        }
        assert!(fast_hits > checked / 20, "{fast_hits} of {checked}");
        assert!(
            extensions > 200,
            "{extensions} spellings with an extension decided fast"
        );
        assert!(
            fast_invalid > fast_hits / 4,
            "{fast_invalid} invalid of {fast_hits} decided by the fast path"
        );
    }
}
