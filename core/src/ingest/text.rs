//! Reading text the way Dutch municipal spreadsheets write it: UTF-8 with or without BOM
//! or Windows-1252, `,` or `;` separated, decimal point or decimal comma, dates as
//! `yyyy-mm-dd` or `dd-mm-jjjj`.

use std::borrow::Cow;

use chrono::{Datelike, FixedOffset, NaiveDate, NaiveTime, TimeZone as _, Utc};

use crate::model::Date;

/// A time zone of the tz database (`Europe/Amsterdam`).
pub type TimeZone = chrono_tz::Tz;

/// The project's time zone when it names none: the Netherlands'.
pub const DEFAULT_TIMEZONE: TimeZone = chrono_tz::Europe::Amsterdam;

/// The text encoding of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Windows1252,
}

impl Encoding {
    pub fn parse(s: &str) -> Option<Encoding> {
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "utf8" => Some(Encoding::Utf8),
            "windows1252" | "cp1252" | "latin1" | "iso88591" | "ansi" => Some(Encoding::Windows1252),
            _ => None,
        }
    }

    /// UTF-8 when the bytes are valid UTF-8, Windows-1252 otherwise (what Excel writes
    /// on a Dutch Windows machine).
    pub fn detect(bytes: &[u8]) -> Encoding {
        if std::str::from_utf8(bytes).is_ok() { Encoding::Utf8 } else { Encoding::Windows1252 }
    }

    /// Decode one field. In a Windows-1252 file, a field that is valid UTF-8 is read as
    /// UTF-8: files pasted together from two sources mix both, and a Windows-1252 accent
    /// is almost never valid UTF-8.
    pub fn decode<'a>(self, bytes: &'a [u8]) -> Cow<'a, str> {
        match self {
            Encoding::Utf8 => String::from_utf8_lossy(bytes),
            Encoding::Windows1252 => match std::str::from_utf8(bytes) {
                Ok(s) => Cow::Borrowed(s),
                Err(_) => encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0,
            },
        }
    }
}

/// Strip a UTF-8 byte order mark.
pub fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Pick the separator from the header line: the most frequent of `;`, `,`, tab and `|`
/// outside quotes.
pub fn sniff_delimiter(bytes: &[u8]) -> u8 {
    // The header is the first line that is not empty (Excel exports may start with one).
    let start = bytes.iter().position(|&b| b != b'\n' && b != b'\r').unwrap_or(bytes.len());
    let line_end = bytes[start..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| start + i);
    let header = &bytes[start..line_end];
    let mut counts = [(b';', 0usize), (b',', 0), (b'\t', 0), (b'|', 0)];
    let mut in_quotes = false;
    for &b in header {
        if b == b'"' {
            in_quotes = !in_quotes;
        } else if !in_quotes {
            for c in counts.iter_mut() {
                if c.0 == b {
                    c.1 += 1;
                }
            }
        }
    }
    counts.iter().max_by_key(|c| c.1).filter(|c| c.1 > 0).map_or(b',', |c| c.0)
}

/// Outcome of reading a number from a text cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    Empty,
    Value(f64),
    NotANumber,
}

/// Parse a number written with a decimal point or a Dutch decimal comma, with padding
/// spaces and optional thousands separators (`1.234,5` and `1,234.5` both read 1234.5).
pub fn parse_number(raw: &[u8]) -> Num {
    // Nearly every coordinate and weight is plain ASCII (`97643.73`): parsed from the
    // bytes (correctly rounded, as `str::parse`), without a UTF-8 check or the trimming
    // of quotes and Unicode space; anything else takes the full path below.
    let t = raw.trim_ascii();
    if !t.is_empty()
        && t.iter().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
        && let Ok(v) = fast_float2::parse::<f64, _>(t)
    {
        return Num::Value(v);
    }
    let s = match std::str::from_utf8(raw) {
        Ok(s) => s.trim().trim_matches('"').trim(),
        Err(_) => return Num::NotANumber,
    };
    if s.is_empty() {
        return Num::Empty;
    }
    if let Ok(v) = s.parse::<f64>() {
        return Num::Value(v);
    }
    let last_comma = s.rfind(',');
    let last_dot = s.rfind('.');
    let normalised: String = match (last_comma, last_dot) {
        (Some(c), Some(d)) if c > d => s.replace('.', "").replace(',', "."),
        (Some(_), Some(_)) => s.replace(',', ""),
        (Some(_), None) if s.matches(',').count() == 1 => s.replace(',', "."),
        _ => return Num::NotANumber,
    };
    normalised.parse::<f64>().map_or(Num::NotANumber, Num::Value)
}

