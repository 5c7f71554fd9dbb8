//! The window of a delta: which source rows a table's cursor selects, and the commit-safe
//! watermark the next run starts from.
//!
//! Guarantee: a run reads every row whose cursor is at or after `watermark - lookback`, plus
//! every row whose cursor is NULL. The watermark a run records is the horizon of its snapshot
//! (see [`crate::extract::horizon`]): the earlier of the time and the start of the oldest
//! transaction then writing on the source. A row committed after the snapshot was written by a
//! transaction that started at or after the horizon, so as long as the cursor is set from the
//! writing transaction's clock (`now()`, `clock_timestamp()`), the next run's window contains it.
//! The lookback (default 5 minutes) covers clocks that disagree and cursors set a little in the
//! past. Rows read twice are harmless: the merge is by key and touches only changed rows.
use cutover_core::catalog::{quote_ident, quote_literal};
use cutover_core::pgtype::PgType;

use crate::error::{EngineError, Result};

/// Parses `--since`/`--until`: RFC 3339 (`2025-01-31T12:00:00Z`, `…+02:00`) or a date
/// (`2025-01-31`, midnight UTC). Returns normalised RFC 3339 in UTC.
pub fn parse_instant(flag: &str, text: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    }
    Err(EngineError::config(format!(
        "{flag} `{text}` is not a time: use RFC 3339 (2025-01-31T12:00:00Z, 2025-01-31T12:00:00+02:00) or a date (2025-01-31)"
    )))
}

/// Parses a duration like `30s`, `5m`, `2h`, `1d` or plain seconds.
pub fn parse_duration(flag: &str, text: &str) -> Result<std::time::Duration> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num.parse().map_err(|_| {
        EngineError::config(format!(
            "{flag} `{text}` is not a duration (e.g. 30s, 5m, 2h)"
        ))
    })?;
    let secs = match unit {
        "" | "s" => n,
        "m" | "min" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => {
            return Err(EngineError::config(format!(
                "{flag} `{text}`: unknown unit `{unit}` (use s, m, h or d)"
            )))
        }
    };
    Ok(std::time::Duration::from_secs(secs))
}

/// An SQL expression turning a UTC instant into a value comparable with the cursor column.
/// A `timestamp without time zone` cursor is read as local time of the source session's
/// TimeZone (as the application that wrote it with `now()` saw it).
pub fn cursor_literal(ty: &PgType, instant: &chrono::DateTime<chrono::Utc>) -> Result<String> {
    let lit = format!(
        "{}::timestamptz",
        quote_literal(&instant.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    );
    match ty {
        PgType::Timestamptz { .. } => Ok(lit),
        PgType::Timestamp { .. } => Ok(format!("({lit} AT TIME ZONE current_setting('TimeZone'))")),
        PgType::Date => Ok(format!(
            "({lit} AT TIME ZONE current_setting('TimeZone'))::date"
        )),
        other => Err(EngineError::config(format!(
            "a cursor column must be a timestamp, timestamptz or date, not {other:?}"
        ))),
    }
}

/// The WHERE condition of a table's window: `[lower, upper)` on the cursor, or a NULL cursor.
pub fn window_sql(
    cursor: &str,
    ty: &PgType,
    lower: &chrono::DateTime<chrono::Utc>,
    upper: Option<&chrono::DateTime<chrono::Utc>>,
) -> Result<String> {
    let c = quote_ident(cursor);
    let mut cond = format!("{c} >= {}", cursor_literal(ty, lower)?);
    if let Some(u) = upper {
        cond.push_str(&format!(" AND {c} < {}", cursor_literal(ty, u)?));
    }
    Ok(format!("(({cond}) OR {c} IS NULL)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_accept_rfc3339_and_dates_and_refuse_the_rest() {
        assert_eq!(
            parse_instant("--since", "2025-01-31T12:00:00+02:00")
                .unwrap()
                .to_rfc3339(),
            "2025-01-31T10:00:00+00:00"
        );
        assert_eq!(
            parse_instant("--since", "2025-01-31").unwrap().to_rfc3339(),
            "2025-01-31T00:00:00+00:00"
        );
        let e = parse_instant("--since", "yesterday").unwrap_err();
        assert!(e.message.contains("--since `yesterday`"), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("--interval", "30s").unwrap().as_secs(), 30);
        assert_eq!(parse_duration("--interval", "5m").unwrap().as_secs(), 300);
        assert_eq!(parse_duration("--interval", "90").unwrap().as_secs(), 90);
        assert!(parse_duration("--interval", "5 parsecs").is_err());
    }

    #[test]
    fn window_keeps_null_cursors_and_bounds_both_ends() {
        let lo = parse_instant("--since", "2025-01-01").unwrap();
        let hi = parse_instant("--until", "2025-02-01").unwrap();
        let w = window_sql(
            "modified_on",
            &PgType::Timestamp { precision: None },
            &lo,
            Some(&hi),
        )
        .unwrap();
        assert!(
            w.contains(
                "\"modified_on\" >= ('2025-01-01T00:00:00.000000Z'::timestamptz AT TIME ZONE"
            ),
            "{w}"
        );
        assert!(w.contains("\"modified_on\" < "), "{w}");
        assert!(w.ends_with("OR \"modified_on\" IS NULL)"), "{w}");
    }
}
