//! `date`, `time`, `timestamp`, `timestamptz`: ISO text as PostgreSQL prints it (DateStyle ISO,
//! TimeZone UTC), ISO text parsing, range checks and typmod rounding. Civil-date math is done by
//! hand on the proleptic Gregorian calendar, because chrono rejects PostgreSQL's infinities and
//! its range of BC years.
use super::ValueError;

pub(crate) const USECS_PER_DAY: i64 = 86_400_000_000;
/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
const UNIX_TO_PG_DAYS: i64 = 10_957;
/// First valid date (4714-11-24 BC, Julian day 0) in days since 2000-01-01.
const DATE_MIN: i64 = -2_451_545;
/// One past the last valid date (5874898-01-01).
const DATE_END: i64 = 2_147_483_494 - 2_451_545;
/// One past the last date a timestamp can hold (294277-01-01).
const TIMESTAMP_END_DATE: i64 = 109_203_528 - 2_451_545;
/// First valid timestamp, in microseconds since 2000-01-01.
const TIMESTAMP_MIN: i64 = -211_813_488_000_000_000;
/// One past the last valid timestamp.
const TIMESTAMP_END: i64 = 9_223_371_331_200_000_000;
/// `TimestampScales` / `TimeScales` indexed by precision 0–6.
const SCALES: [i64; 7] = [1_000_000, 100_000, 10_000, 1_000, 100, 10, 1];

fn err(msg: impl Into<String>) -> ValueError {
    ValueError(msg.into())
}

/// (year, month, day) of a day number counted from 2000-01-01; year 0 is 1 BC.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + UNIX_TO_PG_DAYS + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Day number (from 2000-01-01) of a civil date; year 0 is 1 BC.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468 - UNIX_TO_PG_DAYS
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn push_date(s: &mut String, days: i64) -> bool {
    let (y, m, d) = civil_from_days(days);
    let bc = y <= 0;
    s.push_str(&format!("{:04}-{m:02}-{d:02}", if bc { 1 - y } else { y }));
    bc
}

fn push_time(s: &mut String, usecs: i64) {
    let secs = usecs / 1_000_000;
    let frac = usecs % 1_000_000;
    s.push_str(&format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    ));
    if frac != 0 {
        let f = format!(".{frac:06}");
        s.push_str(f.trim_end_matches('0'));
    }
}

/// A date as `date_out` prints it: `2024-02-29`, `0044-03-15 BC`, `infinity`.
pub(crate) fn date_text(days: i32) -> String {
    match days {
        i32::MIN => "-infinity".into(),
        i32::MAX => "infinity".into(),
        d => {
            let mut s = String::with_capacity(16);
            if push_date(&mut s, i64::from(d)) {
                s.push_str(" BC");
            }
            s
        }
    }
}

/// A time of day as `time_out` prints it: `13:05:00`, `13:05:00.25`.
pub(crate) fn time_text(usecs: i64) -> String {
    let mut s = String::with_capacity(15);
    push_time(&mut s, usecs.clamp(0, USECS_PER_DAY));
    s
}

/// A timestamp as `timestamp_out` prints it; with `utc`, as `timestamptz_out` with TimeZone UTC
/// (`+00` before any ` BC`).
pub(crate) fn timestamp_text(usecs: i64, utc: bool) -> String {
    match usecs {
        i64::MIN => "-infinity".into(),
        i64::MAX => "infinity".into(),
        t => {
            let mut s = String::with_capacity(32);
            let bc = push_date(&mut s, t.div_euclid(USECS_PER_DAY));
            s.push(' ');
            push_time(&mut s, t.rem_euclid(USECS_PER_DAY));
            if utc {
                s.push_str("+00");
            }
            if bc {
                s.push_str(" BC");
            }
            s
        }
    }
}

/// Checks a date like `date_recv`.
pub(crate) fn check_date(days: i32) -> Result<i32, ValueError> {
    if days == i32::MIN || days == i32::MAX || (DATE_MIN..DATE_END).contains(&i64::from(days)) {
        Ok(days)
    } else {
        Err(err("date out of range"))
    }
}

/// A date as a timestamp at midnight (`date2timestamp`).
pub(crate) fn date_to_timestamp(days: i32) -> Result<i64, ValueError> {
    match check_date(days)? {
        i32::MIN => Ok(i64::MIN),
        i32::MAX => Ok(i64::MAX),
        d if i64::from(d) >= TIMESTAMP_END_DATE => Err(err("date out of range for timestamp")),
        d => Ok(i64::from(d) * USECS_PER_DAY),
    }
}