/// The date of a date or timestamp in time zone `tz`: a timestamp that says its zone
/// (`2023-12-31T23:20:00Z`, `…+01:00`, `… +0100`, `… UTC`, GDAL's `2023/12/31 23:20:00+00`)
/// is taken to `tz` before its date is read, so a report made on 1 January at 00:20 in
/// Heerlen is a January report however the app wrote it; a timestamp without a zone is
/// already local and read as [`parse_date`] reads it.
pub fn parse_date_in(raw: &str, tz: TimeZone) -> Option<Date> {
    let s = raw.trim().trim_matches('"').trim();
    match zoned_instant(s) {
        Some(utc) => {
            let local = utc.with_timezone(&tz);
            Date::new(local.year(), u8::try_from(local.month()).ok()?, u8::try_from(local.day()).ok()?)
        }
        None => parse_date(s),
    }
}

/// A timestamp with a zone (`Z`, `UTC`, or an offset after the time) as a UTC instant;
/// `None` for a date, a timestamp without a zone, or anything unreadable.
fn zoned_instant(s: &str) -> Option<chrono::DateTime<Utc>> {
    let (date, time) = s.split_once(['T', ' '])?;
    let time = time.trim();
    let (clock, offset) = match ["Z", "z", "UTC", "GMT"].iter().find_map(|z| time.strip_suffix(z)) {
        Some(clock) => (clock.trim(), 0),
        None => {
            let at = time.rfind(['+', '-'])?;
            let (clock, offset) = time.split_at(at);
            (clock.trim(), offset_seconds(offset)?)
        }
    };
    let d = parse_date(date)?;
    let t = NaiveTime::parse_from_str(clock, "%H:%M:%S%.f").or_else(|_| NaiveTime::parse_from_str(clock, "%H:%M")).ok()?;
    let naive = NaiveDate::from_ymd_opt(d.year, u32::from(d.month), u32::from(d.day))?.and_time(t);
    Some(FixedOffset::east_opt(offset)?.from_local_datetime(&naive).single()?.with_timezone(&Utc))
}

