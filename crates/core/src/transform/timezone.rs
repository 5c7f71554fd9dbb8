//! `timezone`: a `timestamp without time zone` read as local wall time in a zone, giving a
//! `timestamptz`. Resolves DST edges exactly as PostgreSQL's `timestamp AT TIME ZONE zone` does
//! (`DetermineTimeZoneOffset`): in a fall-back overlap the offset in force *after* the
//! transition (standard time, the later instant); in a spring-forward gap the offset in force
//! *before* it (so 02:30 in a 02:00→03:00 gap becomes 03:30 daylight time).
use chrono::{LocalResult, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone};
use chrono_tz::Tz;

const US_PER_SEC: i64 = 1_000_000;

/// PostgreSQL's epoch, 2000-01-01 00:00:00.
fn pg_epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("valid date")
}

const US_PER_HOUR: i64 = 3600 * US_PER_SEC;
const US_PER_DAY: i64 = 24 * US_PER_HOUR;

/// What this thread knows of a wall-clock day in a zone.
#[derive(Clone, Copy)]
enum Day {
    /// Seen once: a second value of that day checks whether the whole day has one offset.
    Seen,
    /// Every microsecond of the day maps to one instant, with this offset.
    Whole(i32),
    /// The day holds a transition (or is out of range): each value is looked up.
    Split,
}

/// Days remembered per thread, direct-mapped by day number: 22 years without a collision.
const DAY_SLOTS: usize = 8192;

