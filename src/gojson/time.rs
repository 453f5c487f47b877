//! Go's `time` formatting and parsing for `time.RFC3339Nano`, the only
//! layout upstream reads or writes.
//!
//! `time.Parse(time.RFC3339Nano, s)` first tries a strict fast path; when
//! that fails it falls back to the general layout parser, which also takes
//! a one-digit hour, a comma before the fraction, more than nine fraction
//! digits (truncated) and zone offsets up to `24:60`. The fast path accepts
//! a subset of what the general parser accepts, with the same result, so
//! only the general parser is reproduced.

/// An instant: seconds since the Unix epoch and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instant {
    pub secs: i64,
    pub nanos: u32,
}

impl Instant {
    /// `t.UnixMilli()` (floor).
    pub fn unix_millis(&self) -> i64 {
        self.secs * 1000 + i64::from(self.nanos / 1_000_000)
    }
}

fn days_in_month(month: i64, year: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `time.Parse(time.RFC3339Nano, s)`; `None` where Go returns an error.
pub fn parse_rfc3339(s: &str) -> Option<Instant> {
    let b = s.as_bytes();
    let mut i = 0usize;
    let digit = |i: usize| {
        b.get(i)
            .filter(|c| c.is_ascii_digit())
            .map(|c| i64::from(c - b'0'))
    };
    // Go's getnum: one or two digits; `fixed` requires two.
    let getnum = |i: &mut usize, fixed: bool| -> Option<i64> {
        let d0 = digit(*i)?;
        match digit(*i + 1) {
            Some(d1) => {
                *i += 2;
                Some(d0 * 10 + d1)
            }
            None if fixed => None,
            None => {
                *i += 1;
                Some(d0)
            }
        }
    };
    let lit = |i: &mut usize, c: u8| -> Option<()> { (b.get(*i) == Some(&c)).then(|| *i += 1) };
    let mut year = 0i64;
    for k in 0..4 {
        year = year * 10 + digit(k)?;
    }
    i += 4;
    lit(&mut i, b'-')?;
    let month = getnum(&mut i, true)?;
    if !(1..=12).contains(&month) {
        return None;
    }
    lit(&mut i, b'-')?;
    let day = getnum(&mut i, true)?;
    lit(&mut i, b'T')?;
    let hour = getnum(&mut i, false)?;
    if hour >= 24 {
        return None;
    }
    lit(&mut i, b':')?;
    let min = getnum(&mut i, true)?;
    if min >= 60 {
        return None;
    }
    lit(&mut i, b':')?;
    let sec = getnum(&mut i, true)?;
    if sec >= 60 {
        return None;
    }
    // Fraction: `.` or `,` then any number of digits; the first nine count.
    let mut nanos = 0i64;
    if matches!(b.get(i), Some(b'.' | b',')) && digit(i + 1).is_some() {
        i += 1;
        let mut n = 0;
        while let Some(d) = digit(i) {
            if n < 9 {
                nanos = nanos * 10 + d;
                n += 1;
            }
            i += 1;
        }
        for _ in n..9 {
            nanos *= 10;
        }
    }
    // Zone: `Z` or ±hh:mm with hh ≤ 24 and mm ≤ 60.
    let offset_secs = match b.get(i) {
        Some(b'Z') => {
            i += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let z = b.get(i..i + 6)?;
            if z[3] != b':' {
                return None;
            }
            let two = |k: usize| -> Option<i64> {
                let (x, y) = (z[k], z[k + 1]);
                (x.is_ascii_digit() && y.is_ascii_digit())
                    .then(|| i64::from((x - b'0') * 10 + (y - b'0')))
            };
            let (hh, mm) = (two(1)?, two(4)?);
            if hh > 24 || mm > 60 {
                return None;
            }
            i += 6;
            let off = (hh * 60 + mm) * 60;
            if sign == b'-' { -off } else { off }
        }
        _ => return None,
    };
    if i != b.len() || day < 1 || day > days_in_month(month, year) {
        return None;
    }
    let secs =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec - offset_secs;
    Some(Instant {
        secs,
        nanos: nanos as u32,
    })
}

/// `t.UTC().Format(time.RFC3339Nano)`: the fraction trimmed of trailing
/// zeros and dropped when zero, always `Z`.
pub fn format_rfc3339_nano(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    let mut s = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if nanos != 0 {
        let f = format!("{nanos:09}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// `time.Now().UTC().Format(time.RFC3339Nano)`.
pub fn now_rfc3339_nano() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format_rfc3339_nano(d.as_secs() as i64, d.subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> Option<i64> {
        parse_rfc3339(s).map(|t| t.unix_millis())
    }

    #[test]
    fn general_parser_fallback() {
        let base = 1_745_884_800_000i64;
        assert_eq!(ms("2025-04-29T00:00:00Z"), Some(base));
        assert_eq!(ms("2025-04-29T00:00:00.123Z"), Some(base + 123));
        assert_eq!(ms("2025-04-29T00:00:00.1239999999999Z"), Some(base + 123));
        assert_eq!(ms("2025-04-29T00:00:00,5Z"), Some(base + 500));
        assert_eq!(ms("2025-04-29T02:00:00+02:00"), Some(base));
        assert_eq!(ms("2025-04-28T23:00:00-01:00"), Some(base));
        assert_eq!(ms("2025-04-29T1:00:00Z"), Some(base + 3_600_000));
        assert_eq!(ms("2025-04-30T00:00:00+24:00"), Some(base));
        assert_eq!(ms("2025-04-29T01:00:00+00:60"), Some(base));
        assert!(ms("2024-02-29T00:00:00Z").is_some());
        assert_eq!(ms("0000-01-01T00:00:00Z"), Some(-62_167_219_200_000));
        for bad in [
            "",
            "2025-04-29",
            "2025-04-29 00:00:00Z",
            "2025-04-29t00:00:00Z",
            "2025-4-29T00:00:00Z",
            "2025-04-31T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2025-13-01T00:00:00Z",
            "2025-04-29T24:00:00Z",
            "2025-04-29T00:60:00Z",
            "2025-04-29T00:00:60Z",
            "2025-04-29T00:00:00",
            "2025-04-29T00:00:00.Z",
            "2025-04-29T00:00:00Zx",
            "2025-04-29T00:00:00+0200",
            "2025-04-29T00:00:00+25:00",
            "2025-04-29T00:00:00+00:61",
            "+025-04-29T00:00:00Z",
            "2025-04-29T001:00:00Z",
        ] {
            assert_eq!(ms(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn formatting() {
        assert_eq!(format_rfc3339_nano(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_rfc3339_nano(1_780_272_000, 100_000_000),
            "2026-06-01T00:00:00.1Z"
        );
        let t = parse_rfc3339("2026-04-29T15:42:11.094Z").unwrap();
        assert_eq!(
            format_rfc3339_nano(t.secs, t.nanos),
            "2026-04-29T15:42:11.094Z"
        );
    }
}