/// `+01:00`, `+0100`, `+01`, `-05:30` in seconds east of UTC.
fn offset_seconds(s: &str) -> Option<i32> {
    let sign = match s.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = s[1..].chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m) = match digits.len() {
        2 => (digits.parse::<i32>().ok()?, 0),
        4 => (digits[..2].parse::<i32>().ok()?, digits[2..].parse::<i32>().ok()?),
        _ => return None,
    };
    (h <= 14 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

/// Parse a date: `2023-05-17`, `2023/05/17`, `20230517`, `17-05-2023`, `17/5/2023`,
/// `17.05.2023`, optionally followed by a time (`T10:00:00`, ` 10:00`), which is ignored.
pub fn parse_date(raw: &str) -> Option<Date> {
    let s = raw.trim().trim_matches('"').trim();
    let date_part = s.split(['T', ' ']).next()?;
    let parts: Vec<&str> = date_part.split(['-', '/', '.']).collect();
    let num = |p: &str| p.parse::<i32>().ok();
    // Month and day must fit a u8 before the calendar check (257 must not wrap to 1).
    let small = |p: &str| p.parse::<u8>().ok();
    match parts.as_slice() {
        [y, m, d] if y.len() == 4 => Date::new(num(y)?, small(m)?, small(d)?),
        [d, m, y] if y.len() == 4 && d.len() <= 2 => Date::new(num(y)?, small(m)?, small(d)?),
        [ymd] if ymd.len() == 8 && ymd.bytes().all(|b| b.is_ascii_digit()) => {
            Date::new(num(&ymd[..4])?, small(&ymd[4..6])?, small(&ymd[6..])?)
        }
        _ => None,
    }
}

/// A field name made comparable across CBS editions and formats: lower case, a unit in
/// parentheses dropped, an OData numeric suffix (`_5`) dropped, only letters and digits
/// kept. `AantalInwoners_5`, `aantal_inwoners` and `"Aantal inwoners (aantal)"` all
/// become `aantalinwoners`.
pub fn normalise_name(name: &str) -> String {
    let mut s = name.trim();
    if let Some(open) = s.rfind(" (")
        && s.ends_with(')')
    {
        s = &s[..open];
    }
    if let Some(us) = s.rfind('_')
        && us + 1 < s.len()
        && s[us + 1..].bytes().all(|b| b.is_ascii_digit())
    {
        s = &s[..us];
    }
    s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// The current time in UTC as RFC 3339 (`2026-12-06T22:58:03Z`), for response timestamps
/// and cache records.
pub fn now_utc_rfc3339() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_with_decimal_comma_and_padding() {
        assert_eq!(parse_number(b"  457400"), Num::Value(457400.0));
        assert_eq!(parse_number(b"194000,5"), Num::Value(194000.5));
        assert_eq!(parse_number(b"\"5,94\""), Num::Value(5.94));
        assert_eq!(parse_number(b"1.234,5"), Num::Value(1234.5));
        assert_eq!(parse_number(b"1,234.5"), Num::Value(1234.5));
        assert_eq!(parse_number(b"   "), Num::Empty);
        assert_eq!(parse_number(b"abc"), Num::NotANumber);
        assert_eq!(parse_number(b"1,2,3"), Num::NotANumber);
        assert!(matches!(parse_number(b"NaN"), Num::Value(v) if v.is_nan()));
        assert!(matches!(parse_number(b"inf"), Num::Value(v) if v.is_infinite()));
    }

    #[test]
    fn dates_iso_and_dutch() {
        let d = Date::new(2023, 5, 17);
        assert_eq!(parse_date("2023-05-17"), d);
        assert_eq!(parse_date("17-05-2023"), d);
        assert_eq!(parse_date("17/5/2023"), d);
        assert_eq!(parse_date("2023-05-17T10:00:00Z"), d);
        assert_eq!(parse_date("20230517"), d);
        assert_eq!(parse_date("31-02-2023"), None);
        assert_eq!(parse_date("gisteren"), None);
    }

    #[test]
    fn timestamps_with_a_zone_are_dated_in_the_project_time_zone() {
        let tz = DEFAULT_TIMEZONE;
        let new_year = Date::new(2024, 1, 1);
        let old_year = Date::new(2023, 12, 31);
        // 00:20 in Heerlen on New Year's Day, written four ways: all January.
        assert_eq!(parse_date_in("2023-12-31T23:20:00Z", tz), new_year);
        assert_eq!(parse_date_in("2024-01-01T00:20:00+01:00", tz), new_year);
        assert_eq!(parse_date_in("2023/12/31 23:20:00+00", tz), new_year, "GDAL's way of writing UTC");
        assert_eq!(parse_date_in("2023-12-31 23:20:00.123 UTC", tz), new_year);
        // Without a zone a timestamp is local.
        assert_eq!(parse_date_in("2023-12-31T23:20:00", tz), old_year);
        assert_eq!(parse_date_in("31-12-2023 23:20", tz), old_year);
        // Summer time: 22:30 UTC on 30 June is 00:30 on 1 July in Amsterdam (UTC+2).
        assert_eq!(parse_date_in("2024-06-30T22:30:00Z", tz), Date::new(2024, 7, 1));
        assert_eq!(parse_date_in("2024-06-30T21:30:00Z", tz), Date::new(2024, 6, 30));
        // Another zone: the same instant is still New Year's Eve in London.
        assert_eq!(parse_date_in("2023-12-31T23:20:00Z", chrono_tz::Europe::London), old_year);
        assert_eq!(parse_date_in("2024-01-01T00:20:00+25:00", tz), new_year, "no such offset: the date as written");
        assert_eq!(parse_date_in("onbekend", tz), None);
    }

    #[test]
    fn delimiter_is_sniffed_outside_quotes() {
        assert_eq!(sniff_delimiter(b"\"a,b\";\"c\";\"d\"\n1;2;3"), b';');
        assert_eq!(sniff_delimiter(b"x,y,datum\n"), b',');
        assert_eq!(sniff_delimiter(b"x\ty\n"), b'\t');
    }

    #[test]
    fn names_normalise_across_cbs_editions() {
        assert_eq!(normalise_name("AantalInwoners_5"), "aantalinwoners");
        assert_eq!(normalise_name("aantal_inwoners"), "aantalinwoners");
        assert_eq!(normalise_name("Aantal inwoners (aantal)"), "aantalinwoners");
        assert_eq!(normalise_name("Woningvoorraad_35"), "woningvoorraad");
    }

    #[test]
    fn encodings() {
        let cp1252 = b"Caf\xe9";
        assert_eq!(Encoding::detect(cp1252), Encoding::Windows1252);
        assert_eq!(Encoding::Windows1252.decode(cp1252), "Café");
        assert_eq!(Encoding::detect("Café".as_bytes()), Encoding::Utf8);
        // A file that mixes both: each field decodes right.
        assert_eq!(Encoding::Windows1252.decode("Café".as_bytes()), "Café");
    }

    #[test]
    fn months_and_days_beyond_255_do_not_wrap() {
        assert_eq!(parse_date("2024-257-01"), None);
        assert_eq!(parse_date("2024-01-257"), None);
        assert_eq!(parse_date("01-257-2024"), None);
        assert_eq!(parse_date("2024-01-31"), Date::new(2024, 1, 31));
    }
}
