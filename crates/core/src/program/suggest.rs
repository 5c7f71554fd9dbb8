//! "did you mean `email`?" for misspelt column names.

/// Edit distance counting insertions, deletions, substitutions and swaps of adjacent characters
/// as one edit each (optimal string alignment).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        for j in 0..=b.len() {
            d[i * width + j] = if i == 0 || j == 0 {
                i + j
            } else {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                let mut best = (d[(i - 1) * width + j] + 1)
                    .min(d[i * width + j - 1] + 1)
                    .min(d[(i - 1) * width + j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    best = best.min(d[(i - 2) * width + j - 2] + 1);
                }
                best
            };
        }
    }
    d[a.len() * width + b.len()]
}

/// ` (did you mean `x`?)` for the closest candidate within a few edits, else empty.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let limit = (name.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (distance(&name.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        for (a, b, want) in [
            ("email", "email", 0),
            ("emial", "email", 1),
            ("emai", "email", 1),
            ("e_mail", "email", 1),
            ("mail", "email", 1),
            ("phone", "email", 5),
            ("", "abc", 3),
        ] {
            assert_eq!(distance(a, b), want, "{a} → {b}");
        }
    }

    #[test]
    fn suggests_the_closest_name_within_reach() {
        let cols = ["id", "email", "email_verified", "phone"];
        assert_eq!(did_you_mean("emial", cols), " (did you mean `email`?)");
        assert_eq!(did_you_mean("EMAIL", cols), " (did you mean `email`?)");
        assert_eq!(did_you_mean("phnoe", cols), " (did you mean `phone`?)");
        assert_eq!(did_you_mean("created_at", cols), "");
        assert_eq!(did_you_mean("x", Vec::<&str>::new()), "");
    }
}
