//! `email`: a plausibility check, not RFC 5322. Applied after `trim`/`lower` when those are set.
use super::quote;

/// Accepts `local@domain.tld`: exactly one `@`, a non-empty local part, a domain of non-empty
/// dot-separated labels with at least one dot, and no whitespace or control characters.
pub fn check_email(s: &str) -> Result<(), String> {
    let why = if s.is_empty() {
        Some("it is empty")
    } else if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("it contains whitespace")
    } else {
        match s.split_once('@') {
            None => Some("it has no `@`"),
            Some((_, domain)) if domain.contains('@') => Some("it has more than one `@`"),
            Some(("", _)) => Some("nothing comes before `@`"),
            Some((_, domain)) if !domain.contains('.') => Some("its domain has no dot"),
            Some((_, domain)) if domain.split('.').any(str::is_empty) => {
                Some("its domain has an empty label")
            }
            Some(_) => None,
        }
    };
    match why {
        None => Ok(()),
        Some(why) => Err(format!(
            "email `{}` is not a valid address: {why}",
            quote(s)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plausible_addresses_pass_and_others_say_why() {
        let cases: &[(&str, Option<&str>)] = &[
            ("ada@example.com", None),
            ("a.b+tag@mail.example.co.uk", None),
            ("x@y.z", None),
            ("élise@exemple.fr", None),
            ("", Some("it is empty")),
            ("ada example.com", Some("whitespace")),
            ("ada@exa mple.com", Some("whitespace")),
            ("ada@@example.com", Some("more than one `@`")),
            ("a@b@example.com", Some("more than one `@`")),
            ("ada.example.com", Some("no `@`")),
            ("@example.com", Some("nothing comes before `@`")),
            ("ada@localhost", Some("no dot")),
            ("ada@", Some("no dot")),
            ("ada@example.", Some("empty label")),
            ("ada@.example.com", Some("empty label")),
            ("ada@example..com", Some("empty label")),
            ("ada@exam\u{0}ple.com", Some("whitespace")),
        ];
        for (input, want) in cases {
            match (check_email(input), want) {
                (Ok(()), None) => {}
                (Err(got), Some(want)) => {
                    assert!(got.contains(want), "{input:?}: {got}");
                    assert!(got.starts_with("email `"), "{got}");
                }
                (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}
