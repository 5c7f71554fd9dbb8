//! `phone`: normalise to E.164 with libphonenumber's metadata (the `phonenumber` crate).
//!
//! The crate's `parse` costs ~17 µs a number, most of it in its shared regex cache (a lock
//! and a hash of the pattern's text per regex use, and recompiles when the cache turns over).
//! Two common spellings are read here directly and checked against the same metadata
//! patterns, compiled once per country code and anchored ([`fast`]):
//!
//! - a North American number spelled with digits, spaces, `()-.` and at most a leading `+`
//!   is decided here, valid or not;
//! - any other number spelled `+CC` and digits grouped the same way is accepted here when
//!   valid, as long as the crate's parser would not strip a national prefix from it; when it
//!   is not valid, the crate decides (its parser may read it differently).
//!
//! Any other spelling goes through the crate. Tests compare both on thousands of spellings,
//! country codes and regions: the results are the crate's either way.
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
    let region = region.map(|r| r.0);
    match fast::nanp_e164(s, region) {
        Some(Some(e164)) => return Ok(e164),
        Some(None) => return Err(invalid()),
        None => {}
    }
    if let Some(e164) = fast::international_e164(s, region) {
        return Ok(e164);
    }
    let number = phonenumber::parse(region, s).map_err(|_| invalid())?;
    if !phonenumber::is_valid(&number) {
        return Err(invalid());
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

/// Numbers in plain spellings without the crate's parser.
mod fast {
    use super::*;

    /// `pattern` compiled to match at the start of the text only: `is_match` of it is the
    /// crate's `find(…)` starting at 0 (a match starts at 0 if and only if the leftmost one
    /// does), without the search for where the match ends and then begins.
    fn anchored(pattern: &str) -> Option<Regex> {
        // The newline ends a `#` comment the pattern might hold (`ignore_whitespace`).
        RegexBuilder::new(&format!("^(?:{pattern}\n)"))
            .ignore_whitespace(true)
            .build()
            .ok()
    }

    /// One metadata descriptor, its pattern compiled once: the crate's `Descriptor::is_match`.
    struct Pattern {
        lengths: Vec<u16>,
        regex: Regex,
    }

    impl Pattern {
        fn of(d: &Descriptor) -> Option<Self> {
            Some(Pattern {
                lengths: d.possible_length().to_vec(),
                regex: anchored(d.national_number().as_str())?,
            })
        }

        fn is_match(&self, value: &str) -> bool {
            if !self.lengths.is_empty() && !self.lengths.contains(&(value.len() as u16)) {
                return false;
            }
            self.regex.is_match(value)
        }
    }

    /// A region's metadata as the crate's parser and validator use it: the leading digits that
    /// pick it among the regions of its country code, its general pattern, the patterns of
    /// every number type, and its national prefix rules.
    struct Region {
        id: String,
        leading: Option<Regex>,
        general: Pattern,
        types: Vec<Pattern>,
        national_prefix: Option<String>,
        prefix_for_parsing: Option<Regex>,
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
            let regex = |r: Option<&str>| match r {
                Some(r) => anchored(r).map(Some),
                None => Some(None),
            };
            Some(Region {
                id: meta.id().to_string(),
                leading: regex(meta.leading_digits().map(|r| r.as_str()))?,
                general: Pattern::of(d.general())?,
                types: types
                    .into_iter()
                    .flatten()
                    .map(Pattern::of)
                    .collect::<Option<_>>()?,
                national_prefix: meta.national_prefix().map(str::to_string),
                prefix_for_parsing: regex(meta.national_prefix_for_parsing().map(|r| r.as_str()))?,
            })
        }

        /// The crate's `number_type(…) != Type::Unknown`.
        fn has_type(&self, national: &str) -> bool {
            self.general.is_match(national) && self.types.iter().any(|t| t.is_match(national))
        }

        /// Whether the crate's parser, reading a number with this region's metadata, would
        /// strip a national prefix (or a carrier code) from `national`.
        fn strips(&self, national: &str) -> bool {
            self.prefix_for_parsing
                .as_ref()
                .is_some_and(|re| re.is_match(national))
                || self
                    .national_prefix
                    .as_ref()
                    .is_some_and(|p| national.starts_with(p.as_str()))
        }
    }

    /// The regions of one country code, in the metadata's order.
    struct Country {
        regions: Vec<Region>,
    }

    impl Country {
        /// The region the crate's `source_for` picks for `national` and whether the number
        /// is valid there (`is_valid_with`): the only region, or the first whose leading
        /// digits match (or, without leading digits, that gives the number a type).
        fn source(&self, national: &str) -> Option<(&Region, bool)> {
            if let [only] = self.regions.as_slice() {
                return Some((only, only.has_type(national)));
            }
            self.regions.iter().find_map(|r| match &r.leading {
                Some(re) => re.is_match(national).then(|| (r, r.has_type(national))),
                None => r.has_type(national).then_some((r, true)),
            })
        }
    }

    /// The country of code `code`, compiled on first use; `None` for a code the metadata does
    /// not know, a non-geographic one (`001`), or one whose patterns do not compile (its
    /// numbers then take the crate's path).
    fn country(code: u16) -> Option<&'static Country> {
        static COUNTRIES: [OnceLock<Option<Country>>; 1000] = [const { OnceLock::new() }; 1000];
        COUNTRIES
            .get(usize::from(code))?
            .get_or_init(|| {
                let ids = DATABASE.region(&code)?;
                if ids.contains(&"001") {
                    return None;
                }
                let regions = ids
                    .iter()
                    .map(|id| DATABASE.by_id(*id).and_then(Region::of))
                    .collect::<Option<Vec<_>>>()?;
                Some(Country { regions })
            })
            .as_ref()
    }

    /// The compiled metadata of region `id`.
    fn region(id: Id) -> Option<&'static Region> {
        let code = DATABASE.by_id(id.as_ref())?.country_code();
        country(code)?.regions.iter().find(|r| r.id == id.as_ref())
    }

    /// Whether the crate's parser strips a national prefix from `national` when it reads it
    /// with `region`'s metadata, or without one, with the number's own region `own` (if it
    /// has one). `None` when `region`'s patterns are not compiled here.
    fn parser_strips(national: &str, own: Option<&Region>, region: Option<Id>) -> Option<bool> {
        let reads_as = match region {
            Some(id) => Some(self::region(id)?),
            None => own,
        };
        Some(reads_as.is_some_and(|r| r.strips(national)))
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

    /// The digits of a plain spelling: an optional leading `+` (`true` when there), then
    /// digits grouped with spaces, `()`, `-` and `.`, and an optional extension. `None` for
    /// any other spelling, or more than `N` digits.
    fn plain_digits<const N: usize>(s: &str) -> Option<(bool, [u8; N], usize)> {
        let s = without_extension(s.trim());
        let (plus, body) = match s.strip_prefix('+') {
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => (true, rest),
            Some(_) => return None,
            None => (false, s),
        };
        let mut digits = [0u8; N];
        let mut n = 0;
        for b in body.bytes() {
            match b {
                b'0'..=b'9' if n < N => {
                    digits[n] = b;
                    n += 1;
                }
                b' ' | b'(' | b')' | b'-' | b'.' => {}
                _ => return None,
            }
        }
        Some((plus, digits, n))
    }

    /// A North American number in a plain spelling — `+1` and 10 digits, or (region US)
    /// 10 digits, or `1` and 10 digits — is decided here: `Some(Some("+1…"))` when valid,
    /// `Some(None)` when not. `None` for any other spelling, for the crate to decide.
    pub(super) fn nanp_e164(s: &str, region: Option<Id>) -> Option<Option<String>> {
        let (plus, digits, n) = plain_digits::<11>(s)?;
        let national = match (plus, n, digits[0]) {
            (true, 11, b'1') => &digits[1..11],
            (false, 11, b'1') if region == Some(Id::US) => &digits[1..11],
            (false, 10, _) if region == Some(Id::US) => &digits[..10],
            _ => return None,
        };
        let national = std::str::from_utf8(national).ok()?;
        let source = country(1)?.source(national);
        if parser_strips(national, source.map(|(r, _)| r), region)? {
            return None;
        }
        let valid = source.is_some_and(|(_, valid)| valid);
        Some(valid.then(|| format!("+1{national}")))
    }

    /// A number spelled `+CC` and its national number, of a country code other than 1, in
    /// E.164 when it is valid and the crate's parser would read the same national number
    /// (with `region`'s metadata, or the number's own without one, it would strip no
    /// national prefix). `None` otherwise, for the crate to decide.
    pub(super) fn international_e164(s: &str, region: Option<Id>) -> Option<String> {
        // A country code of up to 3 digits, a national number of up to 17.
        let (plus, digits, n) = plain_digits::<20>(s)?;
        if !plus || n < 4 || digits[0] == b'0' {
            return None;
        }
        let digits = std::str::from_utf8(&digits[..n]).ok()?;
        // Country codes are prefix-free: the first known prefix is the code.
        let (code, national) = (1..=3).find_map(|len| {
            let code: u16 = digits[..len].parse().ok()?;
            DATABASE.region(&code).map(|_| (code, &digits[len..]))
        })?;
        if code == 1 || national.starts_with('0') {
            return None;
        }
        let (own, valid) = country(code)?.source(national)?;
        if !valid || parser_strips(national, Some(own), region)? {
            return None;
        }
        Some(format!("+{code}{national}"))
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
    pub(super) fn crate_e164(s: &str, region: Option<Region>) -> Option<String> {
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
                if let Some(fast) = fast::nanp_e164(&s, region.map(|r| r.0)) {
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

#[cfg(test)]
mod international_fast_path_tests {
    use super::fast_path_tests::crate_e164;
    use super::*;

    /// Every region's example numbers of every type (valid by construction), and near misses
    /// of them (a digit changed, dropped or added, a national prefix kept), in several
    /// spellings, read with several default regions: the fast path answers only what the crate
    /// answers, and `phone_e164` answers what the crate does.
    #[test]
    fn the_international_fast_path_gives_the_crates_answer() {
        let mut metas: Vec<&Metadata> = DATABASE.iter().collect();
        metas.sort_by_key(|m| m.id().to_string());
        let defaults = ["US", "GB", "DE", "BR", "IT", "RU"].map(parse_region);
        let (mut valid, mut valid_fast, mut checked) = (0, 0, 0);
        let mut codes = std::collections::BTreeSet::new();
        for meta in metas {
            let d = meta.descriptors();
            let examples = [d.fixed_line(), d.mobile(), d.toll_free(), d.voip()]
                .into_iter()
                .flatten()
                .filter_map(|d| d.example());
            for example in examples {
                let mut nationals = vec![example.to_string()];
                let last = example.len() - 1;
                let bumped = (example.as_bytes()[last] - b'0' + 3) % 10;
                nationals.push(format!("{}{bumped}", &example[..last]));
                nationals.push(example[..last].to_string());
                nationals.push(format!("{example}7"));
                nationals.push(format!("0{example}"));
                if let Some(p) = meta.national_prefix() {
                    nationals.push(format!("{p}{example}"));
                }
                let cc = meta.country_code();
                for national in &nationals {
                    let (a, b) = national.split_at(national.len() / 2);
                    let spellings = [
                        format!("+{cc}{national}"),
                        format!("+{cc} {a} {b}"),
                        format!("+{cc} ({a}) {b}-"),
                        format!(" +{cc}-{a}.{b} ext. 12"),
                    ];
                    for s in &spellings {
                        for region in defaults {
                            let want = crate_e164(s, region);
                            let r = region.map(|r| r.0);
                            let fast = fast::nanp_e164(s, r)
                                .or_else(|| fast::international_e164(s, r).map(Some));
                            if let Some(fast) = &fast {
                                assert_eq!(fast, &want, "{s:?} in {region:?}");
                            }
                            if national == example && want.is_some() {
                                valid += 1;
                                if matches!(fast, Some(Some(_))) {
                                    valid_fast += 1;
                                    codes.insert(cc);
                                }
                            }
                            assert_eq!(phone_e164(s, region).ok(), want, "{s:?} in {region:?}");
                            checked += 1;
                        }
                    }
                }
            }
        }
        // The crate's parser strips a default region's national prefix from a few numbers
        // that begin with it (`+7 8…` read with region RU): those are left to it.
        assert!(
            valid_fast * 100 > valid * 95,
            "{valid_fast} of {valid} valid example numbers (of {checked} spellings) decided fast"
        );
        assert!(
            codes.len() > 150,
            "{} country codes decided fast",
            codes.len()
        );
    }
}