thread_local! {
    static DAYS: std::cell::RefCell<Vec<Option<(Tz, i64, Day)>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// `local` (µs since 2000-01-01 00:00:00, wall time in `tz`) as µs since 2000-01-01 00:00:00
/// UTC. ±infinity (`i64::MIN`/`i64::MAX`) stay as they are.
///
/// A legacy table's timestamps fall on a few thousand days, many values to a day. The second
/// time a thread meets a day it checks whether the whole day has one offset: each of its 24
/// hours begins and ends on a single instant with the same offset (no zone has two transitions
/// within an hour, so none then hides inside one). The day's offset is then kept for the next
/// values of that day, and the zone's transitions are not searched again.
pub fn local_to_utc(local: i64, tz: Tz) -> Result<i64, String> {
    if local == i64::MIN || local == i64::MAX {
        return Ok(local);
    }
    let day = local.div_euclid(US_PER_DAY);
    let slot = day.rem_euclid(DAY_SLOTS as i64) as usize;
    let known = DAYS.with_borrow(|days| {
        days.get(slot)
            .copied()
            .flatten()
            .filter(|(z, d, _)| *z == tz && *d == day)
            .map(|(_, _, k)| k)
    });
    let remember = |k: Day| {
        DAYS.with_borrow_mut(|days| {
            if days.is_empty() {
                days.resize(DAY_SLOTS, None);
            }
            days[slot] = Some((tz, day, k));
        })
    };
    let offset_secs = match known {
        Some(Day::Whole(offset)) => offset,
        Some(Day::Split) => offset_of(local, tz)?,
        Some(Day::Seen) => {
            let offset = offset_of(local, tz)?;
            let start = day * US_PER_DAY;
            let one = (0..24)
                .flat_map(|h| {
                    let hour = start + h * US_PER_HOUR;
                    [hour, hour + US_PER_HOUR - 1]
                })
                .all(|t| single_offset(t, tz) == Some(offset));
            remember(if one { Day::Whole(offset) } else { Day::Split });
            offset
        }
        None => {
            let offset = offset_of(local, tz)?;
            remember(Day::Seen);
            offset
        }
    };
    let out_of_range = || format!("timestamp is out of range for time zone {}", tz.name());
    local
        .checked_sub(i64::from(offset_secs) * US_PER_SEC)
        .filter(|utc| *utc != i64::MIN && *utc != i64::MAX)
        .ok_or_else(out_of_range)
}

/// The offset of wall time `local` when it maps to exactly one instant.
fn single_offset(local: i64, tz: Tz) -> Option<i32> {
    let wall = pg_epoch().checked_add_signed(TimeDelta::microseconds(local))?;
    match tz.offset_from_local_datetime(&wall) {
        LocalResult::Single(o) => Some(o.fix().local_minus_utc()),
        _ => None,
    }
}

/// The UTC offset (seconds east) PostgreSQL applies to wall time `local` in `tz`.
fn offset_of(local: i64, tz: Tz) -> Result<i32, String> {
    let out_of_range = || format!("timestamp is out of range for time zone {}", tz.name());
    let wall = pg_epoch()
        .checked_add_signed(TimeDelta::microseconds(local))
        .ok_or_else(out_of_range)?;
    match offset_at(tz, wall) {
        Some(offset) => Ok(offset),
        // A gap is at most a day long (Samoa skipped 2011-12-30): the wall time an hour at a
        // time earlier is in the offset that was in force before the transition.
        None => (1..=48)
            .find_map(|h| offset_at(tz, wall.checked_sub_signed(TimeDelta::hours(h))?))
            .ok_or_else(out_of_range),
    }
}

/// The UTC offset (seconds east) of wall time `wall` in `tz`; the later instant's offset when the
/// wall time occurs twice, `None` when it does not occur.
fn offset_at(tz: Tz, wall: NaiveDateTime) -> Option<i32> {
    match tz.offset_from_local_datetime(&wall) {
        LocalResult::Single(o) => Some(o.fix().local_minus_utc()),
        // The later instant is the one with the smaller offset east of UTC.
        LocalResult::Ambiguous(a, b) => {
            Some(a.fix().local_minus_utc().min(b.fix().local_minus_utc()))
        }
        LocalResult::None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// µs since 2000-01-01 for `"YYYY-MM-DD HH:MM:SS[.ffffff]"`.
    fn us(s: &str) -> i64 {
        let t = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap();
        (t - pg_epoch()).num_microseconds().unwrap()
    }

    #[test]
    fn wall_time_becomes_utc_like_postgresql() {
        use chrono_tz::{
            America::New_York, Asia::Kolkata, Australia::Lord_Howe, Europe::London, Pacific::Apia,
            UTC,
        };
        // Expected values are PostgreSQL's: SELECT (TIMESTAMP '…' AT TIME ZONE 'zone') AT TIME ZONE 'UTC'.
        let cases: &[(&str, Tz, &str)] = &[
            ("2024-01-15 09:30:00", New_York, "2024-01-15 14:30:00"),
            (
                "2024-07-15 09:30:00.123456",
                New_York,
                "2024-07-15 13:30:00.123456",
            ),
            ("2024-07-15 09:30:00", UTC, "2024-07-15 09:30:00"),
            ("2024-07-15 09:30:00", Kolkata, "2024-07-15 04:00:00"),
            ("2024-07-15 00:30:00", London, "2024-07-14 23:30:00"),
            // Fall back: 01:30 happens twice; PostgreSQL takes standard time (EST, -05).
            ("2018-11-04 01:30:00", New_York, "2018-11-04 06:30:00"),
            ("2024-10-27 01:30:00", London, "2024-10-27 01:30:00"),
            // Spring forward: 02:30 does not exist; PostgreSQL uses the offset before (EST).
            ("2018-03-11 02:30:00", New_York, "2018-03-11 07:30:00"),
            ("2024-03-31 01:15:00", London, "2024-03-31 01:15:00"),
            // A half-hour DST shift.
            ("2024-04-07 01:45:00", Lord_Howe, "2024-04-06 15:15:00"),
            // A whole skipped day: 2011-12-30 never happened in Samoa (-10 before, +14 after).
            ("2011-12-30 12:00:00", Apia, "2011-12-30 22:00:00"),
            ("1900-01-01 00:00:00", UTC, "1900-01-01 00:00:00"),
        ];
        for (wall, tz, want) in cases {
            assert_eq!(local_to_utc(us(wall), *tz), Ok(us(want)), "{wall} in {tz}");
        }
    }

    /// The conversion without the remembered day.
    fn uncached(local: i64, tz: Tz) -> Result<i64, String> {
        let offset = offset_of(local, tz)?;
        local
            .checked_sub(i64::from(offset) * US_PER_SEC)
            .ok_or_else(|| "out of range".to_string())
    }

    #[test]
    fn the_remembered_day_gives_the_same_instants_around_every_transition() {
        use chrono_tz::{
            America::New_York, America::St_Johns, Asia::Kathmandu, Australia::Lord_Howe,
            Europe::London, Pacific::Apia, Pacific::Chatham,
        };
        // Every 7 min 13 s over four years with transitions of whole, half and quarter hours
        // and Samoa's skipped day, forwards then backwards (many values a day: the remembered
        // day is used), the same instants interleaved across zones, and in no order at all.
        let zones = [
            New_York, St_Johns, Kathmandu, Lord_Howe, London, Apia, Chatham,
        ];
        let (from, to) = (us("2010-01-01 00:00:00"), us("2014-01-01 00:00:00"));
        let step = (7 * 60 + 13) * US_PER_SEC;
        let times: Vec<i64> = (0..)
            .map(|i| from + i * step)
            .take_while(|t| *t < to)
            .collect();
        for tz in zones {
            for &t in times.iter().chain(times.iter().rev()) {
                assert_eq!(local_to_utc(t, tz), uncached(t, tz), "{t} in {tz}");
            }
        }
        for &t in times.iter().step_by(97) {
            for tz in zones {
                assert_eq!(local_to_utc(t, tz), uncached(t, tz), "{t} in {tz}");
            }
        }
        // A fixed scramble: index i·7919 mod n visits every time once (7919 is prime and
        // does not divide n), days far apart one after the other.
        let n = times.len();
        assert_ne!(n % 7919, 0);
        for tz in zones {
            for i in 0..n {
                let t = times[i * 7919 % n];
                assert_eq!(local_to_utc(t, tz), uncached(t, tz), "{t} in {tz}");
            }
        }
    }

    #[test]
    fn infinities_stay_infinite() {
        let tz = chrono_tz::America::New_York;
        assert_eq!(local_to_utc(i64::MAX, tz), Ok(i64::MAX));
        assert_eq!(local_to_utc(i64::MIN, tz), Ok(i64::MIN));
    }

    #[test]
    fn beyond_chrono_range_is_an_error_not_a_panic() {
        let err = local_to_utc(i64::MAX - 1, chrono_tz::Europe::Paris).unwrap_err();
        assert!(err.contains("out of range"), "{err}");
    }
}
