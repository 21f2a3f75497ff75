//! RFC 3339 dates and date-times, JSON Schema's `date` and `date-time` formats, read as Arrow's
//! days (Date32) and microseconds (Timestamp) since the Unix epoch.
//!
//! The grammar is RFC 3339's (section 5.6), as the `jsonschema` crate checks these formats, and a
//! little wider: a leap second (`:60`) is accepted at any minute and read as the next minute's
//! first second, as PostgreSQL reads it; digits past the microsecond are dropped (the value is
//! truncated, never rounded up into the next second).

const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01 of an RFC 3339 full-date, `YYYY-MM-DD`.
pub(super) fn parse_date(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 10 {
        return None;
    }
    i32::try_from(date_days(b)?).ok()
}

/// Microseconds since the Unix epoch (UTC) of an RFC 3339 date-time,
/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` (`T` and `Z` in either case).
pub(super) fn parse_date_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || !matches!(b[10], b'T' | b't') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let days = date_days(&b[..10])?;
    let (hour, minute, second) = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?);
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let (fraction, rest) = fraction_micros(&b[19..])?;
    let offset_seconds = offset_seconds(rest)?;
    let seconds = days * SECONDS_PER_DAY + hour * 3_600 + minute * 60 + second - offset_seconds;
    Some(seconds * MICROS_PER_SECOND + fraction)
}

/// Days since 1970-01-01 of `YYYY-MM-DD` (exactly these 10 bytes), if it is a real date.
fn date_days(b: &[u8]) -> Option<i64> {
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = digits(&b[..4])?;
    let (month, day) = (digits(&b[5..7])?, digits(&b[8..10])?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

/// The number that ASCII digits spell; `None` if any byte is not a digit.
fn digits(b: &[u8]) -> Option<i64> {
    b.iter()
        .try_fold(0i64, |n, &c| c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0')))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DD` of a day since 1970-01-01.
pub(super) fn format_date(days: i32) -> String {
    let (year, month, day) = civil_from_days(i64::from(days));
    format!("{year:04}-{month:02}-{day:02}")
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` of microseconds since the epoch.
pub(super) fn format_date_time(micros: i64) -> String {
    let seconds = micros.div_euclid(MICROS_PER_SECOND);
    let fraction = micros.rem_euclid(MICROS_PER_SECOND);
    let (days, second_of_day) = (seconds.div_euclid(SECONDS_PER_DAY), seconds.rem_euclid(SECONDS_PER_DAY));
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (second_of_day / 3_600, second_of_day / 60 % 60, second_of_day % 60);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{fraction:06}Z")
}

/// An optional `.digits` fraction of a second, in whole microseconds, and what follows it.
fn fraction_micros(b: &[u8]) -> Option<(i64, &[u8])> {
    let Some(rest) = b.strip_prefix(b".") else {
        return Some((0, b));
    };
    let n = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    let kept = &rest[..n.min(6)];
    let micros = digits(kept)? * 10i64.pow(6 - kept.len() as u32);
    Some((micros, &rest[n..]))
}

/// Seconds east of UTC of a time offset, `Z` or `±HH:MM`, which must end the text.
fn offset_seconds(b: &[u8]) -> Option<i64> {
    match b {
        [b'Z' | b'z'] => Some(0),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (hours, minutes) = (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3_600 + minutes * 60;
            Some(if *sign == b'-' { -seconds } else { seconds })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_count_days_from_the_epoch() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("1970-01-02"), Some(1));
        assert_eq!(parse_date("1969-12-31"), Some(-1));
        assert_eq!(parse_date("2000-03-01"), Some(11_017));
        assert_eq!(parse_date("2024-02-29"), Some(19_782));
        assert_eq!(parse_date("0000-01-01"), Some(-719_528));
        assert_eq!(parse_date("9999-12-31"), Some(2_932_896));
    }

    #[test]
    fn impossible_or_malformed_dates_are_refused() {
        for bad in [
            "2023-02-29",
            "1900-02-29",
            "2024-04-31",
            "2024-13-01",
            "2024-00-10",
            "2024-01-00",
            "2024-1-01",
            "2024-01-01 ",
            "20240101",
            "2024/01/01",
            "２０２４-01-01",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn date_times_are_read_in_utc_with_their_offset() {
        let base = 1_764_115_200_000_000; // 2025-11-26T00:00:00Z
        assert_eq!(parse_date_time("2025-11-26T00:00:00Z"), Some(base));
        assert_eq!(parse_date_time("2025-11-26t00:00:00z"), Some(base));
        assert_eq!(parse_date_time("2025-11-26T01:30:00+01:30"), Some(base));
        assert_eq!(parse_date_time("2025-11-25T23:00:00-01:00"), Some(base));
        assert_eq!(parse_date_time("2025-11-26T00:00:00.5Z"), Some(base + 500_000));
        assert_eq!(parse_date_time("2025-11-26T00:00:00.123456Z"), Some(base + 123_456));
        assert_eq!(parse_date_time("1969-12-31T23:59:59.999999Z"), Some(-1));
        assert_eq!(parse_date_time("1970-01-01T00:00:00-00:00"), Some(0));
    }

    #[test]
    fn digits_past_the_microsecond_are_truncated() {
        assert_eq!(parse_date_time("1970-01-01T00:00:00.1234569999Z"), Some(123_456));
        assert_eq!(parse_date_time("1969-12-31T23:59:59.9999999Z"), Some(-1));
    }

    #[test]
    fn a_leap_second_is_the_next_minutes_first_second() {
        assert_eq!(
            parse_date_time("2016-12-31T23:59:60Z"),
            parse_date_time("2017-01-01T00:00:00Z")
        );
    }

    #[test]
    fn malformed_date_times_are_refused() {
        for bad in [
            "2025-11-26",
            "2025-11-26T00:00:00",
            "2025-11-26 00:00:00Z",
            "2025-11-26T24:00:00Z",
            "2025-11-26T00:60:00Z",
            "2025-11-26T00:00:61Z",
            "2025-11-26T00:00:00.Z",
            "2025-11-26T00:00:00+24:00",
            "2025-11-26T00:00:00+01:60",
            "2025-11-26T00:00:00+0100",
            "2025-11-26T00:00:00Z ",
            "2025-02-30T00:00:00Z",
            "2025-11-26T0:00:00Z",
        ] {
            assert_eq!(parse_date_time(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn formatted_dates_and_date_times_parse_back() {
        for days in [-719_528, -1, 0, 1, 11_017, 19_782, 2_932_896] {
            assert_eq!(parse_date(&format_date(days)), Some(days), "{days}");
        }
        for micros in [
            0,
            -1,
            1,
            1_764_115_200_123_456,
            -62_167_219_200_000_000,
            253_402_300_799_999_999,
        ] {
            assert_eq!(parse_date_time(&format_date_time(micros)), Some(micros), "{micros}");
        }
        assert_eq!(format_date_time(1_764_115_200_000_001), "2025-11-26T00:00:00.000001Z");
    }

    #[test]
    fn what_the_validator_calls_a_date_time_parses() {
        for good in [
            "2025-11-26T00:00:00Z",
            "2025-11-26T23:59:60Z",
            "2025-11-26T00:00:00.000000000001+05:45",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999-23:59",
        ] {
            let validator = jsonschema::options()
                .should_validate_formats(true)
                .build(&serde_json::json!({"format": "date-time"}))
                .unwrap();
            assert!(validator.is_valid(&serde_json::json!(good)), "{good:?}");
            assert!(parse_date_time(good).is_some(), "{good:?}");
        }
    }
}
