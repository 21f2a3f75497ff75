//! When a certificate expires: its `notAfter`, read from the DER by walking the few fields in front
//! of it. One date is all we need, so no X.509 parser crate; anything unexpected gives `None`.
//!
//! ```text
//! Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
//!     signature AlgorithmIdentifier, issuer Name, validity SEQUENCE { notBefore, notAfter }, … } … }
//! ```

/// Seconds since the Unix epoch of the certificate's `notAfter`, or `None` when the DER is not a
/// certificate this walk understands.
pub fn not_after(der: &[u8]) -> Option<i64> {
    let (cert, _) = tlv(der, 0x30)?;
    let (mut tbs, _) = tlv(cert, 0x30)?;
    if tbs.first() == Some(&0xa0) {
        tbs = skip(tbs)?; // version
    }
    for _ in 0..3 {
        tbs = skip(tbs)?; // serialNumber, signature, issuer
    }
    let (validity, _) = tlv(tbs, 0x30)?;
    let after_not_before = skip(validity)?;
    let tag = *after_not_before.first()?;
    let (time, _) = tlv(after_not_before, tag)?;
    match tag {
        0x17 => parse_time(time, 2),
        0x18 => parse_time(time, 4),
        _ => None,
    }
}

/// The contents of the element at the start of `input` if its tag is `tag`, and what follows it.
fn tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, after) = rest.split_at(n);
        rest = after;
        bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// What follows the element at the start of `input`, whatever its tag.
fn skip(input: &[u8]) -> Option<&[u8]> {
    tlv(input, *input.first()?).map(|(_, rest)| rest)
}

/// `YYMMDDHHMMSSZ` (UTCTime, `year_digits` 2) or `YYYYMMDDHHMMSSZ` (GeneralizedTime, 4), as DER
/// requires them: in UTC, with seconds, without fractions.
fn parse_time(text: &[u8], year_digits: usize) -> Option<i64> {
    if text.len() != year_digits + 11 || text.last() != Some(&b'Z') {
        return None;
    }
    let number = |from: usize, len: usize| -> Option<i64> {
        let digits = text.get(from..from + len)?;
        digits.iter().try_fold(0i64, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let mut year = number(0, year_digits)?;
    if year_digits == 2 {
        // RFC 5280: UTCTime years 50 to 99 are 19xx, 00 to 49 are 20xx.
        year += if year >= 50 { 1900 } else { 2000 };
    }
    let at = year_digits;
    let (month, day) = (number(at, 2)?, number(at + 2, 2)?);
    let (hour, minute, second) = (number(at + 4, 2)?, number(at + 6, 2)?, number(at + 8, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_expiring(year: i32, month: u8, day: u8) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        params.not_after = rcgen::date_time_ymd(year, month, day);
        let key = rcgen::KeyPair::generate().expect("key");
        params.self_signed(&key).expect("cert").der().to_vec()
    }

    #[test]
    fn not_after_is_read_from_utc_and_generalized_times() {
        // 2049 is written as UTCTime, 2050 and later as GeneralizedTime (RFC 5280).
        assert_eq!(not_after(&cert_expiring(2027, 3, 1)), Some(1_803_859_200));
        assert_eq!(not_after(&cert_expiring(2049, 12, 31)), Some(2_524_521_600));
        assert_eq!(not_after(&cert_expiring(2050, 1, 1)), Some(2_524_608_000));
    }

    #[test]
    fn anything_but_a_certificate_gives_none() {
        let der = cert_expiring(2027, 3, 1);
        for bad in [&b""[..], &b"\x30\x03\x02\x01"[..], &der[..der.len() / 3], &[0x04, 0x00]] {
            assert_eq!(not_after(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn dates_map_to_unix_seconds() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(parse_time(b"991231235959Z", 2), Some(946_684_799));
        assert_eq!(parse_time(b"20240229000000Z", 4), Some(1_709_164_800));
        assert_eq!(parse_time(b"20241301000000Z", 4), None);
    }
}