/// Checks a timestamp like `timestamp_recv` and rounds it to `precision` fractional digits
/// half away from zero (`AdjustTimestampForTypmod`); infinities pass unchanged.
pub(crate) fn adjust_timestamp(t: i64, precision: Option<u8>) -> Result<i64, ValueError> {
    if t == i64::MIN || t == i64::MAX {
        return Ok(t);
    }
    let out_of_range = || err("timestamp out of range");
    if !(TIMESTAMP_MIN..TIMESTAMP_END).contains(&t) {
        return Err(out_of_range());
    }
    let Some(p) = precision.filter(|p| *p < 6) else {
        return Ok(t);
    };
    let scale = SCALES[usize::from(p)];
    let r = (t.abs() + scale / 2) / scale * scale * t.signum();
    if (TIMESTAMP_MIN..TIMESTAMP_END).contains(&r) {
        Ok(r)
    } else {
        Err(out_of_range())
    }
}

/// Checks a time like `time_recv` and rounds it half up to `precision` digits
/// (`AdjustTimeForTypmod`).
pub(crate) fn adjust_time(t: i64, precision: Option<u8>) -> Result<i64, ValueError> {
    if !(0..=USECS_PER_DAY).contains(&t) {
        return Err(err("time out of range"));
    }
    Ok(match precision.filter(|p| *p < 6) {
        Some(p) => {
            let scale = SCALES[usize::from(p)];
            (t + scale / 2) / scale * scale
        }
        None => t,
    })
}

/// A cursor over ASCII text for the ISO parsers.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn eat(&mut self, c: u8) -> bool {
        let hit = self.b.get(self.i) == Some(&c);
        self.i += usize::from(hit);
        hit
    }

    /// Up to `max` decimal digits (at least one) as a number, and how many were read.
    fn number(&mut self, max: usize) -> Option<(i64, usize)> {
        let start = self.i;
        let mut v: i64 = 0;
        while self.i - start < max && self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            v = v * 10 + i64::from(self.b[self.i] - b'0');
            self.i += 1;
        }
        (self.i > start).then_some((v, self.i - start))
    }

    fn rest(&self) -> &[u8] {
        &self.b[self.i..]
    }
}

fn infinity(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "infinity" | "+infinity" => Some(true),
        "-infinity" => Some(false),
        _ => None,
    }
}

/// Reads `Y…Y-MM-DD`; the year stays as written (BC is applied by the caller).
fn parse_ymd(c: &mut Cursor) -> Option<(i64, u32, u32)> {
    let (y, _) = c.number(9)?;
    c.eat(b'-').then_some(())?;
    let (m, _) = c.number(2)?;
    c.eat(b'-').then_some(())?;
    let (d, _) = c.number(2)?;
    Some((y, m as u32, d as u32))
}

/// Reads `HH:MM[:SS[.ffff…]]` into microseconds (fraction rounded half up).
fn parse_hms(c: &mut Cursor) -> Option<i64> {
    let (h, _) = c.number(2)?;
    c.eat(b':').then_some(())?;
    let (m, _) = c.number(2)?;
    let (mut s, mut us) = (0, 0);
    if c.eat(b':') {
        s = c.number(2)?.0;
        if c.eat(b'.') {
            let start = c.i;
            while c.b.get(c.i).is_some_and(u8::is_ascii_digit) {
                c.i += 1;
            }
            let frac = &c.b[start..c.i];
            for k in 0..6 {
                us = us * 10 + frac.get(k).map_or(0, |d| i64::from(d - b'0'));
            }
            us += i64::from(frac.get(6).is_some_and(|d| *d >= b'5'));
        }
    }
    if m > 59 || s > 60 {
        return None;
    }
    let t = ((h * 60 + m) * 60 + s) * 1_000_000 + us;
    (t <= USECS_PER_DAY).then_some(t)
}

/// Reads ` BC` / ` AD` at the end, if there.
fn parse_era(c: &mut Cursor) -> Option<bool> {
    let rest = std::str::from_utf8(c.rest()).ok()?.trim_start();
    match rest.to_ascii_uppercase().as_str() {
        "" | "AD" => Some(false),
        "BC" => Some(true),
        _ => None,
    }
}

fn to_days(y: i64, m: u32, d: u32, bc: bool) -> Option<i64> {
    if y == 0
        || !(1..=12).contains(&m)
        || d == 0
        || d > days_in_month(if bc { 1 - y } else { y }, m)
    {
        return None;
    }
    Some(days_from_civil(if bc { 1 - y } else { y }, m, d))
}

