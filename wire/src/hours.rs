//! Hours since the Unix epoch (UTC), the unit of partitions and of the REP report: formatting them as
//! partitions and timestamps, and parsing the timestamps users give.

const SECS_PER_HOUR: i64 = 3600;
const MICROS_PER_HOUR: i64 = SECS_PER_HOUR * 1_000_000;

/// The hour of a timestamp in microseconds since the epoch (an envelope's `timestamp`).
pub fn hour_of_micros(timestamp_us: i64) -> i64 {
    timestamp_us.div_euclid(MICROS_PER_HOUR)
}

/// The first microsecond of an hour.
pub fn hour_start_micros(hours_since_epoch: i64) -> i64 {
    hours_since_epoch.saturating_mul(MICROS_PER_HOUR)
}

/// `dt=YYYY-MM-DD/hr=HH` of an hour.
pub fn hour_partition(hours_since_epoch: i64) -> String {
    let (y, m, d, h) = civil(hours_since_epoch);
    format!("dt={y:04}-{m:02}-{d:02}/hr={h:02}")
}

/// `YYYY-MM-DDTHH:00:00Z` of an hour.
pub fn hour_timestamp(hours_since_epoch: i64) -> String {
    let (y, m, d, h) = civil(hours_since_epoch);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:00:00Z")
}

/// The current hour.
pub fn now_hour() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
        .div_euclid(SECS_PER_HOUR)
}

/// Which way a timestamp inside an hour is rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// The hour it is in (a range's start).
    Down,
    /// The next hour unless it is exactly on one (a range's exclusive end).
    Up,
}

/// Parses `YYYY-MM-DD`, `YYYY-MM-DDTHH`, `YYYY-MM-DDTHH:MM[:SS[.frac]]` with `Z`, `+HH:MM` or
/// `-HH:MM` (UTC when absent) into an hour.
pub fn parse_hour(text: &str, round: Round) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a timestamp like 2026-11-26T21:00:00Z or a date like 2026-11-26");
    let t = text.trim();
    let (date, time) = match t.split_once(['T', 't', ' ']) {
        Some((d, rest)) => (d, Some(rest)),
        None => (t, None),
    };
    let mut parts = date.splitn(3, '-');
    let mut num = |max: i64| -> Result<i64, String> {
        let v: i64 = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        if (0..=max).contains(&v) { Ok(v) } else { Err(bad()) }
    };
    let (y, m, d) = (num(9999)?, num(12)?, num(31)?);
    if m == 0 || d == 0 || d > days_in_month(y, m) {
        return Err(bad());
    }
    let mut secs = (days_from_civil(y, m, d) * 24) * SECS_PER_HOUR;
    if let Some(time) = time {
        let (clock, offset) = match time.find(['Z', 'z', '+', '-']) {
            Some(i) => (&time[..i], &time[i..]),
            None => (time, ""),
        };
        let mut fields = clock.splitn(3, ':');
        let h: i64 = fields.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        let mi: i64 = fields.next().map_or(Ok(0), str::parse).map_err(|_| bad())?;
        let s: f64 = fields.next().map_or(Ok(0.0), str::parse).map_err(|_| bad())?;
        if !(0..24).contains(&h) || !(0..60).contains(&mi) || !(0.0..61.0).contains(&s) {
            return Err(bad());
        }
        let s = match round {
            Round::Down => s.floor(),
            Round::Up => s.ceil(),
        } as i64;
        secs += h * SECS_PER_HOUR + mi * 60 + s;
        match offset {
            "" | "Z" | "z" => {}
            o => {
                let sign = if o.starts_with('-') { 1 } else { -1 };
                let (oh, om) = o[1..].split_once(':').ok_or_else(bad)?;
                let (oh, om): (i64, i64) = (oh.parse().map_err(|_| bad())?, om.parse().map_err(|_| bad())?);
                secs += sign * (oh * SECS_PER_HOUR + om * 60);
            }
        }
    } else if round == Round::Up {
        // A date as an end means the whole day.
        secs += 24 * SECS_PER_HOUR;
    }
    Ok(match round {
        Round::Down => secs.div_euclid(SECS_PER_HOUR),
        Round::Up => (secs + SECS_PER_HOUR - 1).div_euclid(SECS_PER_HOUR),
    })
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn civil(hours: i64) -> (i64, u32, u32, i64) {
    let (y, m, d) = civil_from_days(hours.div_euclid(24));
    (y, m, d, hours.rem_euclid(24))
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Day count since 1970-01-01 of a proleptic Gregorian date (the inverse of [`civil_from_days`]).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_map_to_utc_date_and_hour_partitions() {
        assert_eq!(hour_partition(0), "dt=1970-01-01/hr=00");
        // 2025-11-26T00:00:00Z is 1764115200 s.
        assert_eq!(hour_partition(1_764_115_200 / 3600), "dt=2025-11-26/hr=00");
        assert_eq!(hour_partition(1_764_115_200 / 3600 + 23), "dt=2025-11-26/hr=23");
        assert_eq!(hour_partition(-1), "dt=1969-12-31/hr=23");
        // 2024-02-29 exists.
        assert_eq!(hour_partition(1_709_164_800 / 3600), "dt=2024-02-29/hr=00");
    }
    #[test]
    fn timestamps_parse_to_hours_rounded_as_asked() {
        let h = 1_764_115_200 / 3600; // 2025-11-26T00
        assert_eq!(parse_hour("2025-11-26", Round::Down), Ok(h));
        assert_eq!(parse_hour("2025-11-26", Round::Up), Ok(h + 24));
        assert_eq!(parse_hour("2025-11-26T05:00:00Z", Round::Down), Ok(h + 5));
        assert_eq!(parse_hour("2025-11-26T05:00:00Z", Round::Up), Ok(h + 5));
        assert_eq!(parse_hour("2025-11-26T05:30:00Z", Round::Up), Ok(h + 6));
        assert_eq!(parse_hour("2025-11-26T05:30:00Z", Round::Down), Ok(h + 5));
        assert_eq!(parse_hour("2025-11-26T05", Round::Down), Ok(h + 5));
        assert_eq!(parse_hour("2025-11-26T07:00:00+02:00", Round::Down), Ok(h + 5));
        assert_eq!(parse_hour("2025-11-26T03:00:00.5-02:00", Round::Down), Ok(h + 5));
        assert_eq!(hour_timestamp(h + 5), "2025-11-26T05:00:00Z");
        for bad in [
            "",
            "yesterday",
            "2025-13-01",
            "2025-02-30",
            "2025-11-26T25:00Z",
            "2025-11-26T05:00+0200",
        ] {
            assert!(parse_hour(bad, Round::Down).is_err(), "{bad}");
        }
        for h in [-50_000, 0, 500_000] {
            let (y, m, d) = civil_from_days(h);
            assert_eq!(days_from_civil(y, i64::from(m), i64::from(d)), h);
        }
    }
}
