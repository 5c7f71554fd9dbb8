//! `phone`: normalise to E.164 with libphonenumber's metadata (the `phonenumber` crate).
use phonenumber::country::Id;

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
    let number = phonenumber::parse(region.map(|r| r.0), s).map_err(|_| invalid())?;
    if !phonenumber::is_valid(&number) {
        return Err(invalid());
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
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