/// Parses an ISO date (`2024-02-29`, `0044-03-15 BC`, `infinity`) like `date_in`.
pub(crate) fn parse_date(text: &str) -> Result<i32, ValueError> {
    let s = text.trim();
    if let Some(pos) = infinity(s) {
        return Ok(if pos { i32::MAX } else { i32::MIN });
    }
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    let days = parse_ymd(&mut c)
        .and_then(|(y, m, d)| to_days(y, m, d, parse_era(&mut c)?))
        .ok_or_else(|| err(format!("invalid input syntax for type date: \"{text}\"")))?;
    if !(DATE_MIN..DATE_END).contains(&days) {
        return Err(err(format!("date out of range: \"{text}\"")));
    }
    Ok(days as i32)
}

/// Parses an ISO time of day (`13:05`, `13:05:00.25`) like `time_in`.
pub(crate) fn parse_time(text: &str) -> Result<i64, ValueError> {
    let s = text.trim();
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    parse_hms(&mut c)
        .filter(|_| c.rest().is_empty())
        .ok_or_else(|| err(format!("invalid input syntax for type time: \"{text}\"")))
}

/// Reads a UTC offset (`Z`, `+05`, `+0530`, `-05:30`) in seconds east of UTC.
fn parse_offset(c: &mut Cursor) -> Option<i64> {
    if c.eat(b'Z') || c.eat(b'z') {
        return Some(0);
    }
    let sign = if c.eat(b'+') {
        1
    } else if c.eat(b'-') {
        -1
    } else {
        return None;
    };
    let (h, n) = c.number(4)?;
    let (h, mut m) = if n > 2 { (h / 100, h % 100) } else { (h, 0) };
    let mut s = 0;
    if n <= 2 && c.eat(b':') {
        m = c.number(2)?.0;
        if c.eat(b':') {
            s = c.number(2)?.0;
        }
    }
    (h <= 15 && m < 60 && s < 60).then_some(sign * (h * 3600 + m * 60 + s))
}

/// Parses an ISO timestamp (`2024-02-29 13:05:00.25`, `T` also accepted, time optional,
/// ` BC` at the end). With `with_zone` (timestamptz) a UTC offset is required and the result
/// is UTC; without it an offset is refused rather than silently dropped.
pub(crate) fn parse_timestamp(text: &str, with_zone: bool) -> Result<i64, ValueError> {
    let s = text.trim();
    if let Some(pos) = infinity(s) {
        return Ok(if pos { i64::MAX } else { i64::MIN });
    }
    let kind = if with_zone {
        "timestamp with time zone"
    } else {
        "timestamp"
    };
    let bad = || err(format!("invalid input syntax for type {kind}: \"{text}\""));
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    let (y, m, d) = parse_ymd(&mut c).ok_or_else(bad)?;
    let mut usecs = 0;
    if c.eat(b' ') || c.eat(b'T') || c.eat(b't') {
        usecs = parse_hms(&mut c).ok_or_else(bad)?;
    }
    let offset = parse_offset(&mut c);
    match (offset.is_some(), with_zone) {
        (false, true) => {
            return Err(err(format!(
                "timestamptz text \"{text}\" has no UTC offset: add one (e.g. +00) or convert it \
                 with a timezone transform"
            )))
        }
        (true, false) => {
            return Err(err(format!(
                "timestamp text \"{text}\" has a UTC offset that a timestamp without time zone \
                 would drop: convert it with a timezone transform"
            )))
        }
        _ => {}
    }
    let bc = parse_era(&mut c).ok_or_else(bad)?;
    let days = to_days(y, m, d, bc).ok_or_else(bad)?;
    let t = days
        .checked_mul(USECS_PER_DAY)
        .and_then(|t| t.checked_add(usecs))
        .and_then(|t| t.checked_sub(offset.unwrap_or(0) * 1_000_000))
        .ok_or_else(|| err(format!("timestamp out of range: \"{text}\"")))?;
    adjust_timestamp(t, None).map_err(|_| err(format!("timestamp out of range: \"{text}\"")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_math_matches_known_days() {
        let cases = [
            (0, (2000, 1, 1)),
            (-10_957, (1970, 1, 1)),
            (59, (2000, 2, 29)),
            (DATE_MIN, (-4713, 11, 24)),
            (DATE_END - 1, (5_874_897, 12, 31)),
            (TIMESTAMP_END_DATE, (294_277, 1, 1)),
            (-730_485, (0, 1, 1)),
            (-730_120, (0, 12, 31)),
        ];
        for (days, ymd) in cases {
            assert_eq!(civil_from_days(days), ymd, "civil_from_days({days})");
            assert_eq!(
                days_from_civil(ymd.0, ymd.1, ymd.2),
                days,
                "days_from_civil{ymd:?}"
            );
        }
    }

    #[test]
    fn date_text_round_trips() {
        let cases = [
            (0, "2000-01-01"),
            (i32::MAX, "infinity"),
            (i32::MIN, "-infinity"),
            (-2_451_545, "4714-11-24 BC"),
            (-730_120, "0001-12-31 BC"),
            (-730_119, "0001-01-01"),
            (2_145_031_948, "5874897-12-31"),
            (2_915_191, "9981-07-10"),
            (2_921_940, "10000-01-01"),
        ];
        for (days, text) in cases {
            assert_eq!(date_text(days), text, "date_text({days})");
            assert_eq!(parse_date(text), Ok(days), "parse_date({text})");
        }
        for bad in [
            "2001-02-29",
            "0000-01-01",
            "2000-13-01",
            "2000-01-01 XY",
            "x",
            "4714-11-23 BC",
        ] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamp_text_round_trips() {
        let cases = [
            (0, false, "2000-01-01 00:00:00"),
            (500_000, false, "2000-01-01 00:00:00.5"),
            (-1, false, "1999-12-31 23:59:59.999999"),
            (i64::MAX, true, "infinity"),
            (i64::MIN, false, "-infinity"),
            (-63_776_505_601_000_000, true, "0022-01-01 23:59:59+00 BC"),
            (TIMESTAMP_MIN, false, "4714-11-24 00:00:00 BC"),
        ];
        for (t, tz, text) in cases {
            assert_eq!(timestamp_text(t, tz), text);
            assert_eq!(parse_timestamp(text, tz), Ok(t), "parse_timestamp({text})");
        }
        assert_eq!(parse_timestamp("2000-01-01T05:30:00+05:30", true), Ok(0));
        assert_eq!(parse_timestamp("2000-01-01 00:00:00Z", true), Ok(0));
        assert_eq!(
            parse_timestamp("2000-01-01 01:00-0100", true),
            Ok(7_200_000_000)
        );
        assert_eq!(parse_timestamp("2000-01-01", false), Ok(0));
        assert_eq!(parse_timestamp("2000-01-01 00:00:00.0000005", false), Ok(1));
        assert!(parse_timestamp("2000-01-01 00:00:00", true).is_err());
        assert!(parse_timestamp("2000-01-01 00:00:00+00", false).is_err());
        assert!(parse_timestamp("294277-01-01 00:00:00", false).is_err());
    }

    #[test]
    fn typmod_rounding_matches_postgres() {
        // AdjustTimestampForTypmod rounds half away from zero around 2000-01-01.
        let cases = [
            (1_234_500, Some(3), Ok(1_235_000)),
            (1_234_499, Some(3), Ok(1_234_000)),
            (-1_234_500, Some(3), Ok(-1_235_000)),
            (-1_234_499, Some(3), Ok(-1_234_000)),
            (500_000, Some(0), Ok(1_000_000)),
            (123_456, Some(6), Ok(123_456)),
            (123_456, None, Ok(123_456)),
            (i64::MAX, Some(0), Ok(i64::MAX)),
            (TIMESTAMP_END, None, Err(())),
            (TIMESTAMP_END - 1, Some(0), Err(())),
        ];
        for (t, p, want) in cases {
            assert_eq!(adjust_timestamp(t, p).map_err(|_| ()), want, "{t} ({p:?})");
        }
        assert_eq!(adjust_time(USECS_PER_DAY - 1, Some(0)), Ok(USECS_PER_DAY));
        assert_eq!(adjust_time(1_500, Some(3)), Ok(2_000));
        assert!(adjust_time(-1, None).is_err());
    }

    #[test]
    fn time_text_and_parse() {
        assert_eq!(time_text(0), "00:00:00");
        assert_eq!(time_text(43_200_250_000), "12:00:00.25");
        assert_eq!(time_text(USECS_PER_DAY), "24:00:00");
        assert_eq!(parse_time("12:00:00.25"), Ok(43_200_250_000));
        assert_eq!(parse_time("24:00"), Ok(USECS_PER_DAY));
        assert!(parse_time("24:00:01").is_err());
        assert!(parse_time("12:60").is_err());
    }

    #[test]
    fn dates_convert_to_timestamps_within_range() {
        assert_eq!(date_to_timestamp(1), Ok(USECS_PER_DAY));
        assert_eq!(date_to_timestamp(i32::MIN), Ok(i64::MIN));
        assert!(date_to_timestamp(TIMESTAMP_END_DATE as i32).is_err());
        assert!(check_date(DATE_END as i32).is_err());
    }
}
